"""Golden generated sources for two small networks.

A refactor of the PyTorch backend must not change these files. To accept a deliberate
change, rerun with CNNDSL_UPDATE_GOLDEN=1 and review the diff. The cnndsl version in the
header is masked so a release does not touch them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _pytorch_util import generate, tiny_res

from cnndsl import __version__
from cnndsl.api import load

GOLDEN = Path(__file__).parent / "golden"
CASES = {"lenet5_O0": ("lenet5", 0), "tiny_res_O0": ("tiny_res", 0), "tiny_res_O1": ("tiny_res", 1)}


def _graph(name):
    return tiny_res() if name == "tiny_res" else load(name)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    name, opt_level = CASES[case]
    text, _info, _g, _w = generate(_graph(name), opt_level=opt_level)
    text = text.replace(f"cnndsl {__version__} ", "cnndsl VERSION ", 1)
    golden = GOLDEN / f"pytorch_{case}.py.txt"
    if os.environ.get("CNNDSL_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"{golden} missing; run with CNNDSL_UPDATE_GOLDEN=1 to create it"
    assert text == golden.read_text(), f"generated source of {case} changed; if intended, rerun with CNNDSL_UPDATE_GOLDEN=1"
