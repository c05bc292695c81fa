"""Watches: saved questions asked again when an ingest brings articles they may be about.

After an ingest, each new or changed article is first tested cheaply against every watch's
question: the similarity of its best passage to the question (their embeddings, the
passages' read back from the index by id, not embedded again) and the share of the
question's IDF-weighted terms the article holds (the weights kept from the watch's last
answer). The test reads only the new articles, never the whole served corpus; only a watch an
article passes is asked again, once the write is done and its lock released, and a change is
recorded only when the answer a reader would see moved (:mod:`.changes`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import numpy as np

from sinoqa.errors import InvalidWatch, SinoqaError
from sinoqa.ingestion.records import StoredChunks
from sinoqa.retrieve.filters import matches
from sinoqa.retrieve.lexicon import Lexicon
from sinoqa.schema import Answer, Filters, NewArticle, Watch, WatchChange, WatchCheck
from sinoqa.settings import Settings
from sinoqa.watch.changes import change_record
from sinoqa.watch.store import Probe, WatchStore, name_for, now, store_path
from sinoqa.watch.webhook import check_webhook, deliver, payload

if TYPE_CHECKING:
    from sinoqa.retrieve.served_corpus import ServedCorpus

log = logging.getLogger("sinoqa.watch")


class WatchedCorpus(Protocol):
    """What watches need of the pipeline (:class:`sinoqa.pipeline.Pipeline` is one)."""

    settings: Settings

    def ask(self, question: str, filters: Filters | None = None) -> Answer: ...

    def served(self, *, fresh: bool = False) -> ServedCorpus: ...

    def resolve(self, filters: Filters | None) -> Filters: ...

    def stored_chunks(self, doc_ids: Sequence[str]) -> list[StoredChunks]: ...

    def content_hashes(self) -> dict[str, str]: ...

    @property
    def embed_model(self) -> Any: ...


@dataclass(frozen=True)
class _Arrival:
    """A new or changed article: its facts, its passages and their unit vectors."""

    article: NewArticle
    metadata: dict[str, Any]  # a chunk's, for the watch's filters
    passages: list[str]
    vectors: np.ndarray  # one unit row per passage
    terms: frozenset[str]  # its stemmed terms, in any passage


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
        # Outlets as the index names them: the test after an ingest matches them directly.
        filters = self.corpus.resolve(filters)
        answer = self.corpus.ask(text, filters)  # a bad filter or question fails here, unsaved
        vector = self.corpus.embed_model.get_query_embedding(text)
        watch = self.store.add(name, text, filters, vector, webhook)
        self.store.answered(name, answer, terms=self._weights(text))
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

    def held(self) -> dict[str, str] | None:
        """The indexed articles' content hashes, by doc_id; None when no watch is kept (then
        nothing needs comparing)."""
        if not self.store.path.exists() or not self.store.names():
            return None
        return self.corpus.content_hashes()

    def after_ingest(self, doc_ids: Sequence[str]) -> WatchCheck:
        """Check every watch against the articles an ingest added or changed; a watch that
        fails is logged and skipped, never the ingest's failure."""
        check = WatchCheck(arrivals=len(set(doc_ids)))
        if not doc_ids or not self.store.path.exists():
            return check
        started = time.perf_counter()
        probes = self.store.probes()
        arrivals = self._arrivals(doc_ids) if probes else []
        passed = self._passed(probes, arrivals)
        check.tested, check.test_seconds = len(probes), time.perf_counter() - started
        if not passed:
            return check
        self.corpus.served(fresh=True)  # the answers must see what the write brought
        # Whole watches (their answers and changes) are read only for those asked again.
        watches = {w.name: w for w in self.store.watches()}
        for name, articles in passed.items():
            started = time.perf_counter()
            try:
                if self._ask_again(watches[name], articles) is not None:
                    check.changed.append(name)
            except SinoqaError as exc:
                log.warning("watch %s not checked: %s", name, exc)
                check.failed.append(name)
            check.asked[name] = time.perf_counter() - started
        return check

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
        self.store.answered(watch.name, after, change, self._weights(watch.question))
        if change is None:
            return None
        if watch.webhook:
            deliver(
                watch.webhook, payload(watch.name, watch.question, change), self.corpus.settings
            )
        return watch.name, change

    def _weights(self, question: str) -> dict[str, float]:
        """The question's terms and their IDF weights in the corpus as now served."""
        view = self.corpus.served()
        unique, weights, _ = view.lexicon.query_weights(
            view.lexicon.terms(view.analyse(question).content)
        )
        return dict(zip(unique, weights, strict=True))

    def _arrivals(self, doc_ids: Sequence[str]) -> list[_Arrival]:
        words = Lexicon()  # its tokenising and stemming only
        arrivals = []
        for stored in self.corpus.stored_chunks(doc_ids):
            matrix = stored.vectors / np.maximum(
                np.linalg.norm(stored.vectors, axis=1, keepdims=True), 1e-12
            )
            record = stored.record
            article = NewArticle(
                doc_id=record.doc_id,
                outlet=record.publisher,
                date=record.published,
                title=record.title,
            )
            terms = frozenset(t for text in stored.texts for t in words.terms(text))
            arrivals.append(_Arrival(article, stored.metadata, stored.texts, matrix, terms))
        return arrivals

    def scores(self, doc_ids: Sequence[str]) -> list[ProbeScore]:
        """The cheap test's scores of every watch against each of these indexed articles,
        those outside a watch's filters left out: what its thresholds are fitted on."""
        probes = self.store.probes()
        arrivals = self._arrivals(doc_ids) if probes else []
        tested = _Tested(probes, arrivals)
        return [
            ProbeScore(probe.name, arrival.article.doc_id, *tested.scores(row, column))
            for row, probe in enumerate(probes)
            for column, arrival in enumerate(arrivals)
            if matches(probe.filters, arrival.metadata)
        ]

    def _passed(
        self, probes: Sequence[Probe], arrivals: Sequence[_Arrival]
    ) -> dict[str, list[NewArticle]]:
        """By watch, the arrivals within its filters that pass the cheap test, each with its
        passage most like the question (watches no arrival passes left out)."""
        settings = self.corpus.settings.watch
        tested = _Tested(probes, arrivals)
        passed: dict[str, list[NewArticle]] = {}
        for row, probe in enumerate(probes):
            for column, arrival in enumerate(arrivals):
                similarity, coverage = tested.scores(row, column)
                if (
                    similarity >= settings.min_similarity or coverage >= settings.min_coverage
                ) and matches(probe.filters, arrival.metadata):
                    passage = arrival.passages[tested.closest(row, column)]
                    article = arrival.article.model_copy(update={"passage": passage})
                    passed.setdefault(probe.name, []).append(article)
        return passed


@dataclass(frozen=True)
class ProbeScore:
    """One watch against one new article: the cheap test's two scores."""

    watch: str
    doc_id: str
    similarity: float  # cosine of the question and the article's closest passage
    coverage: float  # share of the question's IDF-weighted terms the article holds


class _Tested:
    """Every watch's question against every new passage, in one matrix product."""

    def __init__(self, probes: Sequence[Probe], arrivals: Sequence[_Arrival]) -> None:
        self.probes, self.arrivals = probes, arrivals
        width = arrivals[0].vectors.shape[1] if arrivals else 0
        passages = np.concatenate([a.vectors for a in arrivals]) if arrivals else np.zeros((0, 0))
        self.starts = np.cumsum([0] + [len(a.passages) for a in arrivals])
        # A question kept without a vector of this width (another model) tests by terms alone.
        queries = np.array(
            [p.vector if len(p.vector) == width else np.zeros(width) for p in probes],
            dtype=np.float32,
        ).reshape(len(probes), width)
        queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        self.similar = queries @ passages.T

    def scores(self, row: int, column: int) -> tuple[float, float]:
        start, end = self.starts[column], self.starts[column + 1]
        terms = self.probes[row].terms
        total = sum(terms.values())
        held = self.arrivals[column].terms
        coverage = sum(w for t, w in terms.items() if t in held) / total if total else 0.0
        return float(self.similar[row, start:end].max()), coverage

    def closest(self, row: int, column: int) -> int:
        start, end = self.starts[column], self.starts[column + 1]
        return int(np.argmax(self.similar[row, start:end]))


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
        held = book.held()
        report = write(*args, **kwargs)
        if held is not None:
            try:
                now_held = book.corpus.content_hashes()
                report.watches = book.after_ingest(
                    [d for d, h in now_held.items() if held.get(d) != h]
                )
            except Exception:  # the write succeeded; nothing may undo that
                log.exception("watches not checked after an ingest")
        return report

    return cast(Write, run)
