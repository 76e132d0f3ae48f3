"""The caching sections of ``docs/benchmarks.md``: the per-stage floor and time to accuracy
(``bench/results/caching.json`` and ``tta.json``, issue 15)."""

from __future__ import annotations

import math
from typing import Any

from .transfer.report import pm, table

__all__ = ["caching_sections", "floor_section", "tta_section"]


def _s(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _bytes(n: int) -> str:
    if not n:
        return "-"
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _pm(d: dict[str, Any] | None, digits: int = 3) -> str:
    """``mean ± std``, or a dash when nothing was measured (no seed reached the target)."""
    if not d or d.get("mean") is None or not math.isfinite(d["mean"]):
        return "—"
    return pm(d, digits)


def floor_section(data: dict[str, Any]) -> list[str]:
    """Per case, one row per stage: driver (cached) vs hand-written floor."""
    target = data["target"]
    lines = [
        "Each stage of a progressive run, trained by the driver with `cache=True` (run by "
        "`unfreeze_core.keras.fit`), against the physical floor: the same trainable part "
        "trained by hand on precomputed inputs (`predict` through the frozen prefix, then "
        "`keras.Model(cut, output)` over the same layers, trained with `model.fit` or a "
        "`train_on_batch` loop, whichever is faster). Epoch times are medians over the "
        "stage's epochs after its first, then over the rounds; the ratio is per round "
        f"(median, min-max). Target: ≤ {target}x at every stage. *Build* is the one-off "
        "cost at the stage's start (driver: cut moved, prefix run over the data, suffix "
        "compiled; floor: `predict` + compile + first epoch). *Uncached* is the driver "
        "with plain `model.fit`, for what caching saves.",
        "",
    ]
    for name, case in data["cases"].items():
        rows = []
        for st in case["stages"]:
            r = st["ratio"]
            groups = st["trainable_groups"]
            shown = ", ".join(groups) if len(groups) <= 3 else f"{groups[0]} … {groups[-1]}"
            rows.append([
                st["stage"], shown, _s(st["driver_epoch_s"]), _s(st["floor_epoch_s"]),
                f"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})",
                "yes" if r["median"] <= target else "no", _s(st["uncached_epoch_s"]),
                f"{st['uncached_over_cached']['median']:.1f}x", _s(st["driver_build_s"]),
                _s(st["floor_setup_s"])])
        lines += [f"**{name}**: {case['description']}; {case['epochs_per_stage']} epochs per "
                  f"stage, {case['rounds']} rounds.", "",
                  *table(["stage", "trainable groups", "driver epoch", "floor epoch", "ratio",
                          "met", "uncached epoch", "saved", "driver build", "floor build"],
                         rows)]
        lines.append("")
    return lines


TTA_LABELS = {
    "unfreeze_all": "unfreeze everything (`model.fit`)",
    "recommended": "`recommended_schedule` (`model.fit`, no caching)",
    "recommended_cached": "`recommended_schedule`, `cache=True`",
    "recommended_cached_autofreeze": "`recommended_schedule` + `AutoFreeze`, `cache=True`",
    "accuracy_first_cached": "`recommended_schedule(factor=1.0, warmup_epochs=0)`, "
                             "`cache=True`",
}


def tta_section(data: dict[str, Any]) -> list[str]:
    """Per task, one row per arm: time to the unfreeze-all target and the ratio."""
    st = data["settings"]
    lines = [
        f"Wall time of training (test scoring after each epoch excluded, cache builds "
        f"included) until the test accuracy first reaches the **target**: unfreeze-all's "
        f"mean final accuracy. {st['epochs']} epochs, batch {st['batch_size']}, seeds "
        f"{st['seeds']}, data size `{st['size']}`; rates from {st['rates_from']}. Target "
        f"ratio: ≤ {st['target_ratio']}x unfreeze-all's time, with equal or better final "
        "accuracy. *Ratio*: the arm's mean time over unfreeze-all's when every seed of both "
        "reached the target; *seeds both reached*: the same over the seeds where both did "
        "(their count in brackets).",
        "",
    ]
    for task in data["tasks"]:
        rows = []
        for key, a in task["arms"].items():
            ratio = a["ratio_to_unfreeze_all"]
            both = a.get("ratio_where_both_reached")
            rows.append([
                TTA_LABELS.get(key, key), f"{a['lr']:g}", _pm(a["time_to_target"], 1),
                f"{a['reached']}/{a['seeds']}", "-" if ratio is None else f"{ratio:.2f}",
                "-" if both is None else f"{both:.2f} ({a['seeds_both_reached']})",
                _pm(a["final_accuracy"]), _pm(a["run_seconds"], 1), _bytes(a["cache_bytes"])])
        size = (f", {task['train_examples']:,} training examples"
                if task.get("train_examples") else "")
        if task.get("size", st["size"]) != st["size"]:
            size += f" (size `{task['size']}`)"
        lines += [f"**{task['label']}**{size}: target accuracy "
                  f"{task['target_accuracy']:.3f}.", "",
                  *table(["arm", "rate", "time to target (s)", "reached", "ratio",
                          "ratio, seeds both reached", "final accuracy", "whole run (s)",
                          "largest cache"], rows)]
        lines.append("")
    return lines


def caching_sections(caching: dict[str, Any] | None, tta: dict[str, Any] | None) -> list[str]:
    """The doc's caching sections, for the results that exist."""
    out: list[str] = []
    if caching:
        out += ["## Caching: each stage against its floor", "", *floor_section(caching)]
    if tta:
        out += ["## Time to accuracy", "", *tta_section(tta)]
    return out
