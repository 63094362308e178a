"""torchvision's video ResNets (r3d_18, mc3_18, r2plus1d_18) against the library's.

torchvision is not a test dependency: the classes below are torchvision's module tree
(torchvision/models/video/resnet.py: Conv3DSimple, Conv2Plus1D, Conv3DNoTemporal,
BasicBlock, BasicStem, R2Plus1dStem, VideoResNet._make_layer) written out with the same
attribute names, so the same state_dict keys. Full size: keys, shapes and parameter counts
equal (and equal torchvision's published figures); reduced clip: a randomized torchvision
state_dict loads by name and the numpy interpreter, the generated PyTorch module, ONNX
Runtime and (slow) TVM reproduce the torch model's outputs.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

nn = torch.nn

from cnndsl import interp
from cnndsl.api import load
from cnndsl.weights import Weights, expected_params, validate


class Conv3DSimple(nn.Conv3d):
    def __init__(self, in_planes, out_planes, midplanes=None, stride=1, padding=1):
        super().__init__(in_planes, out_planes, kernel_size=(3, 3, 3), stride=stride, padding=padding, bias=False)

    @staticmethod
    def get_downsample_stride(stride):
        return stride, stride, stride


class Conv2Plus1D(nn.Sequential):
    def __init__(self, in_planes, out_planes, midplanes, stride=1, padding=1):
        super().__init__(
            nn.Conv3d(in_planes, midplanes, kernel_size=(1, 3, 3), stride=(1, stride, stride),
                      padding=(0, padding, padding), bias=False),
            nn.BatchNorm3d(midplanes),
            nn.ReLU(inplace=True),
            nn.Conv3d(midplanes, out_planes, kernel_size=(3, 1, 1), stride=(stride, 1, 1), padding=(padding, 0, 0),
                      bias=False),
        )

    @staticmethod
    def get_downsample_stride(stride):
        return stride, stride, stride


class Conv3DNoTemporal(nn.Conv3d):
    def __init__(self, in_planes, out_planes, midplanes=None, stride=1, padding=1):
        super().__init__(in_planes, out_planes, kernel_size=(1, 3, 3), stride=(1, stride, stride),
                         padding=(0, padding, padding), bias=False)

    @staticmethod
    def get_downsample_stride(stride):
        return 1, stride, stride


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, conv_builder, stride=1, downsample=None):
        midplanes = (inplanes * planes * 3 * 3 * 3) // (inplanes * 3 * 3 + 3 * planes)
        super().__init__()
        self.conv1 = nn.Sequential(conv_builder(inplanes, planes, midplanes, stride), nn.BatchNorm3d(planes),
                                   nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(conv_builder(planes, planes, midplanes), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.conv2(self.conv1(x))
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu(out + residual)


class BasicStem(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Conv3d(3, 64, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                         nn.BatchNorm3d(64), nn.ReLU(inplace=True))


class R2Plus1dStem(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Conv3d(3, 45, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
                         nn.BatchNorm3d(45), nn.ReLU(inplace=True),
                         nn.Conv3d(45, 64, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
                         nn.BatchNorm3d(64), nn.ReLU(inplace=True))


class VideoResNet(nn.Module):
    def __init__(self, block, conv_makers, layers, stem, num_classes=400):
        super().__init__()
        self.inplanes = 64
        self.stem = stem()
        self.layer1 = self._make_layer(block, conv_makers[0], 64, layers[0], stride=1)
        self.layer2 = self._make_layer(block, conv_makers[1], 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, conv_makers[2], 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, conv_makers[3], 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))

    def _make_layer(self, block, conv_builder, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            ds_stride = conv_builder.get_downsample_stride(stride)
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes * block.expansion, kernel_size=1, stride=ds_stride, bias=False),
                nn.BatchNorm3d(planes * block.expansion))
        layers = [block(self.inplanes, planes, conv_builder, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, conv_builder))
        return nn.Sequential(*layers)


def r3d_18():
    return VideoResNet(BasicBlock, [Conv3DSimple] * 4, [2, 2, 2, 2], BasicStem)


def mc3_18():
    return VideoResNet(BasicBlock, [Conv3DSimple] + [Conv3DNoTemporal] * 3, [2, 2, 2, 2], BasicStem)


def r2plus1d_18():
    return VideoResNet(BasicBlock, [Conv2Plus1D] * 4, [2, 2, 2, 2], R2Plus1dStem)


MODELS = {"r3d_18": r3d_18, "mc3_18": mc3_18, "r2plus1d_18": r2plus1d_18}
# torchvision's weight enums (R3D_18_Weights.KINETICS400_V1 etc.): num_params and _ops (GFLOPS =
# conv + linear multiply-adds of one 3x16x112x112 clip)
PUBLISHED = {"r3d_18": (33_371_472, 40.697), "mc3_18": (11_695_440, 43.343), "r2plus1d_18": (31_505_325, 40.519)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_full_size_keys_shapes_and_figures_equal_torchvisions(name):
    from cnndsl.passes.manager import annotate

    with torch.device("meta"):  # shapes only
        model = MODELS[name]()
    theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    g = load(name)
    ours = {k: tuple(shape) for k, (shape, _trainable) in expected_params(g).items()}
    assert set(ours) == set(theirs), (sorted(set(ours) - set(theirs))[:5], sorted(set(theirs) - set(ours))[:5])
    wrong = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
    assert not wrong, list(wrong.items())[:5]
    params, gmacs = PUBLISHED[name]
    assert sum(v.numel() for v in model.parameters()) == params
    annotate(g)
    trainable = sum(int(np.prod(shape)) for shape, t in expected_params(g).values() if t)
    macs = sum(n.meta["macs"] for n in g.nodes.values())
    assert trainable == params
    assert round(macs / 1e9, 3) == gmacs


def test_r2plus1d_midplanes_follow_the_paper():
    """Eq. 1 of Tran et al.: M_i = floor(t d^2 N_{i-1} N_i / (d^2 N_{i-1} + t N_i)), from the block's input
    channels, and used by both convs of the block."""
    w = {k: tuple(shape) for k, (shape, _trainable) in expected_params(load("r2plus1d_18")).items()}
    assert w["layer1.0.conv1.0.0.weight"][0] == (64 * 64 * 27) // (64 * 9 + 3 * 64) == 144
    assert w["layer2.0.conv1.0.0.weight"][0] == (64 * 128 * 27) // (64 * 9 + 3 * 128) == 230
    assert w["layer2.0.conv2.0.0.weight"] == (230, 128, 1, 3, 3)  # the first block's midplanes, twice
    assert w["layer2.1.conv1.0.0.weight"][0] == (128 * 128 * 27) // (128 * 9 + 3 * 128) == 288


CLIP = (3, 4, 32, 32)  # a reduced clip: 4 frames of 32x32


@pytest.fixture(scope="module", params=sorted(MODELS))
def checkpoint(request, tmp_path_factory):
    """A torchvision video ResNet with randomized BN statistics and affine terms, as a state_dict file."""
    name = request.param
    torch.manual_seed(0)
    model = MODELS[name]()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    model.eval()
    path = tmp_path_factory.mktemp(name) / f"{name}.pth"
    torch.save(model.state_dict(), path)
    x = np.random.default_rng(0).standard_normal((2,) + CLIP).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    from cnndsl.weights import load_file

    graph = load(name, input_shape=CLIP)
    return name, graph, validate(graph, load_file(path)), x, want, path


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))


def test_state_dict_loads_by_name_and_the_interpreter_agrees(checkpoint):
    _name, graph, weights, x, want, _path = checkpoint
    (got,) = interp.run(graph, weights, [x])
    _close(got, want)


def test_generated_pytorch_module_loads_the_state_dict(checkpoint, tmp_path):
    from cnndsl.backends.pytorch.runtime import build_model

    from cnndsl.backend import CompileOptions, get_backend

    name, graph, weights, x, want, path = checkpoint
    backend = get_backend("pytorch")
    g, _w = backend.prepare(graph, weights, CompileOptions())
    text, _info = backend.generate(g, CompileOptions())
    (tmp_path / f"{name}.py").write_text(text)
    model = build_model(tmp_path / f"{name}.py", None)
    model.load_state_dict(torch.load(path, weights_only=True), strict=True)  # torchvision's keys, unchanged
    assert re.search(r"nn\.Conv3d\(\s*3,", text)  # the stem (its arguments may be on their own lines)
    assert "nn.BatchNorm3d(64)" in text and "nn.AdaptiveAvgPool3d(1)" in text
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    _close(got, want)


def test_onnx_export_agrees(checkpoint, tmp_path):
    import onnxruntime  # noqa: F401

    from cnndsl.backend import CompileOptions, get_backend

    name, graph, weights, x, want, _path = checkpoint
    backend = get_backend("onnx")
    for opt in (0, 1):
        options = CompileOptions(opt_level=opt)
        g, w = backend.prepare(graph, weights, options)
        path = tmp_path / f"{name}-O{opt}.onnx"
        backend.compile(g, w, path, options)
        (got,) = backend.run(path, [x])
        _close(got, want)


@pytest.mark.slow
def test_tvm_llvm_agrees(checkpoint):
    import tvm
    from cnndsl.backends.tvm import LLVM_BACKEND

    from cnndsl.backend import optimize_for_inference

    _name, graph, weights, x, want, _path = checkpoint
    g, w = optimize_for_inference(graph, Weights(weights))
    ex, _manifest, _params = LLVM_BACKEND.build(g, w)
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    _close(vm["main"](tvm.runtime.tensor(x)).numpy(), want)
