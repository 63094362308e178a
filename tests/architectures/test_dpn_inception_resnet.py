"""DPN-68 and Inception-ResNet-v2 (issue 12): published figures, timm's state_dict keys, and the
dual path / scaled residual arithmetic against hand-written PyTorch modules that follow timm
1.0.31's `dpn.py` and `inception_resnet_v2.py` (timm itself needs torchvision, which is not
installed). The whole networks were also compared against timm's own modules with the same
weights (relative error 2e-7 and 4e-7); that check is not repeatable here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnndsl import interp
from cnndsl.api import load, load_text
from cnndsl.weights import expected_params
from cnndsl.weights_init import init_weights

nn = torch.nn

# timm 1.0.31, counted from its modules: trainable parameters, conv + linear MACs per image, keys
FIGURES = {
    "dpn68": ((3, 224, 224), 12_611_602, 2_326_163_456, 433),
    "dpn92": ((3, 224, 224), 37_668_392, 6_501_684_224, 577),
    "dpn98": ((3, 224, 224), 61_570_728, 11_671_217_152, 613),
    "dpn131": ((3, 224, 224), 79_254_504, 16_013_648_896, 811),
    "inception_resnet_v2": ((3, 299, 299), 55_843_464, 13_155_794_016, 1306),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_params_macs_and_key_count_equal_timm(name):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from libstats import stats

    shape, params, macs, keys = FIGURES[name]
    g = load(name, input_shape=shape)
    p, m, _ = stats(g)
    assert (p, m) == (params, macs)
    assert len(expected_params(g)) == keys  # num_batches_tracked included, as in timm's state_dict


def test_state_dict_keys_follow_timm():
    dpn = expected_params(load("dpn68"))
    for key, shape in [("features.conv1_1.conv.weight", (10, 3, 3, 3)), ("features.conv2_1.c1x1_w_s1.bn.weight", (10,)),
                       ("features.conv2_1.c1x1_w_s1.conv.weight", (96, 10, 1, 1)),
                       ("features.conv3_1.c1x1_w_s2.conv.weight", (192, 144, 1, 1)),
                       ("features.conv3_1.c3x3_b.conv.weight", (256, 8, 3, 3)),
                       ("features.conv5_3.c1x1_c.conv.weight", (576, 1024, 1, 1)),
                       ("features.conv5_bn_ac.bn.running_var", (832,)), ("classifier.weight", (1000, 832, 1, 1)),
                       ("classifier.bias", (1000,))]:
        assert dpn[key][0] == shape, key
    irv2 = expected_params(load("inception_resnet_v2"))
    for key, shape in [("conv2d_1a.conv.weight", (32, 3, 3, 3)), ("mixed_5b.branch3.1.conv.weight", (64, 192, 1, 1)),
                       ("repeat.9.branch2.2.bn.running_mean", (64,)), ("repeat.0.conv2d.bias", (320,)),
                       ("repeat_1.19.branch1.1.conv.weight", (160, 128, 1, 7)),
                       ("repeat_2.8.branch1.2.conv.weight", (256, 224, 3, 1)), ("block8.conv2d.weight", (2080, 448, 1, 1)),
                       ("conv2d_7b.bn.weight", (1536,)), ("classif.weight", (1000, 1536))]:
        assert irv2[key][0] == shape, key


# ---------------------------------------------------------------- DPN's dual path block, as timm writes it


class BnActConv2d(nn.Module):
    def __init__(self, cin, cout, k, stride, groups=1):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin, eps=0.001)
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=k // 2, groups=groups, bias=False)

    def forward(self, x):
        return self.conv(torch.relu(self.bn(x)))


class DualPathBlock(nn.Module):
    """timm's DualPathBlock.forward (b=False): one tensor, residual channels first."""

    def __init__(self, cin, r, res, inc, groups, kind):
        super().__init__()
        self.res = res
        stride = 2 if kind == "down" else 1
        if kind != "normal":
            setattr(self, f"c1x1_w_s{stride}", BnActConv2d(cin, res + 2 * inc, 1, stride))
        self.kind, self.stride = kind, stride
        self.c1x1_a = BnActConv2d(cin, r, 1, 1)
        self.c3x3_b = BnActConv2d(r, r, 3, stride, groups)
        self.c1x1_c = BnActConv2d(r, res + inc, 1, 1)

    def forward(self, x):
        x_s = x if self.kind == "normal" else getattr(self, f"c1x1_w_s{self.stride}")(x)
        y = self.c1x1_c(self.c3x3_b(self.c1x1_a(x)))
        return torch.cat([x_s[:, :self.res] + y[:, :self.res], x_s[:, self.res:], y[:, self.res:]], dim=1)


def _compare(g, ref: nn.Module, x: np.ndarray):
    w = init_weights(g, seed=3, randomize_buffers=True)
    ref.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in w.items()}, strict=True)
    ref.eval()
    with torch.no_grad():
        want = ref(torch.from_numpy(x))
    want = list(want) if isinstance(want, tuple) else [want]
    got = interp.run(g, w, [x])
    for a, b in zip(got, want):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-4, atol=1e-4)


def test_dual_path_blocks_match_timms_forward():
    g = load_text("""
from dpn import DualPathBlock

network Net() (x: f32[N, 16, 12, 12]) {
    DualPathBlock(32, 24, 8, 4, kind="proj") as a
    DualPathBlock(32, 24, 8, 4) as b
    DualPathBlock(64, 48, 16, 8, kind="down") as c
}
""", "t.cnn")

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = DualPathBlock(16, 32, 24, 8, 4, "proj")
            self.b = DualPathBlock(24 + 3 * 8, 32, 24, 8, 4, "normal")
            self.c = DualPathBlock(24 + 4 * 8, 64, 48, 16, 8, "down")

        def forward(self, x):
            return self.c(self.b(self.a(x)))

    assert g.output_shapes() == [("N", 48 + 3 * 16, 6, 6)]
    _compare(g, Ref(), np.random.default_rng(0).standard_normal((2, 16, 12, 12)).astype(np.float32))


# ---------------------------------------------------------------- Inception-ResNet's scaled residuals


class ConvNormAct(nn.Module):
    def __init__(self, cin, cout, k=1, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Block17(nn.Module):
    """timm's Block17 at a smaller width: out = conv2d(cat) * scale + x, then ReLU unless no_relu."""

    def __init__(self, c, scale, no_relu=False):
        super().__init__()
        self.scale, self.no_relu = scale, no_relu
        self.branch0 = ConvNormAct(c, 8)
        self.branch1 = nn.Sequential(ConvNormAct(c, 6), ConvNormAct(6, 7, (1, 7), 1, (0, 3)),
                                     ConvNormAct(7, 8, (7, 1), 1, (3, 0)))
        self.conv2d = nn.Conv2d(16, c, 1)

    def forward(self, x):
        out = self.conv2d(torch.cat((self.branch0(x), self.branch1(x)), 1)) * self.scale + x
        return out if self.no_relu else torch.relu(out)


def test_scaled_residual_blocks_match_timms_forward():
    g = load_text("""
from inception_resnet import ScaledResidual

network Net() (x: f32[N, 12, 9, 9]) {
    let rest = [[(6, 1, 1, 0), (7, (1, 7), 1, (0, 3)), (8, (7, 1), 1, (3, 0))]]
    ScaledResidual(8, rest, 0.10) as r0
    ScaledResidual(8, rest, 1.0, act_name="") as r1
}
""", "t.cnn")
    ops = [n.op for n in g.topo() if n.name.startswith("r0.") and "branch" not in n.name]
    assert ops == ["concat", "conv", "mul_scalar", "add", "relu"]
    assert g.nodes["r0.mul_scalar"].attrs["factor"] == 0.10
    assert g.outputs[0][1] == ("r1.add", 0)  # no scale node for 1.0, no ReLU after the last module

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.r0 = Block17(12, 0.10)
            self.r1 = Block17(12, 1.0, no_relu=True)

        def forward(self, x):
            return self.r1(self.r0(x))

    _compare(g, Ref(), np.random.default_rng(1).standard_normal((2, 12, 9, 9)).astype(np.float32))


# ---------------------------------------------------------------- through the backends


def _backend_outputs(g, w, xs, target, tmp_path):
    from cnndsl.backend import CompileOptions, get_backend

    backend = get_backend(target)
    path = tmp_path / f"model{backend.artefact_suffix}"
    backend.compile(g, w, path, CompileOptions(save_weights=True))  # pytorch: run loads the .npz beside it
    return backend.run(path, xs)


@pytest.mark.parametrize("name,size", [("dpn68", 64), ("inception_resnet_v2", 107)])
@pytest.mark.parametrize("target", ["onnx", "pytorch", pytest.param("llvm", marks=pytest.mark.slow)])
def test_backends_match_interpreter(name, size, target, tmp_path):
    from cnndsl.weights import Weights

    g = load(name, input_shape=(3, size, size), batch=2)
    w = Weights(init_weights(g, seed=0, randomize_buffers=True))
    xs = [np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)]
    want = interp.run(g, w, xs)
    got = _backend_outputs(g, w, xs, target, tmp_path)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * float(np.abs(b).max()))
