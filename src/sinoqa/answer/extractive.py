"""Grounded answers with [n] citations, and the llama-index query engine that produces them.

The default answerer is extractive: it quotes the few sentences of the retrieved passages that
best answer the question, verbatim, each followed by its citation, and refuses when the
evidence is too weak. Generative backends (``sinoqa.generate``) plug into the same engine.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.base.response.schema import Response
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from pydantic import Field

from sinoqa.answer.scoring import (
    DEFAULT_SCORER,
    LEXICAL_FEATURES,
    SentenceScorer,
    lexical_features,
    load_scorer,
    shortlist_indices,
    source_groups,
    year_groups,
)
from sinoqa.answer.selection import Evidence, Quote, Selector, context_sentences
from sinoqa.ingestion.sentences import chunk_sentence_spans
from sinoqa.retrieve.lexicon import Lexicon
from sinoqa.retrieve.question import (
    QuestionAnalysis,
    analyse,
    content_words,
    initialism,
    unknown_candidates,
)
from sinoqa.schema import Answer, AnswerSentence, Citation, Source
from sinoqa.settings import AnswerSettings

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

REFUSAL = "The indexed articles don't answer this."
TokenCallback = Callable[[str], None]
MIN_SENTENCE_CHARS = 25  # shorter "sentences" are captions, datelines and list debris
NEAREST_SOURCES = 3  # passages shown with a refusal, and read for the evidence score
NOT_A_QUESTION_NOTICE = (
    "sinoqa answers questions from the indexed articles; it does not follow instructions, "
    "role-play, write creative text or give opinions."
)


def to_source(item: NodeWithScore) -> Source:
    meta = item.node.metadata
    return Source(
        doc_id=str(meta["doc_id"]),
        title=str(meta.get("title") or meta["doc_id"]),
        publisher=meta.get("publisher") or None,
        author=meta.get("author") or None,
        published=meta.get("published") or None,
        published_approx=bool(meta.get("published_approx", False)),
        url=meta.get("url") or None,
        chunk_id=item.node.node_id,
        passage=item.node.get_content(),
        start_char=int(meta["start_char"]),
        end_char=int(meta["end_char"]),
        score=float(item.score or 0.0),
    )


def candidate_quotes(passages: Sequence[NodeWithScore]) -> list[Quote]:
    """Every sentence of the passages, once (overlapping chunks share sentences)."""
    seen: set[tuple[str, int]] = set()
    quotes: list[Quote] = []
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
            quotes.append(Quote(index, offset + start, offset + end, sentence, doc_id))
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


@dataclass(frozen=True)
class AnswerRequest:
    """What an answerer works from.

    ``query_embedding`` embeds ``question``; ``retrieval_query`` is the query retrieval ran
    when it differs (a follow-up carrying the previous question's terms) and ``focus`` the
    articles the previous answer cited, which a follow-up most likely asks about. ``on_token``
    receives generated text as it streams (generative answerers only). ``analysis`` is the
    question as the pipeline read it; without one the answerer reads it from the passages.
    """

    question: str
    passages: Sequence[NodeWithScore]
    query_embedding: list[float]
    retrieval_query: str = ""
    focus: Collection[str] = ()
    on_token: TokenCallback | None = None
    analysis: QuestionAnalysis | None = None

    @cached_property
    def analysed(self) -> QuestionAnalysis:
        """The question's analysis: the pipeline's, or read here from the passages' sources."""
        if self.analysis is not None:
            return self.analysis
        sources = {
            (str(p.node.metadata["publisher"]), p.node.metadata.get("author") or None)
            for p in self.passages
            if p.node.metadata.get("publisher")
        }
        return analyse(self.question, sorted(sources, key=lambda s: (s[0], s[1] or "")))


class Answerer(ABC):
    """Turns retrieved passages into an :class:`Answer`. Subclasses fill :meth:`_compose`."""

    backend = "extractive"

    def __init__(self, settings: AnswerSettings) -> None:
        self.settings = settings

    def answer(self, request: AnswerRequest) -> Answer:
        """Plumbing shared by every answerer: no evidence, or no question, means a refusal."""
        if not request.passages:
            return self.refusal(request.question, request.passages, 0.0)
        if request.analysed.not_a_question:
            return self.refusal(request.question, request.passages, 0.0, [NOT_A_QUESTION_NOTICE])
        return self._compose(request)

    @abstractmethod
    def _compose(self, request: AnswerRequest) -> Answer: ...

    def refusal(
        self,
        question: str,
        passages: Sequence[NodeWithScore],
        confidence: float,
        notices: Sequence[str] = (),
        parts: Mapping[str, float] | None = None,
    ) -> Answer:
        return Answer(
            question=question,
            answer=REFUSAL,
            refused=True,
            backend=self.backend,
            nearest_sources=[to_source(p) for p in passages[:NEAREST_SOURCES]],
            confidence=confidence,
            confidence_parts=dict(parts or {}),
            notices=list(notices),
        )

    def cited_answer(
        self,
        question: str,
        passages: Sequence[NodeWithScore],
        sentences: Sequence[tuple[str, Sequence[Quote], bool]],
        confidence: float,
        notices: Sequence[str] = (),
        parts: Mapping[str, float] | None = None,
        paragraph_starts: Collection[int] = (),
    ) -> Answer:
        """Number the passages in order of first citation and build the answer text; the
        sentences at ``paragraph_starts`` begin a new paragraph."""
        numbers: dict[int, int] = {}
        quotes: dict[int, list[Quote]] = {}
        rendered: list[AnswerSentence] = []
        for position, (text, cited, verified) in enumerate(sentences):
            refs = []
            for quote in cited:
                n = numbers.setdefault(quote.passage_index, len(numbers) + 1)
                if quote not in quotes.setdefault(quote.passage_index, []):
                    quotes[quote.passage_index].append(quote)
                if n not in refs:
                    refs.append(n)
            rendered.append(
                AnswerSentence(
                    text=text,
                    citations=refs,
                    verified=verified,
                    new_paragraph=position in paragraph_starts and position > 0,
                )
            )
        citations = []
        for passage, n in sorted(numbers.items(), key=lambda item: item[1]):
            source = to_source(passages[passage])
            used = sorted(quotes.get(passage, []), key=lambda q: q.start)
            citations.append(
                Citation(
                    **source.model_dump(),
                    n=n,
                    quote=" ".join(q.text for q in used),
                    spans=[(q.start, q.end) for q in used],
                )
            )
        text = "".join(
            ("\n\n" if s.new_paragraph else " " if i else "")
            + s.text
            + "".join(f" [{n}]" for n in s.citations)
            + ("" if s.verified else " (unverified)")
            for i, s in enumerate(rendered)
        )
        return Answer(
            question=question,
            answer=text,
            refused=False,
            backend=self.backend,
            citations=citations,
            sentences=rendered,
            confidence=confidence,
            confidence_parts=dict(parts or {}),
            notices=list(notices),
        )


class ExtractiveAnswerer(Answerer):
    """Quotes the sentences that best answer the question; no generative model involved.

    :meth:`evidence` scores every candidate sentence with the fitted scorer and sums the
    evidence score; its :class:`~sinoqa.selection.Selector` picks the sentences to quote, and
    :func:`~sinoqa.selection.context_sentences` adds what they need to be understood.
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
        self, request: AnswerRequest, quotes: Sequence[Quote], words: Sequence[frozenset[str]]
    ) -> tuple[np.ndarray, tuple[frozenset[str], ...]]:
        """The shortlist features of each quote, and the article groups the question names."""
        question, passages = request.analysed, request.passages
        groups = tuple(source_groups(question, passages))
        retrieval_query = (
            request.retrieval_query if request.retrieval_query != request.question else ""
        )
        matrix = lexical_features(
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
        return matrix, groups

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
        # The question's names and years that tell events apart ("Vienna", "September");
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
    question: QuestionAnalysis, quotes: Sequence[Quote], passages: Sequence[NodeWithScore]
) -> tuple[list[Quote], int]:
    """The quotes in reading order, and how many lead (the rest are context). Chronologically
    for "how did X change" questions (all lead). Otherwise the answer opens with the best
    sentence (``quotes[0]``) and what it needs to stand on its own, then the rest article by
    article, in the order their best sentences were chosen, each article's in its order."""

    def date(quote: Quote) -> int:
        return int(passages[quote.passage_index].node.metadata.get("published_min") or 0)

    def doc(quote: Quote) -> str:
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


class GroundedQueryEngine(CustomQueryEngine):
    """Retriever + answerer as a llama-index query engine (callbacks and evaluators apply)."""

    retriever: BaseRetriever
    answerer: Any  # an Answerer; pydantic cannot validate our ABC
    embed_model: Any  # embeds the question when retrieval did not
    question: str = ""  # the user's own words when the query carries earlier turns
    focus: list[str] = Field(default_factory=list)  # articles the previous answer cited
    on_token: Any = None  # receives generated text as it streams (LLM mode)
    analysis: Any = None  # the question as the pipeline read it (a QuestionAnalysis)

    def custom_query(self, query_str: str) -> Response:
        started = time.perf_counter()
        bundle = QueryBundle(query_str=query_str)
        passages = self.retriever.retrieve(bundle)
        retrieved = time.perf_counter()
        question = self.question or query_str
        embedding = bundle.embedding if question == query_str else None
        if embedding is None:  # a follow-up, or BM25-only retrieval that embedded nothing
            embedding = self.embed_model.get_query_embedding(question)
        answer: Answer = self.answerer.answer(
            AnswerRequest(
                question,
                passages,
                embedding,
                retrieval_query=query_str if question != query_str else "",
                focus=self.focus,
                on_token=self.on_token,
                analysis=self.analysis,
            )
        )
        finished = time.perf_counter()
        answer = answer.model_copy(
            update={
                "retrieval_query": query_str,
                "timings_ms": {
                    "retrieve": round((retrieved - started) * 1000, 1),
                    "answer": round((finished - retrieved) * 1000, 1),
                },
            }
        )
        return Response(response=answer.answer, source_nodes=passages, metadata={"answer": answer})
