"""Reading Keras ``History`` JSON and ``CSVLogger`` files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from unfreeze_core.cli.history import find_history, read_history
from unfreeze_core.timeline import HistoryError, Timeline

from .helpers import driver_history


def test_json_history_round_trips(tmp_path: Path) -> None:
    history = driver_history()
    path = tmp_path / "h.json"
    path.write_text(json.dumps(history))
    assert read_history(path) == history


def test_json_history_inside_a_wrapper_and_nulls(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"history": {"loss": [1, None, 0.5]}, "params": {"epochs": 3}}))
    loaded = read_history(path)
    assert loaded["loss"][0] == 1.0 and math.isnan(loaded["loss"][1]) and loaded["loss"][2] == 0.5


def test_csvlogger_format(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "epoch,loss,unfreeze_lr/head,unfreeze_stage,val_loss\n"
        "0,0.9,0.001,1.0,1.1\n1,0.7,0.001,2.0,\n"
    )
    loaded = read_history(path)
    assert list(loaded) == ["loss", "unfreeze_lr/head", "unfreeze_stage", "val_loss"]
    assert loaded["unfreeze_stage"] == [1.0, 2.0]
    assert loaded["val_loss"][0] == 1.1 and math.isnan(loaded["val_loss"][1])


def test_a_folder_means_its_history_json(tmp_path: Path) -> None:
    (tmp_path / "history.json").write_text(json.dumps({"loss": [1.0]}))
    assert find_history(tmp_path) == tmp_path / "history.json"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HistoryError, match="without a history.json"):
        find_history(empty)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("h.json", "[1, 2]", "must be a JSON object"),
        ("h.json", '{"loss": 3}', "'loss' must be a list"),
        ("h.json", '{"loss": [1, "x"]}', r"'loss'\[1\] must be a number"),
        ("h.json", "{not json", "not valid JSON"),
        ("h.json", '{"loss": []}', "holds no epoch"),
        ("h.csv", "epoch,loss\n0,abc\n", "line 2: column 'loss' must hold numbers"),
        ("h.csv", "epoch,loss\n0,1,2\n", "3 values for 2 columns"),
        ("h.yaml", "loss: [1]", "unknown history type '.yaml'"),
        ("missing.json", None, "does not exist"),
    ],
)
def test_bad_histories_say_what_is_wrong(
    tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(HistoryError, match=message):
        read_history(path)


def test_timeline_reads_the_driver_keys() -> None:
    t = Timeline.from_history(driver_history(6))
    assert t.n_epochs == 6
    assert t.bands() == [(0, 1, 1.0), (2, 3, 2.0), (4, 5, 3.0)]
    assert list(t.rates) == ["backbone/conv", "backbone/dense", "head"]
    assert t.trainable_params == (10, 10, 110, 110, 1110, 1110)
    assert t.monitor == "val_loss"  # the default when present
    assert set(t.metrics) == {"loss", "val_loss", "val_accuracy"}


def test_new_and_old_stage_keys_read_the_same() -> None:
    """``unfreeze_stage`` is the stage number now; older histories counted the groups
    trainable under that name (and numbered stages from 0 in ``unfreeze_stage_index``)."""
    new = {"loss": [1.0, 0.9, 0.8], "unfreeze_stage": [1.0, 1.0, 2.0],
           "unfreeze_groups_trainable": [2.0, 2.0, 4.0]}
    old = {"loss": [1.0, 0.9, 0.8], "unfreeze_stage": [2.0, 2.0, 4.0],
           "unfreeze_stage_index": [0.0, 0.0, 1.0]}
    oldest = {"loss": [1.0, 0.9, 0.8], "unfreeze_stage": [2.0, 2.0, 4.0]}
    for history in (new, old, oldest):
        t = Timeline.from_history(history)
        assert t.stage_index == (0.0, 0.0, 1.0)
        assert t.groups_trainable == (2.0, 2.0, 4.0)
        assert t.bands() == [(0, 1, 2.0), (2, 2, 4.0)]


def test_timeline_needs_the_driver_keys_and_known_metrics() -> None:
    with pytest.raises(HistoryError, match="not recorded with the ProgressiveUnfreezing"):
        Timeline.from_history({"loss": [1.0]})
    with pytest.raises(HistoryError, match="'val_auc' is not in the history"):
        Timeline.from_history(driver_history(), monitor="val_auc")
