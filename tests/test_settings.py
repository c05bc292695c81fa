"""Settings: defaults, environment overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sinoqa.settings import Settings


def test_defaults() -> None:
    settings = Settings()
    assert settings.corpus.dir == Path("corpus")
    assert settings.index.dir == Path("index")
    assert settings.index.chroma_url is None
    assert settings.embedding.model == "all-MiniLM-L6-v2"


def test_environment_overrides_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINOQA_INDEX__CHROMA_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("SINOQA_CHUNKING__CHUNK_SIZE", "128")
    monkeypatch.setenv("SINOQA_CORPUS__DIR", "/data/articles")
    settings = Settings()
    assert settings.index.chroma_url == "http://127.0.0.1:9000"
    assert settings.chunking.chunk_size == 128
    assert settings.corpus.dir == Path("/data/articles")


def test_unknown_and_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        Settings(chunking={"chunk_size": 100, "chunk_overlap": 100})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(index={"colour": "blue"})  # type: ignore[arg-type]
    monkeypatch.setenv("SINOQA_CHUNKING__CHUNK_SIZE", "lots")
    with pytest.raises(ValidationError):
        Settings()


def test_with_paths_overrides_only_the_given_paths() -> None:
    settings = Settings().with_paths(index=Path("/tmp/other-index"))
    assert settings.index.dir == Path("/tmp/other-index")
    assert settings.corpus.dir == Path("corpus")
