"""The front-end verbs (`check`, `ir`, `list`, `--help`) never import TVM, ONNX or torch.

Each case runs `cnndsl.cli.main.main(argv)` in a fresh interpreter and then lists which
heavy top-level modules ended up in `sys.modules`. `--help` builds the full parser, which
imports every verb module, so it also guards the module level of `compile`, `run`, `bench`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("tvm", "tvm_ffi", "onnx", "onnxruntime", "torch", "torchvision", "xgboost")

PROBE = r"""
import json, sys
from cnndsl.cli.main import main
argv, out = json.loads(sys.argv[1]), sys.argv[2]
try:
    rc = main(argv)
except SystemExit as exc:  # argparse's --help / usage errors
    rc = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[3])))
with open(out, "w") as fh:
    json.dump({"rc": rc, "heavy": heavy}, fh)
"""

CASES = [
    ["check", "resnet50"],
    ["ir", "resnet50", "--format", "text"],
    ["ir", "resnet50", "--format", "json"],
    ["ir", "resnet50", "--format", "dot"],
    ["list"],
    ["--help"],
    ["check", "--help"],
]


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a))
def test_front_end_verbs_import_nothing_heavy(argv: list[str], tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), str(out), json.dumps(HEAVY)],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["rc"] in (0, None), f"cnndsl {' '.join(argv)} exited {result['rc']}:\n{proc.stderr[-2000:]}"
    assert result["heavy"] == [], f"cnndsl {' '.join(argv)} imported {result['heavy']}"
