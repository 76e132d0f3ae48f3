"""The chart at the top of ``docs/benchmarks.md``: what freezing saves, what gradual
unfreezing keeps.

Reads the same result files as the page's tables (``bench/results/speed.json`` and
``quality.json``) and writes ``docs/img/benchmarks-summary.png``::

    python -m bench.summary_chart              # needs matplotlib (the `plot` extra)
    python -m bench.summary_chart --out x.png --results bench/results
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .common import REPO

__all__ = ["draw", "main"]

RESULTS = REPO / "bench" / "results"
OUT = REPO / "docs" / "img" / "benchmarks-summary.png"
# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
COLOURS = {"resnet50": "#0072B2", "small_cnn": "#E69F00"}
ARM_COLOURS = {
    "head_only": "#999999",
    "unfreeze_all": "#D55E00",
    "gradual": "#56B4E9",
    "gradual_discr": "#0072B2",
    "gradual_discr_warmup": "#009E73",
    "plateau": "#CC79A7",
    "gradnorm": "#E69F00",
    "slanted_triangular": "#000000",
}
SHORT = {
    "head_only": "head only",
    "unfreeze_all": "unfreeze everything",
    "gradual": "gradual",
    "gradual_discr": "gradual + Discriminative",
    "gradual_discr_warmup": "gradual + Discr. + Warmup",
    "plateau": "Plateau",
    "gradnorm": "GradNorm",
    "slanted_triangular": "slanted triangular",
}


def _stage_costs(speed: dict[str, Any]) -> dict[str, list[float]]:
    """Per model: each stage's step time over the all-unfrozen step time (medians)."""
    return {
        name: [s["vs_all"]["median"] for s in case["physics"]["stages"]]
        for name, case in speed["cases"].items()
    }


def draw(results: Path = RESULTS, out: Path = OUT) -> Path:
    """Write the two-panel summary chart from ``results`` into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed = json.loads((results / "speed.json").read_text())
    quality = json.loads((results / "quality.json").read_text())
    # Stacked, to be read at the width of the docs' text column (about 700 px).
    fig, (left, right) = plt.subplots(2, 1, figsize=(8, 9.5), dpi=150)

    for name, costs in _stage_costs(speed).items():
        stages = range(1, len(costs) + 1)
        label = {"resnet50": "ResNet50", "small_cnn": "small CNN"}.get(name, name)
        left.plot(stages, costs, marker="o", color=COLOURS.get(name), label=label, lw=2)
        for stage, cost in zip(stages, costs, strict=True):
            below = name == "resnet50"  # the two lines meet at stage 2: label apart
            left.annotate(f"{cost:.2f}", (stage, cost), textcoords="offset points",
                          xytext=(10, -12) if below else (-4, 8), ha="center", fontsize=8,
                          color=COLOURS.get(name))
    left.axhline(1.0, color="0.6", lw=0.8, ls="--")
    left.set_ylim(0, 1.15)
    left.set_xlabel("stage (1 = only the head trains)")
    left.set_ylabel("training step time\n(relative to everything trainable)")
    left.set_title("Frozen groups make early stages cheaper", fontsize=11)
    left.xaxis.get_major_locator().set_params(integer=True)
    left.legend(loc="lower right", frameon=False)

    pretrained = quality["source_accuracy_pretrained"]["mean"]
    for arm in quality["arms"]:
        key = arm["arm"]
        t, s = arm["target_accuracy"], arm["source_accuracy_after"]
        right.errorbar(s["mean"], t["mean"], xerr=s["std"], yerr=t["std"], fmt="o",
                       color=ARM_COLOURS.get(key, "#000000"), capsize=2, ms=6, alpha=0.9,
                       label=SHORT.get(key, arm["label"]))
    right.axvline(pretrained, color="0.6", lw=0.8, ls="--")
    right.annotate("before fine-tuning", (pretrained, right.get_ylim()[0]),
                   textcoords="offset points", xytext=(-4, 4), ha="right", fontsize=8,
                   color="0.4")
    right.set_xlabel("source-task accuracy kept (higher: less forgetting)")
    right.set_ylabel("target-task test accuracy")
    right.set_title("Gradual unfreezing keeps the old task", fontsize=11)
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=9,
                 frameon=False, title="mean ± std over 3 seeds", title_fontsize=9)
    fig.suptitle("unfreeze-core benchmarks (2 CPUs; tables below)", fontsize=10,
                 color="0.3", x=0.01, ha="left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.summary_chart", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    print(draw(args.results, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
