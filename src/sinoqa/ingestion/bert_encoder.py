"""A small torch encoder for sentence-transformers models of the BERT family.

Why not sentence-transformers itself: importing it (with transformers and scikit-learn) takes
about 4 s of the 8 s budget for a cold `sinoqa ask`. This module needs only torch, tokenizers
and safetensors (about 1 s), reads the same files, and gives the same vectors as
sentence-transformers to within 1e-6 (tests/ingestion/test_embedding.py checks it against the real
library). Models it cannot read exactly are left to sentence-transformers (`supports`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from tokenizers import Tokenizer
from torch import nn
from torch.nn import functional

# The sentence-transformers modules this encoder reproduces, in their order (by class name:
# sentence-transformers 6 writes a longer module path than 5 did).
_MODULE_CLASSES = (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
# Our layer's parameter names -> a Hugging Face BertLayer's (query/key/value are joined as qkv).
_LAYER_WEIGHTS = {
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
        with safe_open(str(model_dir / "model.safetensors"), "pt") as weights:
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


class BertEncoder:
    """Texts -> unit-length vectors, as the model's sentence-transformers pipeline makes them."""

    def __init__(self, files: BertModelFiles, device: str = "cpu") -> None:
        self.pooling = files.pooling
        self.tokenizer = Tokenizer.from_file(str(files.directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(files.max_length)
        self.tokenizer.enable_padding(pad_id=files.config.get("pad_token_id", 0))
        self.device = torch.device(device)
        # Built on the CPU and then overwritten: building on torch's "meta" device would skip
        # the random initialisation (0.1 s) but costs over a second to set up.
        self.model = _Bert(files.config)
        self.model.load_huggingface_weights(load_file(str(files.directory / "model.safetensors")))
        self.model.to(self.device).eval()

    def encode(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order; the texts are encoded as one padded batch."""
        if not texts:
            return []
        batch = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([encoding.ids for encoding in batch], device=self.device)
        mask = torch.tensor([encoding.attention_mask for encoding in batch], device=self.device)
        types = torch.tensor([encoding.type_ids for encoding in batch], device=self.device)
        with torch.inference_mode():
            tokens = self.model(ids, types, mask)
            if self.pooling == "cls":
                pooled = tokens[:, 0]
            else:
                weights = mask.unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(pooled, dim=-1)
        result: list[list[float]] = vectors.cpu().tolist()
        return result


class _Layer(nn.Module):
    """One post-norm BERT encoder layer (self-attention, then feed-forward)."""

    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.intermediate = nn.Linear(hidden, intermediate)
        self.output = nn.Linear(intermediate, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, hidden // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        attended = functional.scaled_dot_product_attention(query, key, value, attn_mask=keep)
        attended = attended.transpose(1, 2).reshape(batch, length, hidden)
        x = self.attention_norm(x + self.attention_out(attended))
        return self.output_norm(x + self.output(functional.gelu(self.intermediate(x))))


class _Bert(nn.Module):
    """Token vectors of a BERT model (embeddings + encoder layers; no pooler)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        hidden, eps = config["hidden_size"], config["layer_norm_eps"]
        self.words = nn.Embedding(config["vocab_size"], hidden)
        self.positions = nn.Embedding(config["max_position_embeddings"], hidden)
        self.token_types = nn.Embedding(config["type_vocab_size"], hidden)
        self.embedding_norm = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(
            _Layer(hidden, config["num_attention_heads"], config["intermediate_size"], eps)
            for _ in range(config["num_hidden_layers"])
        )

    def forward(self, ids: torch.Tensor, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.words(ids) + self.positions(positions) + self.token_types(types)
        x = self.embedding_norm(x)
        keep = mask.bool()[:, None, None, :]  # attend to real tokens, never to padding
        for layer in self.layers:
            x = layer(x, keep)
        return x

    def load_huggingface_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Load a BertModel's weights (with or without the "bert." prefix)."""
        weights = {key.removeprefix("bert."): value for key, value in weights.items()}
        state = {
            "words.weight": weights["embeddings.word_embeddings.weight"],
            "positions.weight": weights["embeddings.position_embeddings.weight"],
            "token_types.weight": weights["embeddings.token_type_embeddings.weight"],
            "embedding_norm.weight": weights["embeddings.LayerNorm.weight"],
            "embedding_norm.bias": weights["embeddings.LayerNorm.bias"],
        }
        for i in range(len(self.layers)):
            source, target = f"encoder.layer.{i}.", f"layers.{i}."
            attention = source + "attention.self."
            for part in ("weight", "bias"):
                state[f"{target}qkv.{part}"] = torch.cat(
                    [weights[f"{attention}{name}.{part}"] for name in ("query", "key", "value")]
                )
                for mine, theirs in _LAYER_WEIGHTS.items():
                    state[f"{target}{mine}.{part}"] = weights[f"{source}{theirs}.{part}"]
        self.load_state_dict(state)
