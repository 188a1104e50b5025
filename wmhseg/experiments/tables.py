"""The paper's Tables 1, 2 and 3 rebuilt from a study's MLflow runs, with the published numbers beside ours.

* Table 1: the six ablation variants (:data:`wmhseg.networks.TABLE1`);
* Table 2: 3D U-Net, Attention U-Net, the challenge winner (quoted) and the 3D SA-UNet;
* Table 3: the 3D SA-UNet per scanner, then the average.

Our columns are the means over every evaluated case of every fold (NaN skipped): DSC, AVD
in % (the challenge's unit), lesion F1, and two the paper does not print, HD95 (mm) and lesion
recall.  The paper prints AVD as a fraction; its column shows it converted to % with the
printed fraction in brackets.  Written as markdown and CSV (:func:`write_tables`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..io import write_text_atomic
from .paper import TABLE1_ROWS, TABLE2_ROWS, TABLE3_ROWS, PaperScores, match_scanner
from .results import StudyResults

__all__ = ["PaperTable", "TableRow", "build_tables", "write_tables"]

OUR_METRICS = (
    ("dsc", "DSC", ".3f"),
    ("avd", "AVD (%)", ".1f"),
    ("f1", "F1", ".3f"),
    ("hd95", "HD95 (mm)", ".2f"),
    ("recall", "recall", ".3f"),
)
CSV_COLUMNS = (
    "table",
    "label",
    "key",
    "n_cases",
    "n_folds",
    "dsc",
    "avd",
    "f1",
    "hd95",
    "recall",
    "paper_dsc",
    "paper_avd_percent",
    "paper_avd_fraction",
    "paper_f1",
    "paper_hd95",
    "paper_recall",
    "dsc_nan",
    "avd_nan",
    "f1_nan",
    "hd95_nan",
    "recall_nan",
)
"""Columns of a table's CSV; ``<metric>_nan`` counts the cases whose value is undefined (skipped in the mean)."""
MISSING = "—"


@dataclass(frozen=True)
class TableRow:
    """One row: its label, the preset or scanner it is ours for, our scores (None: not evaluated), the paper's."""

    label: str
    key: str
    ours: dict | None
    paper: PaperScores | None
    n_folds: int = 0


@dataclass(frozen=True)
class PaperTable:
    number: int
    title: str
    key_header: str
    rows: tuple[TableRow, ...]
    notes: tuple[str, ...] = field(default=())

    def markdown(self) -> str:
        """The table as GitHub markdown, title and notes included."""
        show_paper_extra = any(r.paper is not None and r.paper.hd95 is not None for r in self.rows)
        header = [
            "",
            self.key_header,
            "n",
            *(label for _, label, _ in OUR_METRICS),
            "paper DSC",
            "paper AVD (%) [fraction]",
            "paper F1",
        ]
        if show_paper_extra:
            header += ["paper HD95 (mm)", "paper recall"]
        lines = [
            f"**Table {self.number}. {self.title}**",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|",
        ]
        for row in self.rows:
            cells = [row.label, f"`{row.key}`" if row.key else "", str(row.ours["n"]) if row.ours else MISSING]
            cells += [_number(row.ours.get(name) if row.ours else None, fmt) for name, _, fmt in OUR_METRICS]
            paper = row.paper
            if paper is None:
                cells += [MISSING] * 3
            else:
                cells += [f"{paper.dsc:.2f}", f"{paper.avd_percent:.1f} [{paper.avd_fraction:.3f}]", f"{paper.f1:.2f}"]
            if show_paper_extra:
                cells += [
                    _number(paper.hd95 if paper else None, ".2f"),
                    _number(paper.recall if paper else None, ".2f"),
                ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [""] + [f"{note}" for note in self.notes]
        undefined = [
            f"{row.key or row.label}: "
            + ", ".join(
                f"{label} {row.ours[f'{name}_nan']} of {row.ours['n']}"
                for name, label, _ in OUR_METRICS
                if row.ours[f"{name}_nan"]
            )
            for row in self.rows
            if row.ours and any(row.ours[f"{name}_nan"] for name, _, _ in OUR_METRICS)
        ]
        if undefined:
            lines.append(
                "Undefined values (NaN, e.g. HD95 of a mask without contour), skipped in the means: "
                + "; ".join(undefined)
                + "."
            )
        return "\n".join(lines).rstrip() + "\n"

    def csv(self) -> str:
        """The table as CSV (:data:`CSV_COLUMNS`; full precision; empty cells where there is no value)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            ours = row.ours or {}
            paper = row.paper
            writer.writerow({
                "table": self.number, "label": row.label, "key": row.key, "n_cases": ours.get("n", ""),
                "n_folds": row.n_folds or "", **{name: _csv(ours.get(name)) for name, _, _ in OUR_METRICS},
                "paper_dsc": _csv(paper.dsc if paper else None),
                "paper_avd_percent": _csv(paper.avd_percent if paper else None),
                "paper_avd_fraction": _csv(paper.avd_fraction if paper else None),
                "paper_f1": _csv(paper.f1 if paper else None), "paper_hd95": _csv(paper.hd95 if paper else None),
                "paper_recall": _csv(paper.recall if paper else None),
                **{f"{name}_nan": ours.get(f"{name}_nan", "") for name, _, _ in OUR_METRICS},
            })  # fmt: skip
        return buffer.getvalue()


def _number(value: float | None, fmt: str) -> str:
    if value is None:
        return MISSING
    return "NaN" if math.isnan(value) else format(value, fmt)


def _csv(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _preset_rows(results: StudyResults, published: Sequence[PaperScores]) -> tuple[TableRow, ...]:
    rows = []
    for paper in published:
        if paper.preset is None:
            rows.append(TableRow(paper.label, "", None, paper))
            continue
        pooled = results.pooled(paper.preset)
        rows.append(
            TableRow(paper.label, paper.preset, pooled[-1] if pooled else None, paper, len(results.of(paper.preset)))
        )
    return tuple(rows)


def _scanner_rows(results: StudyResults, preset: str) -> tuple[TableRow, ...]:
    pooled = results.pooled(preset)
    folds = len(results.of(preset))
    ours = {row["scanner"]: row for row in pooled[:-1]}
    rows, used = [], set()
    for paper in TABLE3_ROWS[:-1]:
        matches = [scanner for scanner in ours if match_scanner(scanner) is paper]
        for scanner in matches:
            rows.append(TableRow(paper.label, scanner, ours[scanner], paper, folds))
            used.add(scanner)
        if not matches:
            rows.append(TableRow(paper.label, "", None, paper))
    rows += [TableRow(scanner, scanner, row, None, folds) for scanner, row in ours.items() if scanner not in used]
    rows.append(TableRow("Average", "all", pooled[-1] if pooled else None, TABLE3_ROWS[-1], folds))
    return tuple(rows)


def build_tables(results: StudyResults, table3_preset: str = "saunet3d") -> list[PaperTable]:
    """Tables 1, 2 and 3 of ``results`` (Table 3 for ``table3_preset``)."""
    split = {"validation": "the held-out fold of each run", "test": "the test list", "all": "every training case"}
    folds = sorted({e.fold for e in results.evaluations})
    source = (
        f"Ours: study `{results.study}` on `{results.dataset}`, budget `{results.budget}`, evaluated on "
        f"{split.get(results.eval_split, results.eval_split)} (fold{'s' * (len(folds) > 1)} "
        f"{', '.join(map(str, folds))}); means over cases, NaN skipped. Paper: Guo, arXiv:2309.08402, "
        "110 challenge test subjects."
    )
    if results.eval_split != "validation" and len(folds) > 1:
        source += (
            f" Each of the {len(folds)} models per network (one per validation fold) scored every case: "
            "n counts a case once per model."
        )
    avd = "AVD: ours in %; the paper prints a fraction, shown converted to % with the printed fraction in brackets."
    return [
        PaperTable(
            1, "Ablation of the 3D SA-UNet's modules.", "preset", _preset_rows(results, TABLE1_ROWS), (source, avd)
        ),
        PaperTable(
            2,
            "Comparison with other methods.",
            "preset",
            _preset_rows(results, TABLE2_ROWS),
            (
                source,
                avd,
                "The challenge winner is quoted from the paper and the challenge results "
                "(HD95 and recall: Kuijf et al., IEEE TMI 2019), not trained here.",
            ),
        ),
        PaperTable(
            3,
            f"3D SA-UNet per scanner (`{table3_preset}`).",
            "scanner",
            _scanner_rows(results, table3_preset),
            (
                source,
                avd,
                "Our scanners are matched to the paper's by name; a row without ours has no "
                "matching scanner in the data set.",
            ),
        ),
    ]


def write_tables(tables: Sequence[PaperTable], out_dir: str | Path) -> list[Path]:
    """Write ``table<N>.md`` and ``table<N>.csv`` for each table and ``tables.md`` with all of them; return the paths."""
    out_dir = Path(out_dir)
    written = []
    for table in tables:
        for suffix, text in (("md", table.markdown()), ("csv", table.csv())):
            path = out_dir / f"table{table.number}.{suffix}"
            write_text_atomic(path, text)
            written.append(path)
    path = out_dir / "tables.md"
    write_text_atomic(path, "\n".join(table.markdown() for table in tables))
    written.append(path)
    return written
