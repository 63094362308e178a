"""Reading models: external data, and the initializer names that become weight keys."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from cnndsl.importer import import_onnx

onnx = pytest.importorskip("onnx")


def test_external_data(tmp_path):
    """Weights stored beside the model (`save_as_external_data`), as large models ship, are read."""
    original = cnndsl.load("lenet5")
    inline = tmp_path / "inline.onnx"
    original.to_onnx(inline, seed=3)
    model = onnx.load(str(inline))
    external = tmp_path / "external.onnx"
    onnx.save_model(model, str(external), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external.bin", size_threshold=0)
    assert (tmp_path / "external.bin").stat().st_size > 0
    imp = import_onnx(external)
    seeded = original.weights(seed=3)
    assert set(imp.weights) == set(seeded)
    for k, v in seeded.items():
        np.testing.assert_array_equal(imp.weights[k], np.asarray(v), err_msg=k)


def test_deduplicated_initializers_keep_their_keys(tmp_path):
    """torch.onnx stores equal initializers once and names the others through Identity nodes: each
    batch norm still gets its own parameters under its own state_dict key."""
    from _models import make_model, save

    helper = onnx.helper
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
    nodes = [helper.make_node("Identity", ["bn1.weight"], ["bn2.weight"]),
             helper.make_node("Identity", ["bn1.bias"], ["bn2.bias"]),
             helper.make_node("Identity", ["bn1.running_mean"], ["bn2.running_mean"]),
             helper.make_node("Identity", ["bn1.running_var"], ["bn2.running_var"]),
             helper.make_node("BatchNormalization", ["x", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                                     "bn1.running_var"], ["a"], name="/bn1/BatchNormalization"),
             helper.make_node("BatchNormalization", ["a", "bn2.weight", "bn2.bias", "bn2.running_mean",
                                                     "bn2.running_var"], ["y"], name="/bn2/BatchNormalization")]
    model = make_model(nodes, [("x", [1, 4, 3, 3])], [("y", [1, 4, 3, 3])],
                       [("bn1.weight", ones), ("bn1.bias", zeros), ("bn1.running_mean", zeros),
                        ("bn1.running_var", ones)])
    imp = import_onnx(save(model, tmp_path / "m.onnx"))
    assert sorted(imp.weights) == sorted(f"bn{i}.{p}" for i in (1, 2) for p in (
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"))


def test_at_sign_means_shared_only_in_cnndsl_exports(tmp_path):
    """`head@1` is a later application of a shared instance in cnndsl's exports only; elsewhere it is a name."""
    from _models import make_model, save

    w = np.ones((4, 3, 1, 1), np.float32)
    nodes = [onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="/head@1/Conv")]
    model = make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 4, 4, 4])], [("w", w)])
    imp = import_onnx(save(model, tmp_path / "m.onnx"))
    assert "shared" not in imp.text
    assert list(imp.weights) == ["head_1.weight"]
