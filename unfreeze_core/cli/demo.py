"""``unfreeze demo``: a real transfer-learning run on digits shipped with the package.

Pretrains a small CNN on digits 0-4, fine-tunes it on digits 5-9 from 10 labels per
class under the default schedule, and with ``--compare`` runs the usual alternatives on
the same budget. Writes the history, the results, the schedule, the model and (with
matplotlib) the timeline and comparison pictures into an output folder. Nothing is
downloaded.

The command parses its options, runs :class:`unfreeze_core.demo.experiment.Experiment`
and shows progress as it goes (:mod:`.progress`: bars on a terminal, plain lines
elsewhere); the table, the verdict and the files come from
:mod:`unfreeze_core.demo.report`.
"""

from __future__ import annotations

import math
import platform
import shlex
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click
from rich.console import Console
from rich.markup import escape

from ..demo import BASELINES, PROGRESSIVE, STRATEGIES, default_schedule, make_transfer
from ..demo.data import TransferData
from ..demo.figure import has_matplotlib
from ..demo.report import COMPARISON, TIE, results_table, summarize, verdict, writers
from ..demo.strategies import Result, Settings, Strategy, progressive, quick_schedule
from ..schedule import Schedule
from ..timeline import LOG_GROUPS, LOG_LR, LOG_STAGE, LOG_STAGE_INDEX, LOG_TRAINABLE, human
from ._common import (
    BadInput,
    describe_schedule,
    guarded,
    import_keras,
    load_schedule_file,
    make_console,
)
from .progress import Reporter, finish, process_seconds

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
              help="Also run head-only and unfreeze-everything baselines on the same budget, "
                   "print one table (target accuracy, source accuracy kept, wall time) and "
                   "draw one comparison figure.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the data split, the initial weights and the shuffling.")
@click.option("--repeats", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Run everything with seeds SEED, SEED+1, ... and report means ± std.")
@click.option("--epochs", type=click.IntRange(min=1),
              help="Fine-tuning epochs per strategy (default 40; 10 with --quick).")
@click.option("--pretrain-epochs", type=click.IntRange(min=1),
              help="Pretraining epochs on the source task (default 15; 4 with --quick).")
@click.option("--labels", "labels_per_class", type=click.IntRange(min=1), default=10,
              show_default=True, help="Labelled target examples per class (digits 5-9).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-2,
              show_default=True, help="Base learning rate of Adam for fine-tuning.")
@click.option("--schedule", "schedule_file", type=click.Path(path_type=Path),
              help="Fine-tune with this schedule (.toml/.json) instead of the default one.")
@click.option("--last-epoch", is_flag=True,
              help="Score every strategy's last epoch instead of its best one by val_loss "
                   "(whose weights are otherwise restored at the end).")
@click.option("--quick", is_flag=True,
              help="A smoke test: 4 pretraining and 10 fine-tuning epochs, one more group "
                   "every 3 epochs unless --schedule is given (about 11 s on a quiet 2-core "
                   "machine, 30-40 s on a busy one).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("unfreeze-demo"),
              show_default=True, help="Folder for history.json, results.json, schedule.json, "
                                      "model.keras, timeline.png and (--compare) "
                                      "comparison.png/.svg.")
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
    last_epoch: bool,
    quick: bool,
    out: Path,
) -> None:
    """Fine-tune a pretrained network on a new task with progressive unfreezing.

    A small CNN is pretrained on handwritten digits 0-4 (the source task), then
    fine-tuned on digits 5-9 from only 10 labels per class (the target task) under the
    default schedule: unfreeze the next layer group when the validation loss plateaus,
    deeper groups learning 2.6x slower each, every new group warming up. Every strategy
    is scored with its best epoch's weights (by val_loss). The data ships with the
    package; nothing is downloaded. On a quiet 2-core machine about 15 s, 30 s with
    --compare; on a busy one two to four times longer (docs/demo.md has the
    measurements).

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
                               seed=seed, labels_per_class=labels_per_class, lr=lr,
                               restore_best=not last_epoch)
    if schedule is not None and schedule_file is not None:
        name = schedule_file.name
    elif quick:
        schedule, name = quick_schedule(), "quick schedule"
    else:
        schedule, name = default_schedule(), "default schedule"
    console = make_console()
    progress = Reporter(console)
    console.print("[bold]unfreeze demo[/]: progressive unfreezing on handwritten digits "
                  "(shipped with the package, nothing downloaded)")
    pictures = has_matplotlib()
    if not pictures:
        console.print("[yellow]matplotlib is not installed: no pictures this time; everything "
                      "else is written (the end says how to draw them).[/]")
    started = time.perf_counter()
    with progress.task("Importing Keras and TensorFlow"):
        keras = import_keras()
        # the demo's training code imports Keras: loaded only when the demo runs, so that
        # `unfreeze --help` and the light commands stay fast
        from ..demo.experiment import Experiment
    console.print(f"[dim]Imported Keras {keras.__version__} ({keras.backend.backend()} backend) "
                  f"in {time.perf_counter() - started:.1f} s.[/]")
    _introduce(console, data, settings, schedule, name)
    strategies = {PROGRESSIVE: progressive(name),
                  **{k: STRATEGIES[k] for k in (BASELINES if compare else ())}}
    results, model = _fine_tune(progress, Experiment, settings, data, schedule, strategies,
                                repeats)
    rows = summarize(results)
    console.print(results_table(rows, settings, repeats))
    for line in verdict({k: row.means() for k, row in rows.items()}, tie=TIE):
        console.print(line)
    if not compare:
        console.print("[dim](--compare also runs head-only and unfreeze-everything baselines on "
                      "the same budget.)[/]")
    elif repeats == 1:
        console.print(f"[dim](one seed; differences up to {TIE} are called ties. Use --repeats 3 "
                      "for means over seeds.)[/]")
    files = _write(progress, writers(out, results, schedule, settings, repeats, model,
                                     pictures=pictures))
    console.print(
        f"Wrote {', '.join(f.name for f in files)} to [bold]{escape(str(out.resolve()))}[/]",
        soft_wrap=True,
    )
    if pictures and compare:
        console.print(f"The comparison figure: [bold]{escape(str(out / COMPARISON))}[/]",
                      soft_wrap=True)
    if not pictures:
        console.print(
            "[yellow]No pictures: matplotlib is not installed. To draw the timeline, run[/]\n"
            '  pip install "unfreeze-core\\[plot]"\n'
            f"  unfreeze plot {escape(shlex.quote(str(out)))}\n"
            "[yellow](the comparison figure comes with the next `unfreeze demo --compare`).[/]",
            soft_wrap=True,
        )
    console.print(f"Done in {process_seconds():.0f} s from the start of the command "
                  f"(Keras {keras.__version__}, {platform.machine()}).")
    finish()


def _write(progress: Reporter, found: list[tuple[str, Callable[[], list[Path]]]]) -> list[Path]:
    """Run the file writers with progress; the paths written."""
    files: list[Path] = []
    with progress.task("Writing the outputs", total=len(found), unit="steps") as task:
        for name, write in found:
            task.describe(f"Writing {name}")
            files += write()
            task.advance()
    return files


def _introduce(
    console: Console, d: TransferData, settings: Settings, schedule: Schedule, name: str
) -> None:
    """The data and the schedule, before anything trains."""
    console.print(
        f"Source task: digits 0-4, {len(d.source_train)} training and {len(d.source_test)} test "
        f"images. Target task: digits 5-9 from {len(d.target_train)} labelled images "
        f"({settings.labels_per_class} per class), {len(d.target_val)} for validation, "
        f"{len(d.target_test)} for the test."
    )
    label = f"schedule ({escape(name)})"
    for i, line in enumerate(describe_schedule(schedule)):
        console.print(f"{label if i == 0 else ' ' * len(label)}  {escape(line)}", soft_wrap=True)


def _fine_tune(
    progress: Reporter,
    experiment: type[Experiment],
    settings: Settings,
    data: TransferData,
    schedule: Schedule,
    strategies: Mapping[str, Strategy],
    repeats: int,
) -> tuple[dict[str, list[Result]], Any]:
    """Pretrain, then fine-tune with each strategy, for each seed; the results and the
    first progressive run's model."""
    console = progress.console
    results: dict[str, list[Result]] = {k: [] for k in strategies}
    model = None
    for r in range(repeats):
        exp = experiment(attrs.evolve(settings, seed=settings.seed + r),
                         data if r == 0 else None)
        tag = f"seed {settings.seed + r}: " if repeats > 1 else ""
        with progress.task(f"{tag}Pretraining on digits 0-4", settings.pretrain_epochs,
                           "epochs") as task:
            pre = exp.pretrain(on_epoch=lambda *_: task.advance())
        console.print(
            f"{tag}Pretrained on digits 0-4 ({settings.pretrain_epochs} epochs, "
            f"{pre.seconds:.1f} s): source test accuracy {pre.source_accuracy:.3f}"
        )
        for key, strategy in strategies.items():
            rate = settings.lr * strategy.lr_scale
            printer = None
            if key == PROGRESSIVE and r == 0:
                console.print(
                    f"Fine-tuning on digits 5-9, {escape(strategy.label)}: "
                    f"{settings.epochs} epochs, Adam, base rate {rate:g}, "
                    f"{settings.steps_per_epoch} steps per epoch"
                )
                printer = _EpochPrinter(console, settings.epochs)
            what = "progressive" if key == PROGRESSIVE else strategy.label
            with progress.task(f"{tag}Fine-tuning {escape(what)}", settings.epochs, "epochs",
                               announce=printer is None) as task:
                def on_epoch(epoch: int, logs: Mapping[str, float], driver: Any,
                             printer: _EpochPrinter | None = printer, task: Any = task) -> None:
                    if printer is not None:
                        printer(epoch, logs, driver)
                    task.advance()

                result = exp.run(strategy, schedule, on_epoch=on_epoch)
            if key == PROGRESSIVE and r == 0:
                model = exp.last_model
            results[key].append(result)
            bold, end = ("[bold]", "[/]") if key == PROGRESSIVE else ("", "")
            console.print(
                f"{tag}{bold}{escape(strategy.label)}{end}: target accuracy "
                f"{result.target_accuracy:.3f}, source {result.source_before:.3f} -> "
                f"{result.source_after:.3f}, {_scored(settings, result)}, {result.seconds:.1f} s"
            )
    return results, model


def _scored(settings: Settings, result: Result) -> str:
    """Which epoch's weights the numbers are of."""
    which = "best epoch" if settings.restore_best else "last epoch"
    return f"{which} {result.best_epoch} of {result.epochs}"


def _during(logs: Mapping[str, float]) -> tuple[float, float]:
    """The epoch's stage index (from 0) and groups trainable, from the driver's logs (older
    ones counted the groups in ``unfreeze_stage`` and had ``unfreeze_stage_index``)."""
    if LOG_GROUPS in logs:
        return logs.get(LOG_STAGE, math.nan) - 1, logs[LOG_GROUPS]
    return logs.get(LOG_STAGE_INDEX, math.nan), logs.get(LOG_STAGE, math.nan)


class _EpochPrinter:
    """One line per epoch of the progressive run (``groups``: trainable groups of all);
    stage changes highlighted, naming the groups that start training."""

    def __init__(self, console: Any, epochs: int):
        self.console = console
        self.epochs = epochs
        self.width = len(str(epochs)) + 4
        self.header = False

    def __call__(self, epoch: int, logs: Mapping[str, float], driver: Any) -> None:
        c, w = self.console, self.width
        groups = list(getattr(driver, "groups", ()))
        n = len(groups)
        index, trainable = _during(logs)
        if not self.header:
            self.header = True
            c.print(f"[dim]{'epoch':>{w}}  groups  trainable  {'loss':>7}  {'val_loss':>8}  "
                    f"val_accuracy[/]")
        c.print(
            f"{epoch + 1:>{w}}  {trainable:>4.0f}/{n:<2} "
            f"{human(logs.get(LOG_TRAINABLE, math.nan)):>9}  {logs.get('loss', math.nan):>7.4f}  "
            f"{logs.get('val_loss', math.nan):>8.4f}  {logs.get('val_accuracy', math.nan):>12.3f}"
        )
        state = getattr(driver, "state", None)
        if state is None or not state.stage_index > index:  # NaN: no stage logged
            return
        newly = [g for g in state.trainable if logs.get(LOG_LR + groups[g].name, 1.0) == 0.0]
        names = ", ".join(repr(groups[g].name) for g in newly) or "a new set of groups"
        params = sum(groups[g].n_params for g in state.trainable)
        total = sum(g.n_params for g in groups)
        when = f"from epoch {epoch + 2}" if epoch + 1 < self.epochs else "after the last epoch"
        c.print(
            f"[bold yellow]{'':>{w}}  >> {when}: unfreezing {escape(names)} "
            f"(stage {state.stage_index + 1}: {human(params)} of {human(total)} trainable)[/]",
            soft_wrap=True,
        )
