"""Tables of the transfer benchmark from its runs: each arm at its chosen rate, and the
targets of issue 14, computed from the numbers (pure Python: no Keras)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..common import mean_std

__all__ = ["TOLERANCE", "both_targets", "summarise", "targets"]

#: "within 0.5 points" of accuracy.
TOLERANCE = 0.005
#: the recommended arm may lose at most this share of unfreeze-all's source loss.
FORGET_SHARE = 1 / 3


def _ms(values: Sequence[float]) -> dict[str, float]:
    m, s = mean_std(values)
    return {"mean": m, "std": s}


def summarise(runs: list[dict[str, Any]], arms: Sequence[Any],
              grid: Sequence[float]) -> list[dict[str, Any]]:
    """One row per arm: the grid rate with the best mean validation accuracy over the
    seeds (ties: the first in the grid), and that rate's numbers, mean and std."""
    rows = []
    for arm in arms:
        by_lr = {lr: [r for r in runs if r["arm"] == arm.key and r["lr"] == lr] for lr in grid}
        by_lr = {lr: rs for lr, rs in by_lr.items() if rs}
        if not by_lr:
            continue
        best = max(by_lr, key=lambda lr: mean_std([r["val_accuracy"] for r in by_lr[lr]])[0])
        chosen = by_lr[best]
        row: dict[str, Any] = {"arm": arm.key, "label": arm.label, "lr": best, "note": arm.note}
        for key in ("target_accuracy", "val_accuracy", "source_after", "seconds",
                    "cpu_seconds"):
            row[key] = _ms([r[key] for r in chosen])
        row["source_lost"] = _ms([r["source_before"] - r["source_after"] for r in chosen])
        row["grid"] = {str(lr): {key: mean_std([r[key] for r in rs])[0]
                                 for key in ("val_accuracy", "target_accuracy", "source_after")}
                       for lr, rs in by_lr.items()}
        row["stages_by_seed"] = [r["stages"] for r in chosen]
        rows.append(row)
    return rows


def _row(task: dict[str, Any], arm: str) -> dict[str, Any] | None:
    return next((r for r in task["arms"] if r["arm"] == arm), None)


def _pt(x: float, sign: str = "") -> str:
    return f"{100 * x:{sign}.1f}"


def _meets_a(arm: dict[str, Any], ua: dict[str, Any]) -> bool:
    """Target (a) for ``arm``: target accuracy at least unfreeze-all's - 0.5 pt."""
    return bool(arm["target_accuracy"]["mean"] >= ua["target_accuracy"]["mean"] - TOLERANCE)


def _meets_b(arm: dict[str, Any], ua: dict[str, Any]) -> bool:
    """Target (b) for ``arm``: at most a third of unfreeze-all's source loss."""
    limit = FORGET_SHARE * max(ua["source_lost"]["mean"], 0.0)
    return bool(arm["source_lost"]["mean"] <= limit + 1e-12)


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the targets table: ``{"target", "task", "met", "numbers"}``.

    (a) the recommended arm's target accuracy >= unfreeze-all's - 0.5 pt on every task,
    and > on at least one; (b) it loses at most a third of unfreeze-all's source loss;
    (c) Plateau and GradNorm with their defaults within 0.5 pt of the best fixed
    timetable arm (``settings["fixed_timetable"]``).
    """
    rec_key = result["settings"]["recommended"]
    fixed = result["settings"]["fixed_timetable"]
    rows: list[dict[str, Any]] = []
    above: list[bool] = []
    for task in result["tasks"]:
        rec, ua = _row(task, rec_key), _row(task, "unfreeze_all")
        if rec is None or ua is None:
            continue
        r, u = rec["target_accuracy"]["mean"], ua["target_accuracy"]["mean"]
        above.append(r > u)
        rows.append({"target": f"(a) {rec_key} >= unfreeze_all - 0.5 pt", "task": task["key"],
                     "met": _meets_a(rec, ua),
                     "numbers": f"{_pt(r)} vs {_pt(u)} ({_pt(r - u, '+')} pt)"})
        rl, ul = rec["source_lost"]["mean"], ua["source_lost"]["mean"]
        rows.append({"target": f"(b) {rec_key} loses <= 1/3 of unfreeze_all's source loss",
                     "task": task["key"], "met": _meets_b(rec, ua),
                     "numbers": f"lost {rl:.3f} vs {ul:.3f} (limit {FORGET_SHARE * ul:.3f})"})
        best = max((x for x in task["arms"] if x["arm"] in fixed),
                   key=lambda x: x["target_accuracy"]["mean"], default=None)
        for key in ("plateau", "gradnorm"):
            row = _row(task, key)
            if row is None or best is None:
                continue
            a, b = row["target_accuracy"]["mean"], best["target_accuracy"]["mean"]
            rows.append({"target": f"(c) {key} (defaults) within 0.5 pt of the best fixed "
                                   "timetable", "task": task["key"], "met": a >= b - TOLERANCE,
                         "numbers": f"{_pt(a)} vs {_pt(b)} ({best['arm']}, {_pt(a - b, '+')} pt)"})
    if above:
        rows.append({"target": f"(a) {rec_key} > unfreeze_all on at least one task",
                     "task": "all", "met": any(above),
                     "numbers": f"above on {sum(above)} of {len(above)} tasks"})
    return rows


def both_targets(result: dict[str, Any]) -> dict[str, list[str]]:
    """Per task, the arms (other than unfreeze-all) that would meet (a) and (b)
    together: target accuracy at least unfreeze-all's - 0.5 pt *and* at most a third
    of its source loss. Empty: no strategy measured reaches both on that task."""
    out: dict[str, list[str]] = {}
    for task in result["tasks"]:
        ua = _row(task, "unfreeze_all")
        if ua is None:
            continue
        out[task["key"]] = [x["arm"] for x in task["arms"] if x["arm"] != "unfreeze_all"
                            and _meets_a(x, ua) and _meets_b(x, ua)]
    return out
