"""Every command's path, number, date and URL options, fed bad values: a clear message that
names the argument, a non-zero exit, never a traceback and never a hang.

The probes are generated from the typer app's own parameters, so a new option is probed
without editing this file (a new command that needs arguments to start gets a line in
``NEEDS``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main

from sinoqa.cli import app
from sinoqa.cli.common import filter_option
from tests.conftest import REPO, run_sinoqa

#: What a command needs besides the probed value to get as far as reading it ({corpus} is a
#: copy of the seed corpus). eval runs with --check, so its --thresholds file is read too.
NEEDS: dict[str, list[str]] = {
    "ingest": ["--corpus", "{corpus}"],
    "add": ["--refresh"],
    "ask": ["Where did Wang Yi meet Jake Sullivan?"],
    "compare": ["Where did they meet?", "--publisher", "A", "--publisher", "B"],
    "timeline": ["talks between US and Chinese officials"],
    "feedback export": ["--out", "{tmp}/drafts.jsonl"],
    "eval": [
        "--questions",
        "{questions}",
        "--corpus",
        "{corpus}",
        "--check",
        "--thresholds",
        "{thresholds}",
    ],
}
#: Neither missing nor writable, for anyone (root included).
NOWHERE = "/proc/sinoqa-probe/nothing"


@dataclass(frozen=True)
class Probe:
    command: tuple[str, ...]
    param: Any  # typer's parameter: its opts, name, type descriptor and range
    value: str
    why: str

    @property
    def option(self) -> str | None:
        first = self.param.opts[0]
        return str(first) if first.startswith("-") else None

    @property
    def id(self) -> str:
        return f"{' '.join(self.command)} {self.option or self.param.name}={self.value!r}"


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def _bad_values(param: Any) -> Iterator[tuple[str, str]]:
    kind = param.bare_type().removeprefix("list[").removesuffix("]")
    info = param.type_descriptor.parameter_info
    if kind == "Path":
        yield NOWHERE, "a path that cannot exist or be written"
        if not info.dir_okay:
            yield "{tmp}", "a directory where a file is due"
        if not info.file_okay:
            yield "{file}", "a file where a directory is due"
    elif kind in ("int", "float"):
        assert param.min is not None or param.max is not None, f"{param.name}: give it a range"
        yield "lots", "not a number"
        yield str(param.min - 1 if param.min is not None else param.max + 1), "out of range"
    elif getattr(param.callback, "__name__", None) == filter_option.__name__:
        yield "2023-13-45", "a malformed date"
    elif "url" in param.name or "feed" in param.name:
        yield "http://[::1", "a malformed URL (an unclosed IPv6 bracket)"


def probes() -> list[Probe]:
    return [
        Probe(command, param, value, why)
        for command, cli in _commands(typer.main.get_command(app))
        for param in cli.params
        for value, why in _bad_values(param)
    ]


PROBES = probes()


def test_the_probes_reach_every_kind_of_argument() -> None:
    whys = {probe.why for probe in PROBES}
    assert len(PROBES) >= 30
    assert {"not a number", "out of range", "a malformed date"} <= whys
    assert any("URL" in why for why in whys)
    probed = {probe.command for probe in PROBES}
    assert {
        ("ingest",),
        ("add",),
        ("ask",),
        ("eval",),
        ("serve",),
        ("mcp",),
        ("feedback", "export"),
    } <= probed


@pytest.mark.slow
@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.id)
def test_a_bad_value_is_a_clear_error(probe: Probe, tmp_path: Path, corpus_dir: Path) -> None:
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder\n", encoding="utf-8")
    fill = {
        "tmp": str(tmp_path),
        "file": str(a_file),
        "corpus": str(corpus_dir),
        "questions": str(REPO / "evals" / "questions.jsonl"),
        "thresholds": str(REPO / "evals" / "thresholds.toml"),
    }
    (tmp_path / "index").mkdir()
    needs = [arg.format(**fill) for arg in NEEDS.get(" ".join(probe.command), [])]
    value, option = probe.value.format(**fill), probe.option
    if option in needs:  # the probed option replaces the one the command needs
        at = needs.index(option)
        del needs[at : at + 2]
    options = {opt for param in _command(probe.command).params for opt in param.opts}
    # Each run its own index (never ./index), unless --index is what is probed.
    index = ["--index", str(tmp_path / "index")] if "--index" in options - {option} else []
    given = [option, value] if option else [value]
    try:
        result = run_sinoqa(*probe.command, *needs, *index, *given, cwd=tmp_path, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{probe.id}: still running after 120 s")
    said = result.stdout + result.stderr
    assert result.returncode != 0, f"{probe.id} ({probe.why}) was accepted:\n{said}"
    assert "Traceback" not in said, said
    named = {value, option or "", probe.param.name} - {""}
    flat = " ".join(said.split())  # rich wraps long lines
    assert any(name in flat for name in named), f"{probe.id}: the message names neither\n{said}"


def _command(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command
