"""Figures of experiments: ours-vs-paper bar charts of the tables, and learning curves from MLflow.

The charts written to files use matplotlib's object-oriented :class:`~matplotlib.figure.Figure` (no pyplot, no
backend change), so they work headless and leave a notebook's inline backend alone; :func:`learning_curves`
returns a pyplot figure for display.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mlflow import MlflowClient

from ..io import atomic_path
from .tables import PaperTable

__all__ = ["learning_curves", "plot_tables"]

_PANELS = (
    ("dsc", "DSC", lambda paper: paper.dsc),
    ("avd", "AVD (%)", lambda paper: paper.avd_percent),
    ("f1", "lesion F1", lambda paper: paper.f1),
)


def plot_tables(tables: Sequence[PaperTable], path: str | os.PathLike, title: str = "") -> None:
    """Grouped bars, ours against the paper, of DSC, AVD (%) and F1 for every row of ``tables``
    (rows of several tables sharing a preset are drawn once); PNG written atomically to ``path``."""
    rows, seen = [], set()
    for table in tables:
        for row in table.rows:
            name = row.key or row.label
            if name not in seen:
                seen.add(name)
                rows.append((f"T{table.number}: {row.label}", row))
    fig = Figure(figsize=(5 * len(_PANELS), 1.2 + 0.42 * len(rows)))
    axes = fig.subplots(1, len(_PANELS), sharey=True)
    positions = np.arange(len(rows))
    for ax, (metric, label, published) in zip(axes, _PANELS):
        ours = [row.ours.get(metric, math.nan) if row.ours else math.nan for _, row in rows]
        paper = [published(row.paper) if row.paper else math.nan for _, row in rows]
        ax.barh(positions - 0.2, ours, height=0.4, label="ours", color="#1f77b4")
        ax.barh(positions + 0.2, paper, height=0.4, label="paper", color="#bbbbbb")
        ax.set_title(label)
        ax.grid(axis="x", alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        for y, value in zip(positions, ours):
            if not math.isnan(value):
                ax.text(
                    value, y - 0.2, f" {value:.2f}" if metric != "avd" else f" {value:.0f}", va="center", fontsize=7
                )
    axes[0].set_yticks(positions, [name for name, _ in rows], fontsize=8)
    axes[0].invert_yaxis()
    axes[-1].legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def learning_curves(
    tracking_uri: str, runs: Mapping[str, str], metrics: Sequence[str] = ("train_loss", "val_loss", "val_wmh_dice")
) -> plt.Figure:
    """One panel per metric, one line per run: ``runs`` maps a legend label to a training run id.

    ``train_loss`` is logged per iteration, validation metrics per epoch (the MLflow step).
    """
    client = MlflowClient(tracking_uri)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, run_id in runs.items():
            history = sorted(client.get_metric_history(run_id, metric), key=lambda m: m.step)
            if history:
                ax.plot(
                    [m.step for m in history],
                    [m.value for m in history],
                    marker="." if len(history) < 30 else None,
                    label=label,
                )
        ax.set_title(metric)
        ax.set_xlabel("iteration" if metric == "train_loss" else "epoch")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig
