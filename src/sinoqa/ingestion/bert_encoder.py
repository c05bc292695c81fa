"""Small encoders for sentence-transformers models of the BERT family: the model's files, read
and checked once here; the arithmetic in :mod:`sinoqa.ingestion.bert_torch` (torch, for
ingesting long chunks in batches) and :mod:`sinoqa.ingestion.bert_numpy` (numpy, for the few
short texts of a question: it needs no torch, the slowest import of a cold `sinoqa ask`).

Why not sentence-transformers itself: importing it (with transformers and scikit-learn) takes
about 4 s of a cold `sinoqa ask`. Both encoders read the same files and give the same vectors
as sentence-transformers to within 1e-6 (tests/ingestion/test_embedding.py checks them against
the real library). Models they cannot read exactly are left to sentence-transformers
(`supports`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import safe_open
from tokenizers import Tokenizer

# The sentence-transformers modules this encoder reproduces, in their order (by class name:
# sentence-transformers 6 writes a longer module path than 5 did).
_MODULE_CLASSES = (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
#: Our layer's parameter names -> a Hugging Face BertLayer's (query/key/value are joined as qkv).
LAYER_WEIGHTS = {
    "attention_out": "attention.output.dense",
    "attention_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
    "output_norm": "output.LayerNorm",
}
_POOLING_FLAGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
_WEIGHT_NAMES = ("embeddings.word_embeddings.weight", "embeddings.LayerNorm.weight")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class BertModelFiles:
    """What the encoder needs from a model directory, read and checked once."""

    directory: Path
    config: dict[str, Any]  # the Hugging Face config.json
    max_length: int  # tokens per text; longer texts are cut, as sentence-transformers cuts them
    pooling: str  # "mean" or "cls"


def inspect_model(model_dir: Path) -> BertModelFiles | None:
    """The model's files when ``model_dir`` is a BERT model this encoder reproduces exactly,
    else None (sentence-transformers then loads it)."""
    needed = ("config.json", "modules.json", "sentence_bert_config.json", "model.safetensors")
    if not all((model_dir / name).is_file() for name in (*needed, "tokenizer.json")):
        return None
    try:
        config, modules, st_config = (_read_json(model_dir / name) for name in needed[:3])
        classes = [str(module["type"]).rsplit(".", 1)[-1] for module in modules]
        if classes not in _MODULE_CLASSES or modules[0]["path"] != "":
            return None
        pooling = _read_json(model_dir / modules[1]["path"] / "config.json")
        with safe_open(str(model_dir / "model.safetensors"), "numpy") as weights:
            names = {name.removeprefix("bert.") for name in weights.keys()}  # noqa: SIM118
        if not (
            config.get("model_type") == "bert"
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            # Half-precision weights run in half precision under sentence-transformers.
            and config.get("torch_dtype", config.get("dtype")) in (None, "float32")
            and isinstance(st_config.get("max_seq_length"), int)
            and not st_config.get("do_lower_case")  # a lowercasing step we do not have
            and set(_WEIGHT_NAMES) <= names
        ):
            return None
        mode = _pooling_of(pooling)
        max_length = min(config["max_position_embeddings"], st_config["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return BertModelFiles(model_dir, config, max_length, mode) if mode else None


def _pooling_of(config: dict[str, Any]) -> str | None:
    """The pooling a Pooling module's config asks for, if it is plain mean or CLS."""
    if "pooling_mode" in config:  # sentence-transformers 6 writes one key
        mode = config["pooling_mode"]
        return mode if mode in ("mean", "cls") else None
    flags = [key for key, value in config.items() if key.startswith("pooling_mode_") and value]
    return _POOLING_FLAGS.get(flags[0]) if len(flags) == 1 else None


def supports(model_dir: Path) -> bool:
    """Whether ``model_dir`` can be encoded here exactly as sentence-transformers would."""
    return inspect_model(model_dir) is not None


def tokenizer_for(files: BertModelFiles) -> Tokenizer:
    """The model's tokenizer, cutting and padding as sentence-transformers does."""
    tokenizer = Tokenizer.from_file(str(files.directory / "tokenizer.json"))
    tokenizer.enable_truncation(files.max_length)
    tokenizer.enable_padding(pad_id=files.config.get("pad_token_id", 0))
    return tokenizer
