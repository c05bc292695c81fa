"""Timelines: the articles on a query in publication order, one quoted sentence each.

An analyst asks how a story developed. Retrieval finds the passages on the query across the
corpus; each article contributes the one sentence of its passages that holds most of the
query's rare vocabulary (IDF-weighted), quoted verbatim; articles sharing none of it are
left out. Entries are ordered by publication date (undated last) and counted per month for
the coverage chart.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sinoqa.answer.extractive import candidate_quotes
from sinoqa.dates import period_of, published_bounds
from sinoqa.retrieve.hybrid import COPIES_KEY
from sinoqa.schema import Copy, CoveragePeriod, Timeline, TimelineEntry

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore
    from matplotlib.figure import Figure

    from sinoqa.retrieve.lexicon import Lexicon


#: The bars' colour, in the chat and in `sinoqa timeline --chart`.
BAR_COLOUR = "#2f6690"


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
                copies=[Copy(**c) for c in json.loads(meta.get(COPIES_KEY, "[]"))],
            )
        )
    entries.sort(key=_chronological)
    counts = Counter(period_of(entry.date) for entry in entries)
    coverage = [CoveragePeriod(period=p, articles=n) for p, n in counts.items()]
    return Timeline(query=query, entries=entries, coverage=coverage)


def _chronological(entry: TimelineEntry) -> tuple[int, str]:
    bounds = published_bounds(entry.date)
    return (bounds[0] if bounds else 99_999_999, entry.doc_id)


def chart_figure(timeline: Timeline) -> Figure:
    """Articles on the query per month on a real time axis: one bar per month with
    articles, gaps between months shown as gaps; a year-only date gets a bar over its
    whole year, lighter; undated articles are counted in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    months = [(c, _period_start(c.period)) for c in timeline.coverage]
    dated = [(c, start) for c, start in months if start is not None]
    undated = sum(c.articles for c, start in months if start is None)
    figure = Figure(figsize=(8.0, 3.0))
    axes = figure.subplots()
    for coverage, start in dated:
        whole_year = len(coverage.period) == 4
        width = 365 if whole_year else calendar.monthrange(start.year, start.month)[1]
        axes.bar(
            float(mdates.date2num(start)),
            coverage.articles,
            width=width - 2,  # days: a gap between neighbouring months
            align="edge",
            color="#9dbbd6" if whole_year else BAR_COLOUR,
        )
    axes.set_ylabel("articles")
    title = f"Articles per month: {timeline.query}"[:70]
    axes.set_title(title + (f" ({undated} undated)" if undated else ""), fontsize=10)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if dated:
        first = min(start for _, start in dated)
        last = max(start for _, start in dated)
        axes.set_xlim(
            float(mdates.date2num(first - dt.timedelta(days=31))),
            float(mdates.date2num(last + dt.timedelta(days=62))),
        )
    locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    figure.tight_layout()
    return figure


def write_chart(timeline: Timeline, path: Path) -> None:
    """:func:`chart_figure` as a PNG."""
    chart_figure(timeline).savefig(path, dpi=120)


def _period_start(period: str) -> dt.date | None:
    """The first day of a "2023-08" or "2021" period; None for "undated"."""
    try:
        year, *month = (int(part) for part in period.split("-"))
    except ValueError:
        return None
    return dt.date(year, month[0] if month else 1, 1)
