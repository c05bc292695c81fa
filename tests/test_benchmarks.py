"""The benchmark command runs end to end on a small slice of the real news corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

RTQA = REPO.parent / "shared" / "rtqa-dev"


@pytest.mark.skipif(not (RTQA / "questions.jsonl").is_file(), reason="needs ../shared/rtqa-dev")
@pytest.mark.slow
def test_benchmark_command_writes_tables_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "benchmarks", "--sizes", "60,150", "--questions", "3"]
    command += ["--repeats", "1", "--rtqa", str(RTQA), "--work", str(tmp_path / "work")]
    done = subprocess.run(
        [*command, "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    small, large = results["sizes"]
    assert 0 < small["chunks"] < large["chunks"]
    for row in results["sizes"]:
        assert row["sinoqa"]["questions"] == 3
        assert 0 < row["sinoqa"]["retrieve_p50_ms"] <= row["sinoqa"]["total_p50_ms"]
        assert row["baseline"]["p50_ms"] > 0
    assert results["throughput"]["raw_chunks_per_s"] > 0
    assert results["serve_large"]["peak_rss_mib"] > 100
    report = (out / "results.md").read_text()
    assert "Pipeline overhead over raw encoding" in report
    assert f"| {large['chunks']:,} |" in report
    assert (out / "results.png").stat().st_size > 10_000


@pytest.mark.slow
def test_load_script_runs_concurrent_sessions_without_errors(tmp_path: Path) -> None:
    out = _run_module(tmp_path, "benchmarks.load", "--levels", "1,4", "--turns", "2")
    levels = json.loads((out / "load.json").read_text())["levels"]
    assert [(row["via"], row["sessions"], row["requests"], row["errors"]) for row in levels] == [
        ("chat", 1, 2, 0),
        ("chat", 4, 8, 0),
        ("api", 4, 8, 0),
    ]
    assert "| api | 4 | 8 | 0 |" in (out / "load.md").read_text()


@pytest.mark.skipif(not (RTQA / "questions.jsonl").is_file(), reason="needs ../shared/rtqa-dev")
@pytest.mark.slow
def test_scale_benchmark_ingests_both_sets_and_times_questions(tmp_path: Path) -> None:
    out = _run_module(tmp_path, "benchmarks.scale", "--limit", "8", "--questions", "3")
    results = json.loads((out / "scale.json").read_text())
    train, both = results["train_ingest"], results["combined_ingest"]
    assert train["articles"] == 8 and 0 < train["chunks"] < both["chunks"]
    assert train["peak_rss_mib"] > 100 and results["index_mib"] > 0
    assert results["latency"]["questions"] == 3
    assert 0 < results["latency"]["retrieve_p50_ms"] <= results["latency"]["total_p50_ms"]
    assert f"| ingest rtqa-train | 8 | {train['chunks']} |" in (out / "scale.md").read_text()
    assert results["latency_train"]["questions"] == 3  # the second question set
    # Re-timing keeps the ingest figures and says when the questions were timed.
    out = _run_module(tmp_path, "benchmarks.scale", "--times-only", "--questions", "2")
    again = json.loads((out / "scale.json").read_text())
    assert again["train_ingest"] == train and again["latency_train"]["questions"] == 2
    report = (out / "scale.md").read_text()
    assert "| 2 rtqa-train |" in report and "--times-only" in report
    # ... and refuses an index that is not the one the report describes.
    again["combined_ingest"]["chunks"] += 1
    (out / "scale.json").write_text(json.dumps(again))
    args = ["--times-only", "--work", str(tmp_path / "work"), "--out", str(out)]
    mismatched = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert mismatched.returncode != 0 and "chunks" in mismatched.stderr


def test_the_benchmarks_doc_shows_the_committed_reports() -> None:
    from benchmarks.report import DOC, DOC_BEGIN, doc_section

    shown = DOC.read_text(encoding="utf-8").split(DOC_BEGIN, 1)[1].lstrip("\n")
    assert shown == doc_section(), "docs/benchmarks.md is stale: run `make docs`"
    assert "\n## Query latency by corpus size" not in shown  # demoted under each report
    assert "### Query latency by corpus size" in shown


def _run_module(tmp_path: Path, module: str, *args: str) -> Path:
    """``python -m module ARGS --work ... --out ...`` from the repository; the out folder."""
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", module, *args, "--work", str(tmp_path / "work"), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out
