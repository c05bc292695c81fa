"""A conversation: the questions one person asks in turn, each able to follow up on the
previous answers, over the warm pipeline (:mod:`sinoqa.pipeline`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sinoqa.pipeline import Pipeline, get_pipeline
from sinoqa.schema import Answer, Filters
from sinoqa.settings import Settings


@dataclass
class ChatSession:
    """A conversation: each question may follow up on the previous ones."""

    settings: Settings | None = None
    filters: Filters = field(default_factory=Filters)
    backend: str | None = None
    history: list[Answer] = field(default_factory=list)
    pipeline: Pipeline | None = None  # default: the warm pipeline for ``settings``

    def ask(self, question: str, *, top_k: int | None = None) -> Answer:
        answer = (self.pipeline or get_pipeline(self.settings)).ask(
            question, self.filters, top_k=top_k, history=self.history, backend=self.backend
        )
        self.history.append(answer)
        return answer
