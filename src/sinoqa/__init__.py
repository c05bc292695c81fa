"""sinoqa: question answering over news on US-China relations, every answer tied to its sources."""

from sinoqa.chat import ChatSession
from sinoqa.errors import (
    EmbeddingModelError,
    IndexBusy,
    IndexUnavailable,
    InvalidFilter,
    InvalidQuestion,
    ScorerError,
    SinoqaError,
)
from sinoqa.pipeline import ask, ingest, status
from sinoqa.schema import Answer, AnswerSentence, Citation, Filters, Source
from sinoqa.settings import Settings

__all__ = [
    "Answer",
    "AnswerSentence",
    "ChatSession",
    "Citation",
    "EmbeddingModelError",
    "Filters",
    "IndexBusy",
    "IndexUnavailable",
    "InvalidFilter",
    "InvalidQuestion",
    "ScorerError",
    "Settings",
    "SinoqaError",
    "Source",
    "ask",
    "ingest",
    "status",
]
__version__ = "0.14.0"
