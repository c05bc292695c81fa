"""The weights files both fitted models share: saved and read back whole, refused with the
command that re-fits them when they are missing, damaged or fitted on other features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sinoqa.answer.scoring import DEFAULT_SCORER, SentenceScorer
from sinoqa.errors import ScorerError
from sinoqa.logistic import FittedModels
from sinoqa.retrieve.ranking import DEFAULT_RANKER, ArticleRanker

SHIPPED = [(SentenceScorer, DEFAULT_SCORER), (ArticleRanker, DEFAULT_RANKER)]


@pytest.mark.parametrize(("kind", "path"), SHIPPED)
def test_a_shipped_weights_file_reads_back_as_it_was_saved(
    tmp_path: Path, kind: type[FittedModels], path: Path
) -> None:
    shipped = kind.load(path)
    assert {role: model.features for role, model in shipped.models.items()} == {
        role: tuple(features) for role, features in kind.roles.items()
    }
    copy = tmp_path / "nested" / "weights.json"
    shipped.save(copy)
    assert json.loads(copy.read_text()) == json.loads(path.read_text())


@pytest.mark.parametrize(("kind", "path"), SHIPPED)
@pytest.mark.parametrize("role", [0, 1])
def test_weights_fitted_on_other_features_are_refused(
    tmp_path: Path, kind: type[FittedModels], path: Path, role: int
) -> None:
    data = json.loads(path.read_text())
    data[list(kind.roles)[role]]["features"][-1] = "something-else"
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(data))
    with pytest.raises(ScorerError, match="fitted on other features") as refused:
        kind.load(stale)
    assert kind.refit in (refused.value.hint or "")


@pytest.mark.parametrize(("kind", "path"), SHIPPED)
@pytest.mark.parametrize("damage", ["missing", "not JSON", "a role left out"])
def test_missing_or_damaged_weights_are_refused_with_the_refit_command(
    tmp_path: Path, kind: type[FittedModels], path: Path, damage: str
) -> None:
    broken = tmp_path / "broken.json"
    if damage == "not JSON":
        broken.write_text("{ half a file")
    elif damage == "a role left out":
        data = json.loads(path.read_text())
        del data[next(iter(kind.roles))]
        broken.write_text(json.dumps(data))
    with pytest.raises(ScorerError, match=f"cannot read the {kind.what}") as refused:
        kind.load(broken)
    assert kind.refit in (refused.value.hint or "")


def test_a_scorer_without_its_fitted_selection_is_refused(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_SCORER.read_text())
    data["selection"] = {"max_sentences": 2}
    broken = tmp_path / "scorer.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(ScorerError, match="cannot read the sentence scorer"):
        SentenceScorer.load(broken)
