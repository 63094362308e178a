"""The network's parameters as constructor arguments of the generated module (`resnet50(num_classes=10)`).

The oracle is the language: `resnet50(num_classes=10)` from the generated file must be the
module that cnndsl generates for the network elaborated with `num_classes=10` — the same
state_dict keys and shapes, and the same outputs for the same weights and input.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from _pytorch_util import generate, tiny_res, write_and_build
from cnndsl.backends.pytorch.runtime import load_module, state_dict

from cnndsl.api import load


def _factory(text: str, path):
    path.write_text(text)
    module = load_module(path)
    return module


def test_signature_takes_what_reaches_the_layers(tmp_path):
    text, *_ = generate(load("resnet50"))
    assert "\ndef resnet50(num_classes: int = 1000) -> ResNet:\n" in text
    assert "    return ResNet(num_classes=num_classes)\n" in text
    assert "    def __init__(self, num_classes: int = 1000) -> None:" in text
    assert "self.fc = nn.Linear(2048, num_classes)" in text
    # depth, groups and widths shape the network: not arguments
    sig = inspect.signature(_factory(text, tmp_path / "r50.py").resnet50)
    assert list(sig.parameters) == ["num_classes"]


def test_a_rate_and_a_nested_block_take_the_argument_down(tmp_path):
    text, *_ = generate(load("efficientnet_b2"))
    assert "\ndef efficientnet_b2(dropout_p: float = 0.3, num_classes: int = 1000) -> EfficientNet:\n" in text
    # the classifier block takes both from the network
    assert "self.classifier = Classifier(dropout_p=dropout_p, num_classes=num_classes)" in text
    assert "nn.Dropout(p=dropout_p)" in text and "nn.Linear(1408, num_classes)" in text


def test_graphs_not_loaded_from_a_file_have_no_arguments():
    text, *_ = generate(tiny_res())
    assert "\ndef tiny_res() -> TinyRes:\n" in text


def test_inference_form_is_built_as_compiled():
    text, *_ = generate(load("lenet5"), opt_level=1)
    assert "\ndef lenet5() -> LeNet5:\n" in text


@pytest.mark.parametrize("name, params", [("resnet18", {"num_classes": 10}),
                                          ("mobilenet_v2", {"num_classes": 7}),
                                          ("efficientnet_b0", {"num_classes": 5, "dropout_p": 0.5})])
def test_arguments_build_what_the_language_builds(name, params, tmp_path):
    import torch

    base = load(name, input_shape=(3, 64, 64))
    text, *_ = generate(base)
    built = _factory(text, tmp_path / "base.py")
    model = getattr(built, name)(**params)

    other = load(name, input_shape=(3, 64, 64), params=params)
    other_text, _info, _g, weights = generate(other)
    assert "Linear(" in other_text
    reference = write_and_build(other_text, tmp_path / "other.py", weights)
    mine = model.state_dict()
    theirs = reference.state_dict()
    assert {k: tuple(v.shape) for k, v in mine.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
    model.load_state_dict(state_dict(weights), strict=True)
    dropouts = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts == [m.p for m in reference.modules() if isinstance(m, torch.nn.Dropout)]
    model.eval()
    reference.eval()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32))
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_the_compiled_values_are_the_defaults():
    """`cnndsl.load("resnet18", num_classes=10)` (or `-D num_classes=10`): the factory defaults to 10."""
    text, *_ = generate(load("resnet18", params={"num_classes": 10}))
    assert "\ndef resnet18(num_classes: int = 10) -> ResNet:\n" in text
    assert "self.fc = nn.Linear(512, num_classes)" in text
