"""What the sentence scorer reads of each candidate sentence: one registered function per
feature (:data:`SENTENCE_REGISTRY`), computed over a :class:`SentenceContext` that holds what
every feature of one question shares.

The registry is the one list of the scorer's features. Its order is the models' column order;
``adopted`` features are the shipped models' columns (:data:`LEXICAL_FEATURES` for the
shortlist model, :data:`FULL_FEATURES` for the full one); the others are candidates that
``python -m sinoqa.fitting.scorer --cv`` (``make fit-cv``) measures against them
(docs/evaluation.md reports each).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from sinoqa.answer.selection import CandidateSentence, adjacent
from sinoqa.logistic import FeatureRegistry
from sinoqa.retrieve.question import (
    QuestionAnalysis,
    content_words,
    has_new_answer,
    person_names,
)

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore

    from sinoqa.retrieve.lexicon import Lexicon


@dataclass
class SentenceContext:
    """One question's candidate sentences (``quotes``, their stemmed ``words``) and what the
    features share, each computed once, when a feature first asks for it."""

    question: QuestionAnalysis
    quotes: Sequence[CandidateSentence]
    words: Sequence[frozenset[str]]
    passages: Sequence[NodeWithScore]
    lexicon: Lexicon
    #: Articles the question points at (outlet, author, year).
    named: Collection[str] = ()
    #: In a follow-up, the articles the previous answer cited.
    focus: Collection[str] = ()
    #: The query retrieval ran, when it differs from the question (a follow-up): its terms
    #: count too, by ``follow_up_weight``.
    retrieval_query: str = ""
    follow_up_weight: float = 0.3
    _titles: dict[str, float] = field(default_factory=dict, repr=False)

    @cached_property
    def terms(self) -> list[str]:
        return self.lexicon.terms(self.question.content)

    @cached_property
    def asked(self) -> frozenset[str]:
        return frozenset(self.terms)

    @cached_property
    def coverage(self) -> np.ndarray:
        """Each sentence's IDF-weighted share of the question's terms (a follow-up's blended
        with its retrieval query's)."""
        lexicon, words = self.lexicon, self.words
        coverage = np.array([lexicon.coverage(self.terms, w) for w in words])
        if self.retrieval_query:
            context = lexicon.terms(
                self.question.content + " " + content_words(self.retrieval_query)
            )
            weight = self.follow_up_weight
            coverage = (1 - weight) * coverage + weight * np.array(
                [lexicon.coverage(context, w) for w in words]
            )
        return coverage

    @cached_property
    def predicate_coverage(self) -> np.ndarray:
        """Each sentence's share of :func:`predicate_terms`: what the question asks about."""
        terms = predicate_terms(self.question, self.lexicon, self.terms)
        return np.array([self.lexicon.coverage(terms, w) if terms else 0.0 for w in self.words])

    @cached_property
    def new_tokens(self) -> list[int]:
        """How many names or numbers each sentence has that the question does not."""
        asked = names_and_numbers(self.question.text)
        return [len(names_and_numbers(q.text) - asked) for q in self.quotes]

    @cached_property
    def people(self) -> frozenset[str]:
        """Full names in the candidates: a later "Xi" or "Blinken" counts as a person."""
        if self.question.kind != "person":
            return frozenset()
        return frozenset().union(*(person_names(q.text) for q in self.quotes))

    @cached_property
    def article_order(self) -> list[str]:
        return list(dict.fromkeys(str(p.node.metadata["doc_id"]) for p in self.passages))

    @cached_property
    def asks_speech(self) -> bool:
        return bool(_ASKS_SPEECH.search(self.question.text))

    def passage(self, i: int) -> NodeWithScore:
        return self.passages[self.quotes[i].passage_index]

    def neighbours_best(self, values: np.ndarray, i: int) -> float:
        """The larger value of the sentences just before and after sentence ``i``."""
        quotes = self.quotes
        around = [
            values[j]
            for j in (i - 1, i + 1)
            if 0 <= j < len(quotes) and adjacent(quotes[i], quotes[j])
        ]
        return max(around, default=0.0)

    def title_coverage(self, i: int) -> float:
        doc_id = self.quotes[i].doc_id
        if doc_id not in self._titles:
            title = str(self.passage(i).node.metadata.get("title") or "")
            self._titles[doc_id] = self.lexicon.coverage(self.terms, title)
        return self._titles[doc_id]


#: The sentence scorer's features, in column order.
SENTENCE_REGISTRY: FeatureRegistry[SentenceContext] = FeatureRegistry("sentence scorer")
feature = SENTENCE_REGISTRY.feature


@feature("base")
def lexical(c: SentenceContext, i: int) -> float:
    """IDF-weighted share of the question's terms in the sentence."""
    return c.coverage[i]


@feature("base")
def neighbour_lexical(c: SentenceContext, i: int) -> float:
    """The same share in the sentences just before and after it."""
    return c.neighbours_best(c.coverage, i)


@feature("base")
def title_lexical(c: SentenceContext, i: int) -> float:
    """The same share in its article's title."""
    return c.title_coverage(i)


@feature("base")
def novelty(c: SentenceContext, i: int) -> float:
    """Share of the sentence's terms the question does not use."""
    words = c.words[i]
    return len(words - c.asked) / max(len(words), 1)


@feature("base")
def passage_rank(c: SentenceContext, i: int) -> float:
    """1 for the first retrieved passage, falling to 0."""
    return 1.0 - c.quotes[i].passage_index / max(len(c.passages), 1)


@feature("base")
def article_rank(c: SentenceContext, i: int) -> float:
    """1 for the first retrieved article, falling to 0."""
    order = c.article_order
    return 1.0 - order.index(c.quotes[i].doc_id) / max(len(order), 1)


@feature("base")
def kind_match(c: SentenceContext, i: int) -> float:
    """Holds a value of the kind asked for (who / when / how many / how long)."""
    question = c.question
    return float(has_new_answer(question.kind, c.quotes[i].text, question.text, c.people))


@feature("base")
def new_names(c: SentenceContext, i: int) -> float:
    """Names or numbers the question does not have (up to three)."""
    return min(c.new_tokens[i], 3) / 3


@feature("base")
def lead(c: SentenceContext, i: int) -> float:
    """Near the start of its article: news puts the answer early."""
    return 1.0 / (1.0 + c.quotes[i].start / 1000)


@feature("base")
def length(c: SentenceContext, i: int) -> float:
    """Characters, up to 300."""
    return min(len(c.quotes[i].text), 300) / 300


@feature("base")
def named_source(c: SentenceContext, i: int) -> float:
    """From an article the question names (outlet, author, year) or, in a follow-up, one the
    previous answer cited: the conversation names it as surely."""
    doc_id = c.quotes[i].doc_id
    return float(doc_id in c.named or doc_id in c.focus)


@feature("base")
def author_named(c: SentenceContext, i: int) -> float:
    """Names its article's author, and the question asks about the author."""
    return float(c.question.about_author and names_author(c.quotes[i].text, c.passage(i)))


@feature("predicate")
def predicate(c: SentenceContext, i: int) -> float:
    """IDF-weighted share of the question's terms that are not its names."""
    return c.predicate_coverage[i]


@feature("predicate")
def neighbour_predicate(c: SentenceContext, i: int) -> float:
    """The same share in the sentences just before and after it."""
    return c.neighbours_best(c.predicate_coverage, i)


@feature("shape")
def covered_new_names(c: SentenceContext, i: int) -> float:
    """The question's terms and names or numbers it lacks, together: a product a linear model
    cannot form. A topic sentence covers the terms and adds nothing, a stray sentence adds
    names and covers nothing; an answer does both."""
    return c.coverage[i] * new_names(c, i)


@feature("predicate", adopted=False)
def reports_speech(c: SentenceContext, i: int) -> float:
    """Reports speech or a demand, and the question asks what was said."""
    return float(c.asks_speech and bool(_REPORTS_SPEECH.search(c.quotes[i].text)))


# Computed from the sentences' vectors by their callers (the answerer embeds only the
# shortlist): named here for their order and groups.
SENTENCE_REGISTRY.column(
    "dense", "embedding", "Cosine of the sentence's and the question's embeddings."
)
SENTENCE_REGISTRY.column(
    "masked_dense",
    "embedding",
    "Cosine with the question's embedding, its names left out.",
    adopted=False,
)


#: The groups of features that need no embedding: the shortlist model reads only these.
LEXICAL_GROUPS = ("base", "predicate", "shape")
#: The shortlist model's columns: the adopted features known without embedding a sentence.
LEXICAL_FEATURES = SENTENCE_REGISTRY.names(groups=LEXICAL_GROUPS, adopted=True)
#: The full model's columns: those and the embedding features adopted.
FULL_FEATURES = SENTENCE_REGISTRY.names(adopted=True)


def sentence_features(context: SentenceContext, names: Sequence[str]) -> np.ndarray:
    """One row per candidate sentence of ``context``, one column per feature name."""
    return SENTENCE_REGISTRY.matrix(context, len(context.quotes), names)


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


def names_author(sentence: str, passage: NodeWithScore) -> bool:
    """Whether the sentence names the author of the article it comes from."""
    author = str(passage.node.metadata.get("author") or "")
    return any(
        len(word) > 3 and re.search(rf"\b{re.escape(word)}\b", sentence) for word in author.split()
    )


def names_and_numbers(text: str) -> set[str]:
    """Capitalised words past a sentence's start, and numbers, as comparable tokens ("2023."
    and "2023", "China's" and "China" are one)."""
    return {
        re.sub(r"['’]s$", "", token.strip(".,")).casefold()
        for token in _NAME_OR_NUMBER.findall(text)
    }


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
