"""``unfreeze demo --quick`` for real, with matplotlib hidden: the smoke run unfreezes
during training, and without the plotting library everything but the pictures is written
and the output says how to get them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# matplotlib made unimportable (as if not installed), then the `unfreeze` command
HIDE_MATPLOTLIB = (
    "import sys; sys.modules['matplotlib'] = None\n"
    "from unfreeze_core.cli import main\n"
    "main(sys.argv[1:], prog_name='unfreeze')\n"
)


@pytest.mark.keras
@pytest.mark.slow
def test_quick_unfreezes_during_training_without_matplotlib(tmp_path: Path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "COLUMNS": "160"}
    run = subprocess.run(
        [sys.executable, "-c", HIDE_MATPLOTLIB, "demo", "--quick", "--out", "out"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = tmp_path / "out"
    history = json.loads((out / "history.json").read_text())
    stages = history["unfreeze_stage"]
    changes = [e for e in range(1, len(stages)) if stages[e] > stages[e - 1]]
    assert len(changes) >= 1  # at least one unfreeze while training
    assert stages[-1] > stages[0] and stages == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    assert ">> from epoch 4: unfreezing 'backbone/dense'" in run.stdout
    assert "after the last epoch" not in run.stdout
    # no matplotlib: said before training, everything else written, how to get the picture
    assert run.stdout.index("matplotlib is not installed") < run.stdout.index("Pretrain")
    assert {p.name for p in out.iterdir()} == {
        "history.json", "results.json", "schedule.json", "model.keras"}
    assert 'pip install "unfreeze-core[plot]"' in run.stdout
    assert "unfreeze plot out" in run.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["results"]["progressive"][0]["label"] == "progressive (quick schedule)"
    assert 1 <= results["results"]["progressive"][0]["scored_epoch"] <= 10
    assert run.stdout.rstrip().splitlines()[-1].startswith("Done in ")
