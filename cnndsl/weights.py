"""The weights store: numpy arrays keyed `<node name>.<param>`, travelling beside the IR.

Keys and layouts are the registry's (`OpDef.params`, keys by `param_key`):
`layer1.0.conv1.weight` (OIHW), `bn1.running_mean`, `fc.weight` ([out, in]),
`features.1.0.layer_scale` (a parameter keyed by its node's name) -- the same names
PyTorch's state_dict uses for torchvision's models, so torchvision checkpoints load by name.

Sources:
- seeded initialization (`cnndsl.weights_init.init_weights(graph, seed)`, PyTorch's
  per-layer defaults);
- `.npz` (always), `.safetensors` (read by the `safetensors` package when installed,
  else by the small reader below -- the format is a JSON header and raw bytes), and
  PyTorch `state_dict` files `.pt`/`.pth`/`.bin` (torch.load(weights_only=True), when
  torch is installed).

A checkpoint that does not fit the graph is ONE `WeightsMismatch` listing every
missing, unexpected and wrongly shaped key, with did-you-mean for near names.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnndsl.diagnostics import CnnError, DuplicateDefinition, InputError

if TYPE_CHECKING:
    from cnndsl.ir.graph import Graph

# Buffers that do not affect inference: tolerated when absent from a checkpoint (filled
# with zeros), since many exporters drop them.
OPTIONAL_PARAMS = ("num_batches_tracked",)


class WeightsMismatch(CnnError):
    """A checkpoint's keys, shapes or values do not fit the graph's parameters."""

    def __init__(self, message: str, missing=(), unexpected=(), wrong_shape=(), bad_values=()):
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.wrong_shape = list(wrong_shape)
        self.bad_values = list(bad_values)  # (key, why): a dtype that is not a real float, non-finite values


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def value_problem(arr: np.ndarray, integer: bool = False) -> str | None:
    """Why an array cannot be a parameter's value, or None. Parameters take real floating dtypes only
    (float16/32/64; bfloat16 arrives as float32); integer buffers (`OPTIONAL_PARAMS`, the
    num_batches_tracked counters the ops declare) take integers, or floats holding whole numbers.
    Numeric strings, complex, bool, datetime and object arrays are refused, never converted, and so
    are NaN, infinity and values past float32's range (1e300 would become inf)."""
    kind = arr.dtype.kind
    if integer:
        if kind in "iu":
            return None
        if kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
            return None
        return f"is {arr.dtype}; this buffer holds an integer count"
    if kind != "f":
        names = {"U": "a string array", "S": "a byte-string array", "c": "complex", "b": "bool",
                 "M": "datetime", "m": "timedelta", "O": "an object array", "i": "integer", "u": "unsigned integer",
                 "V": "a structured array"}
        return f"is {names.get(kind, str(arr.dtype))} ({arr.dtype}); weights must be real floating point"
    finite = np.isfinite(arr)
    if not finite.all():
        bad = arr[~finite]
        kinds = sorted({"nan" if np.isnan(v) else "inf" if v > 0 else "-inf" for v in bad[:1000]})
        return f"holds {bad.size:,} non-finite value{'s' if bad.size > 1 else ''} ({', '.join(kinds)})"
    if arr.size and arr.dtype.itemsize > 4 and float(np.abs(arr).max()) > _FLOAT32_MAX:
        return f"holds values beyond float32's range (largest magnitude {float(np.abs(arr).max()):.3g})"
    return None


class Weights(dict):
    """`{"<node>.<param>": np.ndarray}` (keys by `cnndsl.ops.registry.param_key`) plus where the values
    came from (`source`)."""

    def __init__(self, items=(), source: str = ""):
        super().__init__(items)
        self.source = source

    def for_node(self, graph: Graph, node_name: str) -> dict[str, np.ndarray]:
        """`{param: array}` for one node (its own-name parameter under `SELF_PARAM`), as its op declares them."""
        from cnndsl.ops.registry import get, param_key

        node = graph.nodes[node_name]
        if node.op == "input":
            return {}
        in_shapes = [graph.value_shape(ref) for ref in node.inputs]
        keys = {p: param_key(node.params_of, p) for p in get(node.op).params(node.attrs, in_shapes)}
        return {p: self[k] for p, k in keys.items() if k in self}

    def nbytes(self) -> int:
        return sum(int(v.nbytes) for v in self.values())


# ------------------------------------------------------------------ what the graph needs
def _param_table(graph: Graph) -> dict[str, tuple[str, tuple[int, ...], bool]]:
    """`{key: (param name, shape, trainable)}` in topological order; keys by `param_key`."""
    from cnndsl.ops.registry import get, param_key

    out: dict[str, tuple[str, tuple[int, ...], bool]] = {}
    owner: dict[str, str] = {}
    for node in graph.topo():
        if node.op == "input" or not node.owns_params:  # shared: the first application holds the parameters
            continue
        in_shapes = [graph.value_shape(ref) for ref in node.inputs]
        for param, (shape, trainable) in get(node.op).params(node.attrs, in_shapes).items():
            key = param_key(node.params_of, param)
            if key in out:
                raise DuplicateDefinition(f"parameter key '{key}' belongs to two nodes: {owner[key]} and {node.name}",
                                          node.span)
            out[key] = (param, tuple(int(d) for d in shape), bool(trainable))
            owner[key] = node.name
    return out


def expected_params(graph: Graph) -> dict[str, tuple[tuple[int, ...], bool]]:
    """`{key: (shape, trainable)}` for every parameter of every node, in topological order.

    Keys come from `cnndsl.ops.registry.param_key`; two parameters with one key (a node
    named `fc.weight` beside a linear `fc`, or a layer_scale named after another node's
    parameter) are a DuplicateDefinition rather than one silently shadowing the other.
    """
    return {key: (shape, trainable) for key, (_param, shape, trainable) in _param_table(graph).items()}


def validate(graph: Graph, weights: dict[str, np.ndarray], what: str = "weights") -> Weights:
    """Check keys and shapes against the graph; return a clean float32 store in graph order.

    Raises one WeightsMismatch listing every problem. Optional buffers
    (`num_batches_tracked`) are filled with zeros when missing.
    """
    table = _param_table(graph)
    expected = {key: (shape, trainable) for key, (_param, shape, trainable) in table.items()}
    missing, wrong, bad = [], [], []
    out = Weights(source=getattr(weights, "source", what))
    for key, (param, shape, _trainable) in table.items():
        if key not in weights:
            if param in OPTIONAL_PARAMS:
                out[key] = np.zeros(shape, dtype=np.int64)
                continue
            missing.append(key)
            continue
        arr = np.asarray(weights[key])
        if tuple(arr.shape) != shape:
            wrong.append((key, tuple(arr.shape), shape))
            continue
        problem = value_problem(arr, integer=param in OPTIONAL_PARAMS)
        if problem:
            bad.append((key, problem))
            continue
        if param in OPTIONAL_PARAMS:
            out[key] = arr.astype(np.int64)
        else:
            out[key] = np.ascontiguousarray(arr, dtype=np.float32)
    unexpected = [k for k in weights if k not in expected]
    if missing or unexpected or wrong or bad:
        raise WeightsMismatch(_mismatch_message(what, missing, unexpected, wrong, expected, weights, bad),
                              missing, unexpected, wrong, bad)
    return out


def _mismatch_message(what, missing, unexpected, wrong, expected, given, bad=()) -> str:
    head = (f"{what} do not match the network: {len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} wrongly shaped" + (f", {len(bad)} with unusable values" if bad else ""))
    lines = [head]
    limit = 20

    def section(title: str, rows: list[str]) -> None:
        if rows:
            lines.append(f"  {title}:")
            lines.extend(f"    {r}" for r in rows[:limit])
            if len(rows) > limit:
                lines.append(f"    ... and {len(rows) - limit} more")

    pairs = _near_pairs(missing, unexpected, expected, given)
    section("missing", [f"{k} {_fmt(expected[k][0])}{_hint(pairs.get(k))}" for k in missing])
    back = {u: m for m, u in pairs.items()}
    section("unexpected", [f"{k}{_hint(back.get(k))}" for k in unexpected])
    section("wrong shape", [f"{k}: got {_fmt(got)}, expected {_fmt(want)}" for k, got, want in wrong])
    section("unusable values", [f"{k}: {why}" for k, why in bad])
    return "\n".join(lines)


def _near_pairs(missing: list[str], unexpected: list[str], expected: dict, given: dict) -> dict[str, str]:
    """missing key -> unexpected key, where each is the other's closest name (a likely rename).

    Closeness is the difflib ratio of the names, plus a bonus when the array's shape is
    the one the missing key needs (so `stem.conv.weight` pairs with `stem.0.weight`,
    not with the BN's `stem.1.weight`).
    """
    from difflib import SequenceMatcher

    if not missing or not unexpected or len(missing) * len(unexpected) > 40_000:
        return {}

    def score(m: str, u: str) -> float:
        ratio = SequenceMatcher(None, m, u).ratio()
        if ratio < 0.6:
            return 0.0
        return ratio + (0.5 if tuple(np.shape(given[u])) == expected[m][0] else 0.0)

    table = {(m, u): score(m, u) for m in missing for u in unexpected}
    best_m = {u: max(missing, key=lambda m: table[(m, u)]) for u in unexpected}
    best_u = {m: max(unexpected, key=lambda u: table[(m, u)]) for m in missing}
    return {m: u for u, m in best_m.items() if table[(m, u)] > 0 and best_u[m] == u}


def _hint(name: str | None) -> str:
    return f"; did you mean '{name}'?" if name else ""


def _fmt(shape: Iterable[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


# ------------------------------------------------------------------ loading and saving
def load_file(path: str | Path) -> Weights:
    """Read a checkpoint into a store (no validation); InputError for unreadable files."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"weights file {p} not found")
    if p.is_dir():
        raise InputError(f"weights file {p} is a directory")
    suffix = p.suffix.lower()
    readers = {".npz": _read_npz, ".safetensors": _read_safetensors, ".pt": _read_torch, ".pth": _read_torch,
               ".bin": _read_torch, ".ckpt": _read_torch}
    reader = readers.get(suffix)
    if reader is None:
        raise InputError(f"weights file {p}: unknown format '{suffix}' (use .npz, .safetensors, .pt or .pth)")
    try:
        arrays = reader(p)
    except CnnError:
        raise
    except Exception as err:  # noqa: BLE001  (a corrupt file: say which and why, no traceback)
        raise InputError(f"cannot read weights file {p}: {type(err).__name__}: {err}") from None
    return Weights(arrays, source=str(p))


def _read_npz(p: Path) -> dict[str, np.ndarray]:
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def _read_safetensors(p: Path) -> dict[str, np.ndarray]:
    try:
        from safetensors.numpy import load_file as st_load
    except ImportError:
        return _read_safetensors_plain(p)
    return dict(st_load(str(p)))


def _read_safetensors_plain(p: Path) -> dict[str, np.ndarray]:
    """The safetensors layout: u64 header length, JSON header, then the raw tensor bytes."""
    data = p.read_bytes()
    if len(data) < 8:
        raise InputError(f"weights file {p} is too short to be safetensors")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise InputError(f"weights file {p}: header length {n} exceeds the file size")
    header = json.loads(data[8:8 + n])
    body = memoryview(data)[8 + n:]
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        if dt == "BF16":
            raw = np.frombuffer(body[b:e], dtype="<u2").astype(np.uint32) << 16
            arr = raw.view(np.float32)
        elif dt in _ST_DTYPES:
            arr = np.frombuffer(body[b:e], dtype=np.dtype(_ST_DTYPES[dt]).newbyteorder("<"))
        else:
            raise InputError(f"weights file {p}: tensor {key} has unsupported dtype {dt}")
        out[key] = arr.reshape(shape).copy()
    return out


def _read_torch(p: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise InputError(f"weights file {p}: reading PyTorch checkpoints needs torch "
                         "(pip install 'cnndsl[torch]'), or convert it to .npz") from None
    obj = torch.load(str(p), map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise InputError(f"weights file {p} holds a {type(obj).__name__}, not a state_dict")
    out = {}
    for k, v in obj.items():
        if not hasattr(v, "detach"):
            raise InputError(f"weights file {p}: entry {k!r} is a {type(v).__name__}, not a tensor")
        k = k.removeprefix("module.")  # DataParallel prefix
        out[k] = v.detach().cpu().float().numpy() if v.is_floating_point() else v.detach().cpu().numpy()
    return out


def save_npz(path: str | Path, weights: dict[str, np.ndarray], force: bool = False) -> None:
    """Write a store as .npz, atomically, marked as cnndsl's (cnndsl.output)."""
    from cnndsl.output import npz_bytes, write_file

    write_file(path, npz_bytes(weights), force=force)


# ------------------------------------------------------------------ the one entry point
def weights_for(graph: Graph, path: str | Path | None = None, seed: int = 0) -> Weights:
    """The weights a compile uses: loaded from `path` and validated, or seeded init."""
    if path is not None:
        return validate(graph, load_file(path), what=f"weights in {path}")
    from cnndsl.weights_init import init_weights

    w = init_weights(graph, seed)
    out = Weights(w, source=f"seed {seed}")
    return out


__all__ = ["OPTIONAL_PARAMS", "Weights", "WeightsMismatch", "expected_params", "load_file", "save_npz",
           "validate", "weights_for"]
