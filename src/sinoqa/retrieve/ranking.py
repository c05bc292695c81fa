"""The fitted article ranker: which retrieved articles most likely answer a news question.

Fusion ranks passages one at a time; the ranker ranks their articles from what all of an
article's candidate passages say together (its best dense and BM25 scores, how many of its
passages came back, how much of the question's rare vocabulary the whole article holds) and,
when the day the question is asked is known, from its age on that day: news questions are
mostly about the latest events, and an article published after that day cannot be where the
asker read the answer (the retriever leaves those out after ranking).

Two logistic regressions, fitted by ``python -m sinoqa.fitting.ranker`` (``make fit-ranker``) on
the same rtqa-train questions: the *dated* model ranks questions asked as of a day
(``--as-of``, the chat's *As of* filter, a question that asks about "this week" or "the
latest"); the *undated* model reads only the date-free features and ranks questions asked
without a day when ``retrieval.rank_undated`` is on (off by default: on the seed tuning set
it turned a refused near miss into an answer; docs/evaluation.md). Their weights live in
``sinoqa/fitting/weights/article_ranker.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sinoqa.dates import published_after, published_day
from sinoqa.linear import LinearScorer, ScorerError

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore

#: The ranker that ships with sinoqa.
DEFAULT_RANKER = Path(__file__).parents[1] / "fitting" / "weights" / "article_ranker.json"

#: Features of one candidate article, in column order.
ARTICLE_FEATURES = (
    "fused",  # its best passage's fused (dense + BM25) score
    "dense",  # its best passage's cosine similarity to the question
    "bm25",  # its best passage's BM25 score, as a share of the question's best
    "passages",  # log(1 + its passages among the candidates)
    "article_coverage",  # IDF-weighted share of the question's terms anywhere in the article
    "age",  # log(1 + days from publication to the day asked); undated: the candidates' median
    "after",  # certainly published after the day asked (of a partial date, its first day)
    "age_gap",  # its log age minus that of the youngest candidate published by the day asked
)
#: The features known without the day the question is asked: the undated model's columns.
DATE_FREE_FEATURES = ARTICLE_FEATURES[:5]


@dataclass(frozen=True, eq=False)
class ArticleRanker:
    """The fitted models (without and with the day asked) and the data they were fitted on."""

    undated: LinearScorer
    dated: LinearScorer
    trained_on: dict[str, Any]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "undated": self.undated.to_json(),
            "dated": self.dated.to_json(),
            "trained_on": self.trained_on,
        }
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    def model(self, as_of: dt.date | None) -> LinearScorer:
        return self.undated if as_of is None else self.dated

    def rank(
        self,
        fused: Sequence[NodeWithScore],
        dense: Sequence[NodeWithScore],
        bm25: Sequence[NodeWithScore],
        coverage: Callable[[str], float],
        as_of: dt.date | None,
    ) -> list[NodeWithScore]:
        """``fused`` re-ordered: articles by the model for ``as_of`` (None: asked without a
        day), each article's passages by fusion."""
        articles, matrix = article_features(fused, dense, bm25, coverage, as_of)
        if not articles:
            return list(fused)
        score = dict(zip(articles, self.model(as_of).probability(matrix), strict=True))
        position = {id(item): rank for rank, item in enumerate(fused)}
        return sorted(fused, key=lambda item: (-score[_doc(item)], position[id(item)]))


@lru_cache(maxsize=8)
def load_ranker(path: Path = DEFAULT_RANKER) -> ArticleRanker:
    """The ranker in ``path``; a clear error when it is missing or was fitted on other
    features (re-fit it with ``make fit-ranker``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ranker = ArticleRanker(
            LinearScorer.from_json(data["undated"]),
            LinearScorer.from_json(data["dated"]),
            dict(data["trained_on"]),
        )
    except (OSError, ValueError, KeyError, TypeError, ScorerError) as exc:
        raise ScorerError(f"cannot read the article ranker {path}: {exc}") from exc
    for model, features in ((ranker.undated, DATE_FREE_FEATURES), (ranker.dated, ARTICLE_FEATURES)):
        if model.features != features or not (
            len(model.weights) == len(model.mean) == len(model.scale) == len(features)
        ):
            raise ScorerError(
                f"the article ranker {path} was fitted on other features; re-fit it with "
                "`make fit-ranker`"
            )
    return ranker


def _doc(item: NodeWithScore) -> str:
    return str(item.node.metadata.get("doc_id"))


def article_features(
    fused: Sequence[NodeWithScore],
    dense: Sequence[NodeWithScore],
    bm25: Sequence[NodeWithScore],
    coverage: Callable[[str], float],
    as_of: dt.date | None,
) -> tuple[list[str], np.ndarray]:
    """The candidate articles (in fused order) and their :data:`ARTICLE_FEATURES` rows
    (without a day asked, only the :data:`DATE_FREE_FEATURES` columns).

    ``coverage`` takes an article's id and returns how much of the question's vocabulary
    the whole article holds (not only its candidate passages: fitted both ways on
    rtqa-train, the whole article ranks better)."""
    articles: dict[str, dict[str, Any]] = {}
    for item in fused:
        entry = articles.setdefault(
            _doc(item), {"fused": item.score or 0.0, "chunks": [], "meta": item.node.metadata}
        )
        entry["chunks"].append(item.node.node_id)
    best_dense: dict[str, float] = {}
    for item in dense:
        best_dense.setdefault(_doc(item), item.score or 0.0)
    lowest_dense = min(best_dense.values(), default=0.0)
    bm25_scores = [item.score or 0.0 for item in bm25]
    top_bm25 = max(bm25_scores, default=0.0)
    best_bm25: dict[str, float] = {}
    for item in bm25:
        best_bm25.setdefault(_doc(item), (item.score or 0.0) / top_bm25 if top_bm25 else 0.0)
    rows = [
        [
            entry["fused"],
            best_dense.get(doc_id, lowest_dense),
            best_bm25.get(doc_id, 0.0),
            math.log1p(len(entry["chunks"])),
            coverage(doc_id),
        ]
        for doc_id, entry in articles.items()
    ]
    if as_of is not None:
        metadata = [entry["meta"] for entry in articles.values()]
        for row, ages in zip(rows, _age_columns(metadata, as_of), strict=True):
            row.extend(ages)
    width = len(DATE_FREE_FEATURES if as_of is None else ARTICLE_FEATURES)
    return list(articles), np.asarray(rows, dtype=np.float64).reshape(len(rows), width)


def _age_columns(metadata: Sequence[dict[str, Any]], as_of: dt.date) -> list[list[float]]:
    """Each candidate article's age, published-after and age-gap features on ``as_of``."""
    ages: list[float | None] = []
    for meta in metadata:
        day = published_day(meta)
        ages.append(None if day is None else float((as_of - day).days))
    known = [math.log1p(max(age, 0.0)) for age in ages if age is not None]
    median = float(np.median(known)) if known else 0.0
    # The youngest article published by the day asked: later ones are "after", not young.
    youngest = min((math.log1p(a) for a in ages if a is not None and a >= 0), default=0.0)
    columns = []
    for meta, age in zip(metadata, ages, strict=True):
        log_age = median if age is None else math.log1p(max(age, 0.0))
        columns.append([log_age, float(published_after(meta, as_of)), log_age - youngest])
    return columns
