"""The tables of an evaluation: ``per_case.csv``, ``per_scanner.csv`` and ``summary.json``, and their text.

``per_scanner.csv`` has one row per scanner with the number of cases and the mean of each metric, then an
``Average`` row over all cases (as the challenge leaderboard: the mean over images), plus the number of NaN
values per metric (means skip NaN) -- the layout of Table 3 in Kuijf et al., IEEE TMI 38(11), 2019.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from ..io import write_text_atomic
from ..metrics.challenge import METRIC_LABELS, METRIC_NAMES
from .scoring import PER_CASE_COLUMNS

__all__ = ["TABLE_FILES", "scanner_table", "tables_text", "write_tables"]

_METRIC_FORMATS = {"dsc": ".3f", "hd95": ".2f", "avd": ".2f", "recall": ".3f", "f1": ".3f"}


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def scanner_table(rows: Sequence[dict]) -> list[dict]:
    """Per-scanner means (NaN skipped) and NaN counts of the five metrics, then the ``Average`` over all cases."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["scanner"], []).append(row)
    table = []
    for scanner, members in [*groups.items(), ("Average", list(rows))]:
        entry: dict = {"scanner": scanner, "n": len(members)}
        for name in METRIC_NAMES:
            entry[name] = _nanmean([m[name] for m in members])
        for name in METRIC_NAMES:
            entry[f"{name}_nan"] = sum(math.isnan(m[name]) for m in members)
        table.append(entry)
    return table


def _nan_to_none(value):
    """JSON-safe copy: NaN becomes null."""
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _csv_text(rows: Sequence[dict], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def _format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """Plain-text table; columns are (key, header, format)."""
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append([format(row[key], fmt) for key, _, fmt in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


TABLE_FILES = ("per_case.csv", "per_scanner.csv", "summary.json")


def write_tables(rows: Sequence[dict], out: Path) -> list[dict]:
    """Write ``per_case.csv``, ``per_scanner.csv`` and ``summary.json`` (``TABLE_FILES``) of per-case rows to
    ``out``, each atomically; return the per-scanner table (:func:`scanner_table`, ``Average`` last)."""
    out = Path(out)
    table = scanner_table(rows)
    nan_columns = [f"{m}_nan" for m in METRIC_NAMES]
    write_text_atomic(out / "per_case.csv", _csv_text(rows, PER_CASE_COLUMNS))
    write_text_atomic(out / "per_scanner.csv", _csv_text(table, ["scanner", "n", *METRIC_NAMES, *nan_columns]))
    average = table[-1]
    summary = {
        "n_cases": len(rows),
        "means": {m: average[m] for m in METRIC_NAMES},
        "nan_counts": {m: average[f"{m}_nan"] for m in METRIC_NAMES},
        "per_scanner": {t["scanner"]: {k: v for k, v in t.items() if k != "scanner"} for t in table[:-1]},
        "units": {"dsc": "fraction", "hd95": "mm", "avd": "percent", "recall": "fraction", "f1": "fraction"},
        "nan_policy": "means skip NaN values; *_nan / nan_counts give how many there were",
    }
    write_text_atomic(out / "summary.json", json.dumps(_nan_to_none(summary), indent=2, allow_nan=False) + "\n")
    return table


def tables_text(rows: Sequence[dict], table: Sequence[dict], per_case: bool = True) -> str:
    """The per-case table (unless ``per_case`` is False) and the per-scanner table as plain text, with a note
    on NaN values."""
    metric_columns = [(m, METRIC_LABELS[m], _METRIC_FORMATS[m]) for m in METRIC_NAMES]
    parts = []
    if per_case:
        parts.append(_format_table(rows, [("subject", "subject", ""), ("scanner", "scanner", ""), *metric_columns]))
        parts.append("")
    parts.append(_format_table(table, [("scanner", "scanner", ""), ("n", "n", "d"), *metric_columns]))
    average = table[-1]
    n_nan = {m: average[f"{m}_nan"] for m in METRIC_NAMES if average[f"{m}_nan"]}
    if n_nan:
        parts.append(
            "NaN values (skipped in the means): " + ", ".join(f"{METRIC_LABELS[m]} {n}" for m, n in n_nan.items())
        )
    return "\n".join(parts)
