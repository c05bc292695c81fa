"""Watches: saved questions asked again when an ingest brings articles they may be about.

After an ingest, each new or changed article is first tested cheaply against every watch's
question: the similarity of its best passage to the question (their embeddings, the
passages' read back from the index, not embedded again) and the share of the question's
IDF-weighted terms the article holds. Only a watch an article passes is asked again, and a
change is recorded only when the answer a reader would see moved (:mod:`.changes`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import numpy as np

from sinoqa.errors import IndexUnavailable, InvalidWatch, SinoqaError
from sinoqa.retrieve.filters import matches
from sinoqa.schema import Answer, Filters, NewArticle, Watch, WatchChange
from sinoqa.settings import Settings
from sinoqa.watch.changes import change_record
from sinoqa.watch.store import WatchStore, name_for, now, store_path
from sinoqa.watch.webhook import check_webhook, deliver, payload

if TYPE_CHECKING:
    from sinoqa.retrieve.served_corpus import ServedCorpus

log = logging.getLogger("sinoqa.watch")


class WatchedCorpus(Protocol):
    """What watches need of the pipeline (:class:`sinoqa.pipeline.Pipeline` is one)."""

    settings: Settings

    def ask(self, question: str, filters: Filters | None = None) -> Answer: ...

    def served(self, *, fresh: bool = False) -> ServedCorpus: ...

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> dict[str, list[float]]: ...

    @property
    def embed_model(self) -> Any: ...


@dataclass(frozen=True)
class _Arrival:
    """A new or changed article: its facts, its passages and their unit vectors."""

    article: NewArticle
    metadata: dict[str, Any]  # a chunk's, for the watch's filters
    passages: list[str]
    vectors: np.ndarray  # one unit row per passage


class WatchBook:
    """The watches of one index, and their checks."""

    def __init__(self, corpus: WatchedCorpus) -> None:
        self.corpus = corpus
        self.store = WatchStore(store_path(corpus.settings))

    def add(
        self,
        question: str,
        filters: Filters | None = None,
        name: str | None = None,
        webhook: str | None = None,
    ) -> Watch:
        """Watch ``question`` (with ``filters``): asked now, its answer kept to compare later
        answers with; each change POSTed to ``webhook`` when given."""
        text = " ".join(question.split())
        if not text:
            raise InvalidWatch("a watch needs a question", hint='sinoqa watch add "QUESTION"')
        taken = self.store.names()
        name = name or name_for(text, taken)
        self.store.check_name(name, taken)  # before asking: a bad name costs no answer
        if webhook is not None:
            webhook = check_webhook(webhook, self.corpus.settings)
        filters = filters or Filters()
        answer = self.corpus.ask(text, filters)  # a bad filter or question fails here, unsaved
        vector = self.corpus.embed_model.get_query_embedding(text)
        watch = self.store.add(name, text, filters, vector, webhook)
        self.store.answered(name, answer)
        return watch.model_copy(update={"answer": answer})

    def watches(self) -> list[Watch]:
        return self.store.watches()

    def show(self, name: str, *, mark_read: bool = False) -> Watch:
        watch = self.store.get(name)
        if mark_read and watch.unread:
            self.store.mark_read(name)
        return watch

    def remove(self, name: str) -> None:
        self.store.remove(name)

    def feed(self, base_url: str, name: str | None = None) -> bytes:
        """The Atom feed of every watch's changes, or of the watch called ``name``."""
        from sinoqa.watch.feed import atom_feed

        if name is None:
            return atom_feed(self.store.watches(), base_url, "sinoqa: what changed")
        watch = self.store.get(name)
        return atom_feed([watch], base_url, f"sinoqa: {watch.question}")

    def check(self, names: Sequence[str] = ()) -> list[tuple[str, WatchChange]]:
        """Ask the watches called ``names`` (none: all) again now; the changes recorded."""
        watches = self.store.watches()
        unknown = set(names) - {w.name for w in watches}
        if unknown:
            raise InvalidWatch(f"no watch named {sorted(unknown)[0]!r}", hint="`sinoqa watch list`")
        chosen = [w for w in watches if not names or w.name in names]
        return [found for w in chosen if (found := self._ask_again(w, [])) is not None]

    def held(self, *, fresh: bool = False) -> dict[str, str]:
        """The served articles' content hashes, by doc_id (none before a first ingest)."""
        try:
            view = self.corpus.served(fresh=fresh)
        except IndexUnavailable:
            return {}
        return {doc_id: record.content_hash for doc_id, record in view.records.items()}

    def after_ingest(self, doc_ids: Sequence[str]) -> list[tuple[str, WatchChange]]:
        """Check every watch against the articles an ingest added or changed; a watch that
        fails is logged and skipped, never the ingest's failure."""
        if not doc_ids or not self.store.path.exists():
            return []
        watches = self.store.watches()
        if not watches:
            return []
        view = self.corpus.served(fresh=True)
        arrivals = self._arrivals(view, doc_ids)
        vectors = self.store.vectors()
        changes = []
        for watch in watches:
            try:
                passed = self._passed(view, watch, vectors.get(watch.name), arrivals)
                found = self._ask_again(watch, passed) if passed else None
            except SinoqaError as exc:
                log.warning("watch %s not checked: %s", watch.name, exc)
                continue
            if found is not None:
                changes.append(found)
        return changes

    def _ask_again(
        self, watch: Watch, arrivals: Sequence[NewArticle]
    ) -> tuple[str, WatchChange] | None:
        after = self.corpus.ask(watch.question, watch.filters)
        cited_before = {c.doc_id for c in watch.answer.citations} if watch.answer else set()
        # Asked by hand, the new articles are the sources it now cites and did not before.
        new = list(arrivals) or [
            NewArticle(doc_id=c.doc_id, outlet=c.publisher, date=c.published, title=c.title)
            for c in after.citations
            if c.doc_id not in cited_before
        ]
        change = change_record(watch.answer, after, _distinct(new), now())
        self.store.answered(watch.name, after, change)
        if change is None:
            return None
        if watch.webhook:
            deliver(
                watch.webhook, payload(watch.name, watch.question, change), self.corpus.settings
            )
        return watch.name, change

    def _arrivals(self, view: ServedCorpus, doc_ids: Sequence[str]) -> list[_Arrival]:
        wanted = {d: view.records[d] for d in dict.fromkeys(doc_ids) if d in view.records}
        chunk_ids = [c for record in wanted.values() for c in record.chunk_ids]
        vectors = self.corpus.chunk_vectors(chunk_ids)
        nodes = {n.node_id: n for n in view.nodes if n.node_id in vectors}
        arrivals = []
        for doc_id, record in wanted.items():
            ids = [c for c in record.chunk_ids if c in nodes]
            if not ids:
                continue
            matrix = np.array([vectors[c] for c in ids], dtype=np.float32)
            matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
            article = NewArticle(
                doc_id=doc_id,
                outlet=record.publisher,
                date=record.published,
                title=record.title,
            )
            texts = [nodes[c].get_content() for c in ids]
            arrivals.append(_Arrival(article, dict(nodes[ids[0]].metadata), texts, matrix))
        return arrivals

    def _passed(
        self,
        view: ServedCorpus,
        watch: Watch,
        vector: Sequence[float] | None,
        arrivals: Sequence[_Arrival],
    ) -> list[NewArticle]:
        """The arrivals within the watch's filters that pass the cheap test, each with its
        passage most like the question."""
        settings = self.corpus.settings.watch
        outlets = view.resolve_publishers(watch.filters.publishers)
        scope = watch.filters.model_copy(update={"publishers": tuple(outlets)})
        query = np.asarray(vector or [], dtype=np.float32)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        terms = view.lexicon.terms(view.analyse(watch.question).content)
        coverage = view.articles.coverage(view.lexicon, terms)
        passed = []
        for arrival in arrivals:
            if not matches(scope, arrival.metadata):
                continue
            similar = arrival.vectors @ query if len(query) else np.zeros(len(arrival.passages))
            best = int(np.argmax(similar))
            if similar[best] >= settings.min_similarity or (
                coverage(arrival.article.doc_id) >= settings.min_coverage
            ):
                passage = arrival.passages[best]
                passed.append(arrival.article.model_copy(update={"passage": passage}))
        return passed


def _distinct(articles: Sequence[NewArticle]) -> list[NewArticle]:
    return list({a.doc_id: a for a in articles}.values())


Write = TypeVar("Write", bound=Callable[..., Any])


def checked_after(write: Write, pipeline_for: Callable[[Settings], WatchedCorpus]) -> Write:
    """``write`` (a stage function that changes the corpus; its first argument is the
    settings, default the environment's), then the watches of the pipeline for those
    settings checked against the articles whose content it added or changed. A rebuild that
    writes the same articles again brings nothing new. A failed check is logged: the corpus
    changed either way."""

    @functools.wraps(write)
    def run(*args: Any, **kwargs: Any) -> Any:
        settings = (args[0] if args else kwargs.get("settings")) or Settings()
        book = WatchBook(pipeline_for(settings))
        held = book.held() if book.store.path.exists() and book.store.names() else None
        report = write(*args, **kwargs)
        if held is not None:
            try:
                book.after_ingest([d for d, h in book.held(fresh=True).items() if held.get(d) != h])
            except Exception:  # the write succeeded; nothing may undo that
                log.exception("watches not checked after an ingest")
        return report

    return cast(Write, run)
