"""The served corpus of one index version, and what retrieval builds from it once: the
lexicon, each article's terms, the BM25 index, the outlets, question analyses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from llama_index.core.schema import TextNode

from sinoqa.dates import (
    day_of,
    publication_words,
    published_bounds,
)
from sinoqa.errors import InvalidFilter
from sinoqa.ingestion.index import ChromaIndex
from sinoqa.ingestion.records import DocRecord
from sinoqa.retrieve.filters import matches
from sinoqa.retrieve.lexicon import ArticleTerms, Lexicon
from sinoqa.retrieve.question import QuestionAnalysis, analyse, initialism, premise_terms
from sinoqa.schema import Filters

if TYPE_CHECKING:
    from llama_index.retrievers.bm25 import BM25Retriever


@dataclass
class ServedCorpus:
    """The served chunks of one index version, with what retrieval builds from them."""

    version: str
    records: dict[str, DocRecord]
    nodes: list[TextNode]
    publishers: list[str] = field(default_factory=list)
    _masks: dict[tuple[object, ...], list[int]] = field(default_factory=dict, repr=False)
    _analyses: dict[str, QuestionAnalysis] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, index: ChromaIndex) -> ServedCorpus:
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
    def copies(self) -> dict[str, tuple[str, ...]]:
        """Each article that shares its text with others: the group's members, earliest
        first (:mod:`sinoqa.ingestion.copies`)."""
        groups: dict[str, list[str]] = {}
        for doc_id, record in self.records.items():
            groups.setdefault(record.copy_group or doc_id, []).append(doc_id)
        found: dict[str, tuple[str, ...]] = {}
        for members in groups.values():
            if len(members) > 1:
                ordered = tuple(sorted(members, key=self._age))
                found.update(dict.fromkeys(members, ordered))
        return found

    def _age(self, doc_id: str) -> tuple[str, str]:
        return (self.records[doc_id].published or "9999", doc_id)

    @cached_property
    def chunks_by_doc(self) -> dict[str, list[TextNode]]:
        by_doc: dict[str, list[TextNode]] = {}
        for node in self.nodes:
            by_doc.setdefault(str(node.metadata.get("doc_id")), []).append(node)
        return by_doc

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
        key = (filters.publishers, filters.date_from, filters.date_to)
        mask = self._masks.get(key)
        if mask is None:
            if len(self._masks) >= 64:  # user filters vary; a server must not grow forever
                self._masks.clear()
            corpus = self.bm25.corpus if self.bm25 is not None else []
            mask = self._masks[key] = [int(matches(filters, entry)) for entry in corpus]
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
