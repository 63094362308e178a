"""The generated module initializes its weights by the `.cnn` file's recipe (`let init`), as torchvision does.

Oracles: the distributions torch.nn.init documents, computed here by hand from each weight's
shape (Kaiming-normal fan-out: std sqrt(2 / (out_channels * kh * kw)); Kaiming-uniform with
a = sqrt(5), PyTorch's default: bound 1 / sqrt(fan_in); ...), checked on the sample moments of
every large enough tensor; constants exactly. And the code itself: torchvision's own lines.
"""

from __future__ import annotations

import math

import pytest
from _pytorch_util import tiny_res
from cnndsl.backends.pytorch.runtime import load_module

from cnndsl.api import load, load_text
from cnndsl.backend import CompileOptions, get_backend


def _text(graph, opt_level=0) -> str:
    text, _info = get_backend("pytorch").generate(graph, CompileOptions(opt_level=opt_level))
    return text


def _build(text, tmp_path, factory, seed=0, **kwargs):
    import torch

    path = tmp_path / f"{factory}.py"
    path.write_text(text)
    torch.manual_seed(seed)
    return getattr(load_module(path), factory)(**kwargs)


def _fans(w):
    receptive = math.prod(w.shape[2:]) if w.dim() > 2 else 1
    return w.shape[1] * receptive, w.shape[0] * receptive


def _close_std(w, std, tol=0.06):
    """The sample std within `tol` of `std`, the mean within 5 standard errors of 0."""
    w = w.detach().double().flatten()
    assert abs(float(w.std()) / std - 1) < tol, (float(w.std()), std)
    assert abs(float(w.mean())) < 5 * std / math.sqrt(w.numel())


def test_resnet_code_is_torchvisions():
    text = _text(load("resnet50"))
    assert ("        for m in self.modules():\n"
            "            if isinstance(m, nn.Conv2d):\n"
            '                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")\n'
            "            elif isinstance(m, nn.BatchNorm2d):\n"
            "                nn.init.ones_(m.weight)\n"
            "                nn.init.zeros_(m.bias)\n") in text
    assert "# weight initialization: `let init` at architectures/resnet.cnn:" in text


def test_no_recipe_no_code():
    assert "self.modules()" not in _text(load("alexnet"))  # torchvision's AlexNet keeps PyTorch's defaults
    assert "self.modules()" not in _text(tiny_res())


def test_resnet_statistics(tmp_path):
    import torch

    model = _build(_text(load("resnet18")), tmp_path, "resnet18")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 20
    for conv in convs:
        _fan_in, fan_out = _fans(conv.weight)
        if conv.weight.numel() >= 4096:
            _close_std(conv.weight, math.sqrt(2.0 / fan_out))
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(bn.bias, torch.zeros_like(bn.bias))
    # the recipe names no rule for the classifier: PyTorch's default (Kaiming-uniform, a = sqrt(5))
    fan_in = model.fc.weight.shape[1]
    bound = 1.0 / math.sqrt(fan_in)
    assert float(model.fc.weight.detach().abs().max()) <= bound
    _close_std(model.fc.weight, bound / math.sqrt(3))
    assert 0 < float(model.fc.bias.detach().abs().max()) <= bound


def test_mobilenet_statistics(tmp_path):
    import torch

    model = _build(_text(load("mobilenet_v2")), tmp_path, "mobilenet_v2")
    for conv in (m for m in model.modules() if isinstance(m, torch.nn.Conv2d)):
        _fan_in, fan_out = _fans(conv.weight)  # depthwise: out_channels * 9, as torch computes it
        if conv.weight.numel() >= 4096:
            _close_std(conv.weight, math.sqrt(2.0 / fan_out))
    fc = model.classifier[1]
    _close_std(fc.weight, 0.01)
    assert torch.equal(fc.bias, torch.zeros_like(fc.bias))


def test_a_bound_that_follows_num_classes(tmp_path):
    """EfficientNet: uniform(+-1/sqrt(out_features)), written as torchvision's expression."""
    text = _text(load("efficientnet_b0"))
    assert "bound = 1.0 / m.out_features**0.5" in text
    for classes in (1000, 10):
        model = _build(text, tmp_path, "efficientnet_b0", num_classes=classes)
        fc = model.classifier[1]
        bound = 1.0 / math.sqrt(classes)
        assert float(fc.weight.detach().abs().max()) <= bound
        _close_std(fc.weight, bound / math.sqrt(3))


def test_kaiming_uniform_and_trunc_normal(tmp_path):
    import torch

    mnas = _build(_text(load("mnasnet0_5")), tmp_path, "mnasnet0_5")
    fc = next(m for m in mnas.modules() if isinstance(m, torch.nn.Linear))
    bound = math.sqrt(3.0) / math.sqrt(fc.weight.shape[0])  # fan_out, gain 1 (sigmoid)
    assert float(fc.weight.detach().abs().max()) <= bound
    _close_std(fc.weight, bound / math.sqrt(3))
    convnext = _build(_text(load("convnext_tiny")), tmp_path, "convnext_tiny")
    for m in convnext.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.weight.numel() >= 4096:
            _close_std(m.weight, 0.02, tol=0.08)
            assert float(m.weight.detach().abs().max()) <= 2.0
            assert torch.equal(m.bias, torch.zeros_like(m.bias))


BLOCK_RECIPE = """
block Res(c) (x) {
    let init = [("bn2", "zeros")]  # the residual branch's last BN starts at zero
    residual {
        conv(c, kernel=3, bias=false) as conv1
        bn as bn1
        relu
        conv(c, kernel=3, bias=false) as conv2
        bn as bn2
    } shortcut {
    }
    relu
}

network Z(num_classes=10) (image: f32[N, 3, 16, 16]) {
    let init = [("conv", "kaiming_normal", "fan_out"), ("bn", "constant", 1.0, 0.0), ("linear", "normal", 0.01)]
    conv(32, kernel=3, bias=false) as stem
    bn as stem_bn
    relu
    Res(32) as block1
    Res(32) as block2
    gap
    flatten
    linear(num_classes) as fc
}
"""


def test_a_block_recipe_overrides_by_name(tmp_path):
    import torch

    text = _text(load_text(BLOCK_RECIPE, "z.cnn"))
    assert "for name in (\"block1.bn2\", \"block2.bn2\"):" in text
    model = _build(text, tmp_path, "z")
    for name, bn in model.named_modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            value = 0.0 if name.endswith("bn2") else 1.0
            assert torch.equal(bn.weight, torch.full_like(bn.weight, value)), name
            assert torch.equal(bn.bias, torch.zeros_like(bn.bias)), name
    for conv in (m for m in model.modules() if isinstance(m, torch.nn.Conv2d)):
        _close_std(conv.weight, math.sqrt(2.0 / _fans(conv.weight)[1]), tol=0.1)


@pytest.mark.parametrize("opt_level", [0, 1])
def test_recipe_code_runs_at_both_levels(opt_level, tmp_path):
    import torch

    model = _build(_text(load("mobilenet_v2", input_shape=(3, 32, 32)), opt_level), tmp_path, "mobilenet_v2")
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)


def test_a_named_layer_set_again_after_the_loop(tmp_path):
    """SqueezeNet: Kaiming-uniform convs (bound sqrt(6 / fan_in)), the final conv normal(0, 0.01), biases 0."""
    import torch

    text = _text(load("squeezenet1_0"))
    assert 'for name in ("classifier.1",):' in text
    model = _build(text, tmp_path, "squeezenet1_0")
    final = model.classifier[1]
    _close_std(final.weight, 0.01)
    for conv in (m for m in model.modules() if isinstance(m, torch.nn.Conv2d)):
        assert torch.equal(conv.bias, torch.zeros_like(conv.bias))
        if conv is final:
            continue
        bound = math.sqrt(6.0 / _fans(conv.weight)[0])
        assert float(conv.weight.detach().abs().max()) <= bound
        if conv.weight.numel() >= 4096:
            _close_std(conv.weight, bound / math.sqrt(3))


def test_video_resnet_recipe(tmp_path):
    import torch

    text = _text(load("r3d_18"))
    assert "            if isinstance(m, nn.Conv3d):\n" in text
    model = _build(text, tmp_path, "r3d_18")
    for conv in (m for m in model.modules() if isinstance(m, torch.nn.Conv3d)):
        if conv.weight.numel() >= 4096:
            _close_std(conv.weight, math.sqrt(2.0 / _fans(conv.weight)[1]))
    _close_std(model.fc.weight, 0.01)
    assert torch.equal(model.fc.bias, torch.zeros_like(model.fc.bias))
