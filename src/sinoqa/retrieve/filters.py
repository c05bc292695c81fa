"""Filters the user sets: outlets and a publication date range, for Chroma and for BM25."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sinoqa.dates import InvalidDate, parse_day, published_bounds, valid_date

if TYPE_CHECKING:
    from llama_index.core.vector_stores.types import MetadataFilters


class InvalidFilter(ValueError):
    """A filter value the user must correct; the message says how."""


def day_asked(as_of: str | dt.date | None, today: Callable[[], dt.date]) -> dt.date | None:
    """The day a question is asked: a date, "today", or YYYY-MM-DD (one of the filters)."""
    if isinstance(as_of, dt.date) or as_of is None:
        return as_of
    try:
        return parse_day(as_of, today)
    except InvalidDate as exc:
        raise InvalidFilter(str(exc)) from None


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some outlets and/or a publication date range (inclusive)."""

    publishers: tuple[str, ...] = ()
    date_from: str | None = None  # ISO date, partial allowed: "2023", "2023-06"
    date_to: str | None = None

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and not valid_date(value):
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
