"""The installed `sinoqa` command, run as a user would run it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sinoqa.settings import Settings
from tests.conftest import run_sinoqa

SINOQA = [sys.executable, "-m", "sinoqa.cli"]
run = run_sinoqa


@pytest.mark.slow
def test_ingest_then_status_then_unchanged(tmp_path: Path, corpus_dir: Path) -> None:
    (corpus_dir / "notes.docx").write_bytes(b"PK\x03\x04")
    index = tmp_path / "index"
    first = run("ingest", "--corpus", corpus_dir, "--index", index)
    assert first.returncode == 0, first.stderr
    assert "added      5" in first.stdout
    assert "notes.docx: unsupported file type (.docx)" in " ".join(first.stdout.split())
    assert "chunks indexed" in first.stdout

    status = run("status", "--index", index, "--json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["documents"] == 5
    assert {r["doc_id"] for r in state["records"]} >= {"eir-2023-new-balance"}
    assert state["last_ingest"]

    again = run("ingest", "--corpus", corpus_dir, "--index", index, "--json")
    summary = json.loads(again.stdout)
    assert len(summary["unchanged"]) == 5 and summary["chunks_embedded"] == 0


@pytest.mark.slow
def test_default_paths_come_from_the_working_directory(tmp_path: Path, corpus_dir: Path) -> None:
    result = run("ingest", cwd=tmp_path)  # ./corpus exists there, ./index does not yet
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "index" / "chroma.sqlite3").exists()


def test_missing_index_is_one_clear_line(tmp_path: Path) -> None:
    result = run("status", "--index", tmp_path / "none")
    assert result.returncode == 1
    # The command to run, with the index asked for (not the default one), ready to copy.
    assert f"Run `sinoqa ingest --index {tmp_path / 'none'}` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_settings_are_reported(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SINOQA, "status"],
        capture_output=True,
        text=True,
        env={"SINOQA_CHUNKING__CHUNK_SIZE": "lots", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "invalid settings" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["askk", "x"], "No such command 'askk'"),
        (["--help-me"], "No such option: --help-me"),
        (["ask", "--bogus", "x"], "No such option: --bogus"),
        (["ask", "--top-k", "abc", "x"], "Invalid value for '--top-k'"),
        (["ask", "--top-k", "0", "x"], "Invalid value for '--top-k'"),
        (["serve", "--port", "99999"], "Invalid value for '--port'"),
        (["ingest", "--corpus", "/nonexistent/corpus"], "'/nonexistent/corpus' does not exist"),
        (["eval", "--questions", "/nonexistent/q.jsonl"], "/nonexistent/q.jsonl"),
        (["ask", "x", "--as-of", "2023-13-01"], "is not a day"),
    ],
)
def test_usage_errors_are_one_message_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    command_exists = args[0] not in ("askk", "--help-me")
    result = run(*args, "--index", tmp_path / "index") if command_exists else run(*args)
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "index").exists()  # nothing was created on the way


def test_help_comes_from_docstrings() -> None:
    result = run("ingest", "--help")
    assert result.returncode == 0
    assert "articles deleted from the corpus are removed" in " ".join(result.stdout.split())
    # A flag takes no value, so its help shows none ("--json <bool>" reads as if it did).
    assert re.search(r"--json\s+Print", result.stdout)
    assert re.search(r"--index\s+<dir>", result.stdout)


def test_notices_print_as_written_not_as_markup(capsys: pytest.CaptureFixture[str]) -> None:
    from sinoqa.cli.ask import print_answer
    from sinoqa.schema import Answer

    notice = "the llm backend needs extra packages: pip install 'sinoqa[llm]' [bold]"
    print_answer(
        Answer(question="q", answer="x", refused=False, backend="extractive", notices=[notice])
    )
    assert notice in " ".join(capsys.readouterr().out.split())


def test_version_is_the_installed_package_version() -> None:
    from importlib.metadata import version

    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"sinoqa {version('sinoqa')}"


@pytest.mark.slow
def test_ask_prints_answer_sources_and_json(tmp_path: Path, corpus_dir: Path) -> None:
    index = tmp_path / "index"
    assert run("ingest", "--corpus", corpus_dir, "--index", index).returncode == 0
    text = run("ask", "Where did Wang Yi meet Jake Sullivan in September?", "--index", index)
    assert text.returncode == 0, text.stderr
    assert "Malta" in text.stdout and "[1]" in text.stdout
    assert "Sources" in text.stdout and "E-International Relations" in text.stdout
    assert "2023-10-16" in text.stdout

    as_json = run("ask", "Who won the 2022 FIFA World Cup?", "--index", index, "--json")
    answer = json.loads(as_json.stdout)
    assert answer["refused"] is True and answer["citations"] == []
    assert answer["nearest_sources"] and set(answer["timings_ms"]) >= {"retrieve", "total"}
    # Why it was refused: the parts the evidence score sums, in the JSON and on the screen.
    parts = answer["confidence_parts"]
    assert parts["unknown_names"] < 0  # "FIFA" is in no article
    assert answer["confidence"] == pytest.approx(sum(parts.values()), abs=1e-3)
    refused = run("ask", "Who won the 2022 FIFA World Cup?", "--index", index)
    assert "below the refusal threshold" in refused.stdout
    assert "unknown names" in " ".join(refused.stdout.split())

    questions = tmp_path / "questions.txt"
    questions.write_text(
        "How much was the US military aid to Taiwan worth?\n\n   \nWho is Li Shangfu?\n"
    )
    batch = run("ask", "--questions", questions, "--index", index)
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [line["question"] for line in lines] == [
        "How much was the US military aid to Taiwan worth?",
        "Who is Li Shangfu?",
    ]
    cited = lines[0]["citations"][0]
    assert {"n", "doc_id", "title", "publisher", "published", "url", "chunk_id", "quote"} <= set(
        cited
    )


@pytest.mark.slow
def test_ask_rejects_bad_input_clearly(tmp_path: Path, corpus_dir: Path) -> None:
    index = tmp_path / "index"
    run("ingest", "--corpus", corpus_dir, "--index", index)
    for args, message in (
        (["   "], "The question is empty"),
        (["sanctions", "--from", "yesterday"], "is not a date"),
        (["sanctions", "--publisher", "Daily Planet"], "no indexed article is from"),
        (["sanctions", "--backend", "telepathy"], "invalid settings"),
    ):
        result = run("ask", *args, "--index", index)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    missing = run("ask", "anything", "--index", tmp_path / "nowhere")
    assert missing.returncode == 1 and "sinoqa ingest" in missing.stderr


@pytest.mark.slow
def test_a_missing_sentence_scorer_is_one_clear_line(tmp_path: Path, corpus_dir: Path) -> None:
    index = tmp_path / "index"
    assert run("ingest", "--corpus", corpus_dir, "--index", index).returncode == 0
    missing = tmp_path / "no-scorer.json"
    result = run(
        "ask",
        "Who is Li Shangfu?",
        "--index",
        index,
        env={"SINOQA_ANSWER__SCORER_PATH": str(missing)},
    )
    assert result.returncode == 1
    assert "cannot read the sentence scorer" in result.stderr and "Traceback" not in result.stderr


def _readme_examples() -> list[tuple[list[str], list[str]]]:
    """The README's `$ sinoqa ...` examples: each command's words and the lines shown."""
    import re
    import shlex

    from tests.conftest import REPO

    text = (REPO / "README.md").read_text(encoding="utf-8")
    examples: list[tuple[list[str], list[str]]] = []
    for block in re.split(r"^ *```.*$", text, flags=re.MULTILINE)[1::2]:
        for example in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, *shown = example.replace("\\\n", " ").splitlines()
            examples.append((shlex.split(command), shown))
    return examples


@pytest.mark.slow
def test_the_readme_examples_are_what_the_commands_print(seeded: Settings, tmp_path: Path) -> None:
    """Every line the README shows under a `$ sinoqa` example is printed by that command on the
    seed corpus, in that order; "..." marks what the README leaves out."""
    examples = _readme_examples()
    assert sorted(words[1] for words, _ in examples) == ["ask", "ask", "compare", "timeline"]
    for words, shown in examples:
        assert words[0] == "sinoqa" and len(shown) >= 1
        result = run(*words[1:], "--index", seeded.index.dir, cwd=tmp_path)
        assert result.returncode == 0, (words, result.stderr)
        printed = " ".join(result.stdout.split())
        position = 0
        for line in shown:
            for fragment in filter(None, (" ".join(f.split()) for f in line.split("..."))):
                found = printed.find(fragment, position)
                assert found >= 0, (words, fragment, printed[position:][:300])
                position = found + len(fragment)
    assert (tmp_path / "months.png").stat().st_size > 1000  # the timeline's --chart
