"""Adding to the corpus from outside it: uploaded files, and web pages by URL or feed,
each stored under the corpus directory and indexed at once (so the corpus holds what the
index holds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sinoqa.errors import IndexNotFound
from sinoqa.ingestion.build import ingest
from sinoqa.ingestion.index import index_status
from sinoqa.schema import ProgressCallback, WatchCheck
from sinoqa.settings import Settings


@dataclass
class UploadReport:
    """What happened to each uploaded file."""

    added: list[str] = field(default_factory=list)  # doc_ids now searchable
    updated: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    watches: WatchCheck | None = None  # the watches checked after it, when there are any


def add_files(
    settings: Settings,
    files: Sequence[tuple[Path, str]],
    progress: ProgressCallback | None = None,
) -> UploadReport:
    """Store uploaded files under the corpus directory and index them.

    ``files`` are (temporary path, name the user gave). A file is stored only if it can be
    read as its type; a stored file the ingest rejects (a duplicate, say) is removed again,
    so the corpus keeps only what the index holds.
    """
    from sinoqa.ingestion.corpus import UnreadableFile, read_file, store_upload

    report = UploadReport()
    target_dir = settings.corpus.dir / settings.ui.upload_subdir
    try:
        indexed = {r.doc_id: r for r in index_status(settings).records}
    except IndexNotFound:
        indexed = {}
    stored: dict[Path, str] = {}
    for path, name in files:
        try:
            target = store_upload(path, name, target_dir, settings.ui.max_upload_bytes)
        except UnreadableFile as exc:
            report.rejected.append((name, str(exc)))
            continue
        doc_id = read_file(target).doc_id
        if doc_id in indexed and indexed[doc_id].source != str(target):
            # Same id as an article from another file: never silently replace it.
            report.rejected.append((name, f"an article with doc_id '{doc_id}' is already indexed"))
            target.unlink()
            continue
        stored[target] = name
    if not stored:
        return report
    ingested = ingest(settings, list(stored), progress=progress)
    for skipped in ingested.skipped:
        path = Path(skipped.path)
        if path in stored:
            report.rejected.append((stored[path], skipped.reason))
            path.unlink(missing_ok=True)
    report.added, report.updated = ingested.added, ingested.updated
    return report


@dataclass
class AddReport:
    """What happened to each URL given to :func:`add` (or found in a feed)."""

    added: list[tuple[str, str]] = field(default_factory=list)  # (URL, doc_id) now searchable
    known: list[tuple[str, str]] = field(default_factory=list)  # (URL, doc_id) added before
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (URL, reason)
    feeds: list[str] = field(default_factory=list)  # feeds read
    watches: WatchCheck | None = None  # the watches checked after it, when there are any


def _add_pages(
    settings: Settings,
    urls: Sequence[str],
    known: dict[str, str],
    progress: ProgressCallback | None,
    *,
    wait: bool,
) -> AddReport:
    """:func:`add` for pages, given the URLs already added (-> doc_id), read once by the caller
    and extended here as pages are stored."""
    import datetime as dt

    from sinoqa.ingestion import fetch, web

    report = AddReport()
    directory = web.web_dir(settings.corpus.dir)
    stored: dict[Path, str] = {}
    for url in dict.fromkeys(u.strip() for u in urls if u.strip()):
        if url in known:
            report.known.append((url, known[url]))
            continue
        try:
            page = fetch.fetch(url, settings.fetch)
            meta, text = web.page_article(
                page, dt.datetime.now(dt.UTC), settings.fetch.min_text_chars
            )
        except fetch.FetchError as exc:
            report.rejected.append((url, str(exc)))
            continue
        if meta["url"] in known:  # another address of a page added before
            report.known.append((url, known[meta["url"]]))
            continue
        path = web.write_article(directory, meta, text)
        known[url] = known[meta["url"]] = meta["doc_id"]
        stored[path] = url
    if stored:
        try:
            ingested = ingest(settings, list(stored), progress=progress, wait=wait)
        except BaseException:
            # Not indexed (another ingest holds the index, an interruption): a page left in
            # the corpus would read as "added before" and stay unsearchable until an ingest.
            for path in stored:
                path.unlink(missing_ok=True)
            raise
        skipped = {Path(s.path): s.reason for s in ingested.skipped}
        for path, url in stored.items():
            if path in skipped:  # the same text as an indexed article: keep the corpus = index
                report.rejected.append((url, skipped[path]))
                path.unlink(missing_ok=True)
            else:
                report.added.append((url, path.stem))
    return report


def add(
    settings: Settings,
    urls: Sequence[str] = (),
    feeds: Sequence[str] = (),
    *,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
    wait: bool = True,
) -> AddReport:
    """Add web articles to the corpus and index them: the pages at ``urls``, every article
    the RSS or Atom ``feeds`` link to (remembered for a refresh) and, with ``refresh``, the
    new articles of every feed added before.

    Each page is stored under ``corpus/web/`` as Markdown with front matter and indexed in
    one ingest. A URL added before (by canonical or requested URL) is listed as known (a
    feed's links only when new: a refresh reports what is new); one whose text another
    article has is rejected with the reason; a failure changes nothing for the others."""
    from sinoqa.ingestion import fetch, web

    directory = web.web_dir(settings.corpus.dir)
    wanted = [f.strip() for f in feeds if f.strip()]
    if refresh:
        wanted += web.stored_feeds(directory)
    links: list[str] = []
    rejected: list[tuple[str, str]] = []
    read: list[str] = []
    for feed in dict.fromkeys(wanted):
        try:
            fetched = fetch.fetch(feed, settings.fetch, accept=fetch.FEED_TYPES)
            links += web.feed_links(fetched, settings.fetch.max_feed_items)
        except fetch.FetchError as exc:
            rejected.append((feed, str(exc)))
            continue
        read.append(feed)
    web.remember_feeds(directory, read)
    known = web.known_urls(directory)
    fresh = [link for link in links if link not in known]
    report = _add_pages(settings, [*urls, *fresh], known, progress, wait=wait)
    report.rejected = rejected + report.rejected
    report.feeds = read
    return report
