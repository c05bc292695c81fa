"""The package's shape stays what docs/architecture.md says it is."""

from __future__ import annotations

import ast
import importlib.util
import re
from types import ModuleType

from tests.conftest import REPO

MAX_LINES = 450
#: A function longer than this holds two concerns.
MAX_FUNCTION_LINES = 100


def _graph() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "architecture_graph", REPO / "docs" / "architecture_graph.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stage_diagram_is_drawn_from_the_current_imports() -> None:
    graph = _graph()
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert text == graph.with_diagram(text), "docs/architecture.md is stale: run `make docs`"
    # The stages import downwards only, as the import-linter layers say.
    order = list(graph.STAGES)
    for source, target in graph.edges():
        assert order.index(target) < order.index(source), f"{source} imports {target}"


def test_every_path_the_architecture_page_names_exists() -> None:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:src/sinoqa|app|evals)/[\w./*-]+)`", text))
    assert len(paths) >= 20
    for path in paths:
        assert list(REPO.glob(path)), f"docs/architecture.md names a missing {path}"


def test_no_source_file_holds_more_than_one_concern_worth_of_lines() -> None:
    sources = [*(REPO / "src" / "sinoqa").rglob("*.py"), *(REPO / "app").glob("*.py")]
    long = {
        str(path.relative_to(REPO)): lines
        for path in sources
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these by concern: {long}"


def test_no_function_holds_two_concerns_worth_of_lines() -> None:
    sources = [*(REPO / "src" / "sinoqa").rglob("*.py"), *(REPO / "app").glob("*.py")]
    long = {
        f"{path.relative_to(REPO)}:{node.name}": length
        for path in sources
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    }
    assert not long, f"split these by concern: {long}"


def test_no_test_reaches_past_the_public_names() -> None:
    """Tests use what users can: no name starting with an underscore from sinoqa's code."""
    private = [
        f"{path.relative_to(REPO)}: {node.module}.{alias.name}"
        for path in (REPO / "tests").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").split(".")[0] in ("sinoqa", "sinoqa_app")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert not private, private


def test_no_module_imports_itself_through_others() -> None:
    """No import cycle between any two modules, lazy imports inside functions included."""
    import grimp

    graph = grimp.build_graph("sinoqa", "sinoqa_app")
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError(" -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for imported in sorted(imports[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(imports):
        visit(module, [])
