"""The fitted sentence scorer: how likely a candidate sentence holds the answer.

Each candidate sentence is described by a few general features (how much of the question's
rare vocabulary it uses, how close its meaning is, where its passage ranked, whether it holds
the kind of value asked for, ...). A logistic regression over them, fitted by
``python -m sinoqa.fitting.scorer`` (``make fit``) on rtqa-train and the tuning part of the
seed questions, turns them into a probability. Its weights, and the selection shares fitted
with them, live in ``sinoqa/fitting/weights/answer_scorer.json``, versioned with the code.

Scoring runs in two steps because embedding sentences is the answer stage's main cost: a
*shortlist* model without the embedding feature picks the sentences worth embedding, then the
*full* model scores those.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sinoqa.answer.selection import Quote, Selection, adjacent
from sinoqa.dates import published_in
from sinoqa.linear import LinearScorer, ScorerError
from sinoqa.retrieve.question import (
    QuestionAnalysis,
    content_words,
    has_new_answer,
    names_source,
    person_names,
)

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore

    from sinoqa.retrieve.lexicon import Lexicon

#: The scorer that ships with sinoqa.
DEFAULT_SCORER = Path(__file__).parents[1] / "fitting" / "weights" / "answer_scorer.json"

#: Features known without embedding the sentence, in column order.
BASE_LEXICAL = (
    "lexical",  # IDF-weighted share of the question's terms in the sentence
    "neighbour_lexical",  # ... in the sentences just before and after it
    "title_lexical",  # ... in its article's title
    "novelty",  # share of the sentence's terms the question does not use
    "passage_rank",  # 1 for the first retrieved passage, falling to 0
    "article_rank",  # 1 for the first retrieved article, falling to 0
    "kind_match",  # holds a value of the kind asked for (who / when / how many / how long)
    "new_names",  # names or numbers the question does not have (up to three)
    "lead",  # near the start of its article (news puts the answer early)
    "length",  # characters, up to 300
    # from an article the question names (outlet, author, year) or, in a follow-up, one the
    # previous answer cited: the conversation names it as surely
    "named_source",
    "author_named",  # names its article's author, and the question asks about the author
)


#: Candidate features of what the question asks beyond whom it names, measured by
#: ``python -m sinoqa.fitting.scorer --cv`` against the features above (docs/evaluation.md
#: reports each).
PREDICATE_FEATURES = (
    "predicate",  # IDF-weighted share of the question's terms that are not its names
    "neighbour_predicate",  # ... in the sentences just before and after it
    "reports_speech",  # reports speech or a demand, and the question asks what was said
)
MASKED_FEATURES = ("masked_dense",)  # cosine with the question's embedding, names left out

_ADOPTED_PREDICATE = ("predicate", "neighbour_predicate")
#: The shortlist model's features: the base ones, the predicate features adopted (by the
#: cross-validation in docs/evaluation.md, "what the question asks beyond its names") and
#: the shape of an answer: the question's terms and names or numbers it lacks, together.
LEXICAL_FEATURES = (*BASE_LEXICAL, *_ADOPTED_PREDICATE, "covered_new_names")
#: The full model's: those and the cosine of sentence and question embeddings.
FULL_FEATURES = (*LEXICAL_FEATURES, "dense")

# "What did X demand / say / want / warn ...": the answer is what someone said.
_ASKS_SPEECH = re.compile(
    r"\b(?:say|said|says|tell|told|demand\w*|want\w*|call(?:ed|s)? (?:for|on)|urg\w*|"
    r"ask(?:ed|s)? for|warn\w*|propos\w*|claim\w*|argu\w*|insist\w*|accus\w*|pledg\w*|"
    r"promis\w*|vow\w*|threaten\w*|describ\w*|respon\w*|react\w*|criticis\w*|criticiz\w*|"
    r"position|stance|view)\b",
    re.IGNORECASE,
)
_REPORTS_SPEECH = re.compile(
    r"\b(?:said|says|say|told|tells|stated|added|demanded|demands|urged|urges|called (?:for|on)|"
    r"calls (?:for|on)|asked|warned|warns|insisted|insists|argued|argues|claimed|claims|"
    r"accused|accuses|pledged|pledges|vowed|vows|promised|promises|threatened|threatens|"
    r"according to|statement)\b|[\"“”]",
)

_NAME_OR_NUMBER = re.compile(r"(?<![.?!]\s)(?<!^)\b[A-Z][\w'’-]+|\d[\d,.]*")


@dataclass(frozen=True, eq=False)
class SentenceScorer:
    """The shortlist and full models, the selection fitted with them, and their data."""

    shortlist: LinearScorer
    full: LinearScorer
    trained_on: dict[str, Any]
    selection: Selection

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "shortlist": self.shortlist.to_json(),
            "full": self.full.to_json(),
            "selection": dataclasses.asdict(self.selection),
            "trained_on": self.trained_on,
        }
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


@lru_cache(maxsize=8)
def load_scorer(path: Path = DEFAULT_SCORER) -> SentenceScorer:
    """The scorer in ``path``; a clear error when it is missing or was fitted on other
    features (re-fit it with ``make fit``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        scorer = SentenceScorer(
            shortlist=LinearScorer.from_json(data["shortlist"]),
            full=LinearScorer.from_json(data["full"]),
            trained_on=dict(data.get("trained_on", {})),
            selection=Selection(**data["selection"]),
        )
    except (OSError, ValueError, KeyError, TypeError, ScorerError) as exc:
        raise ScorerError(f"cannot read the sentence scorer {path}: {exc}") from exc
    for model in (scorer.shortlist, scorer.full):
        if not len(model.features) == len(model.weights) == len(model.mean) == len(model.scale):
            raise ScorerError(f"the sentence scorer {path} is damaged: re-fit it with `make fit`")
    if scorer.shortlist.features != LEXICAL_FEATURES or scorer.full.features != FULL_FEATURES:
        raise ScorerError(
            f"the sentence scorer {path} was fitted on other features; re-fit it with `make fit`"
        )
    return scorer


def names_author(sentence: str, passage: NodeWithScore) -> bool:
    """Whether the sentence names the author of the article it comes from."""
    author = str(passage.node.metadata.get("author") or "")
    return any(
        len(word) > 3 and re.search(rf"\b{re.escape(word)}\b", sentence) for word in author.split()
    )


def lexical_features(
    question: QuestionAnalysis,
    quotes: Sequence[Quote],
    words: Sequence[frozenset[str]],
    passages: Sequence[NodeWithScore],
    lexicon: Lexicon,
    *,
    named: Collection[str] = (),
    focus: Collection[str] = (),
    retrieval_query: str = "",
    follow_up_weight: float = 0.3,
) -> np.ndarray:
    """One row of :data:`LEXICAL_FEATURES` per quote.

    ``named`` are the articles the question points at; ``retrieval_query`` is the query
    retrieval ran when it differs from the question (a follow-up): its terms count too, by
    ``follow_up_weight``.
    """
    terms = lexicon.terms(question.content)
    coverage = np.array([lexicon.coverage(terms, w) for w in words])
    if retrieval_query:
        context = lexicon.terms(question.content + " " + content_words(retrieval_query))
        coverage = (1 - follow_up_weight) * coverage + follow_up_weight * np.array(
            [lexicon.coverage(context, w) for w in words]
        )
    asked = frozenset(terms)
    question_tokens = _names_and_numbers(question.text)
    # Full names in the candidates let a later "Xi" or "Blinken" count as a person.
    people = (
        frozenset().union(*(person_names(q.text) for q in quotes))
        if question.kind == "person"
        else frozenset()
    )
    article_order = list(dict.fromkeys(str(p.node.metadata["doc_id"]) for p in passages))
    titles: dict[str, float] = {}
    rows = []
    for i, quote in enumerate(quotes):
        passage = passages[quote.passage_index]
        neighbours = [
            coverage[j]
            for j in (i - 1, i + 1)
            if 0 <= j < len(quotes) and adjacent(quote, quotes[j])
        ]
        if quote.doc_id not in titles:
            titles[quote.doc_id] = lexicon.coverage(
                terms, str(passage.node.metadata.get("title") or "")
            )
        new = _names_and_numbers(quote.text) - question_tokens
        rows.append(
            (
                coverage[i],
                max(neighbours, default=0.0),
                titles[quote.doc_id],
                len(words[i] - asked) / max(len(words[i]), 1),
                1.0 - quote.passage_index / max(len(passages), 1),
                1.0 - article_order.index(quote.doc_id) / max(len(article_order), 1),
                float(has_new_answer(question.kind, quote.text, question.text, people)),
                min(len(new), 3) / 3,
                1.0 / (1.0 + quote.start / 1000),
                min(len(quote.text), 300) / 300,
                float(quote.doc_id in named or quote.doc_id in focus),
                float(question.about_author and names_author(quote.text, passage)),
            )
        )
    matrix = np.array(rows, dtype=np.float64).reshape(len(quotes), len(BASE_LEXICAL))
    predicate = predicate_features(question, quotes, words, lexicon, _ADOPTED_PREDICATE, terms)
    # A product a linear model cannot form: a topic sentence covers the question's terms and
    # adds nothing, a stray sentence adds names and covers nothing; an answer does both.
    covered_new_names = (
        matrix[:, BASE_LEXICAL.index("lexical")] * matrix[:, BASE_LEXICAL.index("new_names")]
    )
    return np.column_stack([matrix, predicate, covered_new_names])


def predicate_terms(
    question: QuestionAnalysis, lexicon: Lexicon, content_terms: Sequence[str] | None = None
) -> list[str]:
    """The question's terms that are not part of a name or year it writes: what it asks
    about them ("demand", "tariff", "visit"). ``content_terms``: its content's terms, when
    the caller has them already."""
    names = set(lexicon.terms(" ".join(question.names)))
    if content_terms is None:
        content_terms = lexicon.terms(question.content)
    return [t for t in content_terms if t not in names]


def masked_question(question: QuestionAnalysis) -> str:
    """The question with its names and years left out, so that its embedding stands for
    what it asks rather than whom."""
    text = question.text
    for name in sorted(question.names, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(name)}(?:['’]s)?\b", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def predicate_features(
    question: QuestionAnalysis,
    quotes: Sequence[Quote],
    words: Sequence[frozenset[str]],
    lexicon: Lexicon,
    columns: Sequence[str] = PREDICATE_FEATURES,
    content_terms: Sequence[str] | None = None,
) -> np.ndarray:
    """One row per quote of the ``columns`` asked for (names from :data:`PREDICATE_FEATURES`),
    computing only those."""
    terms = predicate_terms(question, lexicon, content_terms)
    coverage = np.array([lexicon.coverage(terms, w) if terms else 0.0 for w in words])
    asks_speech = "reports_speech" in columns and bool(_ASKS_SPEECH.search(question.text))
    rows = []
    for i, quote in enumerate(quotes):
        neighbours = [
            coverage[j]
            for j in (i - 1, i + 1)
            if 0 <= j < len(quotes) and adjacent(quote, quotes[j])
        ]
        speech = asks_speech and bool(_REPORTS_SPEECH.search(quote.text))
        row = {
            "predicate": coverage[i],
            "neighbour_predicate": max(neighbours, default=0.0),
            "reports_speech": float(speech),
        }
        rows.append([row[name] for name in columns])
    return np.array(rows, dtype=np.float64).reshape(len(quotes), len(columns))


def _names_and_numbers(text: str) -> set[str]:
    """Capitalised words past a sentence's start, and numbers, as comparable tokens ("2023."
    and "2023", "China's" and "China" are one)."""
    return {
        re.sub(r"['’]s$", "", token.strip(".,")).casefold()
        for token in _NAME_OR_NUMBER.findall(text)
    }


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


def shortlist_indices(quotes: Sequence[Quote], scores: np.ndarray, size: int) -> list[int]:
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
