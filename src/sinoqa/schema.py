"""The typed objects that cross module boundaries: what an answer is made of."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sinoqa.dates import parse_day, period_of, published_bounds, valid_date
from sinoqa.errors import InvalidDate, InvalidFilter


def published_label(published: str | None, approx: bool, missing: str = "undated") -> str:
    """A publication date for people: "2021-02 (approx.)" when the date is inferred."""
    return (published or missing) + (" (approx.)" if approx else "")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Article(_Frozen):
    """An article's publication facts, the same at every stage: read from its file
    (:attr:`sinoqa.ingestion.corpus.Document.article`), stored with each of its chunks and in
    its index record, shown with every passage cited from it."""

    doc_id: str
    title: str
    publisher: str | None = None
    author: str | None = None
    published: str | None = Field(
        None, description="Publication date, ISO 8601, possibly partial: 2021, 2021-02."
    )
    published_approx: bool = Field(
        False, description="The date was inferred (from the URL), not given by the article."
    )
    url: str | None = None

    def metadata(self) -> dict[str, Any]:
        """The facts as stored with every chunk (Chroma takes no None values: omitted), with
        the first and last day a partial date can mean, which date filters compare."""
        meta: dict[str, Any] = {
            "doc_id": self.doc_id,
            "title": self.title,
            "author": self.author,
            "publisher": self.publisher,
            "published": self.published,
            "published_approx": self.published_approx,
            "url": self.url,
        }
        if (bounds := published_bounds(self.published)) is not None:
            meta["published_min"], meta["published_max"] = bounds
        return {key: value for key, value in meta.items() if value is not None}

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> Article:
        """The facts stored by :meth:`metadata` (of a chunk, or of an index record)."""
        return cls(
            doc_id=str(meta["doc_id"]),
            title=str(meta.get("title") or meta["doc_id"]),
            publisher=_text(meta.get("publisher")),
            author=_text(meta.get("author")),
            published=_text(meta.get("published")),
            published_approx=bool(meta.get("published_approx", False)),
            url=_text(meta.get("url")),
        )


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


class Copy(_Frozen):
    """Another indexed article carrying the same text (a wire copy, a reprint, an update)."""

    doc_id: str
    outlet: str | None = None
    date: str | None = Field(None, description="Publication date (ISO, possibly partial).")


class Source(Article):
    """A retrieved passage and the article it belongs to."""

    chunk_id: str
    passage: str = Field(description="The chunk text, verbatim from the cleaned article.")
    start_char: int = Field(description="Offset of the passage in the cleaned article.")
    end_char: int
    score: float = Field(description="Retrieval score (fused); comparable within one answer.")
    copies: list[Copy] = Field(
        default_factory=list,
        description="The other indexed articles carrying this text, earliest first: one "
        "source however many outlets ran it.",
    )
    earliest_doc_id: str | None = Field(
        None,
        description="The earliest dated article carrying this text in this corpus (not "
        "necessarily the first to report it).",
    )


class Citation(Source):
    """A source the answer quotes; ``[n]`` in the answer text refers to it."""

    n: int
    quote: str = Field(description="The sentences quoted from the passage, verbatim.")
    spans: list[tuple[int, int]] = Field(
        description="Character offsets of each quoted sentence in the cleaned article."
    )


class AnswerSentence(_Frozen):
    text: str
    citations: list[int] = Field(default_factory=list, description="Citation numbers [n].")
    verified: bool = Field(
        True, description="False when the cited passages do not support the sentence."
    )
    new_paragraph: bool = Field(
        False,
        description="Starts a paragraph: an extractive answer's sentences after the one that "
        "answers best (and what it needs) are its context.",
    )


class Answer(_Frozen):
    """A grounded answer, or a refusal with the nearest passages."""

    question: str
    answer: str
    refused: bool
    backend: str = Field(description="'extractive', or the LLM backend that wrote the answer.")
    citations: list[Citation] = Field(default_factory=list)
    nearest_sources: list[Source] = Field(
        default_factory=list,
        description="When refused: the closest passages, which do not support an answer.",
    )
    sentences: list[AnswerSentence] = Field(default_factory=list)
    confidence: float = Field(0.0, description="Evidence score compared to the refusal threshold.")
    confidence_parts: dict[str, float] = Field(
        default_factory=dict,
        description="What the evidence score sums: similarity, coverage, and costs such as "
        "kind_missing, unknown_names (why an answer was refused).",
    )
    retrieval_query: str = Field("", description="The query retrieval ran (after follow-ups).")
    as_of: str | None = Field(
        None,
        description="The day the question was answered as of (ISO): the one given, or one "
        "taken from words like 'this week' (a notice says which). None: no day; an "
        "article's age played no part.",
    )
    unsupported_terms: list[str] = Field(
        default_factory=list,
        description="Names, numbers and years of the question that no indexed article contains.",
    )
    notices: list[str] = Field(default_factory=list, description="Truncation, fallbacks, etc.")
    timings_ms: dict[str, float] = Field(default_factory=dict)


class TimelineEntry(_Frozen):
    """One article's sentence on a query, placed by its publication date."""

    date: str | None = Field(description="Publication date (ISO, possibly partial).")
    date_approx: bool = False
    doc_id: str
    publisher: str | None = None
    title: str
    url: str | None = None
    chunk_id: str
    quote: str = Field(description="The article's sentence closest to the query, verbatim.")
    copies: list[Copy] = Field(
        default_factory=list, description="Other outlets' copies of its text: counted once."
    )

    @property
    def period(self) -> str:
        """The month it falls in, as the timeline groups it: "2023-08", "2021" or "undated"."""
        return period_of(self.date)


class CoveragePeriod(_Frozen):
    period: str = Field(description="YYYY-MM (YYYY for year-only dates), or 'undated'.")
    articles: int


class Timeline(_Frozen):
    """How a story developed: one quoted sentence per article, in publication order."""

    query: str
    entries: list[TimelineEntry] = Field(default_factory=list)
    coverage: list[CoveragePeriod] = Field(
        default_factory=list, description="Articles on the query per month, in order."
    )


class OutletColumn(_Frozen):
    """One outlet's own answer to a question, from its articles only."""

    publisher: str
    answer: str
    refused: bool
    citations: list[Citation] = Field(default_factory=list)
    same_text_as: list[str] = Field(
        default_factory=list,
        description="Other outlets in the comparison that printed a text it cites (a shared "
        "wire story): their agreement is one source, not two.",
    )


class Conflict(_Frozen):
    """A name the outlets' answers give different numbers or dates for."""

    subject: str
    values: dict[str, list[str]] = Field(description="Per outlet, the values its answer gives.")


class Comparison(_Frozen):
    question: str
    columns: list[OutletColumn] = Field(default_factory=list)
    conflicts: list[Conflict] = Field(default_factory=list)


class SuggestedViews(_Frozen):
    """The views made for a question, offered beside its answer: the timeline of a story
    ("how did X change"), and the outlets it names side by side."""

    question: str
    timeline_query: str | None = Field(None, description="Set for a question about change.")
    compare_outlets: list[str] = Field(
        default_factory=list, description="The indexed outlets it names, when two or more."
    )

    def notices(self) -> list[str]:
        """The offers as the chat and the command line word them."""
        offers = []
        if self.timeline_query:
            offers.append(
                "How this developed, article by article: the Timeline tab, or "
                f'`sinoqa timeline "{self.timeline_query}"`.'
            )
        if self.compare_outlets:
            flags = " ".join(f'--publisher "{outlet}"' for outlet in self.compare_outlets)
            offers.append(
                f"Each outlet's own answer, side by side: the Compare outlets tab, or "
                f'`sinoqa compare "{self.question}" {flags}`.'
            )
        return offers


class ArticleText(Article):
    """An indexed article's facts and its cleaned text (what every citation offset is into)."""

    text: str = Field(description="The cleaned text: passages' start_char/end_char index it.")
    chunks: int = Field(description="How many passages the article is split into.")


class Filters(_Frozen):
    """What a question is restricted to, and when it is asked: the one value every entry
    point (Python, CLI, chat, JSON API, MCP) takes, checked here once.

    Outlet names are matched to the indexed ones case-insensitively when a question is asked.
    A blank value (an empty form field) is no filter. Dates may be partial ("2023",
    "2023-06") and bound publication inclusively. ``as_of`` is the day the question is asked
    ("this week" then): articles from just before it rank first and later ones are left
    out. A bad value raises :class:`sinoqa.errors.InvalidFilter`.
    """

    publishers: tuple[str, ...] = Field((), description="Only these outlets.")
    date_from: str | None = Field(None, description="Published on or after YYYY[-MM[-DD]].")
    date_to: str | None = Field(None, description="Published on or before YYYY[-MM[-DD]].")
    as_of: str | None = Field(None, description="The day it is asked: YYYY-MM-DD or today.")

    @field_validator("publishers", mode="before")
    @classmethod
    def _outlets(cls, value: object) -> object:
        if value is None:  # an empty form field
            return ()
        if isinstance(value, list | tuple):
            return tuple(name.strip() if isinstance(name, str) else name for name in value)
        return value  # pydantic says what is wrong with it

    @field_validator("date_from", "date_to", "as_of", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("date_from", "date_to")
    @classmethod
    def _date(cls, value: object, info: Any) -> object:
        if value is not None and (not isinstance(value, str) or not valid_date(value)):
            raise InvalidFilter(
                f"{info.field_name.replace('_', ' ')} {value!r} is not a date; use YYYY, "
                "YYYY-MM or YYYY-MM-DD"
            )
        return value

    @field_validator("as_of", mode="before")
    @classmethod
    def _a_date(cls, value: object) -> object:
        return value.isoformat() if isinstance(value, dt.date) else value

    @field_validator("as_of")
    @classmethod
    def _day(cls, value: object) -> object:
        if value is not None:
            try:
                parse_day(str(value))
            except InvalidDate as exc:
                raise InvalidFilter(exc.message) from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Filters:
        low, high = self.bounds()
        if low is not None and high is not None and low > high:
            raise InvalidFilter(f"date from {self.date_from} is after date to {self.date_to}")
        return self

    @property
    def active(self) -> bool:
        """Whether the filters leave any article out (``as_of`` aside: it ranks as well)."""
        return bool(self.publishers or self.date_from or self.date_to)

    def bounds(self) -> tuple[int | None, int | None]:
        """The date range as YYYYMMDD integers, either end open (None)."""
        low = published_bounds(self.date_from) if self.date_from else None
        high = published_bounds(self.date_to) if self.date_to else None
        return (low[0] if low else None, high[1] if high else None)

    def day_asked(self, today: Callable[[], dt.date] = dt.date.today) -> dt.date | None:
        """The day the question is asked, ``today`` resolving "today"; None when not given."""
        return parse_day(self.as_of, today) if self.as_of is not None else None


ProgressCallback = Callable[[int, int], None]
"""Called with (articles embedded so far, articles to embed in this run)."""


@dataclass(frozen=True)
class Skipped:
    """A file that was not ingested, and why."""

    path: str
    reason: str


@dataclass
class IngestReport:
    """What one ingest run did."""

    location: str
    collection: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_total: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    orphans_removed: int = 0
    sentence_spans_stored: int = 0  # older chunks given their sentence spans (no re-embedding)
    seconds: float = 0.0
    notices: list[str] = field(default_factory=list)
    watches: WatchCheck | None = None  # the watches checked after it, when there are any


@dataclass
class WatchCheck:
    """What checking the watches after one write of the corpus did."""

    arrivals: int = 0  # articles the write added or changed
    tested: int = 0  # watches given the cheap test
    test_seconds: float = 0.0  # the cheap test, every watch together
    asked: dict[str, float] = field(default_factory=dict)  # watch -> seconds asking it again
    changed: list[str] = field(default_factory=list)  # watches whose answer moved
    failed: list[str] = field(default_factory=list)  # watches not checked (logged)


class NewArticle(_Frozen):
    """An article an ingest brought that a watch's question may be about."""

    doc_id: str
    outlet: str | None = None
    date: str | None = Field(None, description="Publication date (ISO, possibly partial).")
    title: str | None = None
    passage: str = Field("", description="Its passage closest to the watch's question.")


class WatchChange(_Frozen):
    """How a watch's answer moved after an ingest: recorded only when it moved."""

    at: str = Field(description="When it was recorded (ISO 8601, UTC).")
    new_articles: list[NewArticle] = Field(
        default_factory=list, description="The new or changed articles that led to the check."
    )
    answer_before: str = ""
    answer_after: str = ""
    refused_before: bool = False
    refused_after: bool = False
    cited_before: list[str] = Field(default_factory=list, description="doc_ids cited before.")
    cited_after: list[str] = Field(default_factory=list, description="doc_ids cited after.")
    what_changed: list[str] = Field(
        default_factory=list,
        description="Sentences added and dropped, figures and names that differ, a refusal "
        "turned into an answer or back, sources cited or no longer cited.",
    )
    read: bool = False


class Watch(_Frozen):
    """A saved question, asked again whenever an ingest brings articles it may be about."""

    name: str
    question: str
    filters: Filters = Field(default_factory=Filters)
    created: str = Field(description="When it was added (ISO 8601, UTC).")
    webhook: str | None = Field(None, description="Where each change is POSTed as JSON.")
    answer: Answer | None = Field(None, description="The answer it gave last.")
    changes: list[WatchChange] = Field(default_factory=list, description="Newest last.")

    @property
    def unread(self) -> int:
        return sum(not change.read for change in self.changes)

    def summary(self) -> WatchSummary:
        return WatchSummary(
            name=self.name,
            question=self.question,
            changes=len(self.changes),
            unread=self.unread,
        )


class WatchSummary(_Frozen):
    """A watch in a list: its question and how many changes it recorded and has unread."""

    name: str
    question: str
    changes: int = Field(description="Changes recorded.")
    unread: int = Field(description="Changes not yet shown to a person.")
