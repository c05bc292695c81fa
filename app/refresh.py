"""Feeds re-read on a schedule while the server runs (`sinoqa serve --refresh-every 30m`).

APScheduler runs the job in a background thread, one run at a time (a run still going when
the next is due is not started twice). Each run goes through `pipeline.add`, so the ingest
lock keeps it from writing beside another ingest (it skips a turn instead of waiting) and the
watches are checked after it. A failure is logged and shown in the Corpus tab; the server
goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from sinoqa import pipeline
from sinoqa.errors import IndexBusy, SinoqaError
from sinoqa.settings import Settings

log = logging.getLogger(__name__)


class FeedRefresh:
    """The scheduled re-reading of the corpus's feeds, and what its last run did."""

    def __init__(self, settings: Settings, every_s: float) -> None:
        self.settings = settings
        self.every_s = every_s
        self.last = "Feeds not re-read yet."
        self._lock = threading.Lock()
        self._scheduler: Any = None

    def run_once(self) -> str:
        """Re-read every feed now; what happened, in one line (also kept for the UI)."""
        at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        try:
            report = pipeline.add(self.settings, refresh=True, wait=False)
        except IndexBusy:
            line = f"{at}: skipped, another ingest was writing the index."
        except SinoqaError as exc:
            line = f"{at}: feeds not re-read: {exc}"
            log.warning("scheduled feed refresh failed: %s", exc)
        else:
            line = (
                f"{at}: {len(report.feeds)} feed(s) re-read, {len(report.added)} article(s) "
                f"added, {len(report.rejected)} rejected."
            )
            if report.rejected:  # a feed or page that failed says why
                url, reason = report.rejected[0]
                line += f" First: {url}: {reason}"
        with self._lock:
            self.last = line
        return line

    def status(self) -> str:
        with self._lock:
            return f"**Feeds** are re-read every {self.settings.ui.refresh_every}. {self.last}"

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(daemon=True)
        scheduler.add_job(
            self.run_once,
            "interval",
            seconds=self.every_s,
            max_instances=1,
            coalesce=True,
            id="feed-refresh",
        )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None


def feed_refresh(settings: Settings) -> FeedRefresh | None:
    """The schedule the settings ask for (``ui.refresh_every``), not yet started."""
    seconds = settings.ui.refresh_seconds
    return FeedRefresh(settings, seconds) if seconds else None
