"""Small graphs for the ONNX backend tests, built with GraphBuilder; together they use every op."""

from __future__ import annotations

from cnndsl.ir.builder import GraphBuilder


def convnet(batch="N", size: int = 16):
    """Convolutions, pooling, activations, merges, resizes."""
    b = GraphBuilder("convnet")
    x = b.input("image", (batch, 3, size, size))
    y = b.add("conv", [x], name="stem.conv", out=8, kernel=3, stride=2)
    y = b.add("bn", [y], name="stem.bn")
    y = b.add("relu", [y], name="stem.relu")
    y = b.add("maxpool", [y], name="pool", kernel=3, stride=2, padding=1, ceil_mode=True)
    a = b.add("conv", [y], name="branch.conv", out=8, kernel=3, groups=2, dilation=2, bias=False)
    a = b.add("bn", [a], name="branch.bn", affine=False)
    a = b.add("relu6", [a], name="branch.act")
    g = b.add("gap", [a], name="se.pool")
    g = b.add("conv", [g], name="se.fc1", out=4, kernel=1)
    g = b.add("silu", [g], name="se.act")
    g = b.add("conv", [g], name="se.fc2", out=8, kernel=1)
    g = b.add("hsigmoid", [g], name="se.gate")
    a = b.add("mul", [a, g], name="se.scale")
    s = b.add("add", [y, a], name="res")
    s = b.add("add", [s, y, a], name="res3")
    t = b.add("conv_t", [s], name="up.conv", out=4, kernel=3, stride=2, padding=1, output_padding=1)
    t = b.add("leaky_relu", [t], name="up.act", slope=0.2)
    u = b.add("upsample", [s], name="up.nearest", scale=2)
    u = b.add("conv", [u], name="up.proj", out=4, kernel=1)
    c = b.add("concat", [t, u], name="cat")
    c = b.add("elu", [c], name="cat.elu", alpha=0.5)
    c = b.add("avgpool", [c], name="avg", kernel=3, stride=2, padding=1, count_include_pad=False)
    c = b.add("hswish", [c], name="hswish")
    c = b.add("gelu", [c], name="gelu")
    c = b.add("gelu", [c], name="gelu_tanh", approximate="tanh")
    c = b.add("upsample", [c], name="up.bilinear", mode="bilinear", size=(6, 6))
    c = b.add("upsample", [c], name="up.corners", mode="bilinear", scale=2, align_corners=True)
    c = b.add("tanh", [c], name="tanh")
    c = b.add("sigmoid", [c], name="sigmoid")
    c = b.add("identity", [c], name="id")
    c = b.add("dropout", [c], name="drop", p=0.3)
    c = b.add("stochastic_depth", [c], name="sd", p=0.1)
    m = b.add("gmp", [c], name="gmp")
    f = b.add("flatten", [m], name="flat")
    f = b.add("linear", [f], name="fc", out=5)
    b.output("logits", f)
    return b.graph


def layoutnet(batch="N", size: int = 10):
    """Layout, normalization and reduction ops; a multi-output chunk; two graph outputs."""
    b = GraphBuilder("layoutnet")
    x = b.input("image", (batch, 4, size, size))
    y = b.add("pad", [x], name="pad.reflect", padding=(1, 2, 1, 0), mode="reflect")
    y = b.add("pad", [y], name="pad.edge", padding=1, mode="replicate")
    y = b.add("pad", [y], name="pad.const", padding=(0, 1), value=0.5)
    y = b.add("conv", [y], name="conv", out=8, kernel=3)
    y = b.add("prelu", [y], name="prelu", num_parameters=8)
    y = b.add("prelu", [y], name="prelu1")
    y = b.add("layernorm", [y], name="ln")
    y = b.add("layernorm", [y], name="ln_plain", affine=False)
    y = b.add("layer_scale", [y], name="ls", init=0.5)
    y = b.add("channel_shuffle", [y], name="shuffle", groups=2)
    p, q = b.add_multi("chunk", [y], name="split", chunks=2)
    p = b.add("adaptive_avgpool", [p], name="aavg", size=(3, 5))
    q = b.add("adaptive_maxpool", [q], name="amax", size=(3, 5))
    r = b.add("add", [p, q], name="sum")
    lp = b.add("lppool", [b.add("relu", [r], name="pos")], name="lp", p=2, kernel=2, stride=1)
    r = b.add("reshape", [lp], name="rs", shape=(4, -1))
    r = b.add("softmax", [r], name="sm", axis=2)
    r = b.add("flatten", [r], name="flat")
    r = b.add("linear", [r], name="fc", out=6)
    m = b.add("mean", [y], name="mean")
    m2 = b.add("mean", [y], name="mean_keep", axes=(3,), keepdims=True)
    m2 = b.add("flatten", [m2], name="flat2", start=2)
    b.output("logits", r)
    b.output("pooled", m)
    b.output("rows", m2)
    return b.graph


def nhwcnet(batch="N", size: int = 10):
    """ConvNeXt's block (Permute, nn.LayerNorm and nn.Linear on [N, H, W, C], Permute back,
    a layer-scale gamma keyed by its node's name), linear on rank 3, layernorm on a middle
    axis, matmul."""
    b = GraphBuilder("nhwcnet")
    x = b.input("image", (batch, 3, size, size))
    x = b.add("conv", [x], name="stem", out=8, kernel=2, stride=2, padding=0)
    y = b.add("conv", [x], name="block.block.0", out=8, kernel=3, padding=1, groups=8)
    y = b.add("transpose", [y], name="block.block.1", axes=(0, 2, 3, 1))
    y = b.add("layernorm", [y], name="block.block.2", axis=-1)
    y = b.add("linear", [y], name="block.block.3", out=32)
    y = b.add("gelu", [y], name="block.block.4")
    y = b.add("linear", [y], name="block.block.5", out=8)
    y = b.add("transpose", [y], name="block.block.6", axes=(0, 3, 1, 2))
    y = b.add("layer_scale", [y], name="block.layer_scale", init=0.5)
    y = b.add("add", [y, x], name="block.add")
    y = b.add("layernorm", [y], name="ln_h", axis=2, affine=False)
    r = b.add("reshape", [y], name="rows", shape=(8, -1))
    t = b.add("transpose", [r], name="cols", axes=(0, 2, 1))
    t = b.add("linear", [t], name="mix", out=8, bias=False)
    a = b.add("matmul", [r, t], name="gram")
    b.output("gram", a)
    b.output("features", b.add("linear", [b.add("flatten", [y], name="flat")], name="fc", out=4))
    return b.graph


NETS = {"convnet": convnet, "layoutnet": layoutnet, "nhwcnet": nhwcnet}


def tiny_resnet(batch="N", size: int = 16):
    """A stem and one residual block: the golden-text net."""
    b = GraphBuilder("tiny_resnet")
    x = b.input("image", (batch, 3, size, size))
    y = b.add("conv", [x], name="conv1", out=8, kernel=3, stride=2, bias=False)
    y = b.add("bn", [y], name="bn1")
    y = b.add("relu", [y], name="relu")
    y = b.add("maxpool", [y], name="maxpool", kernel=3, stride=2, padding=1)
    r = b.add("conv", [y], name="layer1.0.conv1", out=8, kernel=3, bias=False)
    r = b.add("bn", [r], name="layer1.0.bn1")
    r = b.add("relu", [r], name="layer1.0.relu")
    r = b.add("conv", [r], name="layer1.0.conv2", out=8, kernel=3, bias=False)
    r = b.add("bn", [r], name="layer1.0.bn2")
    y = b.add("add", [y, r], name="layer1.0.add")
    y = b.add("relu", [y], name="layer1.0.relu_1")
    y = b.add("gap", [y], name="avgpool")
    y = b.add("flatten", [y], name="flatten")
    y = b.add("linear", [y], name="fc", out=10)
    b.output("logits", y)
    return b.graph
