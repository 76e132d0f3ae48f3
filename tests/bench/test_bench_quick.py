"""The benchmark's quick mode, end to end in a subprocess (CI smoke run).

Nothing here is about time: the quick mode's models are far too small for its ratios to
mean anything. What is checked is that every section runs and writes JSON with every
part the report needs, with sane values, and that the two sides of the speed benchmark
really do the same computation.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.keras, pytest.mark.slow]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--quick", "--only",
         "speed,scale,quality,caching", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    for name in ("speed", "scale", "quality", "caching"):
        assert f"wrote {out / name}.json" in proc.stdout
    return out


def load(results: Path, name: str) -> dict[str, Any]:
    return json.loads((results / f"{name}.json").read_text())


def positive(x: Any) -> bool:
    return isinstance(x, float | int) and math.isfinite(x) and x > 0


def ratio_ok(summary: dict[str, Any]) -> bool:
    values = summary["values"]
    return (
        len(values) >= 1
        and all(positive(v) for v in values)
        and summary["min"] <= summary["median"] <= summary["max"]
    )


def test_meta_names_machine_versions_and_command(results: Path) -> None:
    for name in ("speed", "scale", "quality"):
        meta = load(results, name)["meta"]
        assert meta["profile"] == "quick"
        # each section runs in its own process, which records the command typed
        assert meta["command"] == (f"python -m bench run --quick --only "
                                   f"speed,scale,quality,caching --out {results}")
        assert meta["versions"]["keras"] and meta["versions"]["numpy"]
        assert meta["cpus"] >= 1 and positive(meta["seconds"])
        assert len(meta["load_average_start"]) == 3


def test_speed_section(results: Path) -> None:
    data = load(results, "speed")
    case = data["cases"]["small_cnn"]
    n = case["n_stages"]
    whole = case["whole"]
    assert whole["timeline"] == [1 + e // case["epochs_per_stage"] for e in range(case["epochs"])]
    # the driver without LR rules computes exactly what the hand-written baseline does
    assert whole["max_weight_diff_driver_vs_baseline"] <= 1e-5
    controls = ("control_whole_run", "control_per_step", "control_stage_change")
    for key in ("whole_run", "rules_whole_run", "gradnorm_per_step", "stage_change", *controls):
        assert ratio_ok(whole["ratios"][key]), key
    for key in ("whole_run", "rules_whole_run", "gradnorm_per_step", *controls[:2]):
        assert ratio_ok(whole["cpu_ratios"][key]), key
    assert len(whole["ratios"]["stage_change_each"]) == n - 1
    for side in ("baseline", "driver", "driver_rules", "gradnorm", "baseline_again"):
        assert ratio_ok(whole["seconds"][side])
        assert len(whole["step_seconds_per_stage"][side]) == n
    stages = case["physics"]["stages"]
    assert [s["stage"] for s in stages] == list(range(1, n + 1))
    for s in stages:
        for key in ("vs_floor", "vs_all", "floor_vs_all", "cpu_vs_floor", "cpu_vs_all",
                    "control_vs_floor", "cpu_control_vs_floor"):
            assert ratio_ok(s[key]), key
        assert all(positive(v) for v in s["step_seconds"].values())
    assert stages[-1]["floor_vs_all"]["median"] == 1.0  # the last stage's floor is "all"


def test_scale_section(results: Path) -> None:
    data = load(results, "scale")
    for case in data["cases"].values():
        assert case["weighted_layers"] > 0 and case["params"] > 0
        for plan in case["plans"].values():
            assert 1 <= plan["groups"] <= case["weighted_layers"]
            assert plan["stages"] == plan["groups"]
            assert positive(plan["cold_seconds"]) and positive(plan["warm_seconds"])
        assert positive(case["setup"]["driver_setup_seconds"])
    bert = data["cases"]["bert"]
    # embeddings, one group per transformer layer, pooled_dense
    assert bert["plans"]["ByPatterns(embedding, transformer_layer_(\\d+), pooled_dense)"][
        "groups"] >= 3
    memory = data["memory"]
    runs = memory["runs"]
    assert set(runs) == {"idle", "progressive", "all"}
    assert runs["progressive"]["epochs"] == runs["all"]["epochs"] >= 2
    assert len(runs["progressive"]["maxrss_per_epoch_mb"]) == runs["progressive"]["epochs"]
    for mode in ("progressive", "all"):
        assert runs[mode]["maxrss_mb"] >= runs["idle"]["maxrss_mb"] * 0.9
    assert 0.5 < memory["progressive_over_all"] < 2


def test_quality_section(results: Path) -> None:
    data = load(results, "quality")
    arms = {a["arm"]: a for a in data["arms"]}
    expected = {"head_only", "unfreeze_all", "gradual", "gradual_discr",
                "gradual_discr_warmup", "plateau", "gradnorm"}
    if (REPO / "plugins" / "unfreeze-slanted-triangular").exists():
        expected.add("slanted_triangular")
    assert set(arms) == expected
    before = data["source_accuracy_pretrained"]["mean"]
    assert before > 0.5  # pretrained well above chance (0.2) on the source task
    for a in arms.values():
        for key in ("target_accuracy", "source_accuracy_after", "val_accuracy"):
            assert 0.0 <= a[key]["mean"] <= 1.0, (a["arm"], key)
        assert a["lr"] in data["settings"]["lr_grid"]
        assert positive(a["seconds"]["mean"])
    # a frozen backbone (BatchNorm included) forgets nothing, to the last digit
    assert arms["head_only"]["source_accuracy_lost"]["mean"] == 0.0
    gradual = arms["gradual"]["stages_by_seed"][0]
    assert gradual[0] == 1 and gradual[-1] > 1
    assert len(data["runs"]) == len(expected) * len(data["settings"]["seeds"]) * len(
        data["settings"]["lr_grid"])


def test_caching_section(results: Path) -> None:
    data = load(results, "caching")
    case = data["cases"]["small_cnn"]
    stages = case["stages"]
    assert [s["stage"] for s in stages] == list(range(1, len(case["groups"]) + 1))
    assert stages[0]["trainable_groups"] == ["head"]
    assert stages[-1]["cut"] is None  # the last stage trains from the inputs
    for s in stages:
        for key in ("driver_epoch_s", "floor_epoch_s", "uncached_epoch_s", "driver_build_s"):
            assert positive(s[key]), (s["stage"], key)
        assert ratio_ok(s["ratio"]) and ratio_ok(s["uncached_over_cached"])
        assert s["floor_epoch_s"] == min(s["floor_fit_epoch_s"], s["floor_loop_epoch_s"])


def test_report_renders_every_section(results: Path, tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "report", "--results", str(results), "--doc", str(doc)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = doc.read_text()
    for heading in ("## Targets", "## Speed", "## Scale (item 6)", "## Quality",
                    "## Caching: each stage against its floor"):
        assert heading in text
    assert "<!-- notes:begin -->" in text and "n/a" not in text.split("## Notes")[0]
