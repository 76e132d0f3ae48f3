"""The example plugins, for real: each distribution under ``plugins/`` is built and
``pip install``-ed into a fresh virtual environment, then used from other processes
exactly as a user would: discovered through its entry point, listed by
``unfreeze plugins``, used by name from a TOML schedule, dropped by the environment
variables, its own tests run, and a small Keras model trained with it.

The virtual environment is made by :mod:`.venvs`: the plugins exist only there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .venvs import CLI, Venv, build_venv

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = {
    "unfreeze-chain-thaw": "unfreeze_chain_thaw",
    "unfreeze-slanted-triangular": "unfreeze_slanted_triangular",
}
SCHEDULE = """\
version = 1

[policy]
type = "chain_thaw"
when = { type = "fixed_epoch", every = 1 }

[[rules]]
type = "slanted_triangular"
total_steps = 40
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return build_venv(tmp_path_factory.mktemp("plugins-venv"),
                      {dist: ROOT / "plugins" / dist for dist in PLUGINS})


def test_the_plugins_are_discovered_from_their_installed_entry_points(venv: Venv) -> None:
    found = venv.script(
        """
        import json, unfreeze_chain_thaw, unfreeze_slanted_triangular, unfreeze_core
        from unfreeze_core.plugins import get_registry
        registry = get_registry()
        entries = {e.name: [e.kind, e.provider, e.version, e.factory.type_name, e.plugin]
                   for e in registry if e.provider != "unfreeze-core"}
        files = [unfreeze_chain_thaw.__file__, unfreeze_slanted_triangular.__file__]
        print(json.dumps({"entries": entries, "files": files,
                          "core": unfreeze_core.__file__}))
        """
    )
    assert found["entries"] == {
        "chain_thaw": ["policy", "unfreeze-chain-thaw", "0.1.0", "chain_thaw", "chain_thaw"],
        "slanted_triangular": ["rule", "unfreeze-slanted-triangular", "0.1.0",
                               "slanted_triangular", "slanted_triangular"],
    }
    for file in found["files"]:  # imported from the venv, not from the source tree
        assert Path(file).is_relative_to(venv.root), file
    assert Path(found["core"]).is_relative_to(ROOT)
    # and not in this process's environment: the plugins exist only in the venv
    from importlib.metadata import PackageNotFoundError, version

    for dist in PLUGINS:
        with pytest.raises(PackageNotFoundError):
            version(dist)


def test_unfreeze_plugins_lists_them(venv: Venv) -> None:
    rows = json.loads(venv.run("-c", CLI, "plugins", "--json").stdout)
    assert [(r["distribution"], r["version"], r["status"], r["hooks"]) for r in rows] == [
        ("unfreeze-chain-thaw", "0.1.0", "loaded", ["register_policies"]),
        ("unfreeze-slanted-triangular", "0.1.0", "loaded", ["register_lr_rules"]),
    ]
    assert rows[0]["names"]["policies"] == ["chain_thaw"]
    assert rows[1]["names"]["lr_rules"] == ["slanted_triangular"]
    table = venv.run("-c", CLI, "plugins", "--all").stdout
    for text in ("unfreeze-chain-thaw", "policies: chain_thaw", "unfreeze-slanted-triangular",
                 "lr_rules: slanted_triangular", "unfreeze-core", "built-in"):
        assert text in table


def test_a_toml_schedule_uses_both_by_name(venv: Venv, tmp_path: Path) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(SCHEDULE)
    out = venv.script(
        f"""
        import json
        from unfreeze_core import load_schedule
        from unfreeze_slanted_triangular import stlr_factor
        schedule = load_schedule({str(path)!r})
        records = schedule.dry_run(3, {{"val_loss": [1.0] * 5}}, steps_per_epoch=4)
        print(json.dumps({{
            "policy": type(schedule.policy).__name__,
            "trainable": [r.trainable for r in records],
            "lr": [r.lr_multipliers for r in records],
            "expected": [stlr_factor(4 * e, 40) for e in range(5)],
            "config": schedule.to_config(),
        }}))
        """
    )
    assert out["policy"] == "ChainThaw"
    assert out["trainable"] == [[2], [0], [1], [0, 1, 2], [0, 1, 2]]
    for epoch, (lrs, factor) in enumerate(zip(out["lr"], out["expected"], strict=True)):
        trainable = out["trainable"][epoch]
        assert lrs == pytest.approx([factor if g in trainable else 0.0 for g in range(3)])
    assert out["config"]["rules"] == [{"type": "slanted_triangular", "total_steps": 40}]


def test_the_plugins_own_tests_pass_against_the_installed_distributions(venv: Venv) -> None:
    for dist in PLUGINS:
        result = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider",
                          cwd=venv.sources / dist, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert " passed" in result.stdout and "skipped" not in result.stdout


DISABLED = """
import json, sys, tomllib
from unfreeze_core import load_schedule
from unfreeze_core.plugins import get_registry
registry = get_registry()
try:
    load_schedule(tomllib.loads({schedule!r}))
    error = None
except Exception as exc:
    error = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps({{
    "policies": [n for n in registry.names("policy") if n == "chain_thaw"],
    "rules": [n for n in registry.names("rule") if n == "slanted_triangular"],
    "imported": sorted(m for m in {modules!r} if m in sys.modules),
    "error": error,
}}))
"""


@pytest.mark.parametrize(
    ("env", "loaded"),
    [
        ({"UNFREEZE_LOAD_PLUGINS": ""}, []),
        ({"UNFREEZE_LOAD_PLUGINS": "unfreeze-chain-thaw"}, ["unfreeze-chain-thaw"]),
        ({"UNFREEZE_BLOCK_PLUGINS": "unfreeze-slanted-triangular"}, ["unfreeze-chain-thaw"]),
    ],
    ids=["load-none", "load-one", "block-one"],
)
def test_the_environment_disables_them(venv: Venv, env: dict[str, str], loaded: list[str]) -> None:
    out = venv.script(
        DISABLED.format(schedule=SCHEDULE, modules=sorted(PLUGINS.values())), env=env
    )
    assert out["policies"] == (["chain_thaw"] if "unfreeze-chain-thaw" in loaded else [])
    assert out["rules"] == []
    assert out["imported"] == sorted(PLUGINS[d] for d in loaded)  # the others never imported
    missing = "rules[0].type: unknown rule type 'slanted_triangular'"
    if not loaded:
        missing = "policy.type: unknown policy type 'chain_thaw'"
    assert out["error"].startswith("UnknownTypeError: ")
    assert missing in out["error"] and "Run 'unfreeze plugins'" in out["error"]
    variable = next(iter(env))
    assert f"({variable} " in out["error"]  # the error says the environment left them out
    rows = json.loads(venv.run("-c", CLI, "plugins", "--json", env=env).stdout)
    statuses = {r["distribution"]: r["status"] for r in rows}
    expected_off = "blocked" if variable == "UNFREEZE_BLOCK_PLUGINS" else "not enabled"
    assert statuses == {d: "loaded" if d in loaded else expected_off for d in PLUGINS}


TRAIN = """
import json, sys
import keras, numpy as np
from unfreeze_core import ProgressiveUnfreezing, load_schedule
from unfreeze_slanted_triangular import stlr_factor

keras.utils.set_random_seed(0)
schedule = load_schedule(sys.argv[1])  # chain_thaw + slanted_triangular, by name
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x @ rng.normal(size=(4, 1))).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="d0"),
                          keras.layers.Dense(4, name="d1"), keras.layers.Dense(1, name="head")])
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
snapshots = []
def snapshot(*_):
    snapshots.append([layer.get_weights()[0].tolist() for layer in model.layers])
snapshot()
history = model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[
    ProgressiveUnfreezing(schedule), keras.callbacks.LambdaCallback(on_epoch_end=snapshot)])
moved = [[not np.allclose(a, b) for a, b in zip(before, after)]
         for before, after in zip(snapshots, snapshots[1:])]
expected_lr = [0.05 * stlr_factor(4 * (e + 1) - 1, 40) for e in range(5)]
print(json.dumps({"history": history.history, "moved": moved, "expected_lr": expected_lr}))
"""


@pytest.mark.keras
@pytest.mark.slow
def test_a_keras_model_trains_with_both_plugins(venv: Venv, tmp_path: Path) -> None:
    """chain-thaw freezes and refreezes the real layers, and the slanted triangular rule
    sets the learning rate inside the compiled train step, at every epoch."""
    path = tmp_path / "schedule.toml"
    path.write_text(SCHEDULE)
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    out = json.loads(venv.run(str(script), str(path)).stdout.splitlines()[-1])
    history = out["history"]
    # which layers' weights moved in each epoch: the head, d0 alone, d1 alone, then all
    assert out["moved"] == [
        [False, False, True],
        [True, False, False],
        [False, True, False],
        [True, True, True],
        [True, True, True],
    ]
    assert history["unfreeze_trainable_params"] == [5.0, 20.0, 20.0, 45.0, 45.0]
    trainable = [[2], [0], [1], [0, 1, 2], [0, 1, 2]]
    for g, name in enumerate(["d0", "d1", "head"]):
        logged = history[f"unfreeze_lr/{name}"]
        expected = [lr if g in t else 0.0 for lr, t in zip(out["expected_lr"], trainable,
                                                           strict=True)]
        assert logged == pytest.approx(expected, rel=1e-5), name
    assert history["loss"][-1] < history["loss"][0] / 10
