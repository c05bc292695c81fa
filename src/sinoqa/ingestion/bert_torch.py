"""The BERT encoder in torch: fast on long chunks in batches (ingest), and on a GPU."""

from __future__ import annotations

from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional

from sinoqa.ingestion.bert_encoder import LAYER_WEIGHTS, BertModelFiles, tokenizer_for


class TorchBertEncoder:
    """Texts -> unit-length vectors, as the model's sentence-transformers pipeline makes them."""

    def __init__(self, files: BertModelFiles, device: str = "cpu") -> None:
        self.pooling = files.pooling
        self.tokenizer = tokenizer_for(files)
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
                for mine, theirs in LAYER_WEIGHTS.items():
                    state[f"{target}{mine}.{part}"] = weights[f"{source}{theirs}.{part}"]
        self.load_state_dict(state)
