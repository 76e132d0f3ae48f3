"""A config fuzzer: valid schedules, mutated, must load and round-trip or fail cleanly.

Each example writes a valid schedule (from :mod:`tests.strategies`) as plain data, then
mutates it: wrong types, extreme numbers, unknown or missing keys, deep nesting,
unicode and huge strings, and, when it goes through a TOML or JSON file, edits of the
text itself. ``load_schedule`` must then either return a schedule whose ``to_config()``
loads back to an equal schedule, or raise :class:`ConfigError` whose problems are
located (a path, or the file as their source), with messages of bounded length; and
``unfreeze validate`` on each file exits 0 or 2 accordingly, never 1.
Anything else (``RecursionError``, ``OverflowError``, ``ValueError`` from a parser, a
message that prints a 5,000-digit number) fails the test.

300 examples per test in CI; ``HYPOTHESIS_PROFILE=thorough`` runs 20,000.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from unfreeze_core import ConfigError, Schedule, load_schedule
from unfreeze_core.cli import main

from .strategies import schedules

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
FUZZ = settings(
    max_examples=20_000 if THOROUGH else 300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_MESSAGE = 1_000  # a problem's message never grows with the input

NAMES = [
    "type", "policy", "rules", "groups", "initial", "advance_by", "final", "monitor",
    "mode", "batchnorm", "on_nan", "version", "every", "at", "patience", "min_delta",
    "cooldown", "threshold", "fraction", "window", "check_every", "steps", "start",
    "shape", "factor", "decay", "multipliers", "scales", "epochs", "n", "patterns",
    "any_of", "all_of", "product", "policies", "plateau", "fixed_epoch", "grad_norm",
    "warmup", "discriminative", "stage_scaled", "min_epochs", "count", "layers", "auto",
    "min_rel_delta", "rel_change", "reset_best", "autofreeze", "freezeout", "freezeout_rate",
    "percentile", "unfreeze", "unfrozen_by", "total_steps", "t0", "spacing", "scale_lr", "anneal",
]  # fmt: skip


class _DeepList(list):  # type: ignore[type-arg]
    """A deeply nested list that prints short (for Hypothesis' reports)."""

    def __repr__(self) -> str:
        return f"<list nested {self.depth} deep>"  # type: ignore[attr-defined]


class _DeepTable(dict):  # type: ignore[type-arg]
    """A deeply nested ``any_of`` that prints short."""

    def __repr__(self) -> str:
        return f"<any_of nested {self.depth} deep>"  # type: ignore[attr-defined]


def _nested(depth: int, leaf: Any, kind: str) -> Any:
    for _ in range(depth - 1):
        leaf = {"any_of": [leaf]} if kind == "any_of" else [leaf]
    outer: Any = _DeepTable(any_of=[leaf]) if kind == "any_of" else _DeepList([leaf])
    outer.depth = depth
    return outer


extreme_numbers = st.sampled_from(
    [
        10**400, -(10**400), 10**5000, 2**63, -(2**63), 2**1024, 1e308, -1e308, 5e-324,
        -0.0, 0, -1, 1, math.inf, -math.inf, math.nan, 1e-300, 4294967296,
    ]
)  # fmt: skip
odd_strings = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "", " ", "\x00", "\u202e", "plateau\u200b", "ﬁxed_epoch", "a{4294967296}",
            "(" * 3000, "(" * 900 + "a", "x" * 100_000, "é" * 2000, "[", "\ud800".encode(
                "utf-8", "surrogatepass"
            ).decode("utf-8", "replace"), "auto", "count", "1e400", "NaN",
        ]
    ),
)  # fmt: skip
hostile_values = st.one_of(
    extreme_numbers,
    odd_strings,
    st.booleans(),
    st.none(),
    st.integers(),
    st.floats(),
    st.lists(st.one_of(st.integers(-3, 30), st.text(max_size=5)), max_size=4),
    st.dictionaries(st.sampled_from(NAMES), st.integers(-2, 5), max_size=3),
    st.builds(
        _nested,
        st.integers(20, 3000),
        st.sampled_from([{"type": "fixed_epoch", "every": 1}, 1, "x"]),
        st.sampled_from(["any_of", "list"]),
    ),
)


def _slots(data: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) in ``data`` (not inside the deep values made above)."""
    if isinstance(data, (_DeepList, _DeepTable)):
        return out
    if isinstance(data, dict):
        for key, value in data.items():
            out.append((data, key))
            _slots(value, out)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out.append((data, i))
            _slots(value, out)
    return out


def _containers(data: Any) -> list[Any]:
    found = [data] if isinstance(data, (dict, list)) else []
    for container, key in _slots(data, []):
        value = container[key]
        if isinstance(value, (dict, list)) and not isinstance(value, (_DeepList, _DeepTable)):
            found.append(value)
    return found


@st.composite
def mutated_configs(draw: Any) -> dict[str, Any]:
    """A valid schedule's config with 0 to 4 mutations."""
    schedule = draw(schedules())
    groups = draw(st.sampled_from([None, "auto", 3, ["conv2_", "conv3_"], [["a"], ["b", "c"]]]))
    if groups is not None:
        schedule = Schedule(
            schedule.policy, rules=schedule.rules, initial=schedule.initial, groups=groups
        )
    config: dict[str, Any] = json.loads(json.dumps(schedule.to_config()))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["replace", "add_key", "drop_key", "rename_key", "swap_type"]))
        slots = _slots(config, [])
        if op == "replace" and slots:
            container, key = draw(st.sampled_from(slots))
            container[key] = draw(hostile_values)
        elif op == "add_key":
            tables = [c for c in _containers(config) if isinstance(c, dict)]
            table = draw(st.sampled_from(tables))
            table[draw(st.one_of(st.sampled_from(NAMES), odd_strings))] = draw(hostile_values)
        elif op in ("drop_key", "rename_key"):
            keyed = [(c, k) for c, k in slots if isinstance(c, dict)]
            if keyed:
                container, key = draw(st.sampled_from(keyed))
                value = container.pop(key)
                if op == "rename_key":
                    container[draw(st.sampled_from([*NAMES, key + "s", key[:-1]]))] = value
        elif op == "swap_type":
            typed = [(c, k) for c, k in slots if isinstance(c, dict) and k == "type"]
            if typed:
                container, key = draw(st.sampled_from(typed))
                container[key] = draw(st.sampled_from(NAMES))
    return config


# --- writing the data as text ------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if value is None:
        return '"null"'  # TOML has no null
    raise TypeError(type(value))


def to_toml(config: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in config.items())


text_edits = st.sampled_from(
    ["none", "delete", "insert", "duplicate_line", "truncate", "huge_int", "deep"]
)
inserts = st.one_of(
    st.sampled_from(["[", "]", "{", "}", '"', ",", "=", "\n", "\\", "9" * 5000, "1e400", "\x00"]),
    st.text(max_size=8),
)


@st.composite
def edited(draw: Any, text: str) -> str:
    for _ in range(draw(st.integers(0, 3))):
        edit = draw(text_edits)
        at = draw(st.integers(0, len(text)))
        if edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)) :]
        elif edit == "insert":
            text = text[:at] + draw(inserts) + text[at:]
        elif edit == "duplicate_line":
            lines = text.splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                lines.insert(i, lines[i])
                text = "".join(lines)
        elif edit == "truncate":
            text = text[:at]
        elif edit == "huge_int":
            text = text[:at] + "9" * draw(st.sampled_from([400, 4301, 6000])) + text[at:]
        elif edit == "deep":
            depth = draw(st.integers(60, 3000))
            text = text[:at] + "[" * depth + "]" * depth + text[at:]
    return text


# --- the property ------------------------------------------------------------------------


def _check(source: Any) -> bool:
    """Whether ``source`` loaded (and round-tripped); a clean ConfigError otherwise."""
    try:
        schedule = load_schedule(source)
    except ConfigError as error:
        note_event(f"ConfigError ({'file' if error.source else 'located'})")
        assert error.problems, "a ConfigError lists its problems"
        assert error.source or all(p.path for p in error.problems), (
            f"unlocated problem: {error!s:.300}"
        )
        for problem in error.problems:
            assert len(problem.message) <= MAX_MESSAGE, f"message too long: {problem!s:.300}"
            assert len(problem.path) <= MAX_MESSAGE, f"location too long: {problem.path:.300}"
        return False
    note_event("loaded and round-tripped")
    config = schedule.to_config()
    assert load_schedule(config) == schedule, f"round trip lost something: {config!r:.300}"
    return True


def _validate(path: Path) -> int:
    """``unfreeze validate PATH`` run in this process: its exit status."""
    result = CliRunner().invoke(main, ["validate", str(path)])
    if result.exit_code not in (0, 2):  # 1 is "the run failed": an unexpected exception
        raise AssertionError(f"exit {result.exit_code}: {result.output[-500:]}") from (
            result.exception
        )
    return result.exit_code


@FUZZ
@given(mutated_configs())
@example({"version": 1, "policy": {"type": "plateau", "min_delta": 10**400}})
@example({"version": True, "policy": {"type": "plateau"}})
@example({"policy": _nested(330, {"type": "fixed_epoch", "every": 1}, "any_of")})
@example({"policy": {"type": "plateau"}, "groups": ["a{4294967296}"]})
@example({"policy": {"type": "plateau", "monitor": 10**5000}})
@example({"policy": {"type": "fixed_epoch", "every": 10**5000}})
def test_mutated_dicts_load_or_fail_with_located_errors(config: dict[str, Any]) -> None:
    _check(config)


@FUZZ
@given(mutated_configs(), st.sampled_from([".toml", ".json"]), st.data())
def test_mutated_files_load_or_fail_with_located_errors(
    config: dict[str, Any], suffix: str, data: st.DataObject
) -> None:
    try:
        text = to_toml(config) if suffix == ".toml" else json.dumps(config, ensure_ascii=False)
    except (ValueError, RecursionError):  # a huge int or deep nesting: the writer refuses
        return
    text = data.draw(edited(text))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"schedule{suffix}"
        try:
            path.write_text(text, encoding="utf-8")
        except UnicodeEncodeError:  # a lone surrogate cannot be written as UTF-8
            path.write_bytes(text.encode("utf-8", "surrogatepass"))
        loaded = _check(path)
        # the command agrees: 0 for a schedule that loads, 2 for a bad file, never 1
        assert _validate(path) == (0 if loaded else 2)


@pytest.mark.parametrize(
    "text",
    [
        '{"version": 1, "policy": ' + "[" * 2000 + "]" * 2000 + "}",
        '{"version": 1, "policy": {"type": "plateau", "patience": ' + "9" * 5000 + "}}",
        '{"version": 1, "policy": {"type": "plateau", "patience": 1, "patience": 2}}',
        '{"version": 1.0, "policy": {"type": "plateau"}}',
        "\xff\xfe",
        "",
        "[]",
    ],
)
def test_known_hostile_json_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "schedule.json"
    path.write_text(text, encoding="latin-1" if text == "\xff\xfe" else "utf-8")
    with pytest.raises(ConfigError) as info:
        load_schedule(path)
    assert info.value.source == str(path)
    assert _validate(path) == 2
