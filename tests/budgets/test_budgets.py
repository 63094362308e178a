"""Budgets (issue 17 item 4, docs/language.md "Budgets"): each limit is a positioned error, found
before anything is allocated or read."""

from __future__ import annotations

import os
import threading

import pytest

from cnndsl import diagnostics as D
from cnndsl.api import load, load_text
from cnndsl.elaborate.evaluator import MAX_VALUE_ITEMS
from cnndsl.ir.budgets import MAX_PARAMS, MAX_TENSOR_ELEMENTS
from cnndsl.ir.builder import GraphBuilder
from cnndsl.syntax.parser import MAX_SOURCE_BYTES

HEAD = "network N() (x: f32[1, 3, 8, 8]) {"


def err_of(text: str, **kw) -> D.CnnError:
    with pytest.raises(D.CnnError) as info:
        load_text(text, "t.cnn", **kw)
    return info.value


def where(err: D.CnnError) -> tuple[int, int]:
    return err.span.line, err.span.col


# ------------------------------------------------------------------ source size, before reading
def test_source_over_the_budget_is_refused_from_stat(tmp_path):
    p = tmp_path / "big.cnn"
    with open(p, "wb") as f:  # sparse: a file the size of the budget + 1 with nothing written
        f.truncate(MAX_SOURCE_BYTES + 1)
    with pytest.raises(D.InputError, match=f"{MAX_SOURCE_BYTES + 1:,} bytes; the limit is {MAX_SOURCE_BYTES:,}"):
        load(str(p))


def test_dev_zero_is_refused_without_reading():
    with pytest.raises(D.InputError, match="not a regular file"):
        load("/dev/zero")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "net.cnn"
    os.mkfifo(fifo)
    result: list = []

    def go() -> None:
        try:
            load(str(fifo))
        except D.InputError as err:
            result.append(err)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(30)  # opening a FIFO for reading blocks until a writer comes: the thread would never end
    if t.is_alive():
        with open(fifo, "wb"):  # release the reader so the thread ends, then fail
            pass
        pytest.fail("load() blocked on a FIFO")
    assert result and "not a regular file" in result[0].message


def test_an_imported_fifo_is_a_positioned_error(tmp_path):
    os.mkfifo(tmp_path / "other.cnn")
    main = tmp_path / "main.cnn"
    main.write_text("from other import X\n" + HEAD + "\n  relu\n}\n")
    with pytest.raises(D.InputError, match="not a regular file") as info:
        load(str(main))
    assert where(info.value) == (1, 1)


def test_symlink_loop_on_the_command_line_and_in_an_import(tmp_path):
    (tmp_path / "a.cnn").symlink_to(tmp_path / "b.cnn")
    (tmp_path / "b.cnn").symlink_to(tmp_path / "a.cnn")
    with pytest.raises(D.InputError, match="symbolic link loop"):
        load(str(tmp_path / "a.cnn"))
    main = tmp_path / "main.cnn"
    main.write_text("from a import X\n" + HEAD + "\n  relu\n}\n")
    with pytest.raises(D.InputError, match="symbolic link loop") as info:
        load(str(main))
    assert where(info.value) == (1, 1)


# ------------------------------------------------------------------ list values
def test_exponentially_shared_list_is_stopped_at_the_doubling():
    err = err_of(f"{HEAD}\n  let a = [1]\n  repeat 40 {{ let a = [a, a] }}\n  relu\n}}\n")
    assert isinstance(err, D.LimitExceeded)
    assert f"{MAX_VALUE_ITEMS:,} items" in err.message
    assert where(err) == (3, 23)


@pytest.mark.parametrize("expr", ["[a] * 3", "a + a + a", "[v for v in [a, a, a]]", "zip(a, a, a)", "(a, a, a)"])
def test_every_way_of_making_a_list_is_bounded(expr):
    # a holds 2**19 + ... items: one more copy of it in any new list passes the budget
    text = f"{HEAD}\n  let a = [1]\n  repeat 18 {{ let a = [a, a] }}\n  let b = {expr}\n  relu\n}}\n"
    err = err_of(text)
    assert isinstance(err, D.LimitExceeded) and where(err)[0] == 4


def test_a_shared_list_within_the_budget_is_passed_and_compared_quickly():
    # 2**17 leaves, shared: passed to 300 block instances (their labels print it short) and compared
    text = ("block B(v) { relu }\n" + HEAD + "\n  let a = [1]\n  let b = [1]\n"
            "  repeat 17 { let a = [a, a] }\n  repeat 17 { let b = [b, b] }\n"
            "  assert a == b, \"equal\"\n  repeat 300 { x -> B(a) }\n}\n")
    g = load_text(text, "t.cnn")
    assert sum(1 for n in g.nodes.values() if n.op == "relu") == 300


def test_block_label_shows_a_big_list_short():
    text = ("block B(v) {\n  assert false, \"stop\"\n}\n" + HEAD +
            "\n  let a = [1]\n  repeat 15 { let a = [a, a] }\n  x -> B(a)\n}\n")
    err = err_of(text)
    assert isinstance(err, D.AssertionFailed)
    label = err.chain[-1].label
    assert label.startswith("B(v=[[") and len(label) < 40


# ------------------------------------------------------------------ tensors and parameters
def test_billion_channel_conv_is_a_positioned_error():
    err = err_of(f"{HEAD}\n  x -> conv(10**9, kernel=3)\n}}\n")
    assert isinstance(err, D.LimitExceeded)
    assert where(err) == (2, 8)
    # the output [1, 10**9, 8, 8] is checked first: 64e9 elements
    assert "64,000,000,000 elements" in err.message and f"{MAX_TENSOR_ELEMENTS:,}" in err.message


def test_a_parameter_over_the_tensor_budget():
    err = err_of(f"{HEAD}\n  x -> conv(30000, kernel=3) -> conv(30000, kernel=3)\n}}\n")
    assert isinstance(err, D.LimitExceeded)
    assert where(err) == (2, 33)  # the second conv: weight 30000 x 30000 x 3 x 3 = 8.1e9
    assert "parameter 'weight' [30000x30000x3x3]" in err.message


def test_total_parameters_over_the_budget():
    # each weight 16000 x 16000 x 3 x 3 = 2,304,000,000 elements: under the tensor budget, together over
    # the network's; the first conv's 3 x 16000 x 9 + bias is small
    err = err_of("network N() (x: f32[1, 3, 4, 4]) {\n  x -> conv(16000, kernel=3, padding=1)"
                 " -> conv(16000, kernel=3, padding=1)\n}\n")
    assert isinstance(err, D.LimitExceeded)
    assert where(err)[0] == 2 and err.span.col > 40
    assert f"the limit is {MAX_PARAMS:,}" in err.message


def test_input_over_the_tensor_budget_names_the_input():
    err = err_of(HEAD + "\n  relu\n}\n", batch=100_000_000)
    assert isinstance(err, D.LimitExceeded)
    assert "input 'x'" in err.message and where(err) == (1, 14)


def test_a_shared_instance_counts_its_parameters_once():
    # three applications of one 5000 x 5000 x 3 x 3 conv: 225M parameters, counted once
    text = ("network N() (x: f32[1, 5000, 4, 4]) {\n  shared c = conv(5000, kernel=3, padding=1)\n"
            "  y = x -> c -> c -> c\n  return y\n}\n")
    g = load_text(text, "t.cnn")
    assert sum(1 for n in g.nodes.values() if n.op == "conv") == 3


def test_graph_builder_enforces_the_same_budgets():
    b = GraphBuilder("g")
    x = b.input("x", (1, 3, 8, 8))
    from cnndsl.ir.budgets import BudgetExceeded

    with pytest.raises(BudgetExceeded, match="elements"):
        b.add("conv", [x], out=10**9, kernel=3)
