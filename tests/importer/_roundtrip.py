"""Round-trip checks shared by the importer's tests: original network vs imported network."""

from __future__ import annotations

import numpy as np

import cnndsl
from cnndsl.model import Model
from cnndsl.weights import expected_params


def rf_of_outputs(model: Model) -> list:
    nodes = {n["name"]: n["rf"] for n in model.rf()["nodes"]}
    return [nodes.get(ref[0]) for _name, ref in model.graph.outputs]


def assert_same_network(original: Model, imported: Model) -> None:
    """Same parameter count, MACs, receptive fields of the outputs, state_dict keys and shapes; diff identical."""
    a, b = original.report()["totals"], imported.report()["totals"]
    assert (b["params"], b["macs"]) == (a["params"], a["macs"])
    assert rf_of_outputs(imported) == rf_of_outputs(original)
    ka, kb = expected_params(original.graph), expected_params(imported.graph)
    assert {k: v[0] for k, v in kb.items()} == {k: v[0] for k, v in ka.items()}
    d = original.diff(imported)
    assert d["identical"], {k: d[k] for k in ("added", "removed", "changed")}


def assert_same_counts(original: Model, imported: Model) -> None:
    """For torch.onnx exports: the exporter drops inference no-ops (dropout) and PyTorch names the
    parameterless layers its own way (`relu` for a reused nn.ReLU), so the inference graphs must
    agree on every count and on every node with parameters; parameterless nodes may be renamed."""
    a, b = original.report()["totals"], imported.report()["totals"]
    assert (b["params"], b["macs"]) == (a["params"], a["macs"])
    assert rf_of_outputs(imported) == rf_of_outputs(original)
    ka, kb = expected_params(original.graph), expected_params(imported.graph)
    assert {k: v[0] for k, v in kb.items()} == {k: v[0] for k, v in ka.items()}
    d = original.diff(imported, optimize=True)
    for key in ("params", "buffers", "macs", "flops", "layers"):
        assert d["totals"][key]["delta"] == 0, (key, d["totals"][key])
    with_params = {k.rsplit(".", 1)[0] for k in ka}
    for node in d["added"] + d["removed"]:
        assert node["name"] not in with_params, node


def random_inputs(model: Model, batch: int = 1, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal([batch] + list(shape[1:])).astype(np.float32) for shape in model.inputs.values()]


def ort_run(path, xs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {i.name: x for i, x in zip(s.get_inputs(), xs)})


def load(name: str) -> Model:
    return cnndsl.load(name)
