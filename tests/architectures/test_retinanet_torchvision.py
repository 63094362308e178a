"""retinanet_resnet50_fpn against torchvision's module tree, written out by hand.

torchvision is not a test dependency, so the classes below are torchvision's RetinaNet
modules (models/resnet.py Bottleneck with ops.misc.FrozenBatchNorm2d, ops/feature_pyramid_network.py,
models/detection/retinanet.py RetinaNetHead with Conv2dNormActivation towers) with the same
attribute names, so the same state_dict keys. Checked: the full-size key set and every
shape equal the library network's weight keys (meta device), the published 34,014,999
parameters and 151.54 G multiply-adds, and on a small input a random torchvision-layout
state_dict loaded by name gives the same ten head outputs through the numpy interpreter
and the generated PyTorch module as the hand-written forward.
"""

from __future__ import annotations

import numpy as np
import torch

nn = torch.nn
F = torch.nn.functional

from cnndsl import interp
from cnndsl.api import load
from cnndsl.weights import Weights, expected_params, validate


class FrozenBatchNorm2d(nn.Module):
    def __init__(self, n, eps=0.0):
        super().__init__()
        self.eps = eps
        for name, init in (("weight", torch.ones), ("bias", torch.zeros), ("running_mean", torch.zeros),
                           ("running_var", torch.ones)):
            self.register_buffer(name, init(n))

    def forward(self, x):
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        bias = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)


class Bottleneck(nn.Module):
    def __init__(self, cin, c, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, stride, 1, bias=False)
        self.bn2 = FrozenBatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, 4 * c, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(4 * c)
        self.relu = nn.ReLU()
        self.downsample = nn.Sequential(nn.Conv2d(cin, 4 * c, 1, stride, bias=False),
                                        FrozenBatchNorm2d(4 * c)) if downsample else None

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (c, n) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
            blocks = [Bottleneck(cin, c, 1 if i == 0 else 2, True)] + [Bottleneck(4 * c, c, 1, False)
                                                                      for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = 4 * c

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]


class FPN(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner_blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(c, 256, 1)) for c in (512, 1024, 2048))
        self.layer_blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(256, 256, 3, padding=1)) for _ in range(3))
        self.extra_blocks = nn.Module()
        self.extra_blocks.p6 = nn.Conv2d(256, 256, 3, 2, 1)
        self.extra_blocks.p7 = nn.Conv2d(256, 256, 3, 2, 1)

    def forward(self, xs):
        last = self.inner_blocks[2](xs[2])
        results = [self.layer_blocks[2](last)]
        for idx in (1, 0):
            lateral = self.inner_blocks[idx](xs[idx])
            last = lateral + F.interpolate(last, size=lateral.shape[-2:], mode="nearest")
            results.insert(0, self.layer_blocks[idx](last))
        p6 = self.extra_blocks.p6(results[-1])
        return results + [p6, self.extra_blocks.p7(F.relu(p6))]


def tower():
    return nn.Sequential(*[nn.Sequential(nn.Conv2d(256, 256, 3, padding=1), nn.ReLU()) for _ in range(4)])


class Head(nn.Module):
    def __init__(self, anchors=9, classes=91):
        super().__init__()
        self.classification_head = nn.Module()
        self.classification_head.conv = tower()
        self.classification_head.cls_logits = nn.Conv2d(256, anchors * classes, 3, padding=1)
        self.regression_head = nn.Module()
        self.regression_head.conv = tower()
        self.regression_head.bbox_reg = nn.Conv2d(256, anchors * 4, 3, padding=1)

    def forward(self, feats):
        c, r = self.classification_head, self.regression_head
        return [c.cls_logits(c.conv(f)) for f in feats] + [r.bbox_reg(r.conv(f)) for f in feats]


class RetinaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.body = Body()
        self.backbone.fpn = FPN()
        self.head = Head()

    def forward(self, x):
        return self.head(self.backbone.fpn(self.backbone.body(x)))


def test_key_set_shapes_and_published_figures():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from libstats import stats

    g = load("retinanet_resnet50_fpn")
    with torch.device("meta"):
        ref = RetinaNet()
    want = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    got = {k: shape for k, (shape, _trainable) in expected_params(g).items()}
    assert got == want
    trainable = sum(p.numel() for p in ref.parameters())
    params, macs, _ = stats(g)
    assert params == trainable == 34_014_999  # torchvision: RetinaNet_ResNet50_FPN_Weights.COCO_V1 num_params
    assert round(macs / 1e9, 2) == 151.54  # its GFLOPS (multiply-adds at 800x800)


def test_torchvision_state_dict_runs_the_same(tmp_path):
    from cnndsl.backends.pytorch.runtime import build_model

    from cnndsl.backend import CompileOptions, get_backend

    torch.manual_seed(0)
    ref = RetinaNet().eval()
    with torch.no_grad():
        for name, buf in ref.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
            elif name.endswith(("running_mean", "bias")):
                buf.uniform_(-0.2, 0.2)
            elif name.endswith("weight"):
                buf.uniform_(0.5, 1.5)
    g = load("retinanet_resnet50_fpn", input_shape=(3, 96, 128))
    weights = validate(g, {k: v.numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((1, 3, 96, 128)).astype(np.float32)
    with torch.no_grad():
        want = [y.numpy() for y in ref(torch.from_numpy(x))]
    for a, b in zip(interp.run(g, weights, [x]), want):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    path = tmp_path / "retinanet.py"
    get_backend("pytorch").compile(g, Weights(weights), path, CompileOptions())
    model = build_model(path, weights).eval()
    assert sorted(model.state_dict()) == sorted(ref.state_dict())
    with torch.no_grad():
        got = model(torch.from_numpy(x))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-3, atol=1e-4)
