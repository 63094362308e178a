"""Every library network gets complete figures: no unsupported rule, an RF on every node."""

from __future__ import annotations

import pytest

from cnndsl.passes import ANALYSES, INFERENCE, run_passes
from cnndsl.report import build_report


def _library_names() -> list[str]:
    from cnndsl.elaborate.modules import library_index

    names = sorted(library_index())
    assert names, "the library index is empty"
    return names


@pytest.mark.parametrize("name", _library_names())
def test_library_network_reports_completely(name):
    from cnndsl.api import load

    graph = load(name)  # a library network that does not load is a failure here too
    res = run_passes(graph, ANALYSES)
    rep = build_report(res.graph)
    assert rep.totals["complete"], rep.totals["unsupported"]
    assert rep.totals["params"] > 0 and rep.totals["macs"] > 0
    missing_rf = [n.name for n in res.graph.nodes.values() if n.meta.get("rf") is None]
    assert not missing_rf
    # the inference pipeline runs structurally on every network and keeps the MAC count
    opt = run_passes(graph, INFERENCE).graph
    assert sum(n.meta["macs"] for n in opt.nodes.values()) == rep.totals["macs"]
