"""The chat's Watches tab in a real browser (Debian's Chromium): watch the last question,
see the unread change an ingest records, read it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sinoqa_app.watch_tab import changes_html, listing_html, tab_label

from sinoqa import pipeline
from sinoqa.settings import Settings
from tests.app.test_ui import browser, chat_server  # noqa: F401 - the Chromium fixture
from tests.test_watch import BANGKOK, QUESTION


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    with chat_server(tmp_path) as served:
        yield served


@pytest.mark.slow
def test_browser_watch_a_question_and_read_its_unread_change(
    watched: tuple[str, Settings],
    browser: Any,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    url, settings = watched
    page = browser.new_page()
    page.goto(url)
    expect(page.get_by_role("tab", name="Watches", exact=True)).to_be_visible(timeout=30_000)
    page.locator("#question textarea").fill(QUESTION)
    page.locator("#ask").click()
    page.locator("#chat").get_by_text("Malta", exact=False).last.wait_for(timeout=60_000)
    page.locator("#watch-question").click()
    expect(page.locator("#feedback-status")).to_contain_text("Watching", timeout=30_000)

    (settings.corpus.dir / "bangkok.md").write_text(BANGKOK, encoding="utf-8")
    pipeline.ingest(settings)  # in the server's process: its watches are checked
    page.reload()
    tab = page.get_by_role("tab", name="Watches (1 unread)")
    expect(tab).to_be_visible(timeout=30_000)
    tab.click()
    expect(page.locator("#watch-list")).to_contain_text("1 unread", timeout=30_000)
    page.locator("#watch-chosen input").click()
    page.get_by_role("option", name="where-did-wang-yi-meet-jake").click()
    card = page.locator("#watch-changes .new-article")
    expect(card).to_contain_text("Bangkok", timeout=30_000)
    assert "Test Wire" in card.inner_text()
    # Read now: the tab's count goes.
    expect(page.get_by_role("tab", name="Watches", exact=True)).to_be_visible(timeout=30_000)


def test_the_tab_escapes_what_it_shows() -> None:
    from sinoqa.schema import NewArticle, Watch, WatchChange

    change = WatchChange(
        at="2026-12-07T00:00:00+00:00",
        new_articles=[NewArticle(doc_id="x", title="<script>bad()</script>", passage="<b>")],
        answer_after="<img src=x onerror=bad()>",
        what_changed=["added: <i>x</i>"],
    )
    watch = Watch(name="w", question="<q>", created="now", changes=[change])
    shown = changes_html(watch) + listing_html([watch])
    assert "<script>" not in shown and "<img" not in shown and "<i>x</i>" not in shown
    assert tab_label([watch]) == "Watches (1 unread)" and tab_label([]) == "Watches"
    assert "No question is watched yet" in listing_html([])
