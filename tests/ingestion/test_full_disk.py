"""Nothing is lost when the disk fills: on a small tmpfs, `sinoqa ingest` and `sinoqa add`
stop with "no space left", the index then opens and answers from every article ingested
before, and the next ingest after space is freed completes without --rebuild."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sinoqa import pipeline
from sinoqa.settings import Settings
from tests.conftest import run_sinoqa
from tests.ingestion.test_web import site  # noqa: F401 - the local news site fixture

SEED_QUESTION = "Where did Wang Yi meet Jake Sullivan?"
WORDS = [
    "port",
    "cargo",
    "licence",
    "tariff",
    "quota",
    "berth",
    "customs",
    "freight",
    "inspection",
    "ledger",
]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs mounted for the test: a disk that can really fill up (root only)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Take all of the disk's free space but ``leave`` bytes."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        while shutil.disk_usage(disk).free > leave:
            try:
                out.write(b"\0" * min(1 << 20, shutil.disk_usage(disk).free - leave))
                out.flush()
            except OSError:
                break
    return filler


def _extra_articles(corpus: Path, count: int) -> None:
    for number in range(count):
        paragraphs = [  # each article its own text: a copy would be skipped as a duplicate
            f"Berth {number}-{p}: "
            + " ".join(
                WORDS[(number * 7 + p + w * (number % 3 + 1)) % len(WORDS)] for w in range(60)
            )
            + "."
            for p in range(20)
        ]
        (corpus / f"port-{number:02d}.md").write_text(
            f"---\ntitle: Port report {number}\npublisher: Dock Wire\npublished: 2024-03-01\n"
            "---\n\n" + "\n\n".join(paragraphs) + "\n",
            encoding="utf-8",
        )


def _documents(index: Path) -> set[str]:
    state = run_sinoqa("status", "--index", index, "--json")
    assert state.returncode == 0, state.stderr
    return {record["doc_id"] for record in json.loads(state.stdout)["records"]}


@pytest.mark.slow
def test_an_ingest_that_fills_the_disk_loses_nothing(
    small_disk: Path, corpus_dir: Path, tmp_path: Path
) -> None:
    index = small_disk / "index"
    assert run_sinoqa("ingest", "--corpus", corpus_dir, "--index", index).returncode == 0
    before = _documents(index)
    _extra_articles(corpus_dir, 30)
    filler = _fill(small_disk, leave=1 << 20)

    full = run_sinoqa("ingest", "--corpus", corpus_dir, "--index", index)
    assert full.returncode == 1, full.stdout + full.stderr
    said = " ".join(full.stderr.split())
    assert "no space left on the disk holding the index" in said and "Traceback" not in said

    filler.unlink()  # space freed: what was served before is still there, and answers
    assert _documents(index) >= before
    answer = run_sinoqa("ask", SEED_QUESTION, "--index", index)
    assert answer.returncode == 0 and "Malta" in answer.stdout
    again = run_sinoqa("ingest", "--corpus", corpus_dir, "--index", index)  # no --rebuild
    assert again.returncode == 0, again.stderr
    assert len(_documents(index)) == len(before) + 30


@pytest.mark.slow
def test_adding_a_page_to_a_full_disk_leaves_no_half_written_file(
    small_disk: Path,
    corpus_dir: Path,
    tmp_path: Path,
    site: str,  # noqa: F811 - the fixture imported above
) -> None:
    corpus = small_disk / "corpus"
    shutil.copytree(corpus_dir, corpus)
    index = tmp_path / "index"
    assert run_sinoqa("ingest", "--corpus", corpus, "--index", index).returncode == 0
    filler = _fill(small_disk, leave=0)
    page = f"{site}/news/rare-earths.html"
    env = {"SINOQA_FETCH__ALLOW_PRIVATE": "true"}

    full = run_sinoqa("add", page, "--corpus", corpus, "--index", index, env=env)
    said = " ".join((full.stdout + full.stderr).split())
    assert full.returncode == 1 and "No space left on device" in said, said
    assert "Traceback" not in said
    assert not list((corpus / "web").glob("*")) if (corpus / "web").exists() else True

    filler.unlink()
    added = run_sinoqa("add", page, "--corpus", corpus, "--index", index, env=env)
    assert added.returncode == 0, added.stdout + added.stderr
    assert [p.suffix for p in (corpus / "web").iterdir() if not p.name.startswith("feeds")] == [
        ".md"
    ]


@pytest.mark.slow
def test_a_full_disk_stops_a_new_watch_in_one_line_and_loses_none(
    settings: Settings, small_disk: Path
) -> None:
    from tests.test_watch import QUESTION

    pipeline.ingest(settings)
    place = ["--corpus", settings.corpus.dir, "--index", settings.index.dir]
    env = {"SINOQA_WATCH__PATH": str(small_disk / "watches.sqlite3")}
    kept = run_sinoqa("watch", "add", QUESTION, "--name", "kept", *place, env=env)
    assert kept.returncode == 0, kept.stderr
    filler = _fill(small_disk, leave=0)
    full = run_sinoqa("watch", "add", "What did Yang Jiechi demand?", *place, env=env)
    assert full.returncode != 0 and "no space left" in full.stderr
    assert "Traceback" not in full.stderr and len(full.stderr.strip().splitlines()) <= 2
    filler.unlink()
    listed = run_sinoqa("watch", "list", "--json", *place, env=env)
    assert [w["name"] for w in json.loads(listed.stdout)] == ["kept"]
