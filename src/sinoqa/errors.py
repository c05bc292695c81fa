"""Every error a user of sinoqa can meet, in one family.

Each carries a message (what is wrong, one sentence), an optional hint (what to do about it),
the exit code the CLI ends with and the HTTP status the JSON API answers with. The CLI's
``main``, the JSON API, the MCP server and the chat each catch :class:`SinoqaError` alone, so
a new error needs no new handler anywhere: subclass the closest class below.

Errors of input are not ``ValueError``: pydantic would fold them into a ``ValidationError``
and lose the sentence written for the user.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CorpusNotFound",
    "EmbeddingModelError",
    "FetchError",
    "IndexBusy",
    "IndexFull",
    "IndexNotFound",
    "IndexUnavailable",
    "InvalidBaseline",
    "InvalidDate",
    "InvalidFilter",
    "InvalidInput",
    "InvalidQuestion",
    "InvalidQuestionFile",
    "LLMUnavailable",
    "ScorerError",
    "SetupError",
    "SinoqaError",
    "UnavailableConfiguration",
    "UnreadableFile",
]


class SinoqaError(Exception):
    """Something the user, or whoever set sinoqa up, can act on; never a bug."""

    #: What the CLI exits with.
    exit_code: ClassVar[int] = 1
    #: What the JSON API answers with.
    http_status: ClassVar[int] = 500
    #: The word the CLI prints before the message.
    label: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


# --- input the caller must correct: exit 2, HTTP 422 -------------------------------------


class InvalidInput(SinoqaError):
    """A value the caller gave that cannot be used; the message says how to correct it."""

    exit_code = 2
    http_status = 422


class InvalidQuestion(InvalidInput):
    """The question cannot be asked as given; the message says why."""


class InvalidFilter(InvalidInput):
    """A filter value (outlet, date range, day asked) the user must correct."""


class InvalidDate(InvalidInput):
    """A day or date the user must correct; the message says how."""


class InvalidQuestionFile(InvalidInput):
    """An eval question file that cannot be used; the message names the line."""


class InvalidBaseline(InvalidInput):
    """Earlier eval results that cannot be read; the message says why."""


class UnavailableConfiguration(InvalidInput):
    """An eval configuration that is unknown or needs something this machine lacks."""


class CorpusNotFound(InvalidInput):
    """The corpus folder to synchronise from does not exist."""


class UnreadableFile(InvalidInput):
    """A file the corpus cannot take (too large, an unsupported type, not text)."""


class FetchError(InvalidInput):
    """A URL that cannot be used: refused by the address rules, unreachable, not an article."""


# --- the index: exit 1 (busy: 3), HTTP 503 -----------------------------------------------


class InvalidWatch(InvalidInput):
    """A watch name that is malformed, taken or unknown, or a watch without a question."""


class IndexUnavailable(SinoqaError):
    """The index cannot be used; the message says why and what to do."""

    http_status = 503


class IndexFull(IndexUnavailable):
    """The disk holding the index has no space left; what was indexed before is kept."""


class IndexNotFound(IndexUnavailable):
    """Nothing has been indexed yet with the current settings."""


class WatchStoreUnavailable(IndexUnavailable):
    """The file the watches are kept in cannot be read or written (a full disk, say); the
    watches and changes kept before are not lost."""


class IndexBusy(SinoqaError):
    """Another ingest is writing this index (and the caller chose not to wait)."""

    exit_code = 3
    http_status = 409
    label = "busy"


# --- how sinoqa was set up: exit 1, HTTP 503 ---------------------------------------------


class SetupError(SinoqaError):
    """A model or backend that the settings name and this machine cannot load or reach."""

    http_status = 503


class EmbeddingModelError(SetupError):
    """The configured embedding model cannot be loaded."""


class ScorerError(SetupError):
    """A fitted model's file is missing or does not fit this version of sinoqa."""


class LLMUnavailable(SetupError):
    """The configured LLM backend cannot be used; the message says why."""
