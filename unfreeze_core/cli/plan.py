"""``unfreeze plan``: what a schedule would do, epoch by epoch, without training.

The command chooses the groups, calls :func:`unfreeze_core.replay.replay` and prints the
result (:mod:`._plan_table`); with ``--model`` the groups come from
:func:`unfreeze_core.keras.plan`, whose :meth:`~unfreeze_core.keras.Plan.format` prints
them.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from ..errors import ConfigError
from ..plotting import plot_timeline
from ..replay import GroupInfo, recorded_groups, replay, schedule_groups
from ..schedule import Schedule
from ._common import (
    BadInput,
    config_message,
    guarded,
    import_keras,
    load_schedule_file,
    make_console,
)
from ._plan_table import print_replay
from .history import read_history

if TYPE_CHECKING:  # imports Keras; loaded by load_model_plan, only with --model
    from ..keras.plan import Plan

__all__ = ["load_model_plan", "plan"]


def load_model_plan(path: Path, schedule: Schedule) -> Plan:
    """:func:`unfreeze_core.keras.plan` of the saved model ``path`` (imports Keras).

    Raises:
        BadInput: the file is missing or not a Keras model, or the schedule's grouping
            does not fit the model (the message lists the model's layers).
    """
    if not path.is_file():
        raise BadInput(f"{path}: no such file; give a model saved with model.save('model.keras')")
    if path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise BadInput(
            f"{path}: not a saved Keras model (expected a .keras file written by "
            "model.save('model.keras'), or a legacy .h5 file)"
        )
    _check_archive(path)
    with make_console().status(f"Loading Keras and {escape(path.name)} ...", spinner="dots"):
        keras = import_keras()
        # the Keras adapter is imported only here, so that `unfreeze plan` without --model
        # never loads Keras or TensorFlow
        from ..keras.plan import plan as plan_model

        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as exc:
            detail = " ".join(str(exc).split())[:300]
            raise BadInput(
                f"{path}: cannot load it as a Keras model ({type(exc).__name__}: {detail}). "
                "Give a file written by model.save('model.keras'); a model with custom layers "
                "needs them registered with @keras.saving.register_keras_serializable()."
            ) from None
    try:
        return plan_model(model, schedule)
    except (ConfigError, ValueError) as exc:
        message = config_message(exc) if isinstance(exc, ConfigError) else str(exc)
        raise BadInput(f"the schedule does not fit the model in {path}:\n{message}") from None


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_archive(path: Path) -> None:
    """Reject a ``.keras`` file that is not a zip archive, or an ``.h5`` file that is not
    HDF5, before Keras loads (Keras reports both as "File not found").

    Raises:
        BadInput: the file is corrupt or truncated.
    """
    size = path.stat().st_size
    if path.suffix.lower() == ".keras":
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            names = None
        if names is None or "config.json" not in names:
            what = "not a zip archive" if names is None else "a zip archive without config.json"
            raise BadInput(
                f"{path}: the file is corrupt or truncated ({what}, {size} bytes); a .keras "
                "file is the zip archive model.save('model.keras') writes. Save the model again."
            )
    else:
        with path.open("rb") as f:
            head = f.read(len(_HDF5_SIGNATURE))
        if head != _HDF5_SIGNATURE:
            raise BadInput(
                f"{path}: the file is corrupt or not an HDF5 file ({size} bytes); save the "
                "model again with model.save('model.keras')"
            )


@click.command(short_help="Dry-run a schedule: stages, unfreezing, LR multipliers.")
@click.argument("schedule_file", metavar="SCHEDULE", type=click.Path(path_type=Path))
@click.option("--model", "model_file", type=click.Path(path_type=Path),
              help="A saved model (.keras): resolve its groups (names, layers, parameters).")
@click.option("--history", "history_file", type=click.Path(path_type=Path),
              help="A recorded run: Keras History as JSON, or a CSVLogger CSV. The policy is "
                   "replayed over its metrics.")
@click.option("--epochs", type=click.IntRange(min=1),
              help="Epochs to plan (default: the history's length, else 10).")
@click.option("--groups", "n_groups", type=click.IntRange(min=1),
              help="Number of groups when there is no model.")
@click.option("--steps-per-epoch", type=click.IntRange(min=1),
              help="Optimizer steps per epoch, for warmups and other step-based rules "
                   "(default: what the history records; 1 when nothing depends on it).")
@click.option("--plot", "plot_file", type=click.Path(path_type=Path),
              help="Also draw the planned timeline into this PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@guarded
def plan(
    schedule_file: Path,
    model_file: Path | None,
    history_file: Path | None,
    epochs: int | None,
    n_groups: int | None,
    steps_per_epoch: int | None,
    plot_file: Path | None,
    as_json: bool,
) -> None:
    """Dry-run SCHEDULE: per epoch, the stage, what unfreezes and every group's LR multiplier.

    No training happens. The groups come from --model (a saved .keras model, grouped as
    the schedule says), from --groups N, from the schedule itself (groups = N or explicit
    lists), or from the learning-rate columns of a history recorded with the driver.
    With --history the policy is replayed over that run's metrics: this answers "what
    would this plateau policy have done on my last run?". Stages are numbered from 1, as
    the driver's verbose lines and logs number them. LR multipliers are relative to the
    optimizer's base rate, at each epoch's last step (the rate the driver logs).

    Exit status: 0 ok, 2 bad input (a missing or corrupt file, a schedule that does not
    fit the model, a history without the metric the policy watches).

    Examples:

      unfreeze plan schedule.toml --groups 4 --epochs 12

      unfreeze plan schedule.toml --history run/history.json --plot replay.png

      unfreeze plan schedule.toml --model model.keras --history training.csv
    """
    schedule = load_schedule_file(schedule_file)
    history = read_history(history_file) if history_file is not None else None
    model_plan = load_model_plan(model_file, schedule) if model_file is not None else None
    groups, source = _choose_groups(schedule, model_file, model_plan, n_groups, history,
                                    history_file)
    if history is not None and epochs is not None:
        length = max(len(v) for v in history.values())
        if epochs > length:
            raise BadInput(f"--epochs {epochs} is more than the {length} epochs in {history_file}")
    try:
        replayed = replay(schedule, groups, history, epochs=epochs,
                          steps_per_epoch=steps_per_epoch, source=str(history_file))
    except ConfigError as exc:
        raise BadInput(
            f"the schedule does not fit {len(groups)} groups:\n{config_message(exc)}"
        ) from None
    if as_json:
        click.echo(json.dumps(replayed.to_json(), indent=2))
    else:
        if model_plan is not None:  # the groups table of unfreeze_core.keras.plan
            click.echo(model_plan.with_first_epochs(replayed.first_epochs()).format())
        print_replay(make_console(), replayed, source, schedule)
    if plot_file is not None:
        name = f"dry run of {schedule_file.name}"
        timeline = replayed.timeline(name + (f" over {history_file.name}" if history_file else ""))
        try:
            plot_file.parent.mkdir(parents=True, exist_ok=True)
            plot_timeline(timeline, plot_file)
        except OSError as exc:
            raise BadInput(f"cannot write {plot_file}: {exc.strerror or exc}") from None
        if not as_json:
            make_console().print(f"Timeline written to {escape(str(plot_file))}")


def _choose_groups(
    schedule: Schedule,
    model_file: Path | None,
    model_plan: Plan | None,
    n_groups: int | None,
    history: dict[str, list[float]] | None,
    history_file: Path | None,
) -> tuple[list[GroupInfo], str]:
    """The groups and where they come from: the model, --groups, the schedule, the history."""
    if model_plan is not None:
        groups = [GroupInfo(g.name, len(g.layers), g.n_params) for g in model_plan.groups]
        if n_groups is not None and n_groups != len(groups):
            raise BadInput(
                f"--groups {n_groups} contradicts the model, which the schedule splits into "
                f"{len(groups)} groups; leave --groups out"
            )
        return groups, str(model_file)
    if n_groups is not None:
        return [GroupInfo(f"group_{g}") for g in range(n_groups)], "--groups"
    found = schedule_groups(schedule)
    if found is not None:
        return found, "the schedule's groups"
    found = recorded_groups(history or {})
    if found is not None:
        return found, f"the rates recorded in {getattr(history_file, 'name', '')}"
    raise BadInput(
        "the number of groups is unknown: give --groups N, or --model FILE.keras to group a "
        "saved model as the schedule says (groups = 'auto' makes one group per layer with "
        "weights)"
    )
