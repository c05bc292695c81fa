"""Faults while serving: a Chroma server that goes away and comes back, ingest during queries."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from sinoqa import pipeline
from sinoqa.errors import IndexUnavailable
from sinoqa.ingestion.index import open_index
from sinoqa.settings import Settings
from tests.conftest import FakeClock, free_port, serving
from tests.ingestion.test_index import assert_consistent

QUESTION = "Where did Wang Yi meet Jake Sullivan in September 2023?"


@pytest.mark.server
def test_chroma_server_stopped_mid_session_is_a_clear_error_and_recovers(
    settings: Settings, tmp_path: Path, clock: FakeClock
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    chroma = Path(sys.executable).parent / "chroma"
    command = [str(chroma), "run", "--path", str(tmp_path / "db"), "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    probe = f"{url}/api/v2/heartbeat"
    remote = settings.model_copy(
        update={"index": settings.index.model_copy(update={"chroma_url": url})}
    )
    with serving(command, probe, tmp_path / "server-1.log"):
        pipeline.ingest(remote)
        session = pipeline.Pipeline(remote, clock=clock)
        assert "Malta" in session.ask(QUESTION).answer
    clock.advance()  # past the pipeline's once-a-second index check
    with pytest.raises(IndexUnavailable, match="Cannot reach the Chroma server"):
        session.ask(QUESTION)
    with serving(command, probe, tmp_path / "server-2.log"):
        clock.advance()
        assert "Malta" in session.ask(QUESTION).answer  # same process, no restart


def test_queries_during_an_ingest_stay_consistent_and_then_see_the_new_article(
    settings: Settings, corpus_dir: Path, clock: FakeClock
) -> None:
    pipeline.ingest(settings)
    session = pipeline.Pipeline(settings, clock=clock)
    baseline = session.ask(QUESTION)

    paragraphs = [
        f"Port officials in Qingdao said container berth {n} would reopen after dredging, "
        f"and that shipping lines had booked {n * 40} extra slots for the spring season."
        for n in range(1, 60)
    ]
    new_article = corpus_dir / "qingdao-berths.md"
    new_article.write_text(
        "---\ndoc_id: qingdao-berths\ntitle: Qingdao berths reopen\npublisher: Port Wire\n---\n\n"
        + "\n\n".join(paragraphs)
        + "\n",
        encoding="utf-8",
    )
    answers, errors = [], []
    ingest = threading.Thread(target=lambda: pipeline.ingest(settings, [new_article]))
    ingest.start()
    while ingest.is_alive():
        clock.advance()  # every question checks for a newer index version
        try:
            answers.append(session.ask(QUESTION))
        except Exception as exc:  # any failure while the index changes is a bug
            errors.append(exc)
    ingest.join()
    assert errors == []
    assert answers, "no query ran during the ingest"
    for answer in answers:
        assert answer.answer == baseline.answer  # the served index stayed whole
    clock.advance()
    found = session.ask("Which berths in Qingdao will reopen after dredging?")
    assert "qingdao-berths" in {c.doc_id for c in found.citations}
    assert_consistent(open_index(settings))
