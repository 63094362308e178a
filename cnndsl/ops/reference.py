"""The op reference beside the registry: each op's PyTorch and ONNX equivalents (what
`cnndsl ops` and docs/ops.md print; backends keep their own lowering tables), and the cnndsl
spelling of the PyTorch / Python words users bring (`scale_factor`, `BatchNorm2d`, `False`),
which diagnostics offer as hints.

A new op adds one row to EQUIVALENTS; tests/ops/test_ops_reference.py fails for an op without one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Equivalent:
    torch: str  # the PyTorch module or function (torch.nn.X, torch.nn.functional.x, torch.x)
    onnx: str  # the ONNX operator(s) the exporter emits


EQUIVALENTS: dict[str, Equivalent] = {
    "input": Equivalent("a forward() argument", "a graph input"),
    "conv": Equivalent("nn.Conv1d / nn.Conv2d / nn.Conv3d", "Conv"),
    "conv_t": Equivalent("nn.ConvTranspose1d / 2d / 3d", "ConvTranspose"),
    "fused_conv": Equivalent("nn.ConvNd followed by its activation", "Conv + the activation's operator"),
    "linear": Equivalent("nn.Linear", "Gemm (rank 2), MatMul + Add (higher ranks)"),
    "bn": Equivalent("nn.BatchNorm1d / 2d / 3d; frozen: torchvision.ops.FrozenBatchNorm2d", "BatchNormalization"),
    "layernorm": Equivalent("nn.LayerNorm (axis=-1); torchvision's LayerNorm2d (axis=1)",
                            "ReduceMean, Sub, Mul, Sqrt, Div (+ Mul, Add)"),
    "layer_scale": Equivalent("an nn.Parameter gamma multiplied in (torchvision's CNBlock.layer_scale)", "Mul"),
    "relu": Equivalent("nn.ReLU", "Relu"),
    "relu6": Equivalent("nn.ReLU6", "Clip"),
    "leaky_relu": Equivalent("nn.LeakyReLU", "LeakyRelu"),
    "elu": Equivalent("nn.ELU", "Elu"),
    "sigmoid": Equivalent("nn.Sigmoid", "Sigmoid"),
    "tanh": Equivalent("nn.Tanh", "Tanh"),
    "hsigmoid": Equivalent("nn.Hardsigmoid", "HardSigmoid"),
    "hswish": Equivalent("nn.Hardswish", "HardSwish (opset 14+) or HardSigmoid + Mul"),
    "silu": Equivalent("nn.SiLU", "Sigmoid + Mul"),
    "gelu": Equivalent("nn.GELU", "Gelu (opset 20+) or its Erf / Tanh formula"),
    "prelu": Equivalent("nn.PReLU", "PRelu"),
    "softmax": Equivalent("nn.Softmax", "Softmax"),
    "identity": Equivalent("nn.Identity", "Identity"),
    "maxpool": Equivalent("nn.MaxPool1d / 2d / 3d", "MaxPool"),
    "avgpool": Equivalent("nn.AvgPool1d / 2d / 3d", "AveragePool"),
    "lppool": Equivalent("nn.LPPool1d / 2d / 3d", "Pow, AveragePool, Mul, Pow"),
    "gap": Equivalent("nn.AdaptiveAvgPool2d(1) (and 1d / 3d)", "GlobalAveragePool"),
    "gmp": Equivalent("nn.AdaptiveMaxPool2d(1) (and 1d / 3d)", "GlobalMaxPool"),
    "adaptive_avgpool": Equivalent("nn.AdaptiveAvgPool1d / 2d / 3d",
                                   "GlobalAveragePool, AveragePool (uniform windows) or Slice + ReduceMean"),
    "adaptive_maxpool": Equivalent("nn.AdaptiveMaxPool1d / 2d / 3d",
                                   "GlobalMaxPool, MaxPool (uniform windows) or Slice + ReduceMax"),
    "mean": Equivalent("torch.mean(x, dim, keepdim)", "ReduceMean"),
    "add": Equivalent("a + b (torch.add)", "Add (two inputs) or Sum"),
    "mul": Equivalent("a * b (torch.mul)", "Mul"),
    "concat": Equivalent("torch.cat", "Concat"),
    "flatten": Equivalent("torch.flatten / nn.Flatten", "Flatten or Reshape"),
    "reshape": Equivalent("x.reshape(N, ...)", "Reshape"),
    "channel_shuffle": Equivalent("nn.ChannelShuffle", "Reshape, Transpose, Reshape"),
    "chunk": Equivalent("torch.chunk", "Split"),
    "pad": Equivalent("nn.functional.pad / nn.ConstantPadNd, nn.ReflectionPadNd, nn.ReplicationPadNd", "Pad"),
    "upsample": Equivalent("nn.Upsample / nn.functional.interpolate", "Resize"),
    "dropout": Equivalent("nn.Dropout", "Dropout (inference: identity)"),
    "stochastic_depth": Equivalent("torchvision.ops.StochasticDepth", "Identity (inference)"),
    "matmul": Equivalent("torch.bmm / torch.matmul", "MatMul"),
    "transpose": Equivalent("x.permute (torchvision.ops.Permute)", "Transpose"),
    "sub": Equivalent("a - b (torch.sub)", "Sub"),
    "div": Equivalent("a / b (torch.div)", "Div"),
    "pow": Equivalent("a ** b (torch.pow)", "Pow"),
    "mul_scalar": Equivalent("x * c", "Mul"),
    "add_scalar": Equivalent("x + c", "Add"),
    "neg": Equivalent("-x (torch.neg)", "Neg"),
    "sqrt": Equivalent("torch.sqrt", "Sqrt"),
    "exp": Equivalent("torch.exp", "Exp"),
    "log": Equivalent("torch.log", "Log"),
    "abs": Equivalent("torch.abs", "Abs"),
    "clamp": Equivalent("torch.clamp", "Clip"),
    "sum": Equivalent("torch.sum(x, dim, keepdim)", "ReduceSum"),
    "max": Equivalent("torch.amax(x, dim, keepdim)", "ReduceMax"),
    "norm": Equivalent("torch.linalg.vector_norm(x, ord=p, dim, keepdim)", "ReduceL2 (p=2), else Abs, Pow, ReduceSum, Pow"),
    "slice": Equivalent("x[:, a:b:s] (indexing)", "Slice"),
    "split": Equivalent("torch.split(x, [sizes], dim)", "Split"),
    "groupnorm": Equivalent("nn.GroupNorm", "Reshape, ReduceMean, Sub, Mul, Div, Sqrt (+ Mul, Add)"),
    "instancenorm": Equivalent("nn.InstanceNorm1d / 2d / 3d",
                                "InstanceNormalization (BatchNormalization with running statistics)"),
    "l2norm": Equivalent("nn.functional.normalize (SSD's L2Norm with scale)", "ReduceL2, Max, Div (+ Reshape, Mul)"),
}

# One small use of each op, run through its own rules for the reference's "example" line (cnndsl ops
# NAME, docs/ops.md): attributes, and input shapes when the default [1, 8, 16, 16] does not suit.
X = (1, 8, 16, 16)
EXAMPLES: dict[str, tuple[dict, tuple]] = {
    "input": ({"shape": (1, 3, 224, 224)}, ()),
    "conv": ({"out": 16, "kernel": 3}, (X,)),
    "conv_t": ({"out": 4, "kernel": 2, "stride": 2}, (X,)),
    "fused_conv": ({"out": 16, "kernel": 3, "act": "relu"}, (X,)),
    "linear": ({"out": 10}, ((1, 512),)),
    "bn": ({}, (X,)),
    "layernorm": ({}, (X,)),
    "layer_scale": ({}, (X,)),
    "leaky_relu": ({"slope": 0.1}, (X,)),
    "prelu": ({"num_parameters": 8}, (X,)),
    "maxpool": ({"kernel": 3, "stride": 2, "padding": 1}, (X,)),
    "avgpool": ({"kernel": 2}, (X,)),
    "lppool": ({"p": 2.0, "kernel": 2}, (X,)),
    "adaptive_avgpool": ({"size": 4}, (X,)),
    "adaptive_maxpool": ({"size": 4}, (X,)),
    "add": ({}, (X, X)),
    "mul": ({}, (X, (1, 8, 1, 1))),
    "concat": ({}, (X, X)),
    "reshape": ({"shape": (8, 256)}, (X,)),
    "channel_shuffle": ({"groups": 2}, (X,)),
    "chunk": ({"chunks": 2}, (X,)),
    "pad": ({"padding": 1}, (X,)),
    "upsample": ({"scale": 2}, (X,)),
    "dropout": ({"p": 0.2}, (X,)),
    "stochastic_depth": ({"p": 0.1}, (X,)),
    "matmul": ({}, ((1, 4, 6), (1, 6, 5))),
    "transpose": ({"axes": (0, 2, 3, 1)}, (X,)),
    "sub": ({}, (X, (1, 8, 1, 1))),
    "div": ({"scalar": 2.0}, (X,)),
    "pow": ({"scalar": 2.0}, (X,)),
    "mul_scalar": ({"factor": 0.17}, (X,)),
    "add_scalar": ({"offset": 1.0}, (X,)),
    "clamp": ({"min": 0.0, "max": 6.0}, (X,)),
    "sum": ({"axes": (2, 3)}, (X,)),
    "max": ({"axes": (1,), "keepdims": True}, (X,)),
    "norm": ({"keepdims": True}, (X,)),
    "slice": ({"axis": 1, "start": 0, "stop": 4}, (X,)),
    "split": ({"sizes": (3, 5)}, (X,)),
    "groupnorm": ({"groups": 2}, (X,)),
    "instancenorm": ({"affine": True}, (X,)),
    "l2norm": ({"scale": 20.0}, (X,)),
}
DEFAULT_EXAMPLE: tuple[dict, tuple] = ({}, (X,))  # ops whose defaults make a complete use (relu, gap, ...)

# PyTorch / Python names written where a cnndsl name belongs -> the cnndsl spelling, said in words.
NAME_SPELLINGS: dict[str, str] = {
    "False": "'false'", "True": "'true'", "None": "'none'",
    "nn": "without the 'nn.' prefix: ops are lower case ('conv', 'bn', 'relu')",
    "torch": "without the 'torch.' prefix: ops are lower case ('conv', 'concat', 'mean')",
    "F": "without the 'F.' prefix: ops are lower case ('relu', 'pad', 'upsample')",
    "Conv1d": "'conv' (the input's rank picks 1-, 2- or 3-D)", "Conv2d": "'conv' (the input's rank picks 1-, 2- or 3-D)",
    "Conv3d": "'conv' (the input's rank picks 1-, 2- or 3-D)",
    "ConvTranspose1d": "'conv_t'", "ConvTranspose2d": "'conv_t'", "ConvTranspose3d": "'conv_t'",
    "conv_transpose2d": "'conv_t'", "conv2d": "'conv'", "conv1d": "'conv'", "conv3d": "'conv'",
    "BatchNorm1d": "'bn'", "BatchNorm2d": "'bn'", "BatchNorm3d": "'bn'", "batch_norm": "'bn'",
    "batchnorm": "'bn'", "FrozenBatchNorm2d": "'bn(frozen=true)'",
    "LayerNorm": "'layernorm(axis=-1)'", "LayerNorm2d": "'layernorm' (axis 1, the channels)",
    "layer_norm": "'layernorm'", "GroupNorm": "'groupnorm'", "group_norm": "'groupnorm'",
    "InstanceNorm1d": "'instancenorm'", "InstanceNorm2d": "'instancenorm'", "InstanceNorm3d": "'instancenorm'",
    "ReLU": "'relu'", "ReLU6": "'relu6'", "LeakyReLU": "'leaky_relu'", "ELU": "'elu'", "PReLU": "'prelu'",
    "GELU": "'gelu'", "SiLU": "'silu'", "swish": "'silu'", "Swish": "'silu'", "Sigmoid": "'sigmoid'",
    "Tanh": "'tanh'", "Hardswish": "'hswish'", "hardswish": "'hswish'", "Hardsigmoid": "'hsigmoid'",
    "hardsigmoid": "'hsigmoid'", "Softmax": "'softmax'", "Identity": "'identity'",
    "MaxPool1d": "'maxpool'", "MaxPool2d": "'maxpool'", "MaxPool3d": "'maxpool'", "max_pool2d": "'maxpool'",
    "AvgPool1d": "'avgpool'", "AvgPool2d": "'avgpool'", "AvgPool3d": "'avgpool'", "avg_pool2d": "'avgpool'",
    "LPPool2d": "'lppool'", "AdaptiveAvgPool1d": "'adaptive_avgpool' ('gap' for output 1)",
    "AdaptiveAvgPool2d": "'adaptive_avgpool' ('gap' for output 1)",
    "AdaptiveAvgPool3d": "'adaptive_avgpool' ('gap' for output 1)",
    "AdaptiveMaxPool2d": "'adaptive_maxpool' ('gmp' for output 1)",
    "adaptive_avg_pool2d": "'adaptive_avgpool'", "adaptive_max_pool2d": "'adaptive_maxpool'",
    "Linear": "'linear'", "Dropout": "'dropout'", "Flatten": "'flatten'", "Upsample": "'upsample'",
    "interpolate": "'upsample'", "cat": "'concat'", "Cat": "'concat'", "stack": "'concat' (along a new axis: "
    "reshape first)", "permute": "'transpose'", "Permute": "'transpose'", "view": "'reshape'",
    "ChannelShuffle": "'channel_shuffle'", "StochasticDepth": "'stochastic_depth'", "bmm": "'matmul'",
    "Sequential": "a block: 'block NAME(...) { ... }' with one stage per line",
    "normalize": "'l2norm'", "clip": "'clamp'", "amax": "'max'", "ZeroPad2d": "'pad'",
    "ConstantPad2d": "'pad'", "ReflectionPad2d": "'pad(mode=\"reflect\")'",
    "ReplicationPad2d": "'pad(mode=\"replicate\")'", "vector_norm": "'norm'",
}

# PyTorch keyword names -> the cnndsl attribute (one name, or candidates: the first the op has), or a
# sentence when cnndsl has none.
ATTR_SPELLINGS: dict[str, str | tuple[str, ...]] = {
    "scale_factor": "scale", "kernel_size": "kernel", "out_channels": "out", "out_features": "out",
    "in_channels": "cnndsl reads input channels from the input tensor; drop it",
    "in_features": "cnndsl reads input features from the input tensor; drop it",
    "num_features": "cnndsl reads the channel count from the input tensor; drop it",
    "num_channels": "cnndsl reads the channel count from the input tensor; drop it",
    "num_groups": "groups", "negative_slope": "slope", "inplace": "cnndsl has no in-place ops; drop it",
    "dim": ("axis", "axes"), "keepdim": "keepdims", "padding_mode": "mode", "split_size_or_sections": "sizes",
    "split_size": "sizes", "elementwise_affine": "affine", "axis": "axes", "axes": "axis",
    "normalized_shape": "cnndsl normalizes one axis: axis=-1 (nn.LayerNorm) or axis=1 (LayerNorm2d)",
    "approx": "approximate", "min_val": "min", "max_val": "max", "ord": "p",
    "output_size": "size", "count_include_pads": "count_include_pad", "norm_type": "p",
    "pads": "padding", "strides": "stride", "dilations": "dilation", "kernel_shape": "kernel", "group": "groups",
    "epsilon": "eps", "size": "out", "mode": "approximate",
}

__all__ = ["ATTR_SPELLINGS", "DEFAULT_EXAMPLE", "EQUIVALENTS", "EXAMPLES", "NAME_SPELLINGS", "Equivalent"]
