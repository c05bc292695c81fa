"""Feeds re-read on a schedule by the server, and by `sinoqa refresh` for cron: a real HTTP
server on 127.0.0.1 serves the feeds, APScheduler runs the job."""

from __future__ import annotations

import time

import pytest
from sinoqa_app.refresh import FeedRefresh, feed_refresh

from sinoqa import pipeline
from sinoqa.settings import Settings, UISettings
from tests.conftest import run_sinoqa
from tests.ingestion.test_web import site, web_settings  # noqa: F401 - fixtures


@pytest.fixture
def with_feed(web_settings: Settings, site: str) -> Settings:  # noqa: F811
    """An index of the seed corpus that follows the local site's Atom feed."""
    pipeline.ingest(web_settings)
    pipeline.add(web_settings, feeds=[f"{site}/feed.atom"])
    return web_settings


def test_a_schedule_reads_the_feeds_and_says_what_it_did(with_feed: Settings) -> None:
    assert feed_refresh(with_feed) is None  # none asked for: none made
    scheduled = with_feed.model_copy(
        update={"ui": with_feed.ui.model_copy(update={"refresh_every": "30m"})}
    )
    refresh = feed_refresh(scheduled)
    assert refresh is not None and refresh.every_s == 1800
    assert "not re-read yet" in refresh.status()
    line = refresh.run_once()
    assert "1 feed(s) re-read, 0 article(s) added" in line and line in refresh.status()
    # Started, the job runs in the background on its interval, one run at a time.
    quick = FeedRefresh(scheduled, every_s=0.5)
    quick.start()
    try:
        deadline = time.monotonic() + 20
        while quick.last == "Feeds not re-read yet." and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        quick.stop()
    assert "1 feed(s) re-read" in quick.last


def test_a_failed_refresh_is_shown_and_the_server_goes_on(with_feed: Settings) -> None:
    # The article the feed brought is gone from the corpus, so the feed's link is new again,
    # and the index is a file now: the new article cannot be written.
    for page in (with_feed.corpus.dir / "web").glob("*.md"):
        page.unlink()
    blocked = with_feed.corpus.dir.parent / "blocked"
    blocked.write_text("not an index")
    refresh = FeedRefresh(with_feed.with_paths(index=blocked), every_s=60)
    line = refresh.run_once()
    assert "feeds not re-read" in line and "Traceback" not in line
    assert line in refresh.status()


@pytest.mark.parametrize(
    ("every", "message"),
    [("soon", "is not a duration"), ("10s", "too often"), ("-5m", "is not a duration")],
)
def test_a_refresh_interval_must_be_a_duration(every: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UISettings(refresh_every=every)
    assert UISettings(refresh_every="2h").refresh_seconds == 7200


@pytest.mark.slow
def test_sinoqa_refresh_is_one_line_for_cron(
    web_settings: Settings,  # noqa: F811
    site: str,  # noqa: F811
) -> None:
    where = ["--corpus", web_settings.corpus.dir, "--index", web_settings.index.dir]
    env = {"SINOQA_FETCH__ALLOW_PRIVATE": "true"}
    nothing = run_sinoqa("refresh", *where, env=env)
    assert nothing.returncode == 0 and "No feeds to refresh" in nothing.stdout
    assert run_sinoqa("add", "--feed", f"{site}/feed.atom", *where, env=env).returncode == 0
    again = run_sinoqa("refresh", *where, env=env)
    assert again.returncode == 0, again.stderr
    assert "Nothing new in 1 feed(s)." in again.stdout
    bad = run_sinoqa("serve", "--refresh-every", "soon", *where)
    assert bad.returncode == 2 and "is not a duration" in bad.stderr
    assert "Traceback" not in bad.stderr
