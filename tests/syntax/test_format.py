"""`cnndsl fmt`: canonical layout, comments kept, idempotent, and the meaning kept.

Oracles: the elaborated IR of every library network before and after formatting (spans
aside), hand-written expected layouts, and the parser's own AST.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cnndsl.cli.main import main
from cnndsl.diagnostics import CnnError
from cnndsl.syntax.format import format_source

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "architectures"
# the library and the test corpus of example networks; not tests/fuzz/corpus, whose reproducers keep
# the exact text (and positions) that found a bug
EXAMPLES = ROOT / "tests" / "elaborate" / "examples"
CORPUS = sorted(LIBRARY.rglob("*.cnn")) + sorted(EXAMPLES.rglob("*.cnn"))


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("path", CORPUS, ids=_ids(CORPUS))
def test_checked_in_sources_are_formatted(path):
    """The library and the example corpus are kept in the canonical layout (`make fmt` formats them)."""
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text, f"{path} is not formatted: run `cnndsl fmt {path}` or `make fmt`"


@pytest.mark.parametrize("path", CORPUS, ids=_ids(CORPUS))
def test_formatting_is_idempotent_on_a_scrambled_layout(path):
    """Scramble a file's layout (indents stripped, trailing spaces, comments moved right), format it: the
    result is the canonical text again, and formatting that changes nothing."""
    text = path.read_text(encoding="utf-8")
    scrambled = "\n".join(("  " + line.strip() + "   ").replace("  #", "          #", 1)
                          for line in text.splitlines()) + "\n\n\n"
    once = format_source(scrambled, str(path))
    assert format_source(once, str(path)) == once
    assert once == format_source(text, str(path))


def _graph(graph) -> dict:
    """The IR as JSON with the source positions (which formatting moves) dropped."""
    j = graph.to_json()
    for node in j["nodes"]:
        node.pop("span", None)
    return j


def test_formatted_library_elaborates_to_the_identical_ir(tmp_path):
    """Every library network (each named variant) from a formatted copy of the library gives the same IR."""
    from cnndsl import api
    from cnndsl.elaborate.modules import Loader, library_index

    copy = tmp_path / "architectures"
    shutil.copytree(LIBRARY, copy)
    for f in copy.rglob("*.cnn"):  # a layout far from the canonical one, then formatted
        text = f.read_text(encoding="utf-8")
        f.write_text("\n".join("\t" + line.strip() + " " for line in text.splitlines()) + "\n\n", encoding="utf-8")
        assert main(["fmt", "-q", str(f)]) == 0
        assert f.read_text(encoding="utf-8") == format_source(text)
    entries = library_index()
    assert len(entries) > 50
    for name, entry in sorted(entries.items()):
        loader = Loader(())
        module = loader.load_file(copy / entry.path.relative_to(LIBRARY))
        let = name if entry.name != entry.network else None
        formatted = api.elaborate_module(loader, module, entry.network, let, {}, None, None, name)
        assert _graph(formatted) == _graph(api.load(name)), name


def test_comments_stay_where_they_were():
    src = (
        "# header\n"
        "\n"
        "import std.layers   # trailing on an import\n"
        "block B(c,   k=3)(x){ # after the brace\n"
        "  # own line before a statement\n"
        "  conv(c,kernel=k) # trailing\n"
        "    -> relu\n"
        "  if c>4 {relu}   # after a closing brace\n"
        "  else {\n"
        "     # alone in a body\n"
        "  }\n"
        "  # last in the body\n"
        "}\n"
        "# at the end\n"
    )
    expected = (
        "# header\n"
        "\n"
        "import std.layers  # trailing on an import\n"
        "\n"
        "block B(c, k=3) (x) {  # after the brace\n"
        "    # own line before a statement\n"
        "    conv(c, kernel=k)  # trailing\n"
        "        -> relu\n"
        "    if c > 4 {\n"
        "        relu\n"
        "    }  # after a closing brace\n"
        "    else {\n"
        "        # alone in a body\n"
        "    }\n"
        "    # last in the body\n"
        "}\n"
        "# at the end\n"
    )
    assert format_source(src) == expected
    assert format_source(expected) == expected


def test_long_calls_split_black_style():
    args = ", ".join(f"a{i}={i}" for i in range(12))
    src = f"network N(x) (image: f32[N, 3, 8, 8]) {{\n    SomeBlock({args}, extra_argument_with_long_name=1) as name\n}}\n"
    out = format_source(src)
    # too long for one line: first all arguments on one indented line ...
    assert out == ("network N(x) (image: f32[N, 3, 8, 8]) {\n    SomeBlock(\n        " + args
                   + ", extra_argument_with_long_name=1\n    ) as name\n}\n")
    # ... and one per line when even that is too long
    many = ", ".join(f"argument_{i}={i * 1000}" for i in range(12))
    out = format_source(src.replace(args, many))
    lines = out.splitlines()
    assert lines[1] == "    SomeBlock(" and lines[2] == "        argument_0=0," and lines[-2] == "    ) as name"
    assert all(len(line) <= 120 for line in out.splitlines())


def test_spacing_and_blank_lines():
    src = ("let a=-1\nlet b = [x*2+1 for x in  range( 3 ) if x!=1]\n\n\n\nlet c=(1 ,)\nlet d = 'q'\n"
           "network N(k=2)(image:f32[N,3,8,8]){\n\n\n  y=image[:, :k]->relu as r\n\n  return y\n\n}\n")
    assert format_source(src) == (
        "let a = -1\n"
        "let b = [x * 2 + 1 for x in range(3) if x != 1]\n"
        "\n"
        "let c = (1,)\n"
        'let d = "q"\n'
        "\n"
        "network N(k=2) (image: f32[N, 3, 8, 8]) {\n"
        "    y = image[:, :k] -> relu as r\n"
        "\n"
        "    return y\n"
        "}\n"
    )


def test_long_ternary_is_wrapped_in_parentheses_only_when_split():
    cond = " else ".join(f"[{i}, {i}, {i}, {i}] if depth == {i}0" for i in range(1, 5)) + " else [0]"
    out = format_source(f"let layers = {cond}\n")
    assert out.startswith("let layers = (\n    [1, 1, 1, 1] if depth == 10\n    else [2, 2, 2, 2] if depth == 20\n")
    assert out.endswith("    else [0]\n)\n")
    assert format_source("let u = a if b else c\n") == "let u = a if b else c\n"


def test_long_arithmetic_splits_before_its_operators_black_style():
    terms = " + ".join(f"scale_{i} * x{i}" for i in range(10))
    src = f"network N() (x0: f32[N, 3, 8, 8]) {{\n    y = {terms} - x0\n    let n = {terms.replace('x', 'k')}\n    return y\n}}\n"
    out = format_source(src)
    lines = out.splitlines()
    # parentheses added because it has to be split; one operand per line, the operator leading (black)
    assert lines[1:4] == ["    y = (", "        scale_0 * x0", "        + scale_1 * x1"], out
    assert "        - x0" in lines and "    let n = (" in lines and "        + scale_9 * k9" in lines
    assert all(len(line) <= 120 for line in lines)
    assert format_source(out) == out
    # short ones stay on one line, without parentheses
    assert format_source("let u = a * 2 + b\n") == "let u = a * 2 + b\n"
    # a keyword argument's long value: in parentheses, indented under its name (black), so its lines do not
    # read as the next arguments
    call = f"network N() (x0: f32[N, 3, 8, 8]) {{\n    conv(8, kernel=3, stride={terms.replace('x', 'k')}, bias=false)\n}}\n"
    out = format_source(call)
    assert "        stride=(\n            scale_0 * k0\n            + scale_1 * k1\n" in out, out
    assert "            + scale_9 * k9\n        ),\n        bias=false\n" in out, out
    assert all(len(line) <= 120 for line in out.splitlines()) and format_source(out) == out


def test_long_conditional_argument_is_parenthesized_and_splits_before_if_and_else():
    cond = " and ".join(f"width != {10 ** 8 + i}" for i in range(6))
    src = f"network N(width=3) (x: f32[N, 3, 8, 8]) {{\n    conv(8, kernel=3, stride=1 if {cond} else 2, bias=false)\n}}\n"
    out = format_source(src)
    lines = out.splitlines()
    i = lines.index("        stride=(")
    assert lines[i + 1:i + 4] == ["            1", "            if width != 100000000", "            and width != 100000001"]
    assert lines[i + 8:i + 11] == ["            else 2", "        ),", "        bias=false"], out
    assert format_source(out) == out
    # a chain of conditionals whose `a if c` fit keeps one `else` per line, `if` on the same line (unchanged)
    short = "network N(width=3) (x: f32[N, 3, 8, 8]) {\n    conv(8, kernel=3, stride=1 if width > 2 else 2)\n}\n"
    assert format_source(short) == short


def test_syntax_errors_are_positioned_and_leave_the_file_alone(tmp_path, capsys):
    bad = tmp_path / "bad.cnn"
    bad.write_text("network N() (x: f32[N, 3]) {\n    conv(3\n}\n")
    before = bad.read_bytes()
    assert main(["fmt", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.cnn:3:1" in err and "^" in err and "Traceback" not in err
    assert bad.read_bytes() == before
    with pytest.raises(CnnError):
        format_source("let = 3\n")


def test_check_lists_files_that_would_change_and_exits_1(tmp_path, capsys):
    good = tmp_path / "good.cnn"
    good.write_text("let a = 1\n")
    ugly = tmp_path / "ugly.cnn"
    ugly.write_text("let   a=1\n")
    ugly.chmod(0o640)
    assert main(["fmt", "--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"would reformat {ugly}" in err and str(good) not in err.replace(str(ugly), "")
    assert ugly.read_text() == "let   a=1\n"  # --check changes nothing
    assert main(["fmt", "--diff", str(ugly)]) == 0
    out = capsys.readouterr().out
    assert "-let   a=1" in out and "+let a = 1" in out
    assert main(["fmt", str(ugly), str(good)]) == 0
    assert ugly.read_text() == "let a = 1\n" and good.read_text() == "let a = 1\n"
    assert ugly.stat().st_mode & 0o777 == 0o640  # rewritten in place, mode kept
    assert not [p for p in tmp_path.iterdir() if "cnndsl-tmp" in p.name]
    assert main(["fmt", "--check", str(tmp_path)]) == 0


def test_missing_file_and_empty_directory_are_input_errors(tmp_path, capsys):
    assert main(["fmt", str(tmp_path / "nope.cnn")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["fmt", str(tmp_path)]) == 2
    assert "no .cnn files" in capsys.readouterr().err


def test_stdin_to_stdout(monkeypatch, capsys):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"let  x=[1,2]\n")))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == "let x = [1, 2]\n"


def test_random_programs_keep_their_meaning_with_comments_anywhere():
    """Programs derived at random from the grammar (tests/fuzz/grammar_gen.py), with own-line and
    trailing comments put at every kind of newline they have, formatted at a normal and a very
    narrow width: never a FormatError (the AST guard), always idempotent."""
    import random
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
    from grammar_gen import program

    from cnndsl.syntax.parser import parse

    checked = 0
    for seed in range(60):
        rnd = random.Random(seed)
        lines = []
        for line in program(seed).split("\n"):
            if rnd.random() < 0.3:
                lines.append(f"# own {seed}")
            lines.append(line + ("  # trailing" if line.strip() and rnd.random() < 0.3 else ""))
        text = "\n".join(lines)
        try:
            parse(text, "fuzz.cnn")
        except CnnError:
            continue  # the generator's rare unparsable program
        for width in (120, 30):
            once = format_source(text, "fuzz.cnn", width=width)
            assert format_source(once, "fuzz.cnn", width=width) == once, (seed, width)
            assert once.count("# own") == text.count("# own") and once.count("# trailing") == text.count("# trailing")
        checked += 1
    assert checked > 15


def test_the_deepest_nesting_the_parser_accepts_formats(tmp_path, capsys):
    """Brackets nested to the postlexer's limit and `if`s inside `if`s: formatted, never a RecursionError."""
    deep = "let a = " + "(" * 199 + "1" + ")" * 199 + "\n"
    once = format_source(deep)
    assert format_source(once) == once
    ifs = ("network N() (x: f32[N, 3, 8, 8]) {\n" + "if true {  # c\n" * 120 + "relu\n" + "}\n" * 120 + "}\n")
    once = format_source(ifs)
    assert once.count("# c") == 120 and format_source(once) == once
    f = tmp_path / "deep.cnn"
    f.write_text(deep)
    assert main(["fmt", str(f)]) == 0
    assert "Traceback" not in capsys.readouterr().err
