"""What the docs, the README, the word lists' headers and the code's comments point at exists:
every `sinoqa.x.y` module or name, every repository file path, every `make` target and every
`python -m` module. A rename that forgets a pointer fails here, not in a reader's hands."""

from __future__ import annotations

import importlib
import importlib.util
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

#: Top-level folders a repository path can start with.
ROOTS = ("src", "app", "tests", "docs", "evals", "benchmarks", "corpus", ".ci")
#: Written by a command, not kept in the repository.
MADE = ("corpus/web", "eval-out", "eval-rtqa", ".eval-out", ".fit", ".rtqa-index", "index")
#: Pages that record the past: the names they give are those of their day.
HISTORY = ("docs/history.md",)
#: A placeholder in a path: docs/results/NAME.json.
_PLACEHOLDER = re.compile(r"\b[A-Z]{2,}\b|[{}]")

_DOTTED = re.compile(r"\b(sinoqa(?:_app)?(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_ROOTS = "|".join(map(re.escape, ROOTS))
_PATH = re.compile(rf"(?<![\w./-])((?:{_ROOTS})/[\w./*{{}}-]*[\w*])")
_MAKE = re.compile(r"`make ([a-z][\w-]*)")
_PYTHON_M = re.compile(r"python -m ([\w.]+)")


def _prose() -> Iterator[tuple[str, str]]:
    """(where, text) for each document, word-list header and source comment."""
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        if str(path.relative_to(REPO)) not in HISTORY:
            yield str(path.relative_to(REPO)), path.read_text(encoding="utf-8")
    for path in sorted((REPO / "src" / "sinoqa" / "data").glob("*.txt")):
        header = [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1] == "#"]
        yield str(path.relative_to(REPO)), "\n".join(header)
    sources = [*(REPO / "src").rglob("*.py"), *(REPO / "app").glob("*.py")]
    sources += [*(REPO / "tests").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]
    for path in sorted(set(sources) - {Path(__file__).resolve()}):
        yield str(path.relative_to(REPO)), _comments(path)
    for name in ("Makefile", "pyproject.toml"):
        lines = (REPO / name).read_text(encoding="utf-8").splitlines()
        yield name, "\n".join(line for line in lines if "#" in line)


def _comments(path: Path) -> str:
    """A Python file's comments and docstrings (string literals), not its code."""
    with path.open("rb") as handle:
        tokens = tokenize.tokenize(handle.readline)
        kept = [t.string for t in tokens if t.type in (tokenize.COMMENT, tokenize.STRING)]
    return "\n".join(kept)


def _importable(dotted: str) -> bool:
    """A module, or a name inside one (a class, a function, an attribute of either)."""
    parts = dotted.rstrip(".").split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            continue
        value: object = importlib.import_module(module_name)
        for attribute in parts[cut:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


def _exists(path: str) -> bool:
    path = path.rstrip(".")
    if path.startswith(MADE) or _PLACEHOLDER.search(path):
        return True
    return bool(list(REPO.glob(path))) if "*" in path else (REPO / path).exists()


def _make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][\w-]*):", text, flags=re.MULTILINE))


PROSE = list(_prose())


def _pointers() -> Iterator[tuple[str, str, str]]:
    for where, text in PROSE:
        for dotted in set(_DOTTED.findall(text)):
            yield where, "module", dotted
        for module in set(_PYTHON_M.findall(text)):
            if module.startswith(("sinoqa", "benchmarks")):
                yield where, "module", module
        for path in set(_PATH.findall(text)):
            yield where, "path", path
        for target in set(_MAKE.findall(text)):
            yield where, "make", target


def test_the_pointers_are_found_in_every_kind_of_prose() -> None:
    kinds = {kind for _, kind, _ in _pointers()}
    assert kinds == {"module", "path", "make"}
    assert len(PROSE) > 100


def test_every_pointer_leads_somewhere() -> None:
    targets = _make_targets()
    missing = []
    for where, kind, pointer in _pointers():
        ok = {
            "module": _importable,
            "path": _exists,
            "make": targets.__contains__,
        }[kind](pointer)
        if not ok:
            missing.append(f"{where}: {kind} {pointer}")
    assert not missing, "stale pointers:\n" + "\n".join(sorted(set(missing)))


@pytest.mark.parametrize(
    ("pointer", "ok"),
    [("sinoqa.errors.SinoqaError", True), ("sinoqa.question", False), ("sinoqa.nothing", False)],
)
def test_a_stale_module_pointer_is_caught(pointer: str, ok: bool) -> None:
    assert _importable(pointer) is ok
