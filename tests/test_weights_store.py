"""The weights store: loading .npz / .safetensors / .pt, validation with one clear error."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from cnndsl.diagnostics import DuplicateDefinition, InputError
from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops.registry import SELF_PARAM
from cnndsl.weights import Weights, WeightsMismatch, expected_params, load_file, save_npz, validate, weights_for
from cnndsl.weights_init import init_weights


def small_graph():
    b = GraphBuilder("net")
    x = b.input("image", ("N", 3, 8, 8))
    y = b.add("conv", [x], name="layer1.0.conv1", out=4, kernel=3, bias=False)
    y = b.add("bn", [y], name="bn1")
    y = b.add("gap", [y], name="pool")
    y = b.add("flatten", [y], name="flat")
    y = b.add("linear", [y], name="fc", out=2)
    b.output("y", y)
    return b.graph


def test_expected_params_names_and_shapes():
    exp = expected_params(small_graph())
    assert list(exp) == ["layer1.0.conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                         "bn1.num_batches_tracked", "fc.weight", "fc.bias"]
    assert exp["layer1.0.conv1.weight"] == ((4, 3, 3, 3), True)
    assert exp["bn1.running_mean"] == ((4,), False)


def test_seeded_init_is_deterministic():
    g = small_graph()
    a, b, c = weights_for(g, seed=3), weights_for(g, seed=3), weights_for(g, seed=4)
    assert set(a) == set(expected_params(g))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["fc.weight"], c["fc.weight"])


def test_npz_round_trip(tmp_path):
    g = small_graph()
    w = init_weights(g, 0)
    save_npz(tmp_path / "w.npz", w)
    loaded = weights_for(g, tmp_path / "w.npz")
    assert isinstance(loaded, Weights) and loaded.source.endswith("w.npz")
    for k in w:
        np.testing.assert_array_equal(loaded[k], w[k])
    assert loaded["fc.weight"].dtype == np.float32


def test_num_batches_tracked_may_be_absent():
    g = small_graph()
    w = {k: v for k, v in init_weights(g, 0).items() if not k.endswith("num_batches_tracked")}
    out = validate(g, w)
    assert out["bn1.num_batches_tracked"].shape == () and out["bn1.num_batches_tracked"].dtype == np.int64


def test_mismatch_is_one_error_listing_everything():
    g = small_graph()
    w = dict(init_weights(g, 0))
    w["layer1.0.conv.weight"] = w.pop("layer1.0.conv1.weight")  # a rename
    w["fc.weight"] = np.zeros((3, 4), np.float32)  # wrong shape
    del w["bn1.bias"]  # missing, nothing near
    w["extra.thing"] = np.zeros(1, np.float32)  # unexpected
    with pytest.raises(WeightsMismatch) as info:
        validate(g, w, what="weights in w.npz")
    err = info.value
    assert sorted(err.missing) == ["bn1.bias", "layer1.0.conv1.weight"]
    assert sorted(err.unexpected) == ["extra.thing", "layer1.0.conv.weight"]
    assert err.wrong_shape == [("fc.weight", (3, 4), (2, 4))]
    msg = err.message
    assert msg.startswith("weights in w.npz do not match the network: 2 missing, 2 unexpected, 1 wrongly shaped")
    assert "layer1.0.conv1.weight [4, 3, 3, 3]; did you mean 'layer1.0.conv.weight'?" in msg
    assert "fc.weight: got [3, 4], expected [2, 4]" in msg


def _write_safetensors(path, arrays: dict[str, np.ndarray]) -> None:
    header, blobs, offset = {}, [], 0
    codes = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    for k, v in arrays.items():
        raw = np.ascontiguousarray(v).astype(v.dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": codes[v.dtype], "shape": list(v.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def test_safetensors(tmp_path):
    g = small_graph()
    w = init_weights(g, 0)
    _write_safetensors(tmp_path / "w.safetensors", w)
    loaded = weights_for(g, tmp_path / "w.safetensors")
    for k in w:
        np.testing.assert_array_equal(loaded[k], w[k])


def test_torch_state_dict(tmp_path):
    import torch
    g = small_graph()
    w = init_weights(g, 0)
    sd = {f"module.{k}": torch.from_numpy(np.array(v)) for k, v in w.items()}
    torch.save(sd, tmp_path / "w.pth")
    torch.save({"state_dict": sd}, tmp_path / "ckpt.pt")
    for name in ("w.pth", "ckpt.pt"):
        loaded = weights_for(g, tmp_path / name)
        for k in w:
            np.testing.assert_array_equal(loaded[k], w[k])


def test_bad_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_file(tmp_path / "nope.npz")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(InputError, match="unknown format '.txt'"):
        load_file(tmp_path / "w.txt")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read weights file"):
        load_file(tmp_path / "bad.npz")
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(InputError):
        load_file(tmp_path / "bad.safetensors")


def scaled_graph():
    b = GraphBuilder("scaled")
    x = b.input("image", ("N", 4, 6, 6))
    y = b.add("conv", [x], name="features.1.0.block.0", out=4, kernel=3)
    y = b.add("layer_scale", [y], name="features.1.0.layer_scale", init=0.5)
    b.output("y", y)
    return b.graph


def test_a_parameter_keyed_by_the_node_name():
    g = scaled_graph()
    exp = expected_params(g)
    assert list(exp) == ["features.1.0.block.0.weight", "features.1.0.block.0.bias", "features.1.0.layer_scale"]
    assert exp["features.1.0.layer_scale"] == ((4, 1, 1), True)
    w = weights_for(g)
    assert w.for_node(g, "features.1.0.layer_scale") == {SELF_PARAM: w["features.1.0.layer_scale"]}
    assert set(w.for_node(g, "features.1.0.block.0")) == {"weight", "bias"}
    # the old nested key is reported as a likely rename of the new one
    old = {k if k != "features.1.0.layer_scale" else "features.1.0.layer_scale.layer_scale": v for k, v in w.items()}
    with pytest.raises(WeightsMismatch) as info:
        validate(g, old)
    assert info.value.missing == ["features.1.0.layer_scale"]
    assert info.value.unexpected == ["features.1.0.layer_scale.layer_scale"]
    assert "features.1.0.layer_scale [4, 1, 1]; did you mean 'features.1.0.layer_scale.layer_scale'?" \
        in info.value.message


def test_two_parameters_with_one_key_are_an_error():
    # a layer_scale named like the linear's weight key: the store could not hold both
    b = GraphBuilder("clash")
    x = b.input("image", ("N", 4, 1, 1))
    y = b.add("layer_scale", [x], name="fc.weight")
    y = b.add("linear", [y], name="fc", out=4)
    b.output("y", y)
    with pytest.raises(DuplicateDefinition, match="'fc.weight' belongs to two nodes: fc.weight and fc"):
        expected_params(b.graph)
