"""sinoqa: question answering over news on US-China relations, every answer tied to its sources."""

from sinoqa.ingestion.build import IndexBusy
from sinoqa.ingestion.embedding import EmbeddingModelError
from sinoqa.linear import ScorerError
from sinoqa.pipeline import ChatSession, IndexUnavailable, InvalidQuestion, ask, ingest, status
from sinoqa.retrieve.filters import InvalidFilter
from sinoqa.schema import Answer, AnswerSentence, Citation, Source
from sinoqa.settings import Settings

__all__ = [
    "Answer",
    "AnswerSentence",
    "ChatSession",
    "Citation",
    "EmbeddingModelError",
    "IndexBusy",
    "IndexUnavailable",
    "InvalidFilter",
    "InvalidQuestion",
    "ScorerError",
    "Settings",
    "Source",
    "ask",
    "ingest",
    "status",
]
__version__ = "0.10.2"
