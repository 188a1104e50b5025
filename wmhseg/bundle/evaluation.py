"""Evaluation outputs of the bundle: one ``<subject>/result.nii.gz`` per case, and the challenge tables.

Predictions are written in the challenge's layout (``<predictions>/<subject>/result.nii.gz``)
on each input's native voxel grid, so that any evaluation script reading that layout can
score them; :class:`ChallengeTables` scores them against the original labels with the
tables of ``wmhseg evaluate`` (:mod:`wmhseg.evaluation`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events
from monai.data import FolderLayoutBase

from ..evaluation import Case, score_pairs, sorted_cases, tables_text, write_tables
from ..metrics import METRIC_NAMES

logger = logging.getLogger(__name__)

RESULT_NAME = "result.nii.gz"


class SubjectFolderLayout(FolderLayoutBase):
    """File names ``output_dir/<subject>/result.nii.gz`` for MONAI ``SaveImaged``.

    Pass the object as ``folder_layout`` and its :meth:`name_formatter` as
    ``output_name_formatter``: the formatter finds the subject of an image from the
    datalist ``items`` by the image's file name.
    """

    def __init__(self, output_dir: str, items: Sequence[Mapping[str, Any]], filename: str = RESULT_NAME) -> None:
        self.output_dir = Path(output_dir)
        self.result_name = filename
        self.subjects = {str(Path(item["image"]).resolve()): str(item["subject"]) for item in items}
        if len(set(self.subjects.values())) != len(self.subjects):
            raise ValueError("SubjectFolderLayout: subjects in the evaluation datalist are not unique.")

    def name_formatter(self, meta: Mapping[str, Any], saver: Any = None) -> dict[str, str]:
        image = str(Path(str(meta["filename_or_obj"])).resolve())
        if image not in self.subjects:
            raise KeyError(f"{image} is not in the evaluation datalist.")
        return {"subject": self.subjects[image]}

    def path(self, subject: str) -> Path:
        return self.output_dir / subject / self.result_name

    def filename(self, subject: str = "subject", **kwargs: Any) -> Path:
        path = self.path(subject)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


class ChallengeTables:
    """The WMH challenge tables of the saved predictions, at the end of an evaluation.

    At the evaluator's epoch end, pairs each case of ``items`` (``subject``, ``scanner``,
    ``label``) with its prediction ``layout.path(subject)`` and scores the files with
    :func:`wmhseg.evaluation.score_pairs` (voxel grids checked first: a prediction on another
    grid than its reference is an error, never a silent score), then writes ``per_case.csv``
    (subject, scanner, DSC, HD95, AVD, lesion recall, lesion F1, counts), ``per_scanner.csv``
    (means per scanner and the ``Average`` over all cases, Kuijf et al. 2019, Table 3) and
    ``summary.json`` to ``output_dir`` with :func:`wmhseg.evaluation.write_tables`: the same
    files as ``wmhseg evaluate --pred <predictions> --ref <datalist>``. The overall means go
    into ``engine.state.metrics`` as ``eval_dsc``, ``eval_hd95``, ``eval_avd``,
    ``eval_recall`` and ``eval_f1``.
    """

    def __init__(self, layout: SubjectFolderLayout, items: Sequence[Mapping[str, Any]], output_dir: str) -> None:
        self.layout = layout
        self.cases = sorted_cases(
            Case(str(item["subject"]), str(item["scanner"]), Path(item["label"])) for item in items
        )
        self.output_dir = Path(output_dir)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        pairs = []
        for case in self.cases:
            prediction = self.layout.path(case.subject)
            if not prediction.is_file():
                raise FileNotFoundError(f"no prediction for {case.subject} at {prediction}.")
            pairs.append((case, prediction))
        rows = score_pairs(pairs)
        table = write_tables(rows, self.output_dir)
        logger.info("WMH challenge metrics on the native grids:\n" + tables_text(rows, table, per_case=False))
        engine.state.metrics.update({f"eval_{name}": table[-1][name] for name in METRIC_NAMES})
