"""A torchvision-layout ConvNeXt state_dict loads by name into the library's convnext, and
the numpy interpreter, the generated PyTorch module and ONNX Runtime reproduce that
model's outputs.

torchvision itself is not a test dependency: the classes below are torchvision's ConvNeXt
module tree (torchvision/models/convnext.py and ops/misc.py) written out with the same
attribute names, so the same state_dict keys: CNBlock's `block` is an nn.Sequential of
Conv2d, Permute, nn.LayerNorm, Linear, GELU, Linear, Permute, and its layer-scale gamma is a
bare nn.Parameter, `features.1.0.layer_scale` of shape [C, 1, 1].
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

nn = torch.nn
F = torch.nn.functional

from _pytorch_util import generate, write_and_build

from cnndsl import interp
from cnndsl.api import load
from cnndsl.weights import expected_params, load_file, validate


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Permute(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return torch.permute(x, self.dims)


class StochasticDepth(nn.Module):
    def __init__(self, p, mode):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x):
        return x  # the identity in eval mode, which is all this test runs


class CNBlock(nn.Module):
    def __init__(self, dim, layer_scale, stochastic_depth_prob):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(in_features=dim, out_features=4 * dim, bias=True),
            nn.GELU(),
            nn.Linear(in_features=4 * dim, out_features=dim, bias=True),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")

    def forward(self, input):
        result = self.layer_scale * self.block(input)
        result = self.stochastic_depth(result)
        result += input
        return result


class ConvNeXt(nn.Module):
    """torchvision's ConvNeXt for block settings (input_channels, out_channels or None, num_layers)."""

    def __init__(self, block_setting, stochastic_depth_prob=0.0, layer_scale=1e-6, num_classes=1000):
        super().__init__()

        def norm(c):  # torchvision: partial(LayerNorm2d, eps=1e-6)
            return LayerNorm2d(c, eps=1e-6)

        first = block_setting[0][0]
        layers = [nn.Sequential(nn.Conv2d(3, first, kernel_size=4, stride=4, padding=0, bias=True), norm(first))]
        total = sum(n for _c, _o, n in block_setting)
        block_id = 0
        for cin, cout, n in block_setting:
            stage = []
            for _ in range(n):
                stage.append(CNBlock(cin, layer_scale, stochastic_depth_prob * block_id / (total - 1.0)))
                block_id += 1
            layers.append(nn.Sequential(*stage))
            if cout is not None:
                layers.append(nn.Sequential(norm(cin), nn.Conv2d(cin, cout, kernel_size=2, stride=2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last = block_setting[-1][1] or block_setting[-1][0]
        self.classifier = nn.Sequential(norm(last), nn.Flatten(1), nn.Linear(last, num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


def _settings(dims, depths):
    return [(c, dims[i + 1] if i + 1 < len(dims) else None, n) for i, (c, n) in enumerate(zip(dims, depths))]


@pytest.mark.parametrize("name,depths,sd", [("convnext_tiny", [3, 3, 9, 3], 0.1),
                                            ("convnext_small", [3, 3, 27, 3], 0.4)])
def test_full_size_keys_and_shapes_equal_torchvisions(name, depths, sd):
    with torch.device("meta"):  # shapes only: no memory, no initialization
        model = ConvNeXt(_settings([96, 192, 384, 768], depths), sd)
    theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    ours = {k: shape for k, (shape, _trainable) in expected_params(load(name)).items()}
    assert set(ours) == set(theirs), (sorted(set(ours) - set(theirs))[:5], sorted(set(theirs) - set(ours))[:5])
    wrong = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
    assert not wrong, list(wrong.items())[:5]
    assert theirs["features.1.0.layer_scale"] == (96, 1, 1)
    assert theirs["features.1.0.block.3.weight"] == (384, 96) and theirs["features.7.2.block.5.weight"] == (768, 3072)
    assert sum(v.numel() for v in model.parameters()) == {"convnext_tiny": 28_589_128, "convnext_small": 50_223_688}[name]


DIMS, DEPTHS, SIZE = [8, 16, 24, 32], [1, 2, 1, 1], 64


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A reduced torchvision ConvNeXt with every parameter randomized, saved as a state_dict."""
    torch.manual_seed(0)
    model = ConvNeXt(_settings(DIMS, DEPTHS), 0.1, num_classes=10)
    with torch.no_grad():  # layer scale 1e-6 and unit LayerNorms would hide the blocks: randomize them
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):  # LayerNorm2d too
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
            elif isinstance(m, CNBlock):
                m.layer_scale.uniform_(0.5, 1.5)
    model.eval()
    path = tmp_path_factory.mktemp("convnext") / "convnext.pth"
    torch.save(model.state_dict(), path)
    x = np.random.default_rng(0).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    graph = load("convnext_tiny", defines={"dims": str(DIMS), "depths": str(DEPTHS), "num_classes": "10"},
                 input_shape=(3, SIZE, SIZE))
    return graph, validate(graph, load_file(path)), x, want, path


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))


def test_state_dict_loads_by_name_and_the_interpreter_agrees(checkpoint):
    graph, weights, x, want, _path = checkpoint
    assert weights["features.1.0.layer_scale"].shape == (DIMS[0], 1, 1)
    assert weights["features.3.1.block.5.weight"].shape == (DIMS[1], 4 * DIMS[1])
    (got,) = interp.run(graph, weights, [x])
    _close(got, want)


def test_generated_pytorch_module_loads_the_state_dict(checkpoint, tmp_path):
    graph, weights, x, want, path = checkpoint
    text, _info, _g, _w = generate(graph, weights)
    model = write_and_build(text, tmp_path / "convnext.py")
    model.load_state_dict(torch.load(path, weights_only=True), strict=True)  # torchvision's keys, unchanged
    assert "self.layer_scale = nn.Parameter(torch.full(" in text and "Permute([0, 2, 3, 1])" in text
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    _close(got, want)


def test_onnx_export_agrees(checkpoint, tmp_path):
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401

    from cnndsl.backend import CompileOptions, get_backend

    graph, weights, x, want, _path = checkpoint
    backend = get_backend("onnx")
    for opt in (0, 1):
        options = CompileOptions(opt_level=opt)
        g, w = backend.prepare(graph, weights, options)
        path = tmp_path / f"convnext-O{opt}.onnx"
        backend.compile(g, w, path, options)
        (got,) = backend.run(path, [x])
        _close(got, want)
