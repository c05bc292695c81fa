"""Publication dates and the days questions are asked: one place for date logic.

Articles carry an ISO date that may be partial ("2021", "2021-02", "2021-02-01"); Chroma
filters compare YYYYMMDD integers, so a partial date stands for its first and last day.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Collection
from typing import Annotated, Any

from pydantic import AfterValidator

from sinoqa.errors import InvalidDate


def day_of(value: int) -> dt.date | None:
    """The day a YYYYMMDD integer (as :func:`published_bounds` gives) stands for."""
    try:
        return dt.date(value // 10_000, value // 100 % 100, value % 100)
    except ValueError:
        return None


def published_bounds(published: str | None) -> tuple[int, int] | None:
    """First and last day a (possibly partial) ISO date can mean, as YYYYMMDD integers.

    Chroma compares numbers, not dates, so date-range filters use these.
    """
    if not published:
        return None
    parts = [int(p) for p in published.split("-")]
    year = parts[0]
    if len(parts) == 1:
        return year * 10000 + 101, year * 10000 + 1231
    month = parts[1]
    if len(parts) == 2:
        last_day = calendar.monthrange(year, month)[1]
        return year * 10000 + month * 100 + 1, year * 10000 + month * 100 + last_day
    day = year * 10000 + month * 100 + parts[2]
    return day, day


#: An ISO 8601 date, possibly partial: "2021", "2021-02", "2021-02-01".
PARTIAL_ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def normalize_published(value: object) -> str | None:
    """ISO date (partial allowed) from a front-matter or page value, or None if unusable."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    if not text:
        return None
    if PARTIAL_ISO_DATE.match(text):
        return text
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return None


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


def valid_date(value: str) -> bool:
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
        raise InvalidDate(f"as of {value!r} is not a day; use YYYY-MM-DD or today") from None


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


def published_day(metadata: dict[str, Any]) -> dt.date | None:
    """The latest day an article's (possibly partial) date allows; None if undated."""
    value = int(metadata.get("published_max") or 0)
    return day_of(value) if value else None


UNDATED = "undated"


def period_of(date: str | None) -> str:
    """The month a (possibly partial) date falls in: "2023-08", "2021" or "undated"."""
    return date[:7] if date else UNDATED


# Months and weekdays only as names (capitalised): "may" and "march" are mostly verbs.
#: Month names in full, January first.
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
#: Weekday names, Monday first.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> str:
    duration_seconds(text)
    return text


#: A duration written as people write it ("30m"), checked when settings are read.
Duration = Annotated[str, AfterValidator(_duration)]


def duration_seconds(text: str) -> float:
    """ "30m" as 1800.0; a ValueError for what is not a positive number and unit (s, m, h, d),
    of at least a minute."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text.lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: write 90s, 30m, 2h or 1d")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 60:
        raise ValueError(f"{text!r} is too often: refresh at most once a minute")
    return seconds
