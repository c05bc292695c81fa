"""The fitted models behind the article ranker and the sentence scorer: logistic regressions
over named, standardised features, each feature one function in a registry, stored as JSON
checked by a pydantic schema.

A model's registry is the one place its features are named: the column order a model is
fitted and applied with, the candidates the fitting compares, and the check that a saved
model was fitted on the features this version computes all read from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from sinoqa.errors import ScorerError

Context = TypeVar("Context")


@dataclass(frozen=True, eq=False)
class LogisticModel:
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
    def from_json(cls, data: object) -> LogisticModel:
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
    """One logistic model as the weights files store it."""

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


@dataclass(frozen=True)
class Feature(Generic[Context]):
    """One column: its name, the group it was proposed in, whether the shipped model uses it,
    and the function computing it for row ``i`` of a context (None: its callers compute it
    from what only they hold, such as vectors)."""

    name: str
    group: str
    adopted: bool
    compute: Callable[[Context, int], float] | None
    description: str


class FeatureRegistry(Generic[Context]):
    """The features of one fitted model, in column order (the order they are registered)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._features: dict[str, Feature[Context]] = {}

    def feature(
        self, group: str, *, adopted: bool = True
    ) -> Callable[[Callable[[Context, int], float]], Callable[[Context, int], float]]:
        """Register the decorated function as the feature of its name (its docstring says
        what it measures)."""

        def register(compute: Callable[[Context, int], float]) -> Callable[[Context, int], float]:
            name = compute.__name__
            if name in self._features:
                raise ValueError(f"{self.model}: feature {name!r} registered twice")
            description = " ".join((compute.__doc__ or "").split())
            self._features[name] = Feature(name, group, adopted, compute, description)
            return compute

        return register

    def column(self, name: str, group: str, description: str, *, adopted: bool = True) -> None:
        """Name a column its callers compute (from sentence vectors, say) in its place."""
        if name in self._features:
            raise ValueError(f"{self.model}: feature {name!r} registered twice")
        self._features[name] = Feature(name, group, adopted, None, description)

    def names(
        self, *, groups: Iterable[str] | None = None, adopted: bool | None = None
    ) -> tuple[str, ...]:
        """Feature names in column order, of the ``groups`` given, adopted or not as asked."""
        wanted = set(groups) if groups is not None else None
        return tuple(
            f.name
            for f in self._features.values()
            if (wanted is None or f.group in wanted) and (adopted is None or f.adopted == adopted)
        )

    def __getitem__(self, name: str) -> Feature[Context]:
        return self._features[name]

    def matrix(self, context: Context, rows: int, names: Sequence[str]) -> np.ndarray:
        """One row per item of ``context`` (``rows`` of them), one column per name."""
        computes = [self._features[name].compute for name in names]
        if None in computes:
            raise ValueError(f"{self.model}: {names} include columns their callers compute")
        values = [[compute(context, i) for compute in computes if compute] for i in range(rows)]
        return np.array(values, dtype=np.float64).reshape(rows, len(names))


@dataclass(frozen=True, eq=False)
class FittedModels:
    """Models fitted together and saved in one weights file, each by its role, with the data
    they were fitted on. A subclass declares its roles' columns, what it is and the command
    that re-fits it (``class Ranker(FittedModels, roles=..., what=..., refit=...)``), and may
    store more beside the models (its ``_extra`` and ``_from_extra`` hooks)."""

    #: Each model's columns, by its role in the weights file.
    roles: ClassVar[Mapping[str, Sequence[str]]]
    #: What the file holds, as an error message names it ("sentence scorer").
    what: ClassVar[str]
    #: The command that fits it again.
    refit: ClassVar[str]

    def __init_subclass__(
        cls, *, roles: Mapping[str, Sequence[str]], what: str, refit: str, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.roles, cls.what, cls.refit = roles, what, refit

    models: Mapping[str, LogisticModel]
    trained_on: dict[str, Any]

    def save(self, path: Path) -> None:
        """The weights file: each model by its role, ``trained_on`` and the subclass's extra."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, object] = {role: m.to_json() for role, m in self.models.items()}
        payload.update(trained_on=self.trained_on, **self._extra())
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Self:
        """The models in ``path``, each checked against its role's columns; :class:`ScorerError`
        naming the re-fit command when the file is missing, damaged or fitted on other
        features."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            models = {role: LogisticModel.from_json(data[role]) for role in cls.roles}
            extra = cls._from_extra(data)
        except (OSError, ValueError, KeyError, TypeError, ScorerError) as exc:
            raise ScorerError(
                f"cannot read the {cls.what} {path}: {exc}", hint=f"re-fit it with `{cls.refit}`"
            ) from exc
        for role, features in cls.roles.items():
            if models[role].features != tuple(features):
                raise ScorerError(
                    f"the {cls.what} {path} was fitted on other features",
                    hint=f"re-fit it with `{cls.refit}`",
                )
        return cls(models, dict(data.get("trained_on", {})), **extra)

    def _extra(self) -> dict[str, object]:
        """What the subclass stores beside the models (JSON values, by key)."""
        return {}

    @classmethod
    def _from_extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """The subclass's own fields, read back from the file's ``data``."""
        return {}
