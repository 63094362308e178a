"""The command line in scripts: usage on stderr, help for every option, `show`, exit codes."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from cnndsl.cli.main import VERBS, build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_no_arguments_prints_usage_to_stderr_and_exits_2():
    proc = subprocess.run([sys.executable, "-m", "cnndsl.cli.main"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("usage: cnndsl") and "a verb is required" in proc.stderr


def test_every_option_of_every_verb_has_help():
    verbs = _verbs(build_parser())
    assert set(verbs) == {v for v in VERBS if v in verbs} and {"fmt", "view", "show", "completion"} <= set(verbs)
    missing = [f"{verb} {act.option_strings or act.dest}" for verb, p in verbs.items() for act in p._actions
               if not isinstance(act, argparse._HelpAction) and not (act.help or "").strip()]
    assert missing == []


def test_exit_code_table_is_documented():
    text = (ROOT / "docs" / "cli.md").read_text()
    for code, meaning in (("0", "success"), ("1", "differ"), ("2", "usage or input error"), ("130", "interrupted")):
        assert f"| {code} |" in text and meaning in text.lower()
    for verb in _verbs(build_parser()):
        assert f"`cnndsl {verb}" in text, verb


def test_show_prints_a_library_network_source(capsys):
    assert main(["show", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert out == (ROOT / "architectures" / "resnet.cnn").read_text()  # byte for byte: `show x > x.cnn` works
    assert main(["show", "std.layers", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(ROOT / "architectures" / "std" / "layers.cnn")
    assert main(["show", "ResNet", "--path"]) == 0  # a network by its own name
    assert capsys.readouterr().out.strip().endswith("resnet.cnn")


def test_show_colours_only_when_asked_or_on_a_terminal(capsys):
    assert main(["show", "lenet5", "--color", "always"]) == 0
    coloured = capsys.readouterr().out
    assert "\x1b[" in coloured and "network" in coloured
    assert main(["show", "lenet5"]) == 0  # captured: not a terminal
    assert "\x1b[" not in capsys.readouterr().out


@pytest.mark.parametrize("name, hint", [("resnt50", "did you mean 'resnet50'?"), ("std.layer", "did you mean")])
def test_show_unknown_name_is_exit_2(name, hint, capsys):
    assert main(["show", name]) == 2
    err = capsys.readouterr().err
    assert hint in err and "Traceback" not in err


def _bash_complete(script: Path, *words: str) -> list[str]:
    driver = (f"source {script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)})\n"
              "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\nCOMPREPLY=()\n_cnndsl\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    proc = subprocess.run(["bash", "-c", driver], capture_output=True, text=True, check=True)
    return [w for w in proc.stdout.splitlines() if w]


def test_bash_completion(tmp_path, capsys):
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "cnndsl.bash"
    script.write_text(capsys.readouterr().out)
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert _bash_complete(script, "cnndsl", "fm") == ["fmt"]
    assert set(_bash_complete(script, "cnndsl", "")) >= {"check", "view", "fmt", "show", "completion", "--help"}
    assert _bash_complete(script, "cnndsl", "ir", "lenet5", "--format", "") == ["text", "json", "dot", "svg"]
    assert "resnet50" in _bash_complete(script, "cnndsl", "report", "resnet5")
    assert "--check" in _bash_complete(script, "cnndsl", "fmt", "--ch")
    assert _bash_complete(script, "cnndsl", "completion", "") == ["bash", "zsh", "fish"]


def test_zsh_and_fish_scripts(capsys):
    assert main(["completion", "zsh"]) == 0
    zsh = capsys.readouterr().out
    assert "bashcompinit" in zsh and "complete -o filenames -o bashdefault -F _cnndsl cnndsl" in zsh
    assert main(["completion", "fish"]) == 0
    fish = capsys.readouterr().out
    assert "complete -c cnndsl -n __fish_use_subcommand -a fmt" in fish
    assert "complete -c cnndsl -n '__fish_seen_subcommand_from ir' -l format -x -a 'text json dot svg'" in fish
    with pytest.raises(SystemExit) as exc:  # argparse's usage error
        main(["completion", "tcsh"])
    assert exc.value.code == 2
