"""``unfreeze demo`` (placeholder until the demo issue lands): a dry run of a schedule."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from ..lr_rules import Discriminative, Warmup
from ..policies import Plateau
from ..schedule import Schedule


@click.command()
@click.option("--groups", default=4, show_default=True, help="Number of layer groups.")
def demo(groups: int) -> None:
    """Replay the default schedule over a made-up loss curve (no training yet).

    Example: unfreeze demo --groups 4
    """
    schedule = Schedule(
        Plateau(monitor="val_loss", patience=2),
        rules=[Discriminative(factor=2.6), Warmup(steps=20)],
    )
    history = {"val_loss": [1.0, 0.8, 0.7, 0.7, 0.71, 0.6, 0.6, 0.6, 0.5, 0.5, 0.5, 0.5]}
    table = Table(title="Dry run of the default schedule (placeholder demo)")
    table.add_column("epoch", justify="right")
    table.add_column("val_loss", justify="right")
    table.add_column("stage", justify="right")
    table.add_column("LR multipliers (input side first)")
    for record in schedule.dry_run(groups, history, steps_per_epoch=10):
        table.add_row(
            str(record.epoch + 1),
            f"{record.logs['val_loss']:.2f}",
            f"{record.stage}/{groups}",
            " ".join(f"{m:.3f}" for m in record.lr_multipliers_end),
        )
    Console().print(table)
