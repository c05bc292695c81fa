"""Watches: saved questions asked again after an ingest, with a change recorded only when
the answer moved. Real index, real model, real SQLite file, real `sinoqa` processes."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr

from sinoqa import pipeline
from sinoqa.errors import WatchStoreUnavailable
from sinoqa.schema import Answer, AnswerSentence, Citation, Filters
from sinoqa.settings import Settings
from sinoqa.watch.changes import change_record, what_changed
from tests.conftest import run_sinoqa

QUESTION = "Where did Wang Yi meet Jake Sullivan?"

BANGKOK = """---
title: Wang Yi and Jake Sullivan meet again, this time in Bangkok
publisher: Test Wire
author: A. Reporter
published: 2024-01-28
---
Chinese Foreign Minister Wang Yi met White House National Security Advisor Jake Sullivan in
Bangkok on January 26 and 27, 2024. The two spent twelve hours in talks over two days at a
hotel in Bangkok, according to officials. They discussed Taiwan, the Red Sea and fentanyl,
and agreed to keep the channel open before a call between the two presidents.
"""

UNRELATED = """---
title: Rain expected over the weekend
publisher: Weather Desk
published: 2024-02-02
---
Forecasters expect steady rain across the region on Saturday, clearing by Sunday afternoon.
Temperatures will stay mild, and farmers welcomed the water after a dry month. Gardeners are
advised to cover seedlings against the wind that will come with the front on Saturday night.
"""


def _add_article(settings: Settings, name: str, text: str) -> None:
    (settings.corpus.dir / f"{name}.md").write_text(text, encoding="utf-8")
    pipeline.ingest(settings)


@pytest.mark.slow
def test_a_watch_records_a_change_only_when_new_articles_move_its_answer(
    settings: Settings,
) -> None:
    pipeline.ingest(settings)
    book = pipeline.get_pipeline(settings).watches
    watch = book.add(QUESTION)
    assert watch.answer is not None and "Malta" in watch.answer.answer
    assert watch.name == "where-did-wang-yi-meet-jake" and watch.changes == []

    _add_article(settings, "weather", UNRELATED)  # about nothing the watch asks
    assert book.show(watch.name).changes == []

    _add_article(settings, "bangkok", BANGKOK)
    [change] = book.show(watch.name).changes
    assert [a.doc_id for a in change.new_articles] == ["bangkok"]
    assert (
        change.new_articles[0].outlet == "Test Wire" and "Bangkok" in change.new_articles[0].passage
    )
    assert "bangkok" in change.cited_after and "bangkok" not in change.cited_before
    assert "Bangkok" in change.answer_after and "Bangkok" not in change.answer_before
    assert any(item.startswith("added: ") and "Bangkok" in item for item in change.what_changed)
    assert "now cites: bangkok" in change.what_changed

    # Asked again with nothing new, the answer stays: no change is recorded.
    assert book.check([watch.name]) == []
    assert len(book.show(watch.name).changes) == 1


@pytest.mark.slow
def test_watches_and_their_changes_outlive_the_process_and_a_rebuild(
    settings: Settings, tmp_path: Path
) -> None:
    pipeline.ingest(settings)
    where = ["--corpus", str(settings.corpus.dir), "--index", str(settings.index.dir)]
    added = run_sinoqa("watch", "add", QUESTION, "--name", "envoys", "--json", *where)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {
        "name": "envoys",
        "question": QUESTION,
        "changes": 0,
        "unread": 0,
    }
    (settings.corpus.dir / "bangkok.md").write_text(BANGKOK, encoding="utf-8")
    ingested = run_sinoqa("ingest", "--rebuild", *where)
    assert ingested.returncode == 0, ingested.stderr

    listed = json.loads(run_sinoqa("watch", "list", "--json", *where).stdout)
    assert listed == [{"name": "envoys", "question": QUESTION, "changes": 1, "unread": 1}]
    shown = run_sinoqa("watch", "show", "envoys", "--json", *where)
    detail = json.loads(shown.stdout)
    assert {"name", "question", "changes"} <= detail.keys()
    [change] = detail["changes"]
    assert {
        "at",
        "new_articles",
        "answer_before",
        "answer_after",
        "refused_before",
        "refused_after",
        "cited_before",
        "cited_after",
        "what_changed",
    } <= change.keys()
    assert [a["doc_id"] for a in change["new_articles"]] == ["bangkok"]
    assert {"doc_id", "outlet", "date", "title"} <= change["new_articles"][0].keys()
    # Shown once, the change is read.
    assert json.loads(run_sinoqa("watch", "list", "--json", *where).stdout)[0]["unread"] == 0
    assert run_sinoqa("watch", "remove", "envoys", *where).returncode == 0
    assert json.loads(run_sinoqa("watch", "list", "--json", *where).stdout) == []


@pytest.mark.slow
def test_bad_watches_get_one_line_errors_and_lose_nothing(settings: Settings) -> None:
    pipeline.ingest(settings)
    where = ["--corpus", str(settings.corpus.dir), "--index", str(settings.index.dir)]
    assert run_sinoqa("watch", "add", QUESTION, "--name", "kept", *where).returncode == 0
    for args, message in [
        (["add", QUESTION, "--name", "Bad Name!"], "is not a watch name"),
        (["add", QUESTION, "--name", "kept"], "a watch named 'kept' exists"),
        (["add", "   "], "a watch needs a question"),
        (["add", QUESTION, "--publisher", "Nobody Times"], "no indexed article is from"),
        (["add", QUESTION, "--webhook", "http://127.0.0.1:9/hook"], "loopback, private"),
        (["show", "missing"], "no watch named 'missing'"),
        (["remove", "missing"], "no watch named 'missing'"),
        (["check", "missing"], "no watch named 'missing'"),
    ]:
        result = run_sinoqa("watch", *args, *where)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2  # the error and its hint
    listed = json.loads(run_sinoqa("watch", "list", "--json", *where).stdout)
    assert [w["name"] for w in listed] == ["kept"]


def test_a_watches_file_that_cannot_be_written_is_one_clear_error(
    settings: Settings, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the watches' folder should be")
    unwritable = settings.model_copy(
        update={"watch": settings.watch.model_copy(update={"path": blocked / "w.sqlite3"})}
    )
    book = pipeline.Pipeline(unwritable).watches
    with pytest.raises(WatchStoreUnavailable, match="cannot be used") as failed:
        book.store.add("one", QUESTION, Filters(), [0.0])
    assert failed.value.hint and "unchanged" in failed.value.hint
    assert book.watches() == []  # reading an absent file is an empty list, not an error


@pytest.mark.slow
def test_a_failing_watch_is_logged_and_never_fails_the_ingest(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline.ingest(settings)
    book = pipeline.get_pipeline(settings).watches
    book.add(QUESTION, name="by-outlet")
    # The watches file edited by hand: its question can no longer be asked.
    with sqlite3.connect(book.store.path) as db:
        db.execute("UPDATE watches SET question = ' ' WHERE name = 'by-outlet'")
    (settings.corpus.dir / "bangkok.md").write_text(BANGKOK, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="sinoqa.watch"):
        report = pipeline.ingest(settings)
    assert report.added == ["bangkok"]
    assert "watch by-outlet not checked" in caplog.text
    assert report.watches is not None and report.watches.failed == ["by-outlet"]
    assert book.show("by-outlet").changes == []


def _answer(sentences: list[str], cited: list[str], refused: bool = False) -> Answer:
    citations = [
        Citation(
            n=i + 1,
            doc_id=doc,
            title=doc,
            chunk_id=f"{doc}-0",
            passage=" ".join(sentences),
            start_char=0,
            end_char=1,
            score=1.0,
            quote=" ".join(sentences),
            spans=[(0, 1)],
        )
        for i, doc in enumerate(cited)
    ]
    return Answer(
        question=QUESTION,
        answer=" ".join(sentences) or "The corpus does not say.",
        refused=refused,
        backend="extractive",
        citations=citations,
        sentences=[AnswerSentence(text=s, citations=[1]) for s in sentences],
    )


def test_what_changed_names_sentences_figures_people_sources_and_refusals() -> None:
    malta = "Wang Yi met Jake Sullivan in Malta in 2023."
    bangkok = "Wang Yi met Jake Sullivan in Bangkok in 2024."
    before = _answer([malta], ["eir"])
    moved = _answer([bangkok, malta], ["wire", "eir"])
    changed = what_changed(before, moved)
    assert changed[0] == f"added: {bangkok}"
    assert "figures now given: 2024" in changed and "now cites: wire" in changed
    # The same sentences and sources in another order: no change, and no record.
    assert what_changed(moved, _answer([malta, bangkok], ["eir", "wire"])) == []
    assert change_record(moved, _answer([malta, bangkok], ["eir", "wire"]), [], "now") is None
    refused = _answer([], [], refused=True)
    assert what_changed(before, refused)[0] == "answered → refused"
    assert what_changed(refused, before)[0] == "refused → answered"
    blinken = what_changed(
        before, _answer(["Antony Blinken met Wang Yi in Malta in 2023."], ["eir"])
    )
    assert "people now given: Antony Blinken" in blinken
    assert "people no longer given: Jake Sullivan" in blinken
    record = change_record(before, moved, [], "2026-12-07T00:00:00+00:00")
    assert record is not None and record.cited_before == ["eir"]
    assert record.cited_after == ["wire", "eir"] and not record.refused_after


@pytest.mark.slow
def test_the_api_serves_watches_and_their_atom_feeds(settings: Settings) -> None:
    import feedparser
    from fastapi.testclient import TestClient
    from sinoqa_app.api import build_api

    pipeline.ingest(settings)
    pipe = pipeline.get_pipeline(settings)
    with TestClient(build_api(pipe, settings), root_path="/api/v1") as api:
        added = api.post("/watches", json={"question": QUESTION, "name": "envoys"})
        assert added.status_code == 200, added.text
        assert added.json()["answer"]["refused"] is False
        assert (
            api.post("/watches", json={"question": QUESTION, "name": "envoys"}).status_code == 422
        )
        assert api.post("/watches", json={"question": ""}).status_code == 422
        _add_article(settings, "bangkok", BANGKOK)
        assert api.get("/watches").json() == [
            {"name": "envoys", "question": QUESTION, "changes": 1, "unread": 1}
        ]
        for path in ("/watches/feed.atom", "/watches/envoys/feed.atom"):
            response = api.get(path)
            assert response.headers["content-type"].startswith("application/atom+xml")
            feed = feedparser.parse(response.content)
            assert not feed.bozo, feed.get("bozo_exception")
            [entry] = feed.entries
            assert QUESTION in entry.title and "added:" in entry.title
            links = {link["href"] for link in entry.links}
            # Each entry links its new and cited sources to the API's article pages.
            assert "http://testserver/api/v1/articles/bangkok" in links
            article = api.get("/articles/bangkok")
            assert article.status_code == 200 and "Bangkok" in article.json()["text"]
        shown = api.get("/watches/envoys", params={"mark_read": True}).json()
        assert shown["changes"][0]["new_articles"][0]["doc_id"] == "bangkok"
        assert api.get("/watches").json()[0]["unread"] == 0
        assert api.get("/watches/missing").status_code == 422
        assert api.post("/watches/envoys/check").json() == []  # nothing new: no change
        assert api.delete("/watches/envoys").status_code == 204
        assert api.get("/watches").json() == []


class _Hook:
    """A webhook receiver on 127.0.0.1 that keeps what it is sent."""

    def __init__(self, status: int = 204) -> None:
        import http.server
        import threading

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
def test_a_webhook_receives_each_change_signed(settings: Settings) -> None:
    import hashlib
    import hmac

    local = settings.model_copy(
        update={
            "fetch": settings.fetch.model_copy(update={"allow_private": True}),
            "watch": settings.watch.model_copy(update={"webhook_secret": SecretStr("s3cret")}),
        }
    )
    pipeline.ingest(local)
    hook = _Hook()
    try:
        pipeline.get_pipeline(local).watches.add(QUESTION, name="envoys", webhook=hook.url)
        _add_article(local, "weather", UNRELATED)
        assert hook.received == []  # no change, no post
        _add_article(local, "bangkok", BANGKOK)
        [(headers, body)] = hook.received
    finally:
        hook.close()
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Sinoqa-Signature"] == expected
    assert headers["X-Sinoqa-Event"] == "watch.change"
    sent = json.loads(body)
    assert sent["watch"] == "envoys" and sent["question"] == QUESTION
    assert sent["change"]["new_articles"][0]["doc_id"] == "bangkok"


def test_webhooks_obey_the_fetch_rules_and_failures_are_retried_then_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from sinoqa.errors import FetchError
    from sinoqa.watch.webhook import check_webhook, deliver

    with pytest.raises(FetchError, match="loopback, private or link-local"):
        check_webhook("http://127.0.0.1:9/hook", settings)
    with pytest.raises(FetchError, match="only http and https"):
        check_webhook("ftp://example.com/hook", settings)
    local = settings.model_copy(
        update={"fetch": settings.fetch.model_copy(update={"allow_private": True})}
    )
    waits: list[float] = []
    failing = _Hook(status=503)
    try:
        with caplog.at_level(logging.WARNING, logger="sinoqa.watch"):
            assert not deliver(failing.url, b"{}", local, sleep=waits.append)
    finally:
        failing.close()
    assert len(failing.received) == 3 and waits == [1.0, 2.0]  # three tries, backing off
    assert "not delivered: HTTP 503" in caplog.text
    refused = _Hook(status=400)
    try:
        assert not deliver(refused.url, b"{}", local, sleep=waits.append)
    finally:
        refused.close()
    assert len(refused.received) == 1  # a receiver that refuses is not asked again
    gone = _Hook()
    gone.close()  # nothing listens there any more
    assert not deliver(gone.url, b"{}", local, sleep=lambda _: None)
