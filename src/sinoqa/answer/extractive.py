"""The default answerer, extractive: it quotes the few sentences of the retrieved passages
that best answer the question, verbatim, each followed by its [n] citation, and refuses when
the evidence is too weak. Generative backends (:mod:`sinoqa.answer.generate`) plug into the
same engine (:mod:`sinoqa.answer.engine`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from llama_index.core.schema import NodeWithScore

from sinoqa.answer.base import NEAREST_SOURCES, Answerer, AnswerRequest
from sinoqa.answer.features import LEXICAL_FEATURES, SentenceContext, sentence_features
from sinoqa.answer.scoring import (
    DEFAULT_SCORER,
    SentenceScorer,
    load_scorer,
    shortlist_indices,
    source_groups,
    year_groups,
)
from sinoqa.answer.selection import CandidateSentence, Evidence, Selector, context_sentences
from sinoqa.ingestion.sentences import chunk_sentence_spans
from sinoqa.retrieve.lexicon import Lexicon
from sinoqa.retrieve.question import (
    QuestionAnalysis,
    content_words,
    initialism,
    unknown_candidates,
)
from sinoqa.schema import Answer
from sinoqa.settings import AnswerSettings

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

MIN_SENTENCE_CHARS = 25  # shorter "sentences" are captions, datelines and list debris


def candidate_quotes(passages: Sequence[NodeWithScore]) -> list[CandidateSentence]:
    """Every sentence of the passages, once (overlapping chunks share sentences)."""
    seen: set[tuple[str, int]] = set()
    quotes: list[CandidateSentence] = []
    for index, item in enumerate(passages):
        text = item.node.get_content()
        offset = int(item.node.metadata["start_char"])
        doc_id = str(item.node.metadata["doc_id"])
        for start, end in chunk_sentence_spans(text, item.node.metadata):
            sentence = text[start:end]
            key = (doc_id, offset + start)
            if len(sentence) < MIN_SENTENCE_CHARS or key in seen:
                continue
            seen.add(key)
            quotes.append(CandidateSentence(index, offset + start, offset + end, sentence, doc_id))
    return quotes


class SentenceEmbeddings:
    """Sentence vectors, cached: the same passages come back across questions."""

    def __init__(self, embed_model: BaseEmbedding, capacity: int = 20_000) -> None:
        self._model = embed_model
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self._model.get_text_embedding_batch(list(missing))
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = np.asarray(vector, dtype=np.float32)
                while len(self._cache) > self._capacity:
                    self._cache.popitem(last=False)
        with self._lock:
            return np.stack([self._cache[t] for t in texts])


class ExtractiveAnswerer(Answerer):
    """Quotes the sentences that best answer the question; no generative model involved.

    :meth:`evidence` scores every candidate sentence with the fitted scorer and sums the
    evidence score; its :class:`~sinoqa.answer.selection.Selector` picks the sentences to quote, and
    :func:`~sinoqa.answer.selection.context_sentences` adds what they need to be understood.
    """

    def __init__(
        self,
        settings: AnswerSettings,
        embed_model: BaseEmbedding,
        lexicon: Lexicon,
        scorer: SentenceScorer | None = None,
    ) -> None:
        super().__init__(settings)
        self.embed = SentenceEmbeddings(embed_model)
        self.lexicon = lexicon
        self.scorer = scorer or load_scorer(settings.scorer_path or DEFAULT_SCORER)
        self.selector = Selector(settings, self.scorer.selection.overridden(settings))

    def features(
        self,
        request: AnswerRequest,
        quotes: Sequence[CandidateSentence],
        words: Sequence[frozenset[str]],
    ) -> tuple[np.ndarray, tuple[frozenset[str], ...]]:
        """The shortlist features of each quote, and the article groups the question names."""
        question, passages = request.analysed, request.passages
        groups = tuple(source_groups(question, passages))
        retrieval_query = (
            request.retrieval_query if request.retrieval_query != request.question else ""
        )
        context = SentenceContext(
            question,
            quotes,
            words,
            passages,
            self.lexicon,
            named=frozenset().union(*groups),
            focus=request.focus,
            retrieval_query=retrieval_query,
            follow_up_weight=self.settings.follow_up_weight,
        )
        return sentence_features(context, LEXICAL_FEATURES), groups

    def evidence(self, request: AnswerRequest) -> Evidence:
        """Candidate sentences, their scores and vectors, and the overall evidence score."""
        question, passages = request.analysed, request.passages
        quotes = candidate_quotes(passages)
        if not quotes:
            return Evidence([], np.zeros(0), np.zeros((0, 0)), np.zeros(0, dtype=bool), [], 0.0)
        words = [frozenset(self.lexicon.terms(q.text)) for q in quotes]  # stemmed once
        lexical, groups = self.features(request, quotes, words)
        # Embedding sentences is the answer stage's main cost: only the sentences the
        # shortlist model ranks first are embedded, with their neighbours.
        shortlist = shortlist_indices(
            quotes, self.scorer.shortlist.probability(lexical), self.settings.shortlist
        )
        quotes = [quotes[i] for i in shortlist]
        words = [words[i] for i in shortlist]
        lexical = lexical[shortlist]
        vectors = self.embed([q.text for q in quotes])
        dense = vectors @ np.asarray(request.query_embedding, dtype=np.float32)
        scores = self.scorer.full.probability(np.column_stack([lexical, dense]))
        typed = lexical[:, LEXICAL_FEATURES.index("kind_match")] > 0
        parts = self.confidence_parts(request, dense, typed[int(np.argmax(scores))])
        # The question's names and years that tell events apart (a city, a month);
        # those nearly every passage uses ("US", "China") do not.
        particulars = distinctive_terms(question, self.lexicon, self.settings.common_name_share)
        return Evidence(
            quotes,
            scores,
            vectors,
            typed,
            words,
            round(sum(parts.values()), 4),
            groups,
            particulars,
            parts,
        )

    def confidence_parts(
        self,
        request: AnswerRequest,
        dense: np.ndarray,
        best_is_typed: bool,
    ) -> dict[str, float]:
        """The evidence score's parts, which sum to it: how close the best sentence comes, how
        much of the question's rare vocabulary the top passages hold at all, and costs for a
        missing kind of value and names the corpus never uses."""
        settings, question, passages = self.settings, request.analysed, request.passages
        terms = self.lexicon.terms(question.content)
        if request.retrieval_query and request.retrieval_query != request.question:
            terms = self.lexicon.terms(content_words(request.retrieval_query))
        # The question may name the source ("the SCMP column"): outlet, author and title count.
        top_text = " ".join(
            f"{p.node.get_content()} {_source_words(p)}" for p in passages[:NEAREST_SOURCES]
        )
        coverage = self.lexicon.coverage(terms, top_text) if terms else 0.0
        unknown = [w for w in unknown_candidates(question.text) if not self.lexicon.known(w)]
        return {
            "similarity": round(settings.similarity_weight * float(dense.max()), 4),
            "coverage": round((1 - settings.similarity_weight) * coverage, 4),
            "kind_missing": -settings.kind_missing_penalty
            if question.kind and not best_is_typed
            else 0.0,
            "unknown_names": -settings.unknown_name_penalty * min(len(unknown), 2),
        }

    def _compose(self, request: AnswerRequest) -> Answer:
        question, passages = request.analysed, request.passages
        found = self.evidence(request)
        if not found.quotes or found.confidence < self.settings.refusal_threshold:
            return self.refusal(request.question, passages, found.confidence, parts=found.parts)
        groups = list(found.groups)
        if len(groups) < 2 and question.spans_articles:  # "from 2021 to 2023": each year's
            groups = year_groups(question.years, passages)
        chosen = self.selector.quote(
            found,
            question.spans_articles or len(found.groups) > 1,
            groups if len(groups) > 1 else (),
        )
        ordered, lead = order_for_reading(question, chosen, passages)
        return self.cited_answer(
            request.question,
            passages,
            [(q.text, [q], True) for q in ordered],
            found.confidence,
            parts=found.parts,
            paragraph_starts=(lead,),
        )


def distinctive_terms(
    question: QuestionAnalysis, lexicon: Lexicon, common_share: float
) -> frozenset[str]:
    """The stemmed terms of the question's names and years that fewer than ``common_share``
    of the passages use: they tell one event from another."""
    return frozenset(
        t for t in lexicon.terms(" ".join(question.names)) if lexicon.share(t) < common_share
    )


def _source_words(passage: NodeWithScore) -> str:
    meta = passage.node.metadata
    names = [str(meta[k]) for k in ("title", "publisher", "author") if meta.get(k)]
    return " ".join(names + [initialism(n) for n in names])


def order_for_reading(
    question: QuestionAnalysis,
    quotes: Sequence[CandidateSentence],
    passages: Sequence[NodeWithScore],
) -> tuple[list[CandidateSentence], int]:
    """The quotes in reading order, and how many lead (the rest are context). Chronologically
    for "how did X change" questions (all lead). Otherwise the answer opens with the best
    sentence (``quotes[0]``) and what it needs to stand on its own, then the rest article by
    article, in the order their best sentences were chosen, each article's in its order."""

    def date(quote: CandidateSentence) -> int:
        return int(passages[quote.passage_index].node.metadata.get("published_min") or 0)

    def doc(quote: CandidateSentence) -> str:
        return str(passages[quote.passage_index].node.metadata["doc_id"])

    if question.temporal or not quotes:
        return sorted(quotes, key=lambda q: (date(q), doc(q), q.start)), len(quotes)
    leading = sorted([quotes[0], *context_sentences(quotes, quotes[:1])], key=lambda q: q.start)
    first_seen: dict[str, int] = {}
    for position, quote in enumerate(quotes):
        first_seen.setdefault(doc(quote), position)
    rest = sorted(
        (q for q in quotes if q not in leading), key=lambda q: (first_seen[doc(q)], q.start)
    )
    return leading + rest, len(leading)
