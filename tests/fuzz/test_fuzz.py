"""The fuzzer in the default test run (issue 17 item 5): a bounded, seeded campaign over the
three generators, and every input the fuzzer ever found kept in corpus/ with its outcome.

A longer campaign with a time budget and a memory limit: `make fuzz` (campaign.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cases import make
from harness import run_case

from cnndsl.cli.main import main

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.cnn"))
# cases per generator in the default run: about a minute in all on 2 cores
BUDGET = {"program": 300, "grammar": 300, "mutant": 90}
CHUNKS = 3


@pytest.mark.parametrize("chunk", range(CHUNKS))
@pytest.mark.parametrize("generator", sorted(BUDGET))
def test_seeded_campaign_finds_nothing(generator, chunk):
    n = BUDGET[generator]
    seeds = range(chunk * n // CHUNKS, (chunk + 1) * n // CHUNKS)
    failures = []
    kinds = set()
    for seed in seeds:
        case = make(generator, seed)
        outcome = case.run()
        kinds.add(outcome.kind)
        if outcome.failed:
            failures.append(f"{case.label()}: {outcome}\n{case.text[:2000]}")
    assert not failures, f"{len(failures)} failing input(s):\n\n" + "\n\n".join(failures)
    if generator != "grammar":  # the grammar's derivations rarely make a whole network
        assert kinds == {"ok", "diagnostic"}, f"the {generator} generator reached only {kinds}"


def expected(path: Path) -> tuple[str, bool]:
    text = path.read_text(encoding="utf-8")
    m = re.match(r"# expect: (.+)\n", text)
    assert m, f"{path.name}: the first line must be '# expect: ok' or '# expect: <Diagnostic> at LINE:COL'"
    return m.group(1).strip(), "\n# lower\n" in text


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_keeps_its_outcome(path):
    want, lower = expected(path)
    outcome = run_case(path.read_text(encoding="utf-8"), str(path), lower=lower)
    got = "ok" if outcome.kind == "ok" else outcome.detail if outcome.kind == "diagnostic" else str(outcome)
    assert got == want, outcome


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_through_the_cli(path, capsys):
    want, _lower = expected(path)
    code = main(["check", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if want == "ok":
        assert code == 0, err
    else:
        assert code == 2
        where = re.search(r" at (\d+):(\d+)$", want)
        if where:
            first = err.splitlines()[0]  # the path as the CLI shows it (relative to the working directory)
            assert re.match(rf"\S*{re.escape(path.name)}:{where.group(1)}:{where.group(2)}: error: ", first), err


def test_the_corpus_has_the_issue_reproductions():
    assert len(CORPUS) >= 15


WELL_CONDITIONED = """network W() (x: f32[N, 3, 6, 6]) {
    conv(4, kernel=3, padding=1) -> bn -> relu -> avgpool(2) -> flatten -> linear(5)
}
"""


def test_a_wrong_lowering_is_a_failure(monkeypatch):
    """The oracle catches an ONNX model off by 3% of the output's scale on a well-conditioned network (the
    widened tolerance of ill-conditioned ones does not hide real disagreements)."""
    from cnndsl.backend import get_backend

    assert run_case(WELL_CONDITIONED, "w.cnn", lower=True).kind == "ok"
    onnx = get_backend("onnx")
    right = type(onnx).run

    def off(self, path, inputs, *args, **kwargs):
        outs = right(self, path, inputs, *args, **kwargs)
        return [o + 0.03 * max(1.0, float(abs(o).max())) for o in outs]

    monkeypatch.setattr(type(onnx), "run", off)
    outcome = run_case(WELL_CONDITIONED, "w.cnn", lower=True)
    assert outcome.kind == "failure" and "onnx disagrees with the interpreter" in outcome.detail, outcome
