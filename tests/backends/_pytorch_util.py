"""Helpers shared by the PyTorch backend tests: generate, import, load weights, compare."""

from __future__ import annotations

import ast
import builtins
import keyword
import subprocess
import sys
from pathlib import Path

import numpy as np

from cnndsl.backend import CompileOptions, get_backend
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights

TINY_RES = """
block Block(c, stride=1) (x) {
    residual {
        conv(c, kernel=3, stride=stride, bias=false) as conv1
        bn as bn1
        relu
        conv(c, kernel=3, bias=false) as conv2
        bn as bn2
    } shortcut {
        if stride != 1 or channels(x) != c {
            conv(c, kernel=1, stride=stride, bias=false) as proj
        }
    }
    relu
}

network TinyRes(num_classes=10) (image: f32[N, 3, 32, 32]) {
    conv(8, kernel=3, bias=false) as stem
    bn as stem_bn
    relu
    Block(8) as block1
    Block(16, stride=2) as block2
    Block(16) as block3
    Block(32, stride=2) as block4
    gap
    flatten
    dropout(0.2)
    linear(num_classes) as fc
}
"""


def tiny_res(batch="N"):
    from cnndsl.api import load_text

    return load_text(TINY_RES, "tinyres.cnn", batch=batch if batch != "N" else None)


def generate(graph, weights=None, opt_level: int = 0, seed: int = 0):
    """(source text, info, graph as compiled, weights as compiled)."""
    backend = get_backend("pytorch")
    if weights is None:
        weights = Weights(init_weights(graph, seed, randomize_buffers=True))
    options = CompileOptions(opt_level=opt_level)
    g, w = backend.prepare(graph, weights, options)
    backend.check(g)
    text, info = backend.generate(g, options)
    return text, info, g, w


def write_and_build(text: str, path: Path, weights=None):
    from cnndsl.backends.pytorch.runtime import build_model

    path.write_text(text)
    return build_model(path, weights)


def ruff(path: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("ruff")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ruff"]
    return subprocess.run(cmd + ["check", "--no-cache", "--isolated", str(path)], capture_output=True, text=True, check=False)


def shadowing(text: str) -> list[str]:
    """Every identifier the source binds that is a keyword or builtin."""
    bad = set(dir(builtins)) | set(keyword.kwlist) | set(keyword.softkwlist)
    found = []
    for node in ast.walk(ast.parse(text)):
        names = []
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.arg):
            names.append(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, ast.alias):
            names.append(node.asname or node.name.split(".")[0])
        found += [n for n in names if n in bad]
    return found


def imported_roots(text: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    return roots


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-6))
