"""Timelines: the articles on a query in publication order, one quoted sentence each.

An analyst asks how a story developed. Retrieval finds the passages on the query across the
corpus; each article contributes the one sentence of its passages that holds most of the
query's rare vocabulary (IDF-weighted), quoted verbatim; articles sharing none of it are
left out. Entries are ordered by publication date (undated last) and counted per month for
the coverage chart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sinoqa.answer.extractive import candidate_quotes
from sinoqa.dates import period_of, published_bounds
from sinoqa.schema import CoveragePeriod, Timeline, TimelineEntry

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore

    from sinoqa.retrieve.lexicon import Lexicon


def build_timeline(
    query: str, terms: Sequence[str], passages: Sequence[NodeWithScore], lexicon: Lexicon
) -> Timeline:
    """The timeline of ``passages`` (retrieved for ``query``, whose stemmed ``terms`` pick
    each article's sentence)."""
    best: dict[str, tuple[float, int]] = {}  # doc_id -> (coverage, quote index)
    quotes = candidate_quotes(passages)
    for index, quote in enumerate(quotes):
        score = lexicon.coverage(terms, quote.text) if terms else 0.0
        if score > 0 and score > best.get(quote.doc_id, (0.0, -1))[0]:
            best[quote.doc_id] = (score, index)
    entries = []
    for _, index in best.values():
        quote = quotes[index]
        meta = passages[quote.passage_index].node.metadata
        entries.append(
            TimelineEntry(
                date=meta.get("published") or None,
                date_approx=bool(meta.get("published_approx", False)),
                doc_id=quote.doc_id,
                publisher=meta.get("publisher") or None,
                title=str(meta.get("title") or quote.doc_id),
                url=meta.get("url") or None,
                chunk_id=passages[quote.passage_index].node.node_id,
                quote=quote.text,
            )
        )
    entries.sort(key=_chronological)
    counts = Counter(period_of(entry.date) for entry in entries)
    coverage = [CoveragePeriod(period=p, articles=n) for p, n in counts.items()]
    return Timeline(query=query, entries=entries, coverage=coverage)


def _chronological(entry: TimelineEntry) -> tuple[int, str]:
    bounds = published_bounds(entry.date)
    return (bounds[0] if bounds else 99_999_999, entry.doc_id)


def write_chart(timeline: Timeline, path: Path) -> None:
    """Articles on the query per month, as a bar chart (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    periods = [c.period for c in timeline.coverage]
    counts = [c.articles for c in timeline.coverage]
    figure, axes = plt.subplots(figsize=(max(4.0, 0.6 * len(periods) + 2), 3))
    axes.bar(periods, counts, color="#2f6690")
    axes.set_ylabel("articles")
    axes.set_title(f"Coverage: {timeline.query}"[:80])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    plt.setp(axes.get_xticklabels(), rotation=45, ha="right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
