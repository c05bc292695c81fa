"""The fitted sentence scorer: how likely a candidate sentence holds the answer.

Each candidate sentence is described by a few general features (how much of the question's
rare vocabulary it uses, how close its meaning is, where its passage ranked, whether it holds
the kind of value asked for, ...: :mod:`sinoqa.answer.features`). A logistic regression over
them, fitted by
``python -m sinoqa.fitting.scorer`` (``make fit``) on rtqa-train and the tuning part of the
seed questions, turns them into a probability. Its weights, and the selection shares fitted
with them, live in ``sinoqa/fitting/weights/answer_scorer.json``, versioned with the code.

Scoring runs in two steps because embedding sentences is the answer stage's main cost: a
*shortlist* model without the embedding feature picks the sentences worth embedding, then the
*full* model scores those.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sinoqa.answer.features import FULL_FEATURES, LEXICAL_FEATURES
from sinoqa.answer.selection import CandidateSentence, Selection, adjacent
from sinoqa.dates import published_in
from sinoqa.logistic import FittedModels, LogisticModel
from sinoqa.retrieve.question import QuestionAnalysis, names_source

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore

#: The scorer that ships with sinoqa.
DEFAULT_SCORER = Path(__file__).parents[1] / "fitting" / "weights" / "answer_scorer.json"


@dataclass(frozen=True, eq=False)
class SentenceScorer(
    FittedModels,
    roles={"shortlist": LEXICAL_FEATURES, "full": FULL_FEATURES},
    what="sentence scorer",
    refit="make fit",
):
    """The shortlist and full models, the selection fitted with them, and their data."""

    selection: Selection

    @property
    def shortlist(self) -> LogisticModel:
        return self.models["shortlist"]

    @property
    def full(self) -> LogisticModel:
        return self.models["full"]

    def _extra(self) -> dict[str, object]:
        return {"selection": dataclasses.asdict(self.selection)}

    @classmethod
    def _from_extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"selection": Selection(**data["selection"])}


@lru_cache(maxsize=8)
def load_scorer(path: Path = DEFAULT_SCORER) -> SentenceScorer:
    """The scorer in ``path``; a clear error when it is missing or was fitted on other
    features (re-fit it with ``make fit``)."""
    return SentenceScorer.load(path)


def masked_question(question: QuestionAnalysis) -> str:
    """The question with its names and years left out, so that its embedding stands for
    what it asks rather than whom."""
    text = question.text
    for name in sorted(question.names, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(name)}(?:['’]s)?\b", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def source_groups(
    question: QuestionAnalysis, passages: Sequence[NodeWithScore]
) -> list[frozenset[str]]:
    """The retrieved articles the question points at: one group per outlet or author it names
    ("the SCMP column and the E-IR piece"), or, naming none, per year it refers to articles by
    ("the 2023 reports")."""
    by_outlet: dict[str, set[str]] = {}
    for passage in passages:
        meta = passage.node.metadata
        if names_source(question.text, meta.get("publisher"), meta.get("author")):
            by_outlet.setdefault(str(meta.get("publisher")), set()).add(str(meta["doc_id"]))
    if by_outlet:
        return [frozenset(docs) for docs in by_outlet.values()]
    return year_groups(question.article_years, passages)


def year_groups(years: Collection[int], passages: Sequence[NodeWithScore]) -> list[frozenset[str]]:
    """The retrieved articles published in each of ``years`` (years with none left out)."""
    groups = []
    for year in sorted(years):
        docs = {
            str(p.node.metadata["doc_id"])
            for p in passages
            if published_in(p.node.metadata, [year])
        }
        if docs:
            groups.append(frozenset(docs))
    return groups


def shortlist_indices(
    quotes: Sequence[CandidateSentence], scores: np.ndarray, size: int
) -> list[int]:
    """The ``size`` best-scoring quotes and their neighbours, in order (all, if few)."""
    if len(quotes) <= size:
        return list(range(len(quotes)))
    keep = set(np.argsort(-scores, kind="stable")[:size].tolist())
    keep |= {
        j
        for i in list(keep)
        for j in (i - 1, i + 1)
        if 0 <= j < len(quotes) and adjacent(quotes[i], quotes[j])
    }
    return sorted(keep)
