"""sinoqa: question answering over news on US-China relations, every answer tied to its sources."""

from sinoqa.pipeline import ChatSession, InvalidQuestion, ask, ingest, status
from sinoqa.retrieve.filters import InvalidFilter
from sinoqa.schema import Answer, AnswerSentence, Citation, Source
from sinoqa.settings import Settings

__all__ = [
    "Answer",
    "AnswerSentence",
    "ChatSession",
    "Citation",
    "InvalidFilter",
    "InvalidQuestion",
    "Settings",
    "Source",
    "ask",
    "ingest",
    "status",
]
__version__ = "0.10.0"
