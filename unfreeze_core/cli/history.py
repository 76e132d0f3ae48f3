"""Reading training histories: a Keras ``History`` as JSON, or a ``CSVLogger`` file.

JSON: what ``json.dump(history.history, f)`` writes (one list of per-epoch numbers per
key), also accepted inside ``{"history": {...}}``. CSV: what
``keras.callbacks.CSVLogger`` writes (a header row whose first column is ``epoch``).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from ..timeline import HistoryError

__all__ = ["HistoryError", "find_history", "read_history"]


def find_history(path: str | Path) -> Path:
    """``path`` itself, or the ``history.json`` (or ``history.csv``) in a folder.

    Raises:
        HistoryError: nothing to read there.
    """
    path = Path(path)
    if path.is_dir():
        for name in ("history.json", "history.csv"):
            if (path / name).is_file():
                return path / name
        raise HistoryError(
            f"{path} is a folder without a history.json or history.csv; give the history "
            "file itself (a Keras History saved as JSON, or a CSVLogger file)"
        )
    if not path.exists():
        raise HistoryError(f"{path} does not exist; give a Keras History JSON or a CSVLogger CSV")
    return path


def read_history(path: str | Path) -> dict[str, list[float]]:
    """The per-epoch values of a history file, by key (missing values are NaN).

    Raises:
        HistoryError: the file is missing, unreadable, of an unknown type, or not a
            history; the message says which key or row is wrong.
    """
    path = find_history(path)
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"cannot read {path}: {exc}") from None
    if suffix == ".json":
        history = _from_json(text, path)
    elif suffix in (".csv", ".log", ".txt"):
        history = _from_csv(text, path)
    else:
        raise HistoryError(
            f"{path}: unknown history type {suffix!r}; use a .json file (a Keras History, "
            "json.dump(history.history, f)) or a .csv file written by keras.callbacks.CSVLogger"
        )
    if not history or max(len(v) for v in history.values()) == 0:
        raise HistoryError(f"{path}: the history holds no epoch")
    return history


def _number(value: Any) -> float | None:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else math.nan
        except ValueError:
            return None
    return None


def _from_json(text: str, path: Path) -> dict[str, list[float]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{path}: not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("history"), dict):
        data = data["history"]
    if not isinstance(data, dict):
        raise HistoryError(
            f"{path}: a history must be a JSON object of per-epoch lists "
            f'({{"loss": [0.9, 0.7], "val_loss": [1.0, 0.8]}}), got {type(data).__name__}'
        )
    out: dict[str, list[float]] = {}
    for key, values in data.items():
        if not isinstance(values, list):
            raise HistoryError(
                f"{path}: {key!r} must be a list of per-epoch numbers, got {values!r:.60}"
            )
        numbers = [_number(v) for v in values]
        bad = next((i for i, v in enumerate(numbers) if v is None), None)
        if bad is not None:
            raise HistoryError(
                f"{path}: {key!r}[{bad}] must be a number, got {values[bad]!r:.60}"
            )
        out[str(key)] = [float(v) for v in numbers]  # type: ignore[arg-type]
    return out


def _from_csv(text: str, path: Path) -> dict[str, list[float]]:
    rows = list(csv.reader(text.splitlines()))
    rows = [r for r in rows if r]
    if not rows:
        raise HistoryError(f"{path}: the file is empty")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise HistoryError(f"{path}: the header repeats a column: {header}")
    out: dict[str, list[float]] = {h: [] for h in header if h != "epoch"}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise HistoryError(
                f"{path}, line {line}: {len(row)} values for {len(header)} columns; "
                "is this a CSVLogger file?"
            )
        for name, cell in zip(header, row, strict=True):
            if name == "epoch":
                continue
            value = _number(cell)
            if value is None:
                raise HistoryError(
                    f"{path}, line {line}: column {name!r} must hold numbers, got {cell!r:.60}"
                )
            out[name].append(value)
    return out
