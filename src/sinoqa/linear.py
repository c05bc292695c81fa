"""The linear model behind the article ranker and the sentence scorer: a logistic regression
over named, standardised features, stored as JSON checked by a pydantic schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from sinoqa.errors import ScorerError


@dataclass(frozen=True, eq=False)
class LinearScorer:
    """A logistic regression over named, standardised features."""

    features: tuple[str, ...]
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        logits = ((matrix - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-logits))

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6),
            "mean": [round(float(m), 6) for m in self.mean],
            "scale": [round(float(s), 6) for s in self.scale],
        }

    @classmethod
    def from_json(cls, data: object) -> LinearScorer:
        """The model stored as ``data``; :class:`ScorerError` when it is not one."""
        try:
            stored = StoredModel.model_validate(data)
        except ValidationError as exc:
            raise ScorerError(str(exc)) from None
        return cls(
            features=tuple(stored.features),
            weights=np.asarray(stored.weights, dtype=np.float64),
            bias=stored.bias,
            mean=np.asarray(stored.mean, dtype=np.float64),
            scale=np.asarray(stored.scale, dtype=np.float64),
        )


class StoredModel(BaseModel):
    """One linear model as the weights files store it."""

    model_config = ConfigDict(extra="forbid")

    features: list[str]
    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]

    @model_validator(mode="after")
    def _one_value_per_feature(self) -> StoredModel:
        columns = {len(self.features), len(self.weights), len(self.mean), len(self.scale)}
        if len(columns) != 1:
            raise ValueError("features, weights, mean and scale differ in length")
        if any(value <= 0 for value in self.scale):
            raise ValueError("a feature's scale is not positive")
        return self
