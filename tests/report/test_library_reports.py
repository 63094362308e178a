"""Every library network gets complete figures: no unsupported rule, an RF on every node."""

from __future__ import annotations

import pytest

from cnndsl.diagnostics import CnnError
from cnndsl.passes import ANALYSES, INFERENCE, run_passes
from cnndsl.report import build_report


def _library_names() -> list[str]:
    try:
        from cnndsl.elaborate.modules import library_index
    except ImportError:
        return []
    return sorted(library_index())


@pytest.mark.parametrize("name", _library_names())
def test_library_network_reports_completely(name):
    from cnndsl.api import load

    try:
        graph = load(name)
    except CnnError as err:  # the front end's own tests cover loading
        pytest.skip(f"{name} does not load yet: {err.message}")
    res = run_passes(graph, ANALYSES)
    rep = build_report(res.graph)
    assert rep.totals["complete"], rep.totals["unsupported"]
    assert rep.totals["params"] > 0 and rep.totals["macs"] > 0
    missing_rf = [n.name for n in res.graph.nodes.values() if n.meta.get("rf") is None]
    assert not missing_rf
    # the inference pipeline runs structurally on every network and keeps the MAC count
    opt = run_passes(graph, INFERENCE).graph
    assert sum(n.meta["macs"] for n in opt.nodes.values()) == rep.totals["macs"]
