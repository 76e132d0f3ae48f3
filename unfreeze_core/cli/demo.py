"""``unfreeze demo``: a real transfer-learning run on digits shipped with the package.

Pretrains a small CNN on digits 0-4, fine-tunes it on digits 5-9 from 10 labels per
class under the default schedule, and with ``--compare`` runs the usual alternatives on
the same budget. Writes the history, the timeline picture, the results and the schedule
into an output folder. Nothing is downloaded.

The command parses its options, runs :class:`unfreeze_core.demo.experiment.Experiment`
and prints as it goes; the table, the verdict and the files come from
:mod:`unfreeze_core.demo.report`.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click
from rich.console import Console
from rich.markup import escape

from ..demo import BASELINES, PROGRESSIVE, STRATEGIES, default_schedule, make_transfer
from ..demo.data import TransferData
from ..demo.report import TIE, results_table, summarize, verdict, write_outputs
from ..demo.strategies import Result, Settings
from ..schedule import Schedule
from ..timeline import LOG_LR, LOG_STAGE, LOG_STAGE_INDEX, LOG_TRAINABLE, human
from ._common import (
    BadInput,
    describe_schedule,
    guarded,
    import_keras,
    load_schedule_file,
    make_console,
)

if TYPE_CHECKING:  # imports Keras; loaded by the command itself, when it runs
    from ..demo.experiment import Experiment

__all__ = ["demo"]


def _resolve_out(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file; give a folder (it is created if needed)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    return out


@click.command(short_help="Fine-tune on shipped digits; --compare adds baselines.")
@click.option("--compare", is_flag=True,
              help="Also run head-only and unfreeze-everything baselines on the same budget "
                   "and print one table: target accuracy, source accuracy kept, wall time.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the data split, the initial weights and the shuffling.")
@click.option("--repeats", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Run everything with seeds SEED, SEED+1, ... and report means ± std.")
@click.option("--epochs", type=click.IntRange(min=1),
              help="Fine-tuning epochs per strategy (default 40; 8 with --quick).")
@click.option("--pretrain-epochs", type=click.IntRange(min=1),
              help="Pretraining epochs on the source task (default 15; 4 with --quick).")
@click.option("--labels", "labels_per_class", type=click.IntRange(min=1), default=10,
              show_default=True, help="Labelled target examples per class (digits 5-9).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-2,
              show_default=True, help="Base learning rate of Adam for fine-tuning.")
@click.option("--schedule", "schedule_file", type=click.Path(path_type=Path),
              help="Fine-tune with this schedule (.toml/.json) instead of the default one.")
@click.option("--quick", is_flag=True, help="A small budget for a smoke test (a few seconds).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("unfreeze-demo"),
              show_default=True, help="Folder for history.json, timeline.png, results.json, "
                                      "schedule.json and model.keras.")
@guarded
def demo(
    compare: bool,
    seed: int,
    repeats: int,
    epochs: int | None,
    pretrain_epochs: int | None,
    labels_per_class: int,
    lr: float,
    schedule_file: Path | None,
    quick: bool,
    out: Path,
) -> None:
    """Fine-tune a pretrained network on a new task with progressive unfreezing.

    A small CNN is pretrained on handwritten digits 0-4 (the source task), then
    fine-tuned on digits 5-9 from only 10 labels per class (the target task) under the
    default schedule: unfreeze the next layer group when the validation loss plateaus,
    deeper groups learning 2.6x slower each, every new group warming up. The data ships
    with the package; nothing is downloaded. About 15-25 s on 2 CPU cores, 30-45 s
    with --compare.

    Exit status: 0 ok, 1 the run failed, 2 bad input.

    Examples:

      unfreeze demo --compare

      unfreeze demo --seed 3 --out runs/demo-3 --schedule my-schedule.toml
    """
    out = _resolve_out(out)
    schedule = load_schedule_file(schedule_file) if schedule_file is not None else None
    try:
        data = make_transfer(seed, labels_per_class=labels_per_class)
    except ValueError as exc:
        raise BadInput(f"--labels: {exc}") from None
    settings = Settings.chosen(quick=quick, epochs=epochs, pretrain_epochs=pretrain_epochs,
                               seed=seed, labels_per_class=labels_per_class, lr=lr)
    console = make_console()
    started = time.perf_counter()
    console.print("[bold]unfreeze demo[/]: progressive unfreezing on handwritten digits "
                  "(shipped with the package, nothing downloaded)")
    schedule = schedule if schedule is not None else default_schedule()
    with console.status("Importing Keras and TensorFlow..."):
        keras = import_keras()
        # the demo's training code imports Keras: loaded only when the demo runs, so that
        # `unfreeze --help` and the light commands stay fast
        from ..demo.experiment import Experiment
    _introduce(console, data, settings, schedule, schedule_file)
    keys = [PROGRESSIVE, *(BASELINES if compare else ())]
    results, model = _fine_tune(console, Experiment, settings, data, schedule, keys, repeats)
    rows = summarize(results)
    console.print(results_table(rows, settings, repeats))
    for line in verdict({k: row.means() for k, row in rows.items()}, tie=TIE):
        console.print(line, soft_wrap=True)
    if not compare:
        console.print("[dim](--compare also runs head-only and unfreeze-everything baselines on "
                      "the same budget.)[/]")
    elif repeats == 1:
        console.print(f"[dim](one seed; differences up to {TIE} are called ties. Use --repeats 3 "
                      "for means over seeds.)[/]")
    files = write_outputs(out, results, schedule, settings, repeats, model)
    elapsed = time.perf_counter() - started
    console.print(f"Done in {elapsed:.0f} s (Keras {keras.__version__}, {platform.machine()}).")
    console.print(
        f"Wrote {', '.join(f.name for f in files)} to [bold]{escape(str(out.resolve()))}[/]",
        soft_wrap=True,
    )


def _introduce(
    console: Console, d: TransferData, settings: Settings, schedule: Schedule,
    schedule_file: Path | None,
) -> None:
    """The data and the schedule, before anything trains."""
    console.print(
        f"Source task: digits 0-4, {len(d.source_train)} training and {len(d.source_test)} test "
        f"images. Target task: digits 5-9 from {len(d.target_train)} labelled images "
        f"({settings.labels_per_class} per class), {len(d.target_val)} for validation, "
        f"{len(d.target_test)} for the test.",
        soft_wrap=True,
    )
    label = "schedule" if schedule_file is None else f"schedule ({escape(str(schedule_file))})"
    for i, line in enumerate(describe_schedule(schedule)):
        console.print(f"{label if i == 0 else ' ' * len(label)}  {escape(line)}", soft_wrap=True)


def _fine_tune(
    console: Console,
    experiment: type[Experiment],
    settings: Settings,
    data: TransferData,
    schedule: Schedule,
    keys: list[str],
    repeats: int,
) -> tuple[dict[str, list[Result]], Any]:
    """Pretrain, then fine-tune with each strategy, for each seed; the results and the
    first progressive run's model."""
    results: dict[str, list[Result]] = {k: [] for k in keys}
    model = None
    for r in range(repeats):
        exp = experiment(attrs.evolve(settings, seed=settings.seed + r),
                         data if r == 0 else None)
        tag = f"seed {settings.seed + r}: " if repeats > 1 else ""
        with console.status(f"{tag}Pretraining on the source task..."):
            pre = exp.pretrain()
        console.print(
            f"{tag}Pretrained on digits 0-4 ({settings.pretrain_epochs} epochs, "
            f"{pre.seconds:.1f} s): source test accuracy {pre.source_accuracy:.3f}"
        )
        for key in keys:
            strategy = STRATEGIES[key]
            rate = settings.lr * strategy.lr_scale
            if key == PROGRESSIVE and r == 0:
                console.print(
                    f"Fine-tuning on digits 5-9 with the schedule: {settings.epochs} epochs, "
                    f"Adam, base rate {rate:g}, {settings.steps_per_epoch} steps per epoch"
                )
                printer = _EpochPrinter(console, settings.epochs)
                result = exp.run(strategy, schedule, on_epoch=printer)
                model = exp.last_model
            else:
                with console.status(f"{tag}Fine-tuning: {strategy.label} (rate {rate:g})..."):
                    result = exp.run(strategy, schedule)
            results[key].append(result)
            bold, end = ("[bold]", "[/]") if key == PROGRESSIVE else ("", "")
            console.print(
                f"{tag}{bold}{escape(strategy.label)}{end}: target accuracy "
                f"{result.target_accuracy:.3f}, source accuracy {result.source_before:.3f} -> "
                f"{result.source_after:.3f}, {result.seconds:.1f} s"
            )
    return results, model


class _EpochPrinter:
    """One line per epoch of the progressive run; stage changes highlighted."""

    def __init__(self, console: Any, epochs: int):
        self.console = console
        self.epochs = epochs
        self.width = len(str(epochs)) + 4
        self.header = False

    def __call__(self, epoch: int, logs: Mapping[str, float], driver: Any) -> None:
        c, w = self.console, self.width
        groups = list(getattr(driver, "groups", ()))
        n = len(groups)
        if not self.header:
            self.header = True
            c.print(f"[dim]{'epoch':>{w}}  stage  trainable  {'loss':>7}  {'val_loss':>8}  "
                    f"val_accuracy[/]")
        c.print(
            f"{epoch + 1:>{w}}  {logs.get(LOG_STAGE, math.nan):>3.0f}/{n:<2}  "
            f"{human(logs.get(LOG_TRAINABLE, math.nan)):>9}  {logs.get('loss', math.nan):>7.4f}  "
            f"{logs.get('val_loss', math.nan):>8.4f}  {logs.get('val_accuracy', math.nan):>12.3f}"
        )
        state = getattr(driver, "state", None)
        if state is None or state.stage_index <= logs.get(LOG_STAGE_INDEX, state.stage_index):
            return
        newly = [g for g in state.trainable if logs.get(LOG_LR + groups[g].name, 1.0) == 0.0]
        names = ", ".join(repr(groups[g].name) for g in newly) or "a new set of groups"
        params = sum(groups[g].n_params for g in state.trainable)
        total = sum(g.n_params for g in groups)
        when = f"from epoch {epoch + 2}" if epoch + 1 < self.epochs else "after the last epoch"
        c.print(
            f"[bold yellow]{'':>{w}}  >> {when}: unfreezing {escape(names)} "
            f"(stage {state.stage_index + 1}: {state.stage}/{n} groups, {human(params)} of "
            f"{human(total)} parameters trainable)[/]",
            soft_wrap=True,
        )
