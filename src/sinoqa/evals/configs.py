"""Named configurations an eval compares, and `stage.field=value` overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from sinoqa.errors import UnavailableConfiguration
from sinoqa.settings import Settings

#: Named configurations for --compare: settings overrides per stage.
CONFIGURATIONS: Mapping[str, Mapping[str, Mapping[str, object]]] = {
    "hybrid": {},
    "dense": {"retrieval": {"mode": "dense"}},
    "bm25": {"retrieval": {"mode": "bm25"}},
    "hybrid-rrf": {"retrieval": {"fusion": "rrf"}},
    # What a plain LlamaIndex dense + BM25 pipeline does: rank fusion, nothing fitted.
    "plain": {"retrieval": {"fusion": "rrf", "article_ranker": False, "recent_as_of": False}},
    "hybrid-w0.3": {"retrieval": {"dense_weight": 0.3}},
    "hybrid-w0.7": {"retrieval": {"dense_weight": 0.7}},
    "hybrid+rerank": {"retrieval": {"reranker_model": "<settings>"}},
    "llm": {"answer": {"backend": "<settings>"}},
}


def configure(settings: Settings, name: str) -> Settings:
    """``settings`` with the named configuration's overrides applied. A name of the form
    ``stage.field=value[;stage.field=value]`` ("answer.keep_ratio=0.7") sets those fields."""
    if "=" in name:
        return _override(settings, name)
    if name not in CONFIGURATIONS:
        raise UnavailableConfiguration(
            f"unknown configuration {name!r}; known: {', '.join(CONFIGURATIONS)}"
        )
    update: dict[str, Any] = {}
    for stage, fields in CONFIGURATIONS[name].items():
        values = dict(fields)
        if values.get("reranker_model") == "<settings>":
            if not settings.retrieval.reranker_model:
                raise UnavailableConfiguration(
                    "hybrid+rerank needs SINOQA_RETRIEVAL__RERANKER_MODEL (a local CrossEncoder)"
                )
            values["reranker_model"] = settings.retrieval.reranker_model
        if values.get("backend") == "<settings>":
            if settings.answer.backend == "extractive":
                raise UnavailableConfiguration(
                    "llm needs SINOQA_ANSWER__BACKEND and its server settings (see README)"
                )
            values["backend"] = settings.answer.backend
        update[stage] = getattr(settings, stage).model_copy(update=values)
    return settings.model_copy(update=update)


def _override(settings: Settings, name: str) -> Settings:
    data = settings.model_dump()
    for assignment in name.split(";"):
        key, _, value = assignment.partition("=")
        stage, _, field_name = key.strip().partition(".")
        if stage not in data or not isinstance(data[stage], dict) or field_name not in data[stage]:
            raise UnavailableConfiguration(
                f"unknown setting {key.strip()!r} in configuration {name!r}; "
                "write stage.field=value, e.g. answer.keep_ratio=0.7"
            )
        data[stage][field_name] = value.strip()
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise UnavailableConfiguration(f"configuration {name!r}: {exc}") from exc
