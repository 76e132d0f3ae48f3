"""``unfreeze plan``: a dry run per epoch, with groups from a count, a history or a model."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from unfreeze_core import load_schedule
from unfreeze_core.cli import main

from .helpers import PNG_MAGIC, RunCli


def plan_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(main, ["plan", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_fixed_timetable_over_a_group_count(files: dict[str, Path]) -> None:
    out = plan_json(str(files["fixed"]), "--groups", "3", "--epochs", "6")
    epochs = out["epochs"]
    assert [e["stage"] for e in epochs] == [1, 1, 2, 2, 3, 3]
    assert [e["unfreezes_after"] for e in epochs] == [[], ["group_1"], [], ["group_0"], [], []]
    # discriminative factor 2: each group below the top learns half as fast
    assert epochs[0]["lr_multipliers"] == [0.0, 0.0, 1.0]
    assert epochs[2]["lr_multipliers"] == [0.0, 0.5, 1.0]
    assert epochs[5]["lr_multipliers"] == [0.25, 0.5, 1.0]


def test_the_table_shows_stages_changes_and_multipliers(files: dict[str, Path]) -> None:
    args = ["plan", str(files["fixed"]), "--groups", "3", "--epochs", "6"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    # the sentence wraps at the console's width (80 columns where stdout is not a terminal)
    assert (
        "Stage changes (groups trainable): after epoch 2 -> stage 2 (2 groups); after epoch 4 "
        "-> stage 3 (3 groups)."
    ) in " ".join(result.output.split())
    lines = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(lines) == 6
    last = [cell.strip() for cell in lines[-1].strip("│").split("│")]
    # epoch, stage (of 3 stages), groups trainable (of 3), unfreezes after it, LR x per group
    assert last == ["6", "3/3", "3/3", "", "0.250", "0.500", "1.000"]
    assert "at the epoch's last step" in result.output


def test_replaying_a_plateau_over_a_history(tmp_path: Path, files: dict[str, Path]) -> None:
    history = {"loss": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5],
               "val_loss": [1.0, 0.8, 0.8, 0.8, 0.7, 0.7]}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(history))
    out = plan_json(str(files["good"]), "--history", str(path), "--groups", "3")
    # the replay knows the budget (6 epochs), so Plateau's deadline applies as in the
    # driver: every group by epoch floor(0.6 * 6) = 3, two advances, so the first stage
    # gets one epoch; then patience 1: epoch 3 does not improve on 0.8, the last group goes
    assert [e["stage"] for e in out["epochs"]] == [1, 2, 2, 3, 3, 3]
    assert [e["unfreezes_after"] for e in out["epochs"]][:3] == [["group_1"], [], ["group_0"]]
    expected = load_schedule(files["good"]).dry_run(3, history, epochs=6)
    assert [e["lr_multipliers"] for e in out["epochs"]] == [
        list(r.lr_multipliers) for r in expected
    ]
    assert out["epochs"][2]["logs"]["val_loss"] == 0.8


def test_groups_and_recorded_stages_come_from_a_driver_history(files: dict[str, Path]) -> None:
    args = ["plan", str(files["fixed"]), "--history", str(files["history"])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "the rates recorded in history.json" in result.output
    assert "differ" not in result.output  # fixed every 2 epochs is what the history recorded
    mismatch = CliRunner().invoke(
        main, ["plan", str(files["good"]), "--history", str(files["history"])]
    )
    assert mismatch.exit_code == 0, mismatch.output
    assert "The replayed stages differ from the recorded ones" in mismatch.output


def test_a_csvlogger_history(tmp_path: Path, files: dict[str, Path]) -> None:
    path = tmp_path / "training.csv"
    path.write_text("epoch,loss,val_loss\n0,1.0,1.0\n1,0.9,1.0\n2,0.8,0.9\n")
    out = plan_json(str(files["good"]), "--history", str(path), "--groups", "2")
    # a 3-epoch budget: Plateau's deadline wants every group by epoch floor(0.6 * 3) = 1
    assert [e["stage"] for e in out["epochs"]] == [1, 2, 2]
    assert [e["logs"]["val_loss"] for e in out["epochs"]] == [1.0, 1.0, 0.9]


def test_plot_of_the_dry_run(tmp_path: Path, files: dict[str, Path]) -> None:
    png = tmp_path / "plots" / "replay.png"
    result = CliRunner().invoke(
        main, ["plan", str(files["fixed"]), "--history", str(files["history"]), "--plot", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--groups", "3", "--history", "{run}"], "has no 'val_loss', which the schedule's policy"),
        ([], "the number of groups is unknown: give --groups N"),
        (["--groups", "3", "--history", "{history}", "--epochs", "99"], "--epochs 99 is more"),
        (["--groups", "3", "--history", "{missing}"], "does not exist"),
        (["--groups", "3", "--model", "{corrupt}"], "the file is corrupt or truncated"),
        (["--groups", "3", "--model", "{cut}"], "the file is corrupt or truncated"),
        (["--groups", "3", "--model", "{h5}"], "corrupt or not an HDF5 file"),
        (["--groups", "3", "--model", "{history}"], "not a saved Keras model"),
    ],
)
def test_bad_input_exits_2_with_an_explanation(
    tmp_path: Path, files: dict[str, Path], args: list[str], message: str
) -> None:
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"loss": [1.0, 0.5], "accuracy": [0.5, 0.6]}))
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    cut = tmp_path / "cut.keras"  # a real archive, truncated: its directory is gone
    with zipfile.ZipFile(cut, "w") as archive:
        archive.writestr("config.json", "{}" * 2000)
        archive.writestr("model.weights.h5", b"\0" * 5000)
    cut.write_bytes(cut.read_bytes()[:3000])
    h5 = tmp_path / "old.h5"
    h5.write_bytes(b"not hdf5")
    names = {"run": run, "history": files["history"], "missing": tmp_path / "nope.json",
             "corrupt": corrupt, "cut": cut, "h5": h5}
    filled = [a.format(**{k: str(v) for k, v in names.items()}) for a in args]
    result = CliRunner().invoke(main, ["plan", str(files["good"]), *filled])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert "File not found" not in result.output


def test_a_schedule_for_more_groups_than_there_are(tmp_path: Path) -> None:
    schedule = tmp_path / "s.json"
    schedule.write_text(json.dumps({"version": 1, "policy": {"type": "fixed_epoch", "every": 1},
                                    "initial": 4}))
    result = CliRunner().invoke(main, ["plan", str(schedule), "--groups", "3"])
    assert result.exit_code == 2
    assert "initial: must be <= the number of groups (3), got 4" in result.output


@pytest.mark.keras
def test_groups_of_a_saved_model(tmp_path: Path, files: dict[str, Path]) -> None:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, name="a"),
                              keras.layers.Dense(3, name="b"), keras.layers.Dense(2, name="c")])
    path = tmp_path / "m.keras"
    model.save(path)
    out = plan_json(str(files["fixed"]), "--model", str(path), "--epochs", "6")
    assert out["groups"] == [
        {"name": "a", "n_layers": 1, "n_params": 25},
        {"name": "b", "n_layers": 1, "n_params": 18},
        {"name": "c", "n_layers": 1, "n_params": 8},
    ]
    assert [e["trainable"] for e in out["epochs"]][::2] == [["c"], ["b", "c"], ["a", "b", "c"]]
    table = CliRunner().invoke(main, ["plan", str(files["fixed"]), "--model", str(path)])
    assert table.exit_code == 0, table.output
    # the groups table is unfreeze_core.keras.plan's own rendering, with the replay's epochs
    assert "3 groups, 3 stages, 51 parameters that can train" in table.output
    assert re.search(r"^\s+0\s+a\s+1\s+25\s+3\s+5$", table.output, re.M), table.output

    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"version": 1, "policy": {"type": "fixed_epoch", "every": 1},
                                 "groups": {"type": "count", "n": 5}}))
    result = CliRunner().invoke(main, ["plan", str(wrong), "--model", str(path)])
    assert result.exit_code == 2, result.output
    assert "does not fit the model" in result.output and "must be <= 3" in result.output


def test_plan_in_a_subprocess(files: dict[str, Path], run_cli: RunCli) -> None:
    ok = run_cli("plan", str(files["fixed"]), "--groups", "3", "--epochs", "4")
    assert ok.returncode == 0, ok.stderr
    assert "after epoch 2 -> stage 2 (2 groups)" in ok.stdout
    bad = run_cli("plan", str(files["good"]), "--groups", "3", "--history", "nope.csv")
    assert bad.returncode == 2
    assert "nope.csv does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr


WARMUP = {"version": 1, "groups": 3, "initial": 2, "policy": {"type": "fixed_epoch", "every": 2},
          "rules": [{"type": "warmup", "steps": 6}]}


def _write(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_stage_numbers_and_groups_trainable_are_two_columns(tmp_path: Path) -> None:
    """Stage 1 trains 2 groups: the stage is numbered as the verbose lines number it."""
    schedule = _write(tmp_path, "s.json", WARMUP)
    out = plan_json(schedule, "--epochs", "4", "--steps-per-epoch", "2")
    assert out["n_stages"] == 2
    assert [e["stage"] for e in out["epochs"]] == [1, 1, 2, 2]
    assert [e["groups_trainable"] for e in out["epochs"]] == [2, 2, 3, 3]
    table = CliRunner().invoke(main, ["plan", schedule, "--epochs", "4", "--steps-per-epoch", "2"])
    rows = [line for line in table.output.splitlines() if line.startswith("│")]
    first = [c.strip() for c in rows[0].strip("│").split("│")]
    assert first[:3] == ["1", "1/2", "2/3"], table.output


def test_rates_are_sampled_at_each_epochs_last_step(tmp_path: Path) -> None:
    schedule = _write(tmp_path, "s.json", WARMUP)
    out = plan_json(schedule, "--epochs", "3", "--steps-per-epoch", "2")
    # a 6-step warmup of the head: steps 2, 4, 6 end the epochs, (k + 1) / 6 at step k
    assert [e["lr_multipliers"][2] for e in out["epochs"]] == pytest.approx([2 / 6, 4 / 6, 1.0])


def test_steps_per_epoch_come_from_the_history(tmp_path: Path) -> None:
    schedule = _write(tmp_path, "s.json", WARMUP)
    history = {"loss": [1.0, 0.9, 0.8], "unfreeze_steps": [2.0, 4.0, 6.0],
               "unfreeze_stage": [1.0, 1.0, 2.0], "unfreeze_groups_trainable": [2.0, 2.0, 3.0]}
    out = plan_json(schedule, "--history", _write(tmp_path, "h.json", history))
    assert out["steps_per_epoch"] == 2
    assert out["epochs"][0]["lr_multipliers"][2] == pytest.approx(2 / 6)
    table = CliRunner().invoke(main, ["plan", schedule, "--history", str(tmp_path / "h.json")])
    assert "2 steps per epoch" in table.output
    assert "differ" not in table.output


def test_a_history_without_its_steps_is_not_guessed(tmp_path: Path) -> None:
    schedule = _write(tmp_path, "s.json", WARMUP)
    plain = _write(tmp_path, "h.json", {"loss": [1.0, 0.9, 0.8]})
    result = CliRunner().invoke(main, ["plan", schedule, "--history", plain])
    assert result.exit_code == 2, result.output
    assert "does not record how many optimizer steps" in result.output
    assert "--steps-per-epoch N" in result.output
    given = plan_json(schedule, "--history", plain, "--steps-per-epoch", "3")
    assert given["steps_per_epoch"] == 3
    uneven = _write(tmp_path, "u.json", {"loss": [1.0, 0.9, 0.8], "unfreeze_steps": [2, 4, 7]})
    result = CliRunner().invoke(main, ["plan", schedule, "--history", uneven])
    assert result.exit_code == 2
    assert "different numbers of optimizer steps" in result.output
    # a schedule that does not count steps needs no number
    fixed = _write(tmp_path, "f.json", {**WARMUP, "rules": []})
    assert plan_json(fixed, "--history", plain)["steps_per_epoch"] == 1


def test_without_a_history_the_assumed_steps_are_a_note(tmp_path: Path) -> None:
    schedule = _write(tmp_path, "s.json", WARMUP)
    result = CliRunner().invoke(main, ["plan", schedule, "--epochs", "3"])
    assert result.exit_code == 0, result.output
    assert "this replay assumes 1: pass --steps-per-epoch" in result.output


def test_the_table_fits_80_columns(tmp_path: Path) -> None:
    """No header cut short ('val_lo…'), the title on its own line, one precision per
    column."""
    schedule = _write(tmp_path, "s.json", {
        "version": 1, "groups": 6, "policy": {"type": "plateau", "patience": 0},
        "rules": [{"type": "discriminative", "factor": 12.0}]})
    history = _write(tmp_path, "h.json", {"val_loss": [1.0, 1.2, 0.5, 0.6, 0.7, 0.8, 0.9]})
    result = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["plan", schedule, "--history", history])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, result.output
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert all(line[-1] in "┓┃┩│┘" for line in table), result.output  # nothing cropped
    assert "…" not in result.output
    assert lines[0].startswith("Dry run: 7 epochs, 6 groups")
    assert "val_loss" in lines[2] + lines[3] and "recorded" not in result.output
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in lines if "│" in line]
    assert {len(r[1].split(".")[-1]) for r in rows if "." in r[1]} == {3}  # val_loss: .3f
    multipliers = re.findall(r"\d\.\d+(?:e[-+]\d\d)?", " ".join(r[-1] for r in rows))
    assert multipliers and all("e" in m for m in multipliers)  # one format in the column
