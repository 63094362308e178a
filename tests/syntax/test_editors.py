"""Editor support: the Pygments lexer (entry point `cnn`) and the TextMate grammar of editors/vscode
tokenize every library and corpus file completely, and both know every keyword of grammars/cnn.lark."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest
from pygments.token import Error, Keyword, Name

from cnndsl.syntax.pygments_lexer import CnnLexer

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "architectures").rglob("*.cnn")) + sorted((ROOT / "tests" / "elaborate" / "examples").rglob("*.cnn"))
TM = ROOT / "editors" / "vscode" / "syntaxes" / "cnn.tmLanguage.json"


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def _grammar_keywords() -> set[str]:
    """The quoted words of the Lark grammar's rules (comments stripped)."""
    text = (ROOT / "grammars" / "cnn.lark").read_text()
    rules = "\n".join(line.split("//")[0] for line in text.splitlines())
    return set(re.findall(r'"([a-z]+)"', rules))


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_pygments_lexer_has_no_error_tokens(path):
    text = path.read_text(encoding="utf-8")
    tokens = list(CnnLexer().get_tokens(text))
    assert [t for t in tokens if t[0] in Error] == []
    assert "".join(v for _t, v in tokens) == text if text.endswith("\n") else text + "\n"


def test_pygments_lexer_classes():
    toks = [(t, v) for t, v in CnnLexer().get_tokens('network N(k=3) (x: f32[N, 3]) { conv(8) as c1 -> Mine(k) }')
            if v.strip()]
    assert (Keyword.Declaration, "network") in toks and (Name.Class, "N") in toks
    assert (Keyword.Type, "f32") in toks and (Name.Builtin, "conv") in toks  # a registered op
    assert (Name.Function, "Mine") in toks and (Keyword, "as") in toks


def test_pygments_lexer_is_registered_by_entry_point():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    eps = [ep for ep in metadata.entry_points(group="pygments.lexers") if ep.value.startswith("cnndsl.")]
    assert eps and eps[0].load() is CnnLexer
    assert isinstance(get_lexer_by_name("cnn"), CnnLexer)
    assert isinstance(get_lexer_for_filename("resnet.cnn"), CnnLexer)


def test_lexer_and_textmate_grammar_know_every_keyword():
    from cnndsl.syntax import pygments_lexer as P

    words = _grammar_keywords()
    assert {"network", "residual", "shortcut", "branches", "shared", "assert"} <= words
    assert words <= set(P.KEYWORDS) | set(P.OPERATOR_WORDS) | set(P.CONSTANTS) | {"block", "network"}
    tm = TM.read_text()
    missing = [w for w in words if not re.search(rf"[(|\\b]{w}[)|\\]", tm)]
    assert missing == []


def _tm_patterns(grammar: dict) -> list[tuple[re.Pattern, str]]:
    """The grammar's match rules, includes resolved, in order (it has no begin/end rules)."""
    out = []

    def walk(rule):
        if "include" in rule:
            walk(grammar["repository"][rule["include"][1:]])
        elif "patterns" in rule:
            for r in rule["patterns"]:
                walk(r)
        else:
            assert "match" in rule and "begin" not in rule
            out.append((re.compile(rule["match"]), rule.get("name") or rule["captures"]["1"]["name"]))

    for r in grammar["patterns"]:
        walk(r)
    return out


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_textmate_grammar_scopes_every_character(path):
    """Tokenize as a TextMate engine does (leftmost match, first rule wins a tie): no character outside
    whitespace is left without a scope."""
    patterns = _tm_patterns(json.loads(TM.read_text()))
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        pos = 0
        while pos < len(line):
            best = None
            for rx, scope in patterns:
                m = rx.search(line, pos)
                if m and m.end() > m.start() and (best is None or m.start() < best[0].start()):
                    best = (m, scope)
            end = best[0].start() if best else len(line)
            gap = line[pos:end]
            assert not gap.strip(), f"{path.name}:{lineno}: unscoped {gap!r}"
            if best is None:
                break
            pos = best[0].end()


def test_vscode_manifest_points_at_its_files():
    root = ROOT / "editors" / "vscode"
    manifest = json.loads((root / "package.json").read_text())
    lang = manifest["contributes"]["languages"][0]
    assert lang["extensions"] == [".cnn"]
    assert (root / lang["configuration"]).is_file()
    json.loads((root / lang["configuration"]).read_text())
    gram = manifest["contributes"]["grammars"][0]
    assert gram["language"] == lang["id"] and (root / gram["path"]).resolve() == TM.resolve()
    assert json.loads(TM.read_text())["scopeName"] == gram["scopeName"]
