"""Shared test helpers."""

from __future__ import annotations

import textwrap

import pytest

from cnndsl.passes import contract

# Every pipeline in the tests checks the IR contract after each pass (lint, in-place flag,
# inputs untouched by transformations): cnndsl/passes/contract.py, the CLI's --verify.
contract.VERIFY = True


@pytest.fixture
def cnn_file(tmp_path):
    """Write dedented .cnn text to a file in a temp dir and return its path."""

    def write(text: str, name: str = "net.cnn"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write
