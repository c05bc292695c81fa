"""Hybrid retrieval: dense (Chroma) and BM25 candidates, fused, filtered, diversified.

Dense retrieval finds paraphrases; BM25 finds names, places and numbers ("Malta",
"Li Shangfu", "$345 million") that a small embedding model blurs. The fusion and its weight
are settings chosen by measurement (see the eval suite), not defaults taken on trust.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle

from sinoqa.dates import (
    DATE_GRACE,
    published_after,
    published_in,
)
from sinoqa.ingestion.copies import shingles
from sinoqa.ingestion.index import ChromaIndex
from sinoqa.retrieve.filters import matches, metadata_filters
from sinoqa.retrieve.ranking import ArticleContext
from sinoqa.retrieve.served_corpus import ServedCorpus
from sinoqa.schema import Filters
from sinoqa.settings import RetrievalSettings

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding


class Ranker(Protocol):
    """Orders fused candidate passages by article (:class:`sinoqa.retrieve.ranking.ArticleRanker`
    is the fitted one); the composition root chooses it."""

    def rank(self, candidates: ArticleContext) -> list[NodeWithScore]: ...


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


def one_copy_each(
    ranked: Sequence[NodeWithScore], view: ServedCorpus, allowed: Callable[[str], bool]
) -> list[NodeWithScore]:
    """The ranking with one article per copy group, so that a text several outlets carried
    is one source: the group's earliest copy that ``allowed`` lets through stands for it when
    it holds the best-ranked copy's passage (the citation goes where the text appeared
    first), else the best-ranked copy; other copies' passages become that article's same
    passage, or go."""
    kept: list[NodeWithScore] = []
    taken: set[str] = set()
    standing: dict[tuple[str, ...], str] = {}  # group -> the article that stands for it
    for item in ranked:
        doc_id = str(item.node.metadata.get("doc_id"))
        group = view.copies.get(doc_id)
        node: BaseNode | None = item.node
        if group is not None:
            if group not in standing:
                earliest = next((d for d in group if allowed(d)), doc_id)
                found = _same_passage(view, earliest, item.node) if earliest != doc_id else node
                standing[group] = earliest if found is not None else doc_id
            if standing[group] != doc_id:
                node = _same_passage(view, standing[group], item.node)
        if node is not None and node.node_id not in taken:
            taken.add(node.node_id)
            if group is not None:
                node = _with_copies(node, group, view)
            kept.append(NodeWithScore(node=node, score=item.score))
    return kept


#: Chunk metadata one_copy_each adds: the other copies (JSON) and the earliest one.
COPIES_KEY, EARLIEST_KEY = "copies", "earliest_doc_id"


def _with_copies(node: BaseNode, group: tuple[str, ...], view: ServedCorpus) -> BaseNode:
    """A copy of ``node`` saying which other articles carry its text (the served node is
    shared, so it is not changed)."""
    doc_id = node.metadata.get("doc_id")
    others = [
        {"doc_id": d, "outlet": view.records[d].publisher, "date": view.records[d].published}
        for d in group
        if d != doc_id
    ]
    copied = copy.copy(node)
    copied.metadata = {**node.metadata, COPIES_KEY: json.dumps(others), EARLIEST_KEY: group[0]}
    hidden = [COPIES_KEY, EARLIEST_KEY]
    copied.excluded_embed_metadata_keys = [*node.excluded_embed_metadata_keys, *hidden]
    copied.excluded_llm_metadata_keys = [*node.excluded_llm_metadata_keys, *hidden]
    return copied


def _same_passage(view: ServedCorpus, doc_id: str, node: BaseNode) -> BaseNode | None:
    """``doc_id``'s chunk holding most of ``node``'s text (copies are chunked apart where
    a headline or a paragraph differs), if one holds at least half of it."""
    wanted = shingles(node.get_content())
    if not wanted:
        return None
    best, held = None, 0.5
    for chunk in view.chunks_by_doc.get(doc_id, []):
        share = len(wanted & shingles(chunk.get_content())) / len(wanted)
        if share >= held:
            best, held = chunk, share
    return best


class HybridRetriever(BaseRetriever):
    """Dense + BM25 candidates over the served chunks, fused, filtered and diversified."""

    def __init__(
        self,
        index: ChromaIndex,
        view: ServedCorpus,
        embed_model: BaseEmbedding,
        settings: RetrievalSettings,
        filters: Filters | None = None,
        reranker: Callable[[list[NodeWithScore], QueryBundle], list[NodeWithScore]] | None = None,
        ranker: Ranker | None = None,
        as_of: dt.date | None = None,
    ) -> None:
        """``ranker`` orders the articles, by their age too when the
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
        own = self._ranked(query_bundle, self._filters.model_copy(update={"publishers": named}))
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
        # See sinoqa.retrieve.ranking: with a day asked, ages count too.
        if self._ranker is not None and (self._as_of is not None or self._settings.rank_undated):
            coverage = self.coverage(query_bundle.query_str)
            ranked = self._ranker.rank(ArticleContext(ranked, dense, bm25, coverage, self._as_of))
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
        return one_copy_each(ranked, self._view, self._allowed) if self._view.copies else ranked

    def _allowed(self, doc_id: str) -> bool:
        """Whether the filters and the day asked let this article be cited."""
        record = self._view.records.get(doc_id)
        if record is None:
            return False
        meta = record.metadata()
        late = self._as_of is not None and published_after(meta, self._as_of, DATE_GRACE)
        return matches(self._filters, meta) and not late

    def _dense(self, query_bundle: QueryBundle, filters: Filters) -> list[NodeWithScore]:
        from llama_index.core.vector_stores.types import VectorStoreQuery

        if query_bundle.embedding is None:
            query_bundle.embedding = self._embed_model.get_query_embedding(query_bundle.query_str)
        result = self._index.vector_store.query(
            VectorStoreQuery(
                query_embedding=query_bundle.embedding,
                similarity_top_k=self._settings.candidates,
                filters=metadata_filters(filters),
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
