"""``unfreeze plan``: what a schedule would do, epoch by epoch, without training."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import click
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError
from ..groupings import ByCount, ByLayers
from ..plotting import plot_timeline
from ..schedule import EpochRecord, Schedule
from ..timeline import LOG_LR, LOG_STAGE, Timeline
from ._common import (
    BadInput,
    config_message,
    guarded,
    import_keras,
    load_schedule_file,
    make_console,
    policy_monitors,
    sub_policies,
)
from .history import read_history

__all__ = ["GroupInfo", "load_model_groups", "plan", "replay"]

MAX_LR_COLUMNS = 8


@attrs.frozen
class GroupInfo:
    """A group as the plan shows it; ``n_layers``/``n_params`` are known with a model."""

    name: str
    n_layers: int | None = None
    n_params: int | None = None


def load_model_groups(path: Path, schedule: Schedule) -> list[GroupInfo]:
    """The groups of the saved model ``path`` under ``schedule`` (imports Keras).

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
    keras = import_keras()
    from ..keras import plan as driver_plan

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300]
        raise BadInput(
            f"{path}: cannot load it as a Keras model ({type(exc).__name__}: {detail}). Give "
            "a file written by model.save('model.keras'); a model with custom layers needs "
            "them registered with @keras.saving.register_keras_serializable()."
        ) from None
    try:
        planned = driver_plan(model, schedule)
    except (ConfigError, ValueError) as exc:
        message = config_message(exc) if isinstance(exc, ConfigError) else str(exc)
        raise BadInput(
            f"the schedule does not fit the model in {path}:\n{message}"
        ) from None
    return [GroupInfo(g.name, len(g.layers), g.n_params) for g in planned.groups]


def _groups_from_schedule(schedule: Schedule) -> list[GroupInfo] | None:
    spec = schedule.groups
    if isinstance(spec, ByCount):
        return [GroupInfo(f"group_{g}") for g in range(spec.n)]
    if isinstance(spec, ByLayers):
        return [GroupInfo("+".join(layers)) for layers in spec.groups]
    return None


def _groups_from_history(history: Mapping[str, Any]) -> list[GroupInfo] | None:
    names = [k[len(LOG_LR):] for k in history if k.startswith(LOG_LR)]
    return [GroupInfo(n) for n in names] if names else None


def replay(
    schedule: Schedule,
    n_groups: int,
    history: Mapping[str, Sequence[float]],
    *,
    steps_per_epoch: int,
) -> tuple[list[EpochRecord], list[str]]:
    """:meth:`Schedule.dry_run`, with the engine's warnings returned as notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = schedule.dry_run(n_groups, history, steps_per_epoch=steps_per_epoch)
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    return records, notes


def _fmt(m: float) -> str:
    if m == 0:
        return "[dim]-[/]"
    return f"{m:.3f}" if m >= 0.001 else f"{m:.1e}"


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
@click.option("--steps-per-epoch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Optimizer steps per epoch (for warmups and other step-based rules).")
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
    steps_per_epoch: int,
    plot_file: Path | None,
    as_json: bool,
) -> None:
    """Dry-run SCHEDULE: per epoch, the stage, what unfreezes and every group's LR multiplier.

    No training happens. The groups come from --model (a saved .keras model, grouped as
    the schedule says), from --groups N, from the schedule itself (groups = N or explicit
    lists), or from the learning-rate columns of a history recorded with the driver.
    With --history the policy is replayed over that run's metrics: this answers "what
    would this plateau policy have done on my last run?". LR multipliers are relative
    to the optimizer's base rate, at each epoch's first step.

    Exit status: 0 ok, 2 bad input (a missing or corrupt file, a schedule that does not
    fit the model, a history without the metric the policy watches).

    Examples:

      unfreeze plan schedule.toml --groups 4 --epochs 12

      unfreeze plan schedule.toml --history run/history.json --plot replay.png

      unfreeze plan schedule.toml --model model.keras --history training.csv
    """
    schedule = load_schedule_file(schedule_file)
    history: dict[str, list[float]] = {}
    if history_file is not None:
        history = read_history(history_file)
    monitors = policy_monitors(schedule)
    if history_file is not None:
        missing = [m for m in monitors if m not in history]
        if missing:
            available = ", ".join(k for k in history if not k.startswith("unfreeze_"))
            raise BadInput(
                f"{history_file} has no {', '.join(map(repr, missing))}, which the schedule's "
                f"policy watches; it holds: {available or '(no metrics)'}. Record the run with "
                "that metric (e.g. validation_data= in fit for 'val_loss'), or set the "
                "policy's monitor to one of these."
            )
    groups: list[GroupInfo] | None
    source = "--groups"
    if model_file is not None:
        groups = load_model_groups(model_file, schedule)
        source = str(model_file)
        if n_groups is not None and n_groups != len(groups):
            raise BadInput(
                f"--groups {n_groups} contradicts the model, which the schedule splits into "
                f"{len(groups)} groups; leave --groups out"
            )
    elif n_groups is not None:
        groups = [GroupInfo(f"group_{g}") for g in range(n_groups)]
    else:
        groups, source = _groups_from_schedule(schedule), "the schedule's groups"
        if groups is None:
            groups = _groups_from_history(history)
            source = f"the rates recorded in {getattr(history_file, 'name', '')}"
        if groups is None:
            raise BadInput(
                "the number of groups is unknown: give --groups N, or --model FILE.keras to "
                "group a saved model as the schedule says (groups = 'auto' makes one group "
                "per layer with weights)"
            )
    n = len(groups)
    length = max((len(v) for v in history.values()), default=0)
    if epochs is None:
        epochs = length if history_file is not None else 10
    elif history_file is not None and epochs > length:
        raise BadInput(f"--epochs {epochs} is more than the {length} epochs in {history_file}")
    if history_file is not None:
        replayed = {k: v[:epochs] for k, v in history.items()}
    else:
        replayed = {"epoch": [float(e) for e in range(epochs)]}
    try:
        records, notes = replay(schedule, n, replayed, steps_per_epoch=steps_per_epoch)
    except ConfigError as exc:
        raise BadInput(f"the schedule does not fit {n} groups:\n{config_message(exc)}") from None
    if history_file is None:
        notes = [
            f"no --history: the policy never sees {', '.join(map(repr, monitors))}, so stage "
            "changes that depend on it never come; give a recorded run with --history"
        ] if monitors else []
    if any(hasattr(p, "reads_step") for p in sub_policies(schedule.policy)):
        notes.append(
            "GradNorm reads per-step gradient norms, which a history does not hold: in a dry "
            "run it never triggers"
        )
    recorded = history.get(LOG_STAGE)
    if as_json:
        click.echo(json.dumps(_as_json(groups, records, notes, steps_per_epoch), indent=2))
    else:
        _print(groups, source, records, notes, monitors, recorded, steps_per_epoch, schedule)
    if plot_file is not None:
        if not records:
            raise BadInput("there is no epoch to draw")
        params = [g.n_params for g in groups]
        timeline = Timeline.from_dry_run(
            records, [g.name for g in groups],
            history=replayed if history_file is not None else None,
            group_params=params if all(p is not None for p in params) else None,  # type: ignore[arg-type]
            monitor=monitors[0] if monitors and monitors[0] in history else None,
            source=f"dry run of {schedule_file.name}"
            + (f" over {history_file.name}" if history_file is not None else ""),
        )
        try:
            plot_file.parent.mkdir(parents=True, exist_ok=True)
            plot_timeline(timeline, plot_file)
        except OSError as exc:
            raise BadInput(f"cannot write {plot_file}: {exc.strerror or exc}") from None
        if not as_json:
            make_console().print(f"Timeline written to {escape(str(plot_file))}")


def _as_json(
    groups: list[GroupInfo], records: list[EpochRecord], notes: list[str], steps: int
) -> dict[str, Any]:
    return {
        "groups": [attrs.asdict(g) for g in groups],
        "steps_per_epoch": steps,
        "epochs": [
            {
                "epoch": r.epoch + 1,
                "stage": r.stage,
                "trainable": [groups[g].name for g in r.trainable],
                "unfreezes_after": [groups[g].name for g in r.newly_trainable],
                "lr_multipliers": list(r.lr_multipliers),
                "stop": r.stop,
                "logs": {k: v for k, v in r.logs.items() if math.isfinite(v)},
            }
            for r in records
        ],
        "notes": notes,
    }


def _print(
    groups: list[GroupInfo],
    source: str,
    records: list[EpochRecord],
    notes: list[str],
    monitors: list[str],
    recorded: list[float] | None,
    steps: int,
    schedule: Schedule,
) -> None:
    console = make_console()
    n = len(groups)
    if groups[0].n_params is not None:
        gt = Table(title=f"{n} groups of {escape(source)} (input side first)", title_justify="left")
        gt.add_column("#", justify="right")
        gt.add_column("group")
        gt.add_column("layers", justify="right")
        gt.add_column("parameters", justify="right")
        gt.add_column("trains from epoch", justify="right")
        first = {g: r.epoch + 1 for r in reversed(records) for g in r.trainable}
        for i, g in enumerate(groups):
            gt.add_row(str(i), escape(g.name), str(g.n_layers), f"{g.n_params:,}",
                       str(first.get(i, "-")))
        console.print(gt)
    table = Table(
        title=f"Dry run: {len(records)} epochs, {n} groups ({escape(source)}), "
              f"{steps} step{'s' if steps != 1 else ''} per epoch",
        title_justify="left",
    )
    table.add_column("epoch", justify="right")
    shown_metrics = [m for m in monitors if records and m in records[0].logs]
    for m in shown_metrics:
        table.add_column(escape(m), justify="right")
    table.add_column("stage", justify="right")
    if recorded is not None:
        table.add_column("recorded", justify="right")
    table.add_column("then unfreezes")
    wide = n <= MAX_LR_COLUMNS
    if wide:
        for g in groups:
            table.add_column(escape(_short(g.name)), justify="right")
    else:
        table.add_column("LR multipliers of trainable groups (head first)")
    for r in records:
        cells = [str(r.epoch + 1)]
        for m in shown_metrics:
            v = r.logs.get(m, math.nan)
            cells.append(f"{v:.4g}")
        cells.append(f"{r.stage}/{n}")
        if recorded is not None:
            rec = recorded[r.epoch] if r.epoch < len(recorded) else math.nan
            same = math.isfinite(rec) and int(rec) == r.stage
            cells.append(f"{rec:.0f}" if same else f"[bold red]{rec:.0f}[/]")
        change = ", ".join(escape(_short(groups[g].name, 24)) for g in r.newly_trainable)
        if r.stop:
            change = (change + "; " if change else "") + "stop (final stage done)"
        cells.append(change)
        if wide:
            cells.extend(_fmt(m) for m in r.lr_multipliers)
        else:
            top = [(g, m) for g, m in reversed(list(enumerate(r.lr_multipliers))) if m > 0]
            text = ", ".join(f"{escape(_short(groups[g].name))} {_fmt(m)}" for g, m in top[:6])
            cells.append(text + (f", ... ({len(top) - 6} more)" if len(top) > 6 else ""))
        style = "bold yellow" if r.newly_trainable else ("bold red" if r.stop else None)
        table.add_row(*cells, style=style)
    console.print(table)
    changes = [r for r in records if r.newly_trainable]
    if changes:
        summary = "; ".join(f"after epoch {r.epoch + 1} -> stage {r.stage_after}" for r in changes)
        console.print(f"Stage changes: {summary}.")
    if records:
        last = records[-1]
        if last.stage_after < n and schedule.stage_sets(n) is None:
            frozen = n - last.stage_after
            console.print(f"After {len(records)} epochs {frozen} of {n} groups are still frozen.")
    if recorded is not None and any(
        r.epoch < len(recorded) and int(recorded[r.epoch]) != r.stage for r in records
    ):
        console.print(
            "[bold red]The replayed stages differ from the recorded ones[/] (column "
            "'recorded'): this schedule is not the one that ran, or it was resumed."
        )
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)


def _short(name: str, width: int = 14) -> str:
    name = name.rsplit("/", 1)[-1]
    return name if len(name) <= width else name[: width - 1] + "~"
