"""Reports: formats, depth collapsing, breakdowns, stated facts, and ResNet-50's exact totals."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cnndsl import __version__
from cnndsl.ir.builder import GraphBuilder
from cnndsl.passes import ANALYSES, run_passes
from cnndsl.report import FORMATS, build_report, render


def blocky():
    b = GraphBuilder("blocky")
    x = b.input("image", (1, 3, 16, 16))
    h = b.add("conv", [x], name="stem.conv", out=4, kernel=3, bias=False)      # 108 params, 27,648 MACs
    h = b.add("relu", [h], name="stem.relu")
    for i in range(2):
        r = b.add("conv", [h], name=f"layer1.{i}.conv1", out=4, kernel=3, bias=False)  # 144, 36,864
        r = b.add("relu", [r], name=f"layer1.{i}.relu")
        h = b.add("add", [h, r], name=f"layer1.{i}.add")
    h = b.add("gap", [h], name="pool")
    h = b.add("flatten", [h], name="flat")
    h = b.add("linear", [h], name="fc", out=3)                                  # 15, 12
    b.output("logits", h)
    res = run_passes(b.graph, ANALYSES)
    return res.graph, res.ran


def test_totals_and_layers():
    g, ran = blocky()
    rep = build_report(g, passes=ran)
    assert rep.totals["params"] == 108 + 2 * 144 + 15
    assert rep.totals["macs"] == 27648 + 2 * 36864 + 12
    assert [r.name for r in rep.rows][:3] == ["stem.conv", "stem.relu", "layer1.0.conv1"]
    assert len(rep.rows) == 11


def test_depth_collapses_by_name_prefix():
    g, ran = blocky()
    rows = {r.name: r for r in build_report(g, depth=1, passes=ran).rows}
    assert list(rows) == ["stem", "layer1", "pool", "flat", "fc"]
    assert rows["layer1"].nodes == 6 and rows["layer1"].params == 288 and rows["layer1"].macs == 73728
    assert rows["layer1"].op == "block" and rows["fc"].op == "linear"
    assert rows["layer1"].shape == (1, 4, 16, 16)
    assert rows["layer1"].rf["size"] == [7, 7]  # the block's last node
    rows2 = [r.name for r in build_report(g, depth=2, passes=ran).rows]
    assert rows2 == ["stem.conv", "stem.relu", "layer1.0", "layer1.1", "pool", "flat", "fc"]


def test_breakdowns():
    g, ran = blocky()
    rep = build_report(g, passes=ran)
    by_op = {r.name: r for r in rep.by_op}
    assert by_op["conv"].nodes == 3 and by_op["conv"].macs == 27648 + 73728
    assert rep.by_op[0].name == "conv"  # sorted by MACs
    assert [r.name for r in rep.by_block] == ["stem", "layer1", "pool", "flat", "fc"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_states_version_input_convention_stage(fmt):
    g, ran = blocky()
    text = render(build_report(g, passes=ran, stage="as written"), fmt)
    assert __version__ in text
    if fmt == "json":
        doc = json.loads(text)
        assert doc["cnndsl_version"] == __version__
        assert doc["inputs"] == [{"name": "image", "shape": [1, 3, 16, 16], "dtype": "float32"}]
        assert "torchvision" in doc["convention"]["description"]
        assert doc["stage"] == {"name": "as written", "passes": list(ANALYSES)}
        assert isinstance(doc["totals"]["params"], int) and isinstance(doc["totals"]["macs"], int)
        assert doc["layers"][0]["rf"] == {"size": [3, 3], "stride": [1, 1], "padding": [1, 1]}
    else:
        assert "[1, 3, 16, 16]" in text
        assert "conv + linear multiply-adds" in text
        assert "as written" in text and "shapes, params, macs, memory, rf" in text


def test_csv_parses():
    g, ran = blocky()
    text = render(build_report(g, passes=ran), "csv")
    rows = list(csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#")))
    assert rows[0]["name"] == "stem.conv" and rows[0]["macs"] == "27648"
    assert rows[-1]["name"] == "TOTAL" and int(rows[-1]["params"]) == 411


def test_markdown_is_a_table():
    g, ran = blocky()
    text = render(build_report(g, passes=ran), "markdown")
    assert ("| name | op | input shape | output shape | kernel/stride | params | params % | buffers | MACs | MACs % "
            "| FLOPs | memory | RF |") in text
    # 108 of 411 params = 26.28%; 27,648 of 101,388 MACs = 27.27%
    assert "| `stem.conv` | conv | [1, 3, 16, 16] | [1, 4, 16, 16] | 3x3/1x1 | 108 | 26.28% | 0 | 27,648 | 27.27% |" in text


def test_resnet50_exact_totals():
    from cnndsl.api import load

    g = load("resnet50")
    res = run_passes(g, ANALYSES)
    totals = build_report(res.graph).totals
    assert totals["params"] == 25_557_032      # torchvision's published count
    assert totals["macs"] == 4_089_184_256     # torchvision's "GFLOPS" 4.09
    assert totals["complete"] is True
    # the commonly quoted receptive field of ResNet-50's last feature map
    pool = next(n for n in res.graph.topo() if n.op == "gap")
    assert res.graph.nodes[pool.inputs[0][0]].meta["rf"]["size"] == [427, 427]
    assert not res.warnings
