"""Writes ``docs/benchmarks.md`` from ``bench/results/<section>.json``, keeping the
hand-written notes (between ``<!-- notes:begin -->`` and ``<!-- notes:end -->``) and the
summary at the top (between ``<!-- summary:begin/end -->``; its chart is redrawn by
``python -m bench.summary_chart``); the rest is regenerated.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from .caching_report import caching_sections
from .common import REPO
from .transfer.report import FIGURE, draw
from .transfer.report import pm as _pm
from .transfer.report import section as transfer_section
from .transfer.report import table as _table

__all__ = ["render", "write_doc"]

DOC = REPO / "docs" / "benchmarks.md"
NOTES_BEGIN = "<!-- notes:begin -->"
NOTES_END = "<!-- notes:end -->"
SUMMARY_BEGIN = "<!-- summary:begin -->"
SUMMARY_END = "<!-- summary:end -->"
SECTION_FILES = ("speed", "scale", "quality", "transfer", "caching", "tta")
DEFAULT_NOTES = "_No discussion written yet: run `python -m bench run --full` and add it here._"


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _r(summary: dict[str, Any] | None, digits: int = 3) -> str:
    """``median (min-max)`` of a summary of ratios."""
    if not summary or not isinstance(summary.get("median"), float | int):
        return "n/a"
    med, lo, hi = summary["median"], summary["min"], summary["max"]
    if math.isnan(med):
        return "n/a"
    return f"{med:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:.1f}"


def _verdict(value: float | None, target: float) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return "met" if value <= target else "**missed**"


def _meta_lines(meta: dict[str, Any], section: str) -> list[str]:
    v = meta.get("versions", {})
    load = meta.get("load_average_during", {})
    return [
        f"- **{section}**: {meta['date']}, `{meta['command']}` (profile `{meta['profile']}`), "
        f"{meta['seconds'] / 60:.1f} min; 1-min load average during the run: mean "
        f"{load.get('mean', 'n/a')}, max {load.get('max', 'n/a')} on {meta['cpus']} CPUs; "
        f"git `{meta.get('git_commit')}`; keras {v.get('keras')}, tensorflow-cpu "
        f"{v.get('tensorflow-cpu')}, numpy {v.get('numpy')}, keras-hub {v.get('keras-hub')}",
    ]


def _speed(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    t = data["targets"]
    lines: list[str] = []
    summary_rows: list[list[str]] = []
    cases = data["cases"]
    items = [
        ("1. whole run, FixedEpoch, no LR rules", "whole_run", t["whole_run"]),
        ("2. whole run, Discriminative + Warmup + StageScaled", "rules_whole_run",
         t["rules_whole_run"]),
        ("3. GradNorm vs FixedEpoch, per step", "gradnorm_per_step", t["gradnorm_per_step"]),
        ("4. stage change vs hand-written re-trace", "stage_change", t["stage_change"]),
    ]
    controls = {
        "whole_run": "control_whole_run",
        "rules_whole_run": "control_whole_run",
        "gradnorm_per_step": "control_per_step",
        "stage_change": "control_stage_change",
    }
    for label, key, target in items:
        row = [label, f"<= {target}"]
        for case in cases.values():
            s = case["whole"]["ratios"].get(key)
            cpu = case["whole"]["cpu_ratios"].get(key)
            control = case["whole"]["ratios"].get(controls[key])
            cell = _r(s)
            if cpu:
                cell += f"; CPU {cpu['median']:.3f}"
            if control:
                cell += f"; A/A {control['median']:.3f}"
            row.append(f"{cell} {_verdict(s['median'] if s else None, target)}")
        summary_rows.append(row)
    row = ["5. step time vs from-scratch floor (worst stage)", f"<= {t['stage_vs_floor']}"]
    for case in cases.values():
        stages = case["physics"]["stages"]
        worst = max(stages, key=lambda s: s["vs_floor"]["median"])
        cpu_worst = max(s["cpu_vs_floor"]["median"] for s in stages)
        control = ""
        if all("control_vs_floor" in s for s in stages):
            worst_control = max(s["control_vs_floor"]["median"] for s in stages)
            control = f"; A/A {worst_control:.3f}"
        row.append(
            f"{_r(worst['vs_floor'])} at stage {worst['stage']}; CPU {cpu_worst:.3f}"
            f"{control} {_verdict(worst['vs_floor']['median'], t['stage_vs_floor'])}"
        )
    summary_rows.append(row)

    for name, case in cases.items():
        w = case["whole"]
        lines += [
            f"### {name}: {case['description']}",
            "",
            f"{case['n_stages']} stages of {case['epochs_per_stage']} epochs "
            f"({case['epochs']} epochs of {case['steps_per_epoch']} steps, batch "
            f"{case['batch_size']}, {case['samples']} random examples, Adam 1e-3), "
            f"{case['reps']} repetitions; groups {', '.join(f'`{g}`' for g in case['groups'])}. "
            f"Stage timeline checked identical on every side: {w['timeline']}. Final weights of "
            f"`driver` and `baseline` differ by at most "
            f"{w['max_weight_diff_driver_vs_baseline']:.3g} (same computation).",
            "",
        ]
        rows = []
        for side, s in w["seconds"].items():
            cpu = w["cpu_seconds"][side]
            rows.append([f"`{side}`", _r(s, 2), f"{cpu['median']:.2f}",
                         " / ".join(_ms(x) for x in w["step_seconds_per_stage"][side])])
        lines += _table(["side", "whole run, s: median (min-max)", "CPU s (median)",
                         "steady step per stage, ms"], rows)
        lines.append("")
        extra = w.get("stage_change_extra_seconds", {})
        if extra:
            rows = []
            for j, s in enumerate(w["ratios"]["stage_change_each"]):
                rows.append([f"{j + 1} -> {j + 2}", _ms(extra["driver"][j]),
                             _ms(extra["baseline"][j]), _r(s)])
            lines += ["Stage changes (item 4): extra time of the span across the change over "
                      "the span across the next epoch boundary, ms:", ""]
            lines += _table(["change", "driver", "hand-written", "ratio: median (min-max)"],
                            rows)
            lines.append("")
        p = case["physics"]
        lines += [
            f"Per-stage step time (item 5): blocks of {p['steps_per_block']} train steps, "
            f"{p['rounds']} blocks per side, rotating; `floor` = a model compiled from scratch "
            "with exactly the stage's layers trainable, `all` = every group trainable.",
            "",
        ]
        rows = []
        for s in p["stages"]:
            st = s["step_seconds"]
            control = s.get("control_vs_floor")
            rows.append([
                s["stage"], _ms(st["driver"]), _ms(st["floor"]),
                _ms(st.get("all", st["floor"])), _r(s["vs_floor"]),
                f"{s['cpu_vs_floor']['median']:.3f}",
                _r(control) if control else "n/a", _r(s["vs_all"]),
                f"{s['floor_vs_all']['median']:.3f}",
            ])
        lines += _table(["stage", "driver ms", "floor ms", "all ms", "driver/floor",
                         "CPU driver/floor", "A/A floor/floor", "driver/all", "floor/all"],
                        rows)
        lines.append("")
    return lines, summary_rows


def _scale(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    target = data["targets"]["plan_seconds"]
    lines: list[str] = []
    summary_rows = []
    rows = []
    for case in data["cases"].values():
        for spec, p in case["plans"].items():
            rows.append([case["description"], case["layers"], case["weighted_layers"],
                         f"`{spec}`", p["groups"], _ms(p["cold_seconds"]),
                         _ms(p["warm_seconds"])])
        worst = max(p["cold_seconds"] for p in case["plans"].values())
        summary_rows.append([f"6. groups + plan, {case['description'].split(',')[0]}",
                             f"< {target} s", f"{worst * 1000:.0f} ms (cold, worst grouping) "
                             f"{_verdict(worst, target)}"])
    lines += _table(["model", "layers", "weighted layers", "groups spec", "groups",
                     "plan ms, cold", "plan ms, warm"], rows)
    lines.append("")
    rows = []
    for case in data["cases"].values():
        s = case["setup"]
        rows.append([case["description"].split(",")[0], f"{case['params']:,}",
                     f"{s.get('driver_setup_seconds', float('nan')):.2f}",
                     f"{s['optimizer_build_seconds']:.2f}",
                     f"{case['model_build_seconds']:.1f}"])
    lines += ["The driver's whole setup at train begin (groups, optimizer built over every "
              "variable, patches, first stage's flags) against building the same Adam "
              "optimizer by hand, which any `fit` of the unfrozen model also does, and the "
              "model's own construction, s:", ""]
    lines += _table(["model", "params", "driver setup", "Adam build alone", "model build"],
                    rows)
    lines.append("")
    m = data["memory"]
    runs = m["runs"]
    rows = [[mode, f"{r['maxrss_mb']:.0f}",
             " / ".join(f"{x:.0f}" for x in r["maxrss_per_epoch_mb"]) or "-"]
            for mode, r in runs.items()]
    lines += [f"Peak memory (`VmHWM`, one process per run, model `{m['model']}`, "
              f"{runs['progressive']['epochs']} epochs of {runs['progressive']['steps_per_epoch']}"
              " steps; `idle` = import, build, compile, no training), MiB:", ""]
    lines += _table(["run", "peak RSS", "peak after each epoch"], rows)
    lines += ["", f"Progressive over unfreeze-all: {m['progressive_over_all']:.3f} of the "
              f"peak, {m['progressive_over_all_above_idle']:.3f} of the peak above idle.", ""]
    summary_rows.append(["6. peak memory, progressive / unfreeze-all", "reported",
                         f"{m['progressive_over_all']:.3f} ({m['model']})"])
    return lines, summary_rows


def _quality(data: dict[str, Any]) -> list[str]:
    s = data["settings"]
    lines = [
        f"Data: {data['data']}. {s['labels_per_class']} labelled target examples per class "
        f"({5 * s['labels_per_class']} in all), {s['target_val']} target validation images "
        f"(for the rate choice and `Plateau`), {s['target_test']} target test images, "
        f"{s['source_test']} source test images. Pretraining: {s['source_train']} source "
        f"images, {s['pretrain_epochs']} epochs, Adam 1e-3, source test accuracy "
        f"{_pm(data['source_accuracy_pretrained'])}. Fine-tuning: {s['epochs']} epochs, "
        f"batch {s['batch_size']}, {s['optimizer']}, base rate grid {s['lr_grid']}; seeds "
        f"{s['seeds']} (each seed draws its own split and pretrains its own network).",
        "",
    ]
    rows = []
    for a in data["arms"]:
        rows.append([a["label"], f"{a['lr']:g}", _pm(a["target_accuracy"]),
                     _pm(a["source_accuracy_after"]), _pm(a["source_accuracy_lost"]),
                     f"{a['seconds']['mean']:.1f} ± {a['seconds']['std']:.1f}"])
    lines += _table(["arm", "rate (best on val)", "target test acc", "source acc kept",
                     "source acc lost", "fit wall s"], rows)
    lines += ["", "Target test accuracy / source accuracy kept at every grid rate "
              "(mean over seeds):", ""]
    rows = []
    for a in data["arms"]:
        rows.append([a["label"]] + [
            f"{g['target_accuracy']:.3f} / {g['source_accuracy_after']:.3f}"
            for g in a["grid"].values()
        ])
    lines += _table(["arm", *(f"rate {lr:g}" for lr in s["lr_grid"])], rows)
    lines += ["", "Stages reached per epoch at the chosen rate (adaptive policies), per seed:",
              ""]
    for a in data["arms"]:
        if a["arm"] in ("plateau", "gradnorm"):
            for seed, stages in zip(s["seeds"], a["stages_by_seed"], strict=False):
                lines.append(f"- {a['label']}, seed {seed}: {stages}")
    lines.append("")
    return lines


def render(results: Path, notes: str = DEFAULT_NOTES, summary: str | None = None) -> str:
    """The whole document from the JSON files in ``results`` (with the hand-written
    ``summary`` at the top when given)."""
    loaded = [_load(results, n) for n in SECTION_FILES]
    speed, scale, quality, transfer, caching, tta = loaded
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python -m bench report` from bench/results/*.json; edit only "
        "the notes section, which is kept. -->",
        "",
        *([SUMMARY_BEGIN, summary.strip(), SUMMARY_END, ""] if summary else []),
        "Does the driver cost anything against the best hand-written Keras 3 code, does "
        "freezing make training faster, and do the schedules fine-tune better? How to run "
        "the benchmarks: `bench/README.md` in the repository (one command: "
        "`python -m bench run --full` after `bash bench/setup.sh`).",
        "",
        "Every speed figure is a **ratio measured in one run**: the sides alternate over "
        "several repetitions (the order rotates) and the table quotes the median, with the "
        "minimum and maximum over repetitions. Wall time is the measure; the same ratio in "
        "CPU time of the process (`CPU`) is given beside it, because the machine is shared "
        "and CPU time is much less disturbed by the other processes. Python's cyclic "
        "garbage collector is run before and kept off during each timed span (as "
        "`timeit` does), so that a collection of the benchmark's own heap does not land "
        "in one side. Absolute times are context only.",
        "",
        "## Runs",
        "",
    ]
    for name, data in zip(SECTION_FILES, loaded, strict=True):
        if data is not None:
            out += _meta_lines(data["meta"], name)
    if speed is not None:
        m = speed["meta"]
        out += [f"- machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB, {m['os']}, "
                f"Python {m['python']}"]
    out.append("")
    speed_lines, speed_rows = _speed(speed) if speed else ([], [])
    scale_lines, scale_rows = _scale(scale) if scale else ([], [])
    if speed:
        out += ["## Targets", ""]
        names = list(speed["cases"])
        rows = speed_rows + [[a, b, c] + [""] * (len(names) - 1) for a, b, c in scale_rows]
        out += _table(["item", "target", *names], rows)
        out += ["", "Ratios: median (min-max over repetitions); `CPU` the median ratio in "
                "CPU time; `A/A` the same ratio, in the same run, between two identical "
                "sides (the hand-written run against a copy of itself; for item 5 a "
                "from-scratch model against a copy of itself, worst stage): it would be "
                "1.000 on a quiet machine, so its distance from 1 is the noise any ratio "
                "in its row carries. Item 6 has one column: the model is named in the row.",
                ""]
    out += ["## Notes", "", NOTES_BEGIN, notes.strip(), NOTES_END, ""]
    if speed:
        out += ["## Speed: the driver against hand-written Keras 3 (items 1-5)", "",
                "Sides: `baseline` (hand-written: optimizer built over every variable before "
                "`compile`, `trainable` flips and `make_train_function(force=True)` in a "
                "callback at the stage's last epoch end), `driver` "
                "(`ProgressiveUnfreezing`, `FixedEpoch`), `driver_rules` (+ "
                "`Discriminative(2.6)`, `Warmup(one epoch)`, `StageScaled(factor=1.5)`), "
                "`gradnorm` (`FixedEpoch | GradNorm(threshold=1e-30, check_every=10)`: the "
                "norms are computed and read, the policy never fires, so the stages are the "
                "same), `baseline_again` (an identical copy of `baseline`: the A/A "
                "control). BatchNorm stays in inference mode on every side.", ""]
        out += speed_lines
    if scale:
        out += ["## Scale (item 6)", "", *scale_lines]
    if quality:
        out += ["## Quality: a ULMFiT-style ablation", "", *_quality(quality)]
    if transfer:
        out += ["## Transfer: real pretrained weights", "", *transfer_section(transfer)]
    out += caching_sections(caching, tta)
    return "\n".join(out).rstrip() + "\n"


def write_doc(results: Path, doc: Path | None = None) -> Path:
    """Render ``results`` into ``doc`` (default ``docs/benchmarks.md``), keeping its notes."""
    doc = doc or DOC
    notes, summary = DEFAULT_NOTES, None
    if doc.exists():
        text = doc.read_text()
        found = re.search(re.escape(NOTES_BEGIN) + r"(.*?)" + re.escape(NOTES_END), text, re.S)
        if found and found.group(1).strip():
            notes = found.group(1)
        found = re.search(re.escape(SUMMARY_BEGIN) + r"(.*?)" + re.escape(SUMMARY_END), text,
                          re.S)
        if found and found.group(1).strip():
            summary = found.group(1)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render(results, notes, summary))
    if (transfer := _load(results, "transfer")) is not None:  # its figure, beside the doc
        draw(transfer, doc.parent / FIGURE)
    return doc
