"""The library's 3-D U-Net (Çiçek et al. 2016) and 1-D ResNet (Wang et al. 2017) against their
papers' figures and against hand-written PyTorch modules that follow the papers (and, for
the 1-D ResNet, the Keras reference implementation): parameter counts, MACs computed by hand
from the layer sizes, keys and shapes, and the same random input through the interpreter,
the torch module, the generated PyTorch, ONNX Runtime and TVM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

nn = torch.nn
F = torch.nn.functional

from cnndsl import interp
from cnndsl.api import load
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.passes.manager import annotate
from cnndsl.weights import Weights, expected_params
from cnndsl.weights_init import init_weights


def _figures(g):
    annotate(g)
    params = sum(int(np.prod(shape)) for shape, trainable in expected_params(g).values() if trainable)
    return params, sum(n.meta["macs"] for n in g.nodes.values())


# ----------------------------------------------------------------------------- 3-D U-Net


def test_unet3d_matches_the_paper():
    g = load("unet3d")
    # Sec. 2: a 132x132x116 tile in, 44x44x28 out, 3 labels; "19069955 parameters in total"
    assert g.output_shapes()[0] == ("N", 3, 28, 44, 44)
    params, macs = _figures(g)
    assert params == 19_069_955
    # by hand: (in, out, kernel, output size (d, h, w)) of every convolution, from Fig. 1's sizes
    layers = [(3, 32, 27, (114, 130, 130)), (32, 64, 27, (112, 128, 128)),
              (64, 64, 27, (54, 62, 62)), (64, 128, 27, (52, 60, 60)),
              (128, 128, 27, (24, 28, 28)), (128, 256, 27, (22, 26, 26)),
              (256, 256, 27, (9, 11, 11)), (256, 512, 27, (7, 9, 9)),
              (512, 512, 8, (7, 9, 9)),  # up-conv: every input voxel times 8 taps (counted at its input)
              (768, 256, 27, (12, 16, 16)), (256, 256, 27, (10, 14, 14)),
              (256, 256, 8, (10, 14, 14)),
              (384, 128, 27, (18, 26, 26)), (128, 128, 27, (16, 24, 24)),
              (128, 128, 8, (16, 24, 24)),
              (192, 64, 27, (30, 46, 46)), (64, 64, 27, (28, 44, 44)),
              (64, 3, 1, (28, 44, 44))]
    assert macs == sum(ci * co * k * int(np.prod(size)) for ci, co, k, size in layers) == 266_731_018_496


class Level3D(nn.Module):
    """One level of the paper's 3-D U-Net, named as the library names it."""

    def __init__(self, c_in, c, depth):
        super().__init__()
        self.analysis = self._double(c_in, c, 2 * c)
        self.depth = depth
        if depth:
            self.down = Level3D(2 * c, 2 * c, depth - 1)
            self.up = nn.ConvTranspose3d(4 * c, 4 * c, kernel_size=2, stride=2, bias=False)
            self.synthesis = self._double(6 * c, 2 * c, 2 * c)

    @staticmethod
    def _double(c_in, c1, c2):
        return nn.Sequential(nn.Conv3d(c_in, c1, 3), nn.BatchNorm3d(c1, affine=False), nn.ReLU(),
                             nn.Conv3d(c1, c2, 3), nn.BatchNorm3d(c2, affine=False), nn.ReLU())

    def forward(self, x):
        skip = self.analysis(x)
        if not self.depth:
            return skip
        up = self.up(self.down(F.max_pool3d(skip, 2)))
        o = [(s - u) // 2 for s, u in zip(skip.shape[2:], up.shape[2:])]
        crop = skip[:, :, o[0]:o[0] + up.shape[2], o[1]:o[1] + up.shape[3], o[2]:o[2] + up.shape[4]]
        return self.synthesis(torch.cat([crop, up], 1))


class UNet3D(nn.Module):
    def __init__(self, base=32, depth=3, classes=3):
        super().__init__()
        self.level0 = Level3D(3, base, depth)
        self.head = nn.Conv3d(2 * base, classes, 1)

    def forward(self, x):
        return self.head(self.level0(x))


def test_unet3d_keys_and_shapes_equal_the_torch_module():
    with torch.device("meta"):
        model = UNet3D()
    theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    ours = {k: tuple(shape) for k, (shape, _t) in expected_params(load("unet3d")).items()}
    assert ours == theirs
    assert sum(p.numel() for p in model.parameters()) == 19_069_955


# a reduced U-Net (2 levels below the top, 4 base channels): a 44^3 volume gives a 4^3 output
SMALL = {"defines": {"base": "4", "depth": "2"}, "input_shape": (3, 44, 44, 44)}


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))


def _same_everywhere(g, w, x, want, tmp_path):
    """The interpreter, generated PyTorch, ONNX Runtime (-O0, -O1) and TVM (-O1) against `want`."""
    from cnndsl.backends.pytorch.runtime import build_model

    from cnndsl.backend import optimize_for_inference

    (got,) = interp.run(g, w, [x])
    _close(got, want)
    pt = get_backend("pytorch")
    g0, _ = pt.prepare(g, w, CompileOptions())
    text, _info = pt.generate(g0, CompileOptions())
    (tmp_path / "model.py").write_text(text)
    model = build_model(tmp_path / "model.py", w)
    model.eval()
    with torch.no_grad():
        _close(model(torch.from_numpy(x)).numpy(), want)
    onnx = get_backend("onnx")
    for opt in (0, 1):
        options = CompileOptions(opt_level=opt)
        go, wo = onnx.prepare(g, w, options)
        onnx.compile(go, wo, tmp_path / f"m{opt}.onnx", options)
        _close(onnx.run(tmp_path / f"m{opt}.onnx", [x])[0], want)
    import tvm
    from cnndsl.backends.tvm import LLVM_BACKEND

    g1, w1 = optimize_for_inference(g, w)
    ex, _m, _p = LLVM_BACKEND.build(g1, w1)
    _close(tvm.relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy(), want)


def test_unet3d_runs_the_same_as_the_torch_module_everywhere(tmp_path):
    import onnxruntime  # noqa: F401
    g = load("unet3d", **SMALL)
    assert g.output_shapes()[0][2:] == (4, 4, 4)
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    model = UNet3D(base=4, depth=2)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in w.items()}, strict=True)
    model.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 44, 44, 44)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    _same_everywhere(g, w, x, want, tmp_path)


# ----------------------------------------------------------------------------- 1-D ResNet


class ResBlock1D(nn.Module):
    """Fawaz et al.'s Keras ResNet block in torch: Conv1D(padding="same") + BN (+ ReLU), shortcut
    conv 1x1 + BN when the channels change, else BN alone."""

    def __init__(self, c_in, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv1d(c_in, c, 8, padding="same"), nn.BatchNorm1d(c)
        self.conv2, self.bn2 = nn.Conv1d(c, c, 5, padding="same"), nn.BatchNorm1d(c)
        self.conv3, self.bn3 = nn.Conv1d(c, c, 3, padding="same"), nn.BatchNorm1d(c)
        self.shortcut_conv = nn.Conv1d(c_in, c, 1) if c_in != c else None
        self.shortcut_bn = nn.BatchNorm1d(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        s = self.shortcut_bn(self.shortcut_conv(x) if self.shortcut_conv is not None else x)
        return F.relu(y + s)


class ResNet1D(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, width=64):
        super().__init__()
        self.block1 = ResBlock1D(in_channels, width)
        self.block2 = ResBlock1D(width, 2 * width)
        self.block3 = ResBlock1D(2 * width, 2 * width)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(x)))
        return F.softmax(self.fc(x.mean(dim=2)), dim=1)


def test_resnet1d_counts_by_hand_and_keys_equal_the_torch_module():
    g = load("resnet1d")
    params, macs = _figures(g)

    def conv(ci, co, k):
        return ci * co * k + co

    blocks = (conv(1, 64, 8) + conv(64, 64, 5) + conv(64, 64, 3) + conv(1, 64, 1) + 4 * 2 * 64
              + conv(64, 128, 8) + conv(128, 128, 5) + conv(128, 128, 3) + conv(64, 128, 1) + 4 * 2 * 128
              + conv(128, 128, 8) + conv(128, 128, 5) + conv(128, 128, 3) + 4 * 2 * 128)
    assert params == blocks + 128 * 10 + 10 == 505_290
    n = 1024  # "same" padding keeps the length
    assert macs == n * (8 * 64 + 64 * 64 * 5 + 64 * 64 * 3 + 64 + 64 * 128 * 8 + 128 * 128 * 5 + 128 * 128 * 3
                        + 64 * 128 + 128 * 128 * 8 + 128 * 128 * 5 + 128 * 128 * 3) + 128 * 10
    model = ResNet1D()
    theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    ours = {k: tuple(shape) for k, (shape, _t) in expected_params(g).items()}
    assert ours == theirs
    assert sum(p.numel() for p in model.parameters()) == params


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_resnet1d_runs_the_same_as_the_torch_module_everywhere(tmp_path):
    import onnxruntime  # noqa: F401
    g = load("resnet1d", input_shape=(1, 300))  # any length: "same" padding, then global pooling
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    model = ResNet1D()
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in w.items()}, strict=True)
    model.eval()
    x = np.random.default_rng(0).standard_normal((2, 1, 300)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    _same_everywhere(g, w, x, want, tmp_path)
