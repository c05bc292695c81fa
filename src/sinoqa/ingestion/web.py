"""Articles from the web: a fetched page becomes a Markdown file with front matter.

The file keeps what an analyst needs to trace a claim (title, author, outlet, date,
canonical URL, the URL asked for and when it was fetched), so the corpus re-ingests offline:
the next ingest needs no network. Pages go under ``corpus/web/``; the feeds added are listed
in ``corpus/web/feeds.txt`` for ``sinoqa add --refresh``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sinoqa.dates import normalize_published
from sinoqa.ingestion.fetch import Fetched, FetchError

WEB_SUBDIR = "web"
FEEDS_FILE = "feeds.txt"
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")


def web_dir(corpus: Path) -> Path:
    return corpus / WEB_SUBDIR


def doc_id_for(url: str) -> str:
    """A stable, readable id from the canonical URL: host and path, and a short hash."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    slug = _SLUG_UNSAFE.sub("-", f"{host} {parts.path}".lower()).strip("-")[:60].strip("-")
    return f"web-{slug}-{hashlib.sha256(url.encode('utf-8')).hexdigest()[:8]}"


def page_article(fetched: Fetched, now: dt.datetime, min_chars: int) -> tuple[dict[str, Any], str]:
    """Front matter and main text of a fetched page (trafilatura), or FetchError."""
    import trafilatura

    html = fetched.content.decode("utf-8", errors="replace")
    extracted = trafilatura.bare_extraction(
        html, url=fetched.url, with_metadata=True, include_comments=False, include_tables=True
    )
    text = getattr(extracted, "text", None) if extracted is not None else None
    if not text or len(text.strip()) < min_chars:
        raise FetchError(f"no article text found on the page (under {min_chars} characters)")
    canonical = getattr(extracted, "url", None) or fetched.url
    meta: dict[str, Any] = {
        "doc_id": doc_id_for(canonical),
        "title": getattr(extracted, "title", None),
        "author": getattr(extracted, "author", None),
        "publisher": getattr(extracted, "sitename", None),
        "published": normalize_published(getattr(extracted, "date", None)),
        "url": canonical,
        "source_url": fetched.requested,
        "fetched_at": now.isoformat(timespec="seconds"),
    }
    return {k: v for k, v in meta.items() if v}, text.strip()


def write_article(directory: Path, meta: dict[str, Any], text: str) -> Path:
    """The article as ``<doc_id>.md`` with YAML front matter."""
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{meta['doc_id']}.md"
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    # Whole or not at all: a full disk must not leave half an article for the next ingest.
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(f"---\n{header}---\n\n{text}\n", encoding="utf-8")
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    return path


def known_urls(directory: Path) -> dict[str, str]:
    """Canonical and requested URLs of the articles already added -> their doc_id."""
    import frontmatter

    urls: dict[str, str] = {}
    for path in sorted(directory.glob("*.md")):
        try:
            meta = frontmatter.loads(path.read_text(encoding="utf-8")).metadata
        except (OSError, ValueError, UnicodeDecodeError):  # a damaged file: ingest says why
            continue
        for key in ("url", "source_url"):
            if meta.get(key):
                urls[str(meta[key])] = str(meta.get("doc_id") or path.stem)
    return urls


def feed_links(fetched: Fetched, limit: int) -> list[str]:
    """The article links of an RSS or Atom feed (feedparser), in the feed's order."""
    import feedparser

    parsed = feedparser.parse(fetched.content)
    if parsed.get("bozo") and not parsed.entries:
        raise FetchError(f"not a readable feed ({parsed.get('bozo_exception')})")
    links = [str(entry.get("link")) for entry in parsed.entries if entry.get("link")]
    return list(dict.fromkeys(links))[:limit]


def stored_feeds(directory: Path) -> list[str]:
    path = directory / FEEDS_FILE
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def remember_feeds(directory: Path, feeds: Iterable[str]) -> None:
    known = stored_feeds(directory)
    new = [feed for feed in feeds if feed not in known]
    if new:
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / FEEDS_FILE).open("a", encoding="utf-8") as handle:
            handle.writelines(f"{feed}\n" for feed in new)
