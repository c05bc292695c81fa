"""The BERT encoder in numpy: a question and its candidate sentences are a few short texts,
which numpy encodes as fast as torch, and numpy imports in a tenth of torch's time (the
largest part of a cold `sinoqa ask`). Vectors match the torch encoder's within 1e-6.

Linear layers run as 2-D matrix products over all tokens at once: numpy multiplies stacked
(3-D) arrays one matrix at a time, several times slower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from safetensors.numpy import load_file

from sinoqa.ingestion.bert_encoder import LAYER_WEIGHTS, BertModelFiles, tokenizer_for


@dataclass(frozen=True)
class _Layer:
    """One post-norm BERT encoder layer's weights, matrices transposed (views) for ``x @ w``."""

    qkv: np.ndarray
    qkv_bias: np.ndarray
    weights: dict[str, np.ndarray]  # by LAYER_WEIGHTS name and part: "output.weight"


class NumpyBertEncoder:
    """Texts -> unit-length vectors, as the model's sentence-transformers pipeline makes them."""

    def __init__(self, files: BertModelFiles) -> None:
        config = files.config
        self.pooling = files.pooling
        self.tokenizer = tokenizer_for(files)
        self.heads = int(config["num_attention_heads"])
        self.eps = np.float32(config["layer_norm_eps"])
        weights = {
            name.removeprefix("bert."): value.astype(np.float32, copy=False)
            for name, value in load_file(str(files.directory / "model.safetensors")).items()
        }
        embeddings = "embeddings."
        self.words = weights[embeddings + "word_embeddings.weight"]
        self.positions = weights[embeddings + "position_embeddings.weight"]
        self.token_types = weights[embeddings + "token_type_embeddings.weight"]
        self.embedding_norm = (
            weights[embeddings + "LayerNorm.weight"],
            weights[embeddings + "LayerNorm.bias"],
        )
        self.layers = [_layer(weights, i) for i in range(int(config["num_hidden_layers"]))]

    def encode(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order; the texts are encoded as one padded batch."""
        if not texts:
            return []
        batch = self.tokenizer.encode_batch(texts)
        ids = np.array([encoding.ids for encoding in batch])
        mask = np.array([encoding.attention_mask for encoding in batch], dtype=np.float32)
        types = np.array([encoding.type_ids for encoding in batch])
        size, length = ids.shape
        x = self.words[ids] + self.positions[:length][None] + self.token_types[types]
        x = self._norm(x.reshape(size * length, -1), *self.embedding_norm)
        # Attend to real tokens, never to padding.
        hide = np.where(mask[:, None, None, :] > 0, 0.0, -np.inf).astype(np.float32)
        for layer in self.layers:
            x = self._layer(x, layer, hide, size, length)
        tokens = x.reshape(size, length, -1)
        if self.pooling == "cls":
            pooled = tokens[:, 0]
        else:
            kept = mask[..., None]
            pooled = (tokens * kept).sum(1) / np.maximum(kept.sum(1), np.float32(1e-9))
        norms = np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), np.float32(1e-12))
        result: list[list[float]] = (pooled / norms).tolist()
        return result

    def _layer(
        self, x: np.ndarray, layer: _Layer, hide: np.ndarray, size: int, length: int
    ) -> np.ndarray:
        w = layer.weights
        hidden = x.shape[-1]
        per_head = hidden // self.heads
        qkv = (x @ layer.qkv + layer.qkv_bias).reshape(size, length, 3, self.heads, per_head)
        query, key, value = qkv.transpose(2, 0, 3, 1, 4)
        scores = query @ key.transpose(0, 1, 3, 2) / np.float32(math.sqrt(per_head)) + hide
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attended = (scores / scores.sum(-1, keepdims=True)) @ value
        attended = attended.transpose(0, 2, 1, 3).reshape(size * length, hidden)
        out = attended @ w["attention_out.weight"] + w["attention_out.bias"]
        x = self._norm(x + out, w["attention_norm.weight"], w["attention_norm.bias"])
        inner = x @ w["intermediate.weight"] + w["intermediate.bias"]
        inner = _gelu(inner)
        out = inner @ w["output.weight"] + w["output.bias"]
        return self._norm(x + out, w["output_norm.weight"], w["output_norm.bias"])

    def _norm(self, x: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        variance = np.square(x - mean).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + self.eps) * scale + shift


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * P(X <= x) for a standard normal X, through erfc: numpy has no
    erf, and scipy's costs a third of a second to import. The Chebyshev fit (Numerical
    Recipes' erfcc, fractional error under 1.2e-7), in float32 like the rest, gives the GELU
    within 4e-7 of the exact one."""
    one = np.float32(1.0)
    z = np.abs(x) * np.float32(1.0 / math.sqrt(2.0))
    t = one / (one + np.float32(0.5) * z)
    poly = np.full_like(t, 0.17087277)
    for c in _ERFC_FIT:
        poly = np.float32(c) + t * poly
    tail = t * np.exp(poly - z * z)  # erfc(|x| / sqrt 2)
    return x - np.float32(0.5) * x * np.where(x >= 0, tail, np.float32(2.0) - tail)


#: The fit's coefficients after the first, highest order first.
_ERFC_FIT = (
    -0.82215223,
    1.48851587,
    -1.13520398,
    0.27886807,
    -0.18628806,
    0.09678418,
    0.37409196,
    1.00002368,
    -1.26551223,
)


def _layer(weights: dict[str, np.ndarray], i: int) -> _Layer:
    source = f"encoder.layer.{i}."
    attention = source + "attention.self."
    parts: dict[str, np.ndarray] = {}
    for mine, theirs in LAYER_WEIGHTS.items():
        parts[f"{mine}.weight"] = weights[f"{source}{theirs}.weight"].T  # BLAS reads it as is
        parts[f"{mine}.bias"] = weights[f"{source}{theirs}.bias"]
    qkv = ("query", "key", "value")
    return _Layer(
        qkv=np.concatenate([weights[f"{attention}{name}.weight"] for name in qkv]).T,
        qkv_bias=np.concatenate([weights[f"{attention}{name}.bias"] for name in qkv]),
        weights=parts,
    )
