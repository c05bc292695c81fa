"""Atom feeds of watches' changes, so that any feed reader follows a story: one entry per
recorded change, saying what changed and linking every new and cited source."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from sinoqa.schema import Watch, WatchChange


def _article_link(base_url: str, doc_id: str) -> str:
    return f"{base_url}/articles/{doc_id}"


def _content(base_url: str, change: WatchChange) -> str:
    """The entry's HTML: what changed, the new articles and the sources cited now."""
    parts = ["<ul>", *(f"<li>{escape(item)}</li>" for item in change.what_changed), "</ul>"]
    if change.new_articles:
        parts.append("<p>New articles:</p><ul>")
        for article in change.new_articles:
            facts = ", ".join(escape(v) for v in (article.outlet, article.date) if v)
            title = escape(article.title or article.doc_id)
            link = escape(_article_link(base_url, article.doc_id))
            parts.append(f'<li><a href="{link}">{title}</a> ({facts})</li>')
        parts.append("</ul>")
    parts.append(f"<p>The answer now:</p><blockquote>{escape(change.answer_after)}</blockquote>")
    return "".join(parts)


def atom_feed(watches: Sequence[Watch], base_url: str, title: str) -> bytes:
    """An Atom document of ``watches``' changes, newest first; ``base_url`` is where the
    JSON API answers (its ``/articles/{doc_id}`` gives each source)."""
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.id(f"{base_url}/watches")
    feed.title(title)
    feed.link(href=f"{base_url}/watches", rel="alternate")
    feed.generator("sinoqa")
    entries = sorted(
        ((w, c) for w in watches for c in w.changes), key=lambda pair: pair[1].at, reverse=True
    )
    latest = max((c.at for _, c in entries), default=None)
    feed.updated(dt.datetime.fromisoformat(latest) if latest else dt.datetime.now(dt.UTC))
    for watch, change in reversed(entries):  # feedgen puts the last added first
        entry = feed.add_entry()
        entry.id(f"{base_url}/watches/{watch.name}#{change.at}")
        entry.title(f"{watch.question} — {change.what_changed[0]}"[:200])
        entry.updated(dt.datetime.fromisoformat(change.at))
        entry.link(href=f"{base_url}/watches/{watch.name}", rel="alternate")
        for doc_id in dict.fromkeys(
            [*(a.doc_id for a in change.new_articles), *change.cited_after]
        ):
            entry.link(href=_article_link(base_url, doc_id), rel="related", title=doc_id)
        entry.content(_content(base_url, change), type="html")
    return bytes(feed.atom_str(pretty=True))
