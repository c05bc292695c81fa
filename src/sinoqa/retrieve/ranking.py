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
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sinoqa.dates import published_after, published_day
from sinoqa.logistic import FeatureRegistry, FittedModels, LogisticModel

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore

#: The ranker that ships with sinoqa.
DEFAULT_RANKER = Path(__file__).parents[1] / "fitting" / "weights" / "article_ranker.json"


@dataclass
class ArticleContext:
    """The candidate articles of one question (in fused order) and what their features
    share: the best scores of each, and, with the day asked, the candidates' ages."""

    fused: Sequence[NodeWithScore]
    dense: Sequence[NodeWithScore]
    bm25: Sequence[NodeWithScore]
    #: How much of the question's vocabulary the whole article (by id) holds, in any chunk.
    coverage: Callable[[str], float]
    as_of: dt.date | None
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for item in self.fused:
            entry = self.articles.setdefault(
                _doc(item), {"fused": item.score or 0.0, "chunks": [], "meta": item.node.metadata}
            )
            entry["chunks"].append(item.node.node_id)

    @cached_property
    def ids(self) -> list[str]:
        return list(self.articles)

    @cached_property
    def best_dense(self) -> dict[str, float]:
        best: dict[str, float] = {}
        for item in self.dense:
            best.setdefault(_doc(item), item.score or 0.0)
        return best

    @cached_property
    def lowest_dense(self) -> float:
        """What an article no dense passage found for stands at: the lowest found."""
        return min(self.best_dense.values(), default=0.0)

    @cached_property
    def best_bm25(self) -> dict[str, float]:
        """Each article's best BM25 score as a share of the question's best."""
        top = max((item.score or 0.0 for item in self.bm25), default=0.0)
        best: dict[str, float] = {}
        for item in self.bm25:
            best.setdefault(_doc(item), (item.score or 0.0) / top if top else 0.0)
        return best

    @cached_property
    def ages(self) -> list[tuple[float, float, float]]:
        """Each article's log age, published-after and age gap on the day asked."""
        assert self.as_of is not None, "ages need the day asked"
        return _age_columns([entry["meta"] for entry in self.articles.values()], self.as_of)


#: The article ranker's features, in column order.
ARTICLE_REGISTRY: FeatureRegistry[ArticleContext] = FeatureRegistry("article ranker")
feature = ARTICLE_REGISTRY.feature


@feature("date_free")
def fused(c: ArticleContext, i: int) -> float:
    """Its best passage's fused (dense + BM25) score."""
    return float(c.articles[c.ids[i]]["fused"])


@feature("date_free")
def dense(c: ArticleContext, i: int) -> float:
    """Its best passage's cosine similarity to the question (none: the lowest candidate's)."""
    return c.best_dense.get(c.ids[i], c.lowest_dense)


@feature("date_free")
def bm25(c: ArticleContext, i: int) -> float:
    """Its best passage's BM25 score, as a share of the question's best."""
    return c.best_bm25.get(c.ids[i], 0.0)


@feature("date_free")
def passages(c: ArticleContext, i: int) -> float:
    """log(1 + its passages among the candidates)."""
    return math.log1p(len(c.articles[c.ids[i]]["chunks"]))


@feature("date_free")
def article_coverage(c: ArticleContext, i: int) -> float:
    """IDF-weighted share of the question's terms anywhere in the article (fitted both ways on
    rtqa-train, the whole article ranks better than its candidate passages)."""
    return c.coverage(c.ids[i])


@feature("dated")
def age(c: ArticleContext, i: int) -> float:
    """log(1 + days from publication to the day asked); undated: the candidates' median."""
    return c.ages[i][0]


@feature("dated")
def after(c: ArticleContext, i: int) -> float:
    """Certainly published after the day asked (of a partial date, its first day)."""
    return c.ages[i][1]


@feature("dated")
def age_gap(c: ArticleContext, i: int) -> float:
    """Its log age minus that of the youngest candidate published by the day asked."""
    return c.ages[i][2]


#: Features of one candidate article, in column order: the dated model's columns.
ARTICLE_FEATURES = ARTICLE_REGISTRY.names()
#: The features known without the day the question is asked: the undated model's columns.
DATE_FREE_FEATURES = ARTICLE_REGISTRY.names(groups=["date_free"])


@dataclass(frozen=True, eq=False)
class ArticleRanker(
    FittedModels,
    roles={"undated": DATE_FREE_FEATURES, "dated": ARTICLE_FEATURES},
    what="article ranker",
    refit="make fit-ranker",
):
    """The fitted models (without and with the day asked) and the data they were fitted on."""

    def model(self, as_of: dt.date | None) -> LogisticModel:
        return self.models["undated" if as_of is None else "dated"]

    def rank(self, candidates: ArticleContext) -> list[NodeWithScore]:
        """The candidates' passages re-ordered: articles by the model for their day asked
        (None: asked without a day), each article's passages by fusion."""
        fused = candidates.fused
        articles, matrix = article_features(candidates)
        if not articles:
            return list(fused)
        score = dict(zip(articles, self.model(candidates.as_of).probability(matrix), strict=True))
        position = {id(item): rank for rank, item in enumerate(fused)}
        return sorted(fused, key=lambda item: (-score[_doc(item)], position[id(item)]))


@lru_cache(maxsize=8)
def load_ranker(path: Path = DEFAULT_RANKER) -> ArticleRanker:
    """The ranker in ``path``; a clear error when it is missing or was fitted on other
    features (re-fit it with ``make fit-ranker``)."""
    return ArticleRanker.load(path)


def article_features(candidates: ArticleContext) -> tuple[list[str], np.ndarray]:
    """The candidate articles (in fused order) and their :data:`ARTICLE_FEATURES` rows
    (without a day asked, only the :data:`DATE_FREE_FEATURES` columns)."""
    names = DATE_FREE_FEATURES if candidates.as_of is None else ARTICLE_FEATURES
    return candidates.ids, ARTICLE_REGISTRY.matrix(candidates, len(candidates.ids), names)


def _doc(item: NodeWithScore) -> str:
    return str(item.node.metadata.get("doc_id"))


def _age_columns(
    metadata: Sequence[dict[str, Any]], as_of: dt.date
) -> list[tuple[float, float, float]]:
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
        columns.append((log_age, float(published_after(meta, as_of)), log_age - youngest))
    return columns
