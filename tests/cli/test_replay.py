"""The replay behind ``unfreeze plan`` and the timeline behind ``unfreeze plot``, from Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from unfreeze_core import ByCount, ByLayers, FixedEpoch, GradNorm, Plateau, Schedule
from unfreeze_core.plotting import MISSING_MATPLOTLIB, plot_timeline
from unfreeze_core.replay import (
    GroupInfo,
    recorded_groups,
    replay,
    schedule_groups,
    watched_metrics,
)
from unfreeze_core.timeline import HistoryError, Timeline

from .helpers import driver_history


def test_watched_metrics_are_found_anywhere_in_the_tree() -> None:
    policy = FixedEpoch(every=9) | (Plateau(monitor="val_acc") & Plateau(monitor="val_loss"))
    assert watched_metrics(Schedule(policy)) == ["val_acc", "val_loss"]
    assert watched_metrics(Schedule(FixedEpoch(every=1))) == []


def test_groups_from_the_schedule_or_the_history() -> None:
    assert schedule_groups(Schedule(FixedEpoch(every=1), groups=ByCount(2))) == [
        GroupInfo("group_0"), GroupInfo("group_1")]
    # named as the driver names them: group_<i>, or the names given
    assert schedule_groups(Schedule(FixedEpoch(every=1), groups=ByLayers([["a", "b"], ["c"]]))
                           ) == [GroupInfo("group_0"), GroupInfo("group_1")]
    named = ByLayers({"low": ["a", "b"], "top": ["c"]})
    assert schedule_groups(Schedule(FixedEpoch(every=1), groups=named)) == [
        GroupInfo("low"), GroupInfo("top")]
    assert schedule_groups(Schedule(FixedEpoch(every=1))) is None
    assert [g.name for g in recorded_groups(driver_history()) or []] == [
        "backbone/conv", "backbone/dense", "head"]
    assert recorded_groups({"loss": [1.0]}) is None


def test_a_replay_over_a_driver_history_compares_with_what_ran() -> None:
    history = driver_history(6)
    same = replay(Schedule(FixedEpoch(every=2)), ["a", "b", "c"], history)
    assert [r.stage for r in same.records] == [1, 1, 2, 2, 3, 3]
    assert same.recorded == (1.0, 1.0, 2.0, 2.0, 3.0, 3.0)
    assert not same.differs_from_recorded()
    assert same.first_epochs() == {2: 0, 1: 2, 0: 4}
    assert [r.epoch for r in same.stage_changes()] == [1, 3]
    other = replay(Schedule(FixedEpoch(every=1)), ["a", "b", "c"], history)
    assert other.differs_from_recorded()
    data = same.to_json()
    assert data["groups"][0] == {"name": "a", "n_layers": None, "n_params": None}
    assert data["epochs"][1]["unfreezes_after"] == ["b"]


def test_what_a_replay_cannot_see_is_said() -> None:
    plateau = replay(Schedule(Plateau()), ["a", "b"], epochs=3)
    assert len(plateau.records) == 3
    assert any("never sees 'val_loss'" in n for n in plateau.notes)
    norms = replay(Schedule(GradNorm(fraction=0.5)), ["a", "b"], {"loss": [1.0, 0.5]})
    assert any("GradNorm reads per-step gradient norms" in n for n in norms.notes)


def test_a_history_without_the_watched_metric_or_long_enough_is_refused() -> None:
    with pytest.raises(HistoryError, match="run.json has no 'val_loss'"):
        replay(Schedule(Plateau()), ["a"], {"loss": [1.0]}, source="run.json")
    with pytest.raises(HistoryError, match="5 epochs is more than the 1 epochs"):
        replay(Schedule(FixedEpoch(every=1)), ["a"], {"loss": [1.0]}, epochs=5)


def test_the_best_epoch_follows_the_mode() -> None:
    t = Timeline.from_history({**driver_history(4), "val_loss": [0.5, 0.3, 0.3, 0.4]})
    assert t.best_epoch() == 1  # the first of two equal bests
    t = Timeline.from_history(driver_history(4), monitor="val_accuracy")
    assert t.mode == "max" and t.best_epoch() == 3


def test_without_matplotlib_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    with pytest.raises(ModuleNotFoundError) as caught:
        plot_timeline(Timeline.from_history(driver_history()), tmp_path / "t.png")
    assert str(caught.value) == MISSING_MATPLOTLIB
    assert 'pip install "unfreeze-core[plot]"' in MISSING_MATPLOTLIB
    assert not (tmp_path / "t.png").exists()
