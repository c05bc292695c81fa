"""Hybrid retrieval: dense (Chroma) and BM25 candidates, fused, filtered, diversified.

Dense retrieval finds paraphrases; BM25 finds names, places and numbers ("Malta",
"Li Shangfu", "$345 million") that a small embedding model blurs. The fusion and its weight
are settings chosen by measurement (see the eval suite), not defaults taken on trust.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from sinoqa.chunking import day_of, published_bounds
from sinoqa.corpus import PARTIAL_ISO_DATE
from sinoqa.index import ChromaIndex, DocRecord
from sinoqa.question import MONTHS, QuestionAnalysis, analyse, initialism, premise_terms
from sinoqa.settings import RetrievalSettings

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.vector_stores.types import MetadataFilters
    from llama_index.retrievers.bm25 import BM25Retriever

    from sinoqa.ranking import ArticleRanker

_TOKEN = re.compile(r"(?u)\b\w\w+\b|\$?\d[\d,.]*")
_LETTER_HYPHEN = re.compile(r"\b([A-Z])-(?=[A-Z]+\b)")


class InvalidFilter(ValueError):
    """A filter value the user must correct; the message says how."""


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some outlets and/or a publication date range (inclusive)."""

    publishers: tuple[str, ...] = ()
    date_from: str | None = None  # ISO date, partial allowed: "2023", "2023-06"
    date_to: str | None = None

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and not _valid_date(value):
                raise InvalidFilter(
                    f"{name.replace('_', ' ')} {value!r} is not a date; use YYYY, YYYY-MM or "
                    "YYYY-MM-DD"
                )
        bounds = self.bounds()
        if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
            raise InvalidFilter(f"date from {self.date_from} is after date to {self.date_to}")

    @property
    def active(self) -> bool:
        return bool(self.publishers or self.date_from or self.date_to)

    def bounds(self) -> tuple[int | None, int | None]:
        low = published_bounds(self.date_from) if self.date_from else None
        high = published_bounds(self.date_to) if self.date_to else None
        return (low[0] if low else None, high[1] if high else None)

    def to_llama(self) -> MetadataFilters | None:
        """The same restriction as llama-index metadata filters (Chroma turns them into where)."""
        from llama_index.core.vector_stores.types import (
            FilterCondition,
            FilterOperator,
            MetadataFilter,
            MetadataFilters,
        )

        if not self.active:
            return None
        parts: list[MetadataFilter] = []
        if self.publishers:
            parts.append(
                MetadataFilter(
                    key="publisher", value=list(self.publishers), operator=FilterOperator.IN
                )
            )
        low, high = self.bounds()
        # An article matches when its (possibly partial) date overlaps the range.
        if low is not None:
            parts.append(
                MetadataFilter(key="published_max", value=low, operator=FilterOperator.GTE)
            )
        if high is not None:
            parts.append(
                MetadataFilter(key="published_min", value=high, operator=FilterOperator.LTE)
            )
        return MetadataFilters(filters=list(parts), condition=FilterCondition.AND)

    def matches(self, metadata: dict[str, Any]) -> bool:
        if self.publishers and metadata.get("publisher") not in self.publishers:
            return False
        low, high = self.bounds()
        if low is not None and int(metadata.get("published_max") or 0) < low:
            return False
        return not (high is not None and int(metadata.get("published_min") or 10**9) > high)


#: Publication dates carry no time zone: an article dated the day after a question was asked
#: may already have been out.
DATE_GRACE = dt.timedelta(days=1)


def published_after(
    metadata: dict[str, Any], day: dt.date, grace: dt.timedelta = dt.timedelta(0)
) -> bool:
    """Whether an article was certainly published more than ``grace`` after ``day``: its
    earliest possible publication day (of a partial date like "2023-06", the first) is
    later. Undated articles are not."""
    earliest = day_of(int(metadata.get("published_min") or 0))
    return earliest is not None and earliest > day + grace


def _valid_date(value: str) -> bool:
    if not PARTIAL_ISO_DATE.match(value):
        return False
    parts = [int(p) for p in value.split("-")] + [1, 1]
    try:
        dt.date(parts[0], parts[1], parts[2])
    except ValueError:
        return False
    return True


def parse_day(value: str, today: Callable[[], dt.date] = dt.date.today) -> dt.date:
    """A day given as YYYY-MM-DD (or YYYY/MM/DD, as question sets write it), or "today"."""
    if value.strip().lower() == "today":
        return today()
    try:
        return dt.date.fromisoformat(value.strip().replace("/", "-"))
    except ValueError:
        raise InvalidFilter(f"as of {value!r} is not a day; use YYYY-MM-DD or today") from None


def _demonym_forms(term: str) -> tuple[str, ...]:
    """A stemmed word with its place / people pair: "america" <-> "american", "korea" <->
    "korean", "cuba" <-> "cuban" (stems; "americans" stems to "american"). Only these
    shapes: "li" must not pass for "lin", nor "ba" for "ban"."""
    if term.endswith("a") and len(term) >= 4:
        return (term, term + "n")
    if term.endswith("an") and len(term) >= 5:
        return (term, term[:-1])
    return (term,)


class Lexicon:
    """Tokenising, stemming and term statistics shared by BM25 and the answerer."""

    def __init__(self, texts: Iterable[str] = (), names: Iterable[str] = ()) -> None:
        """``texts`` are the chunks (more may be added with :meth:`count`); ``names`` more
        words the corpus knows (titles, outlets)."""
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        self._stemmer = Stemmer.Stemmer("english")
        self._stopwords = frozenset(STOPWORDS_EN)
        self._doc_freq: Counter[str] = Counter()
        self._chunks = 0
        for text in texts:
            self.count(text)
        self._names = {t for name in names for t in self.terms(name)}

    def count(self, text: str) -> set[str]:
        """Add one chunk to the term statistics; its distinct terms."""
        terms = set(self.terms(text))
        self._doc_freq.update(terms)
        self._chunks += 1
        return terms

    def known(self, word: str) -> bool:
        """Whether the corpus (its text, titles, outlets, authors and publication dates) uses
        this word; a place and its people's name are one ("America" and "American")."""
        squeezed = re.sub(r"[^a-z0-9]", "", word.lower())  # "E-IR" -> "eir"
        if squeezed in self._names:
            return True
        return all(
            any(form in self._doc_freq or form in self._names for form in _demonym_forms(t))
            for t in self.terms(word)
        )

    def terms(self, text: str) -> list[str]:
        text = _LETTER_HYPHEN.sub(r"\1", text)  # "E-IR" -> "EIR", as in the outlet's initialism
        words = [w.strip(".,").lower() for w in _TOKEN.findall(text)]
        return list(self._stemmer.stemWords([w for w in words if w and w not in self._stopwords]))

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency over chunks; unseen terms weigh the most."""
        return math.log(1 + (max(self._chunks, 1) + 1) / (self._doc_freq.get(term, 0) + 0.5))

    def share(self, term: str) -> float:
        """The share of chunks that use ``term``."""
        return self._doc_freq.get(term, 0) / max(self._chunks, 1)

    def coverage(self, query_terms: Sequence[str], text: str | Collection[str]) -> float:
        """IDF-weighted share of the query's terms that occur in ``text`` (a text, or the
        terms of one already computed)."""
        unique, weights, total = self.query_weights(query_terms)
        if not total:
            return 0.0
        present = set(self.terms(text)) if isinstance(text, str) else text
        return sum(w for t, w in zip(unique, weights, strict=True) if t in present) / total

    def query_weights(self, query_terms: Sequence[str]) -> tuple[list[str], list[float], float]:
        """The query's distinct terms, their IDF weights and the weights' sum, as every
        coverage sums them."""
        # In a fixed order: float sums differ in the last bit with set order, and that decides
        # ties between copies of a sentence (and so which article is cited) from run to run.
        unique = sorted(set(query_terms))
        weights = [self.idf(t) for t in unique]
        return unique, weights, sum(weights)


class ArticleTerms:
    """Each article's distinct stemmed terms, kept compactly (sorted term numbers) so that a
    corpus of 100k chunks costs megabytes, not a set of strings per article."""

    def __init__(self, numbers: dict[str, int], held: dict[str, np.ndarray]) -> None:
        self._numbers = numbers  # term -> its number
        self._held = held  # doc_id -> the sorted numbers of its terms

    @classmethod
    def from_chunks(cls, chunks: Iterable[tuple[str, Collection[str]]]) -> ArticleTerms:
        """From each chunk's (doc_id, distinct terms)."""
        numbers: dict[str, int] = {}
        parts: dict[str, list[np.ndarray]] = {}
        for doc_id, terms in chunks:
            chunk = (numbers.setdefault(t, len(numbers)) for t in terms)
            parts.setdefault(doc_id, []).append(np.fromiter(chunk, np.int32, len(terms)))
        return cls(numbers, {d: np.unique(np.concatenate(p)) for d, p in parts.items()})

    def coverage(self, lexicon: Lexicon, query_terms: Sequence[str]) -> Callable[[str], float]:
        """:meth:`Lexicon.coverage` of the query's terms over a whole article (by id); 0 for an
        article not served."""
        unique, weights, total = lexicon.query_weights(query_terms)
        numbers = np.array([self._numbers.get(t, -1) for t in unique], dtype=np.int64)

        def share(doc_id: str) -> float:
            held = self._held.get(doc_id)
            if not total or held is None or not len(held):
                return 0.0
            places = np.minimum(np.searchsorted(held, numbers), len(held) - 1)
            found = (held[places] == numbers).tolist()
            return sum(w for w, present in zip(weights, found, strict=True) if present) / total

        return share


@dataclass
class CorpusView:
    """The served chunks of one index version, with what retrieval builds from them."""

    version: str
    records: dict[str, DocRecord]
    nodes: list[TextNode]
    publishers: list[str] = field(default_factory=list)
    _masks: dict[Filters, list[int]] = field(default_factory=dict, repr=False)
    _analyses: dict[str, QuestionAnalysis] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, index: ChromaIndex) -> CorpusView:
        version = index.version()
        records = index.records()
        nodes = index.live_nodes(records.values())
        publishers = sorted({r.publisher for r in records.values() if r.publisher})
        return cls(version=version, records=records, nodes=nodes, publishers=publishers)

    @cached_property
    def newest_day(self) -> dt.date | None:
        """The latest day any served article can have been published; None if none is dated."""
        bounds = (published_bounds(r.published) for r in self.records.values())
        return max((day for b in bounds if b and (day := day_of(b[1]))), default=None)

    @cached_property
    def live_ids(self) -> frozenset[str]:
        return frozenset(node.node_id for node in self.nodes)

    @property
    def lexicon(self) -> Lexicon:
        return self._vocabulary[0]

    @property
    def articles(self) -> ArticleTerms:
        """Which stemmed terms each served article holds, in any of its chunks."""
        return self._vocabulary[1]

    @cached_property
    def _vocabulary(self) -> tuple[Lexicon, ArticleTerms]:
        # One pass of stemming serves both: chunk statistics and each article's terms.
        names: list[str] = []
        for record in self.records.values():
            for value in (record.title, record.publisher, record.author):
                if value:
                    names.append(value)
                    names.append(initialism(value))  # "South China Morning Post" -> SCMP
            # "the October 2023 piece" names the article by its date, as its outlet names it.
            names.extend(publication_words(record.published))
        lexicon = Lexicon(names=names)
        owner = {chunk: doc_id for doc_id, r in self.records.items() for chunk in r.chunk_ids}

        def chunk_terms() -> Iterator[tuple[str, set[str]]]:
            for node in self.nodes:
                terms = lexicon.count(node.get_content())
                doc_id = owner.get(node.node_id)
                if doc_id is not None:
                    yield doc_id, terms

        return lexicon, ArticleTerms.from_chunks(chunk_terms())

    @cached_property
    def bm25(self) -> BM25Retriever | None:
        from llama_index.retrievers.bm25 import BM25Retriever

        if not self.nodes:
            return None
        # The k here is replaced per query; one no larger than the corpus keeps bm25s from
        # warning on a small index.
        top_k = min(10, len(self.nodes))
        return BM25Retriever.from_defaults(nodes=list(self.nodes), similarity_top_k=top_k)

    def bm25_mask(self, filters: Filters) -> list[int]:
        """Which BM25 entries ``filters`` lets through; kept per filter for this version (an
        outlet named in a question asks for the same mask again and again)."""
        mask = self._masks.get(filters)
        if mask is None:
            if len(self._masks) >= 64:  # user filters vary; a server must not grow forever
                self._masks.clear()
            corpus = self.bm25.corpus if self.bm25 is not None else []
            mask = self._masks[filters] = [int(filters.matches(entry)) for entry in corpus]
        return mask

    @cached_property
    def _sources(self) -> tuple[tuple[str, str | None], ...]:
        """Each distinct (outlet, author) pair once: checked against every question."""
        pairs = {(r.publisher, r.author) for r in self.records.values() if r.publisher}
        return tuple(sorted(pairs, key=lambda pair: (pair[0], pair[1] or "")))

    def analyse(self, question: str) -> QuestionAnalysis:
        """The question read once for this corpus (the outlets it names are indexed ones)."""
        found = self._analyses.get(question)
        if found is None:
            if len(self._analyses) >= 1024:  # a server must not grow forever
                self._analyses.clear()
            found = self._analyses[question] = analyse(question, self._sources)
        return found

    def unsupported_terms(self, question: str) -> list[str]:
        """The names, numbers and years of ``question`` that no indexed article contains (in
        its text, title, outlet, author or, for a year, its date): a premise the corpus
        cannot confirm."""
        return [term for term in premise_terms(question) if not self.lexicon.known(term)]

    def resolve_publishers(self, names: Iterable[str]) -> tuple[str, ...]:
        """Match outlet names case-insensitively against the indexed ones."""
        known = {p.casefold(): p for p in self.publishers}
        resolved = []
        for name in names:
            match = known.get(name.strip().casefold())
            if match is None:
                raise InvalidFilter(
                    f"no indexed article is from {name!r}; indexed outlets: "
                    + (", ".join(self.publishers) or "none")
                )
            resolved.append(match)
        return tuple(resolved)


def publication_words(published: str | None) -> list[str]:
    """The year and month name of a partial ISO date (as corpus.py stores them):
    "2023-10-16" -> 2023, October; "2021" -> 2021."""
    if not published:
        return []
    year, *month_and_day = published.split("-")
    return [year, *(MONTHS[int(month) - 1] for month in month_and_day[:1])]


def publication_years(metadata: dict[str, Any]) -> frozenset[int]:
    """The years an article's (possibly partial) publication date may fall in; none if undated."""
    low = int(metadata.get("published_min") or 0) // 10_000
    high = int(metadata.get("published_max") or 0) // 10_000
    return frozenset(range(low, high + 1)) if low else frozenset()


def published_in(metadata: dict[str, Any], years: Collection[int]) -> bool:
    """Whether an article's publication date falls in one of ``years``."""
    return not publication_years(metadata).isdisjoint(years)


def fuse(
    ranked_lists: Sequence[Sequence[NodeWithScore]],
    weights: Sequence[float],
    mode: str,
    rrf_k: int = 60,
) -> list[NodeWithScore]:
    """Fuse ranked lists into one, by weighted reciprocal rank or weighted normalised score."""
    fused: dict[str, float] = {}
    nodes: dict[str, NodeWithScore] = {}
    for ranked, weight in zip(ranked_lists, weights, strict=True):
        if not ranked or weight <= 0:
            continue
        scores = [item.score or 0.0 for item in ranked]
        low, high = min(scores), max(scores)
        for rank, item in enumerate(ranked):
            if mode == "rrf":
                contribution = weight / (rrf_k + rank + 1)
            else:
                normalised = (scores[rank] - low) / (high - low) if high > low else 1.0
                contribution = weight * normalised
            fused[item.node.node_id] = fused.get(item.node.node_id, 0.0) + contribution
            nodes.setdefault(item.node.node_id, item)
    order = sorted(fused, key=lambda node_id: fused[node_id], reverse=True)
    return [NodeWithScore(node=nodes[node_id].node, score=fused[node_id]) for node_id in order]


def support_by_article(ranked: Sequence[NodeWithScore], weight: float) -> list[NodeWithScore]:
    """Each passage's score plus ``weight`` times its article's best other passage score,
    re-ranked: an article that matches the question in several places is likelier about it
    than one with a single lucky chunk."""
    if weight <= 0 or not ranked:
        return list(ranked)
    best: dict[str, list[float]] = {}
    for item in ranked:
        scores = best.setdefault(str(item.node.metadata.get("doc_id")), [])
        if len(scores) < 2:
            scores.append(item.score or 0.0)
    adjusted = []
    for item in ranked:
        scores = best[str(item.node.metadata.get("doc_id"))]
        own = item.score or 0.0
        other = scores[1] if len(scores) > 1 and own >= scores[0] else scores[0]
        support = other if len(scores) > 1 else 0.0
        adjusted.append(NodeWithScore(node=item.node, score=own + weight * support))
    return sorted(adjusted, key=lambda item: -(item.score or 0.0))


def cap_per_document(ranked: Sequence[NodeWithScore], cap: int, top_k: int) -> list[NodeWithScore]:
    """Keep the ranking but at most ``cap`` passages per article, so one cannot crowd out all."""
    taken: Counter[str] = Counter()
    kept: list[NodeWithScore] = []
    if top_k <= 0:
        return kept
    for item in ranked:
        doc_id = str(item.node.metadata.get("doc_id"))
        if taken[doc_id] < cap:
            taken[doc_id] += 1
            kept.append(item)
        if len(kept) == top_k:
            break
    return kept


class HybridRetriever(BaseRetriever):
    """Dense + BM25 candidates over the served chunks, fused, filtered and diversified."""

    def __init__(
        self,
        index: ChromaIndex,
        view: CorpusView,
        embed_model: BaseEmbedding,
        settings: RetrievalSettings,
        filters: Filters | None = None,
        reranker: Callable[[list[NodeWithScore], QueryBundle], list[NodeWithScore]] | None = None,
        ranker: ArticleRanker | None = None,
        as_of: dt.date | None = None,
    ) -> None:
        """``ranker`` orders the articles (:mod:`sinoqa.ranking`), by their age too when the
        day the question is asked (``as_of``) is known; ``reranker`` then reorders passages."""
        super().__init__()
        self._index = index
        self._view = view
        self._embed_model = embed_model
        self._settings = settings
        self._filters = filters or Filters()
        self._reranker = reranker
        self._ranker = ranker
        self._as_of = as_of

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if not self._view.nodes:
            return []
        ranked = self._ranked(query_bundle, self._filters)
        question = self._view.analyse(query_bundle.query_str)
        # The user chose the outlets already, or the question names some.
        named = () if self._filters.publishers else question.outlets
        if named:
            return self._named_first(query_bundle, ranked, named)
        kept = cap_per_document(ranked, self._settings.max_chunks_per_doc, self._settings.top_k)
        if self._filters.publishers or not question.article_years:
            return kept
        # "The 2023 reports": articles published then come first.
        return sorted(
            kept, key=lambda item: not published_in(item.node.metadata, question.article_years)
        )

    def _named_first(
        self, query_bundle: QueryBundle, ranked: list[NodeWithScore], named: tuple[str, ...]
    ) -> list[NodeWithScore]:
        """A question that names outlets ("according to the FT") is about their articles: their
        passages come first and may fill a larger share (the detail asked for need not be in
        an article's two best chunks). They are fetched on their own, as the outlet's name
        may occur only in the metadata."""
        cap, top_k = self._settings.max_chunks_per_doc, self._settings.top_k
        share = max(cap, top_k // (len(named) + 1))
        wanted = min(top_k, share * len(named))
        # Ranked among themselves: fusion normalises scores over the outlets' passages only.
        own = self._ranked(query_bundle, dataclasses.replace(self._filters, publishers=named))
        per_outlet: Counter[str] = Counter()
        first: list[NodeWithScore] = []
        for item in cap_per_document(own, share, len(own)):
            outlet = str(item.node.metadata.get("publisher"))
            if per_outlet[outlet] < share and len(first) < wanted:  # each named outlet its share
                per_outlet[outlet] += 1
                first.append(item)
        others = [item for item in ranked if item.node.metadata.get("publisher") not in named]
        return first + cap_per_document(others, cap, top_k - len(first))

    def candidates(
        self, query_bundle: QueryBundle, filters: Filters | None = None
    ) -> tuple[list[NodeWithScore], list[NodeWithScore], list[NodeWithScore]]:
        """The fused candidate passages, and the dense and BM25 lists they came from."""
        filters = filters or self._filters
        mode = self._settings.mode
        dense = self._dense(query_bundle, filters) if mode in ("hybrid", "dense") else []
        bm25 = self._bm25(query_bundle, filters) if mode in ("hybrid", "bm25") else []
        if mode == "hybrid":
            weights = [self._settings.dense_weight, 1 - self._settings.dense_weight]
            fused = fuse([dense, bm25], weights, self._settings.fusion, self._settings.rrf_k)
        else:
            fused = dense or bm25
        return support_by_article(fused, self._settings.article_support), dense, bm25

    def coverage(self, question: str) -> Callable[[str], float]:
        """How much of ``question``'s vocabulary an article (by id) holds, in any of its
        chunks."""
        terms = self._view.lexicon.terms(self._view.analyse(question).content)
        return self._view.articles.coverage(self._view.lexicon, terms)

    def _ranked(self, query_bundle: QueryBundle, filters: Filters) -> list[NodeWithScore]:
        ranked, dense, bm25 = self.candidates(query_bundle, filters)
        # See sinoqa.ranking: with a day asked, ages count too.
        if self._ranker is not None and (self._as_of is not None or self._settings.rank_undated):
            coverage = self.coverage(query_bundle.query_str)
            ranked = self._ranker.rank(ranked, dense, bm25, coverage, self._as_of)
        if self._as_of is not None:
            # Asked on that day, the answer cannot come from an article published later.
            # After ranking: the ranker's features compare each article with all candidates.
            ranked = [
                item
                for item in ranked
                if not published_after(item.node.metadata, self._as_of, DATE_GRACE)
            ]
        if self._reranker is not None:
            ranked = self._reranker(ranked[: self._settings.candidates], query_bundle)
        return ranked

    def _dense(self, query_bundle: QueryBundle, filters: Filters) -> list[NodeWithScore]:
        from llama_index.core.vector_stores.types import VectorStoreQuery

        if query_bundle.embedding is None:
            query_bundle.embedding = self._embed_model.get_query_embedding(query_bundle.query_str)
        result = self._index.vector_store.query(
            VectorStoreQuery(
                query_embedding=query_bundle.embedding,
                similarity_top_k=self._settings.candidates,
                filters=filters.to_llama(),
            )
        )
        # Chunks of an ingest still in progress exist in Chroma but are not served yet.
        return [
            NodeWithScore(node=node, score=score)
            for node, score in zip(result.nodes or [], result.similarities or [], strict=True)
            if node.node_id in self._view.live_ids
        ]

    def _bm25(self, query_bundle: QueryBundle, filters: Filters) -> list[NodeWithScore]:
        base = self._view.bm25
        if base is None:
            return []
        retriever = copy.copy(base)
        retriever.similarity_top_k = min(self._settings.candidates, len(self._view.nodes))
        if filters.active:
            mask = self._view.bm25_mask(filters)
            if not any(mask):
                return []
            retriever.corpus_weight_mask = mask
            retriever.similarity_top_k = min(retriever.similarity_top_k, sum(mask))
        results = retriever.retrieve(QueryBundle(query_str=query_bundle.query_str))
        return [item for item in results if (item.score or 0) > 0]
