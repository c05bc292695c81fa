"""Where watches and their changes are kept: one SQLite file beside the index.

SQLite because several processes write it (a server checking after an upload, `sinoqa add`
from cron, `sinoqa watch add` in a terminal): its locking serialises them, and write-ahead
logging lets readers go on meanwhile. Each write is one transaction, so a full disk or a
killed process leaves the watches and changes kept before as they were.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sinoqa.errors import InvalidWatch, WatchStoreUnavailable
from sinoqa.schema import Answer, Filters, Watch, WatchChange
from sinoqa.settings import Settings

#: Free bytes below which a failed write is put down to a full disk.
_ROOM = 1 << 20

#: A watch's name: what the CLI, URLs and feed entries call it.
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watches (
    name TEXT PRIMARY KEY,
    question TEXT NOT NULL,
    filters TEXT NOT NULL,
    created TEXT NOT NULL,
    answer TEXT,
    vector TEXT,
    webhook TEXT,
    terms TEXT
);
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    watch TEXT NOT NULL REFERENCES watches(name) ON DELETE CASCADE,
    record TEXT NOT NULL,
    read INTEGER NOT NULL DEFAULT 0
);
"""


def store_path(settings: Settings) -> Path:
    """The configured file, or INDEX.watches.sqlite3 beside the index directory (outside it:
    `ingest --rebuild` empties the directory, and the watches outlive that)."""
    if settings.watch.path is not None:
        return settings.watch.path
    folder = settings.index.dir.resolve()
    return folder.parent / f"{folder.name}.watches.sqlite3"


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def name_for(question: str, taken: Sequence[str]) -> str:
    """A name made from the question's first words, unlike those ``taken``."""
    words = re.findall(r"[a-z0-9]+", question.casefold())[:6]
    base = "-".join(words)[:48].strip("-") or "watch"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


@dataclass(frozen=True)
class Probe:
    """A watch as the cheap test after an ingest sees it."""

    name: str
    filters: Filters  # outlets as the index names them
    vector: np.ndarray  # the question's embedding (empty: none kept)
    terms: dict[str, float]  # the question's stemmed terms and their IDF weights


class WatchStore:
    """The watches of one index and the changes recorded for them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction; a storage failure becomes :class:`WatchStoreUnavailable`."""
        if not write and not self.path.exists():
            connection = sqlite3.connect(":memory:")  # nothing kept yet: an empty store
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self.path, timeout=30)
            except (OSError, sqlite3.Error) as exc:
                raise self._unavailable(exc) from exc
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            if write:
                connection.execute("PRAGMA journal_mode = WAL")
            connection.executescript(_SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(watches)")}
            for added in ("webhook", "terms"):  # files from before these columns
                if added not in columns:
                    connection.execute(f"ALTER TABLE watches ADD COLUMN {added} TEXT")
            with connection:
                yield connection
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        finally:
            connection.close()

    def _unavailable(self, exc: Exception) -> WatchStoreUnavailable:
        reason = str(exc)
        # SQLite reports a full disk as "disk is full" or, writing its log, "disk I/O error".
        if "full" in reason or "No space" in reason or self._disk_full():
            reason = "no space left on the disk"
        return WatchStoreUnavailable(
            f"the watches file {self.path} cannot be used: {reason}",
            hint="the watches kept before are unchanged; free space or set SINOQA_WATCH__PATH",
        )

    def _disk_full(self) -> bool:
        try:
            return shutil.disk_usage(self.path.parent).free < _ROOM
        except OSError:
            return False

    def check_name(self, name: str, taken: Sequence[str] | None = None) -> None:
        """:class:`InvalidWatch` unless ``name`` is well-formed and free."""
        if not NAME.fullmatch(name):
            raise InvalidWatch(
                f"{name!r} is not a watch name",
                hint="use lower-case letters, digits, '.', '_' and '-' (at most 64)",
            )
        if name in (self.names() if taken is None else taken):
            raise InvalidWatch(f"a watch named {name!r} exists", hint="choose another --name")

    def add(
        self,
        name: str,
        question: str,
        filters: Filters,
        vector: Sequence[float],
        webhook: str | None = None,
    ) -> Watch:
        """A new watch; :class:`InvalidWatch` for a malformed or taken name."""
        created = now()
        with self._connect(write=True) as db:
            taken = [row[0] for row in db.execute("SELECT name FROM watches")]
            self.check_name(name, taken)
            db.execute(
                "INSERT INTO watches (name, question, filters, created, vector, webhook) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    question,
                    filters.model_dump_json(),
                    created,
                    json.dumps(list(vector)),
                    webhook,
                ),
            )
        return Watch(
            name=name, question=question, filters=filters, created=created, webhook=webhook
        )

    def names(self) -> list[str]:
        with self._connect(write=False) as db:
            return [row[0] for row in db.execute("SELECT name FROM watches ORDER BY name")]

    def watches(self) -> list[Watch]:
        """Every watch with its changes, by name."""
        with self._connect(write=False) as db:
            rows = db.execute(
                "SELECT name, question, filters, created, answer, webhook FROM watches "
                "ORDER BY name"
            ).fetchall()
            changes: dict[str, list[WatchChange]] = {}
            for watch, record, read in db.execute(
                "SELECT watch, record, read FROM changes ORDER BY id"
            ):
                change = WatchChange.model_validate_json(record)
                changes.setdefault(watch, []).append(change.model_copy(update={"read": bool(read)}))
        return [
            Watch(
                name=name,
                question=question,
                filters=Filters.model_validate_json(filters),
                created=created,
                answer=Answer.model_validate_json(answer) if answer else None,
                changes=changes.get(name, []),
                webhook=webhook,
            )
            for name, question, filters, created, answer, webhook in rows
        ]

    def get(self, name: str) -> Watch:
        """The watch called ``name``; :class:`InvalidWatch` when there is none."""
        for watch in self.watches():
            if watch.name == name:
                return watch
        raise InvalidWatch(f"no watch named {name!r}", hint="`sinoqa watch list` names them")

    def probes(self) -> list[Probe]:
        """What the cheap test needs of each watch, without its answers and changes."""
        with self._connect(write=False) as db:
            rows = db.execute("SELECT name, filters, vector, terms FROM watches ORDER BY name")
            return [
                Probe(
                    name=name,
                    filters=Filters.model_validate_json(filters),
                    vector=np.asarray(json.loads(vector) if vector else [], dtype=np.float32),
                    terms=dict(json.loads(terms)) if terms else {},
                )
                for name, filters, vector, terms in rows
            ]

    def remove(self, name: str) -> None:
        with self._connect(write=True) as db:
            if not db.execute("DELETE FROM watches WHERE name = ?", (name,)).rowcount:
                raise InvalidWatch(f"no watch named {name!r}", hint="`sinoqa watch list`")

    def answered(
        self,
        name: str,
        answer: Answer,
        change: WatchChange | None = None,
        terms: dict[str, float] | None = None,
    ) -> None:
        """Keep ``answer`` as the watch's last, with the change it made and the question's
        term weights as the corpus now gives them (one transaction)."""
        with self._connect(write=True) as db:
            updated = db.execute(
                "UPDATE watches SET answer = ?, terms = coalesce(?, terms) WHERE name = ?",
                (
                    answer.model_dump_json(),
                    json.dumps(sorted(terms.items())) if terms else None,
                    name,
                ),
            ).rowcount
            if updated and change is not None:
                db.execute(
                    "INSERT INTO changes (watch, record) VALUES (?, ?)",
                    (name, change.model_dump_json(exclude={"read"})),
                )

    def mark_read(self, name: str) -> None:
        with self._connect(write=True) as db:
            db.execute("UPDATE changes SET read = 1 WHERE watch = ?", (name,))
