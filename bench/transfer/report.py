"""The transfer section of ``docs/benchmarks.md``, and its figure.

:func:`section` renders the tables from ``bench/results/transfer.json``; :func:`draw`
writes the figure (target accuracy against source score kept, one panel per task) to
``docs/img/benchmarks-transfer.png``::

    python -m bench.transfer.report            # the figure alone (needs matplotlib)
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..common import REPO
from .summary import both_targets, targets

__all__ = ["FIGURE", "draw", "pm", "section", "table"]

FIGURE = "img/benchmarks-transfer.png"  # relative to the docs folder
# Okabe-Ito, and a marker per family, so that nine arms stay apart without colour.
STYLE = {
    "head_only": ("#999999", "s"),
    "unfreeze_all": ("#D55E00", "X"),
    "lp_ft": ("#E69F00", "P"),
    "gradual": ("#56B4E9", "o"),
    "gradual_discr_warmup": ("#009E73", "o"),
    "slanted_triangular": ("#000000", "^"),
    "chain_thaw": ("#0072B2", "v"),
    "plateau": ("#CC79A7", "D"),
    "gradnorm": ("#F0E442", "D"),
}


def pm(x: dict[str, float], digits: int = 3) -> str:
    """``mean ± std``."""
    return f"{x['mean']:.{digits}f} ± {x['std']:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def section(data: dict[str, Any]) -> list[str]:
    """The markdown lines of the section (without its ``##`` heading)."""
    s = data["settings"]
    rec = s["recommended"]
    lines = [
        f"Real pretrained networks, loaded offline. Every arm: {s['epochs']} epochs, batch "
        f"{s['batch_size']}, {s['optimizer']}, base rate chosen from {s['lr_grid']} by the "
        f"mean **validation** accuracy over seeds {s['seeds']}; the tables give the "
        "**test** accuracy at that rate, mean ± std over the seeds, and the wall time of "
        "`fit` (CPU seconds in brackets: the machine may have been shared). Every run "
        "starts from the same pretrained weights and, per seed, the same fresh head. "
        f"The arm the docs recommend as the default: `{rec}`. Arms and their "
        "timetables: `bench/transfer/arms.py`.",
        "",
    ]
    for arm in data["arms"]:
        if arm["note"]:
            lines += [f"- **note, `{arm['key']}`**: {arm['note']}", ""]
    for skip in data.get("skipped", []):
        lines += [f"- **skipped, `{skip['task']}`**: {skip['reason']}", ""]
    rows = [[row["task"], row["target"], "met" if row["met"] else "**missed**", row["numbers"]]
            for row in targets(data)]
    if rows:
        lines += ["### Targets (issue 14)", ""]
        lines += table(["task", "target", "verdict", "numbers"], rows)
        lines += ["", "Accuracies in points (mean over seeds); the best fixed timetable is "
                  f"the best of {', '.join(f'`{k}`' for k in s['fixed_timetable'])}.", ""]
        both = "; ".join(f"{task}: {', '.join(f'`{a}`' for a in found) or 'none'}"
                         for task, found in both_targets(data).items())
        lines += ["Arms that meet (a) and (b) together (unfreeze-all's accuracy within 0.5 "
                  f"pt at a third of its source loss or less): {both}.", ""]
    lines += [f"![Target accuracy against source score kept, per arm and task]({FIGURE})", ""]
    for task in data["tasks"]:
        z = task["sizes"]
        lines += [
            f"### {task['label']}",
            "",
            f"Network: {task['network']}. Target: {task['n_classes']} classes, "
            f"{z['train']} training examples, {z['val']} validation, {z['test']} test. "
            f"Source score ({task['source_metric']}): {task['source_before']:.3f} before "
            "fine-tuning.",
            "",
        ]
        rows = []
        for a in task["arms"]:
            name = f"**{a['label']}**" if a["arm"] == rec else a["label"]
            rows.append([name, f"{a['lr']:g}", pm(a["target_accuracy"]),
                         pm(a["source_after"]), pm(a["source_lost"]),
                         f"{a['seconds']['mean']:.1f} ({a['cpu_seconds']['mean']:.0f})"])
        lines += table(["arm", "lr", "target accuracy", "source score after", "source lost",
                         "fit s (CPU s)"], rows)
        stages = [f"- {a['arm']}: {a['stages_by_seed'][0]}" for a in task["arms"]
                  if a["stages_by_seed"] and a["stages_by_seed"][0]]
        if stages:
            lines += ["", "Groups trainable per epoch (first seed, chosen rate):", "", *stages]
        lines.append("")
    return lines


def draw(data: dict[str, Any], out: Path) -> Path:
    """Target accuracy (y) against source score kept (x), one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = data["tasks"]
    cols = min(len(tasks), 2) or 1
    rows = math.ceil(len(tasks) / cols) or 1
    legend_room = 0.0 if rows * cols > len(tasks) else 1.2  # else a spare panel holds it
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows + legend_room),
                             dpi=130, squeeze=False)
    rec = data["settings"]["recommended"]
    for ax, task in zip(axes.flat, tasks, strict=False):
        for a in task["arms"]:
            colour, marker = STYLE.get(a["arm"], ("#000000", "o"))
            t, src = a["target_accuracy"], a["source_after"]
            ax.errorbar(src["mean"], t["mean"], xerr=src["std"], yerr=t["std"], fmt=marker,
                        color=colour, capsize=2, ms=9 if a["arm"] == rec else 6,
                        mec="black" if a["arm"] == rec else colour, label=a["arm"])
        ax.axvline(task["source_before"], color="0.6", lw=0.8, ls="--")
        ax.set_title(task["label"], fontsize=10)
        ax.set_xlabel("source score kept (higher: less forgetting)")
        ax.set_ylabel("target test accuracy")
        ax.grid(alpha=0.3)
    spare = list(axes.flat)[len(tasks):]
    for ax in spare:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    title = (f"mean ± std over seeds {data['settings']['seeds']}\nlarge marker: {rec} "
             "(recommended)")
    if spare:  # the legend in the empty panel
        spare[0].legend(handles, labels, loc="center", fontsize=9, frameon=False, title=title,
                        title_fontsize=9)
        fig.tight_layout()
    else:
        fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False,
                   title=title, title_fontsize=8)
        fig.tight_layout(rect=(0, 0.12, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transfer.report", description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / FIGURE)
    args = parser.parse_args(argv)
    print(draw(json.loads((args.results / "transfer.json").read_text()), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
