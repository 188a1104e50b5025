"""One inference run over a cohort: which subjects to process, skip or refuse, and the cohort summary.

A :class:`BatchRun` is built before any image is loaded by the network's data loader.
It removes temporary files that an interrupted run left behind, checks every subject
(:func:`~wmhseg.inference.inputs.check_image`), so that bad inputs fail with a one-line
reason while the others run and implausible ones carry warnings; it skips subjects whose
outputs are complete and were made from the same input, checkpoint and settings
(unless ``overwrite``); it collects what the :class:`~wmhseg.inference.writer.SubjectWriter`
reports; and :meth:`BatchRun.finalize` writes ``summary.csv`` and raises
:class:`SubjectsFailedError` when any subject failed, so that the command exits non-zero.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..io import ImageFileError, NativeImage, remove_partial_files, sha256_file
from ..reporting.summary import cohort_row, read_subject_summary, write_cohort_csv, write_subject_summary
from .checkpoint import checkpoint_info
from .inputs import check_brain_mask, check_image

logger = logging.getLogger("wmhseg.inference")

OUTPUT_FILES = {
    "mask": "wmh_mask.nii.gz",
    "prob": "wmh_prob.nii.gz",
    "brain": "brain_mask.nii.gz",
    "ventricles": "ventricles.nii.gz",
    "lesions": "lesions.csv",
    "qc": "qc.png",
}
"""Per-subject outputs besides ``summary.json``, by kind; ``brain`` and ``ventricles`` come from networks
with the anatomy classes only."""
ANATOMY_OUTPUTS = ("brain", "ventricles")
SUMMARY_FILE = "summary.json"
COHORT_FILE = "summary.csv"


class SubjectsFailedError(RuntimeError):
    """Some subjects of a run failed; the others were processed and ``summary.csv`` lists all."""


@dataclass
class Subject:
    """One subject of a run and what happened to it."""

    subject: str
    image_path: str
    out_dir: Path
    brain_mask_path: str | None = None
    image: NativeImage | None = None
    input_sha256: str | None = None
    brain_mask_sha256: str | None = None
    fingerprint: str | None = None
    status: str = "pending"
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    """Seconds of the planning stages: ``check`` (read and check the image and brain mask), ``hash`` (SHA-256)."""

    @property
    def entry(self) -> dict:
        """The data-loader item of this subject."""
        entry = {"image": self.image_path, "subject": self.subject}
        if self.brain_mask_path:
            entry["brain_mask"] = self.brain_mask_path
        return entry


class BatchRun:
    """Plan and record one inference run.

    Args:
        subjects: entries ``{"image", "subject"[, "brain_mask"]}`` (from
            :func:`~wmhseg.inference.inputs.discover_inputs`).
        output_dir: the run's folder; each subject writes to ``output_dir/<subject>/``.
        settings: the settings that change the outputs (threshold, spacing, windows,
            ...), recorded in each ``summary.json`` and part of the skip fingerprint.
        model: ``{"name", "version", "checkpoint"}``; the checkpoint's SHA-256 is added.
        target_spacing: network grid spacing, for the size check.
        min_image_size: smallest image on the network grid (RAS order, voxels).
        save_prob: write ``wmh_prob.nii.gz``.
        save_qc: write ``qc.png``.
        overwrite: process subjects even when their outputs are complete.
    """

    def __init__(
        self,
        subjects: Sequence[dict],
        output_dir: str | os.PathLike,
        settings: dict | None = None,
        model: dict | None = None,
        target_spacing: Sequence[float] | None = None,
        min_image_size: Sequence[int] = (32, 32, 4),
        save_prob: bool = True,
        save_qc: bool = True,
        overwrite: bool = False,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.settings = dict(settings or {})
        model = dict(model or {})
        self.model = {
            **{k: v for k, v in model.items() if k != "checkpoint"},
            **checkpoint_info(model.get("checkpoint")),
        }
        self.target_spacing = target_spacing
        self.min_image_size = tuple(min_image_size)
        self.outputs = {
            k: v
            for k, v in OUTPUT_FILES.items()
            if k not in ANATOMY_OUTPUTS and (k != "prob" or save_prob) and (k != "qc" or save_qc)
        }
        self.overwrite = overwrite
        self.subjects: dict[str, Subject] = {}
        self.output_dir.mkdir(parents=True, exist_ok=True)
        remove_partial_files(self.output_dir)
        for entry in subjects:
            self._plan(entry)
        n = len(self.subjects)
        counts = {s: sum(x.status == s for x in self.subjects.values()) for s in ("pending", "skipped", "failed")}
        logger.info(
            f"{n} subject(s): {counts['pending']} to process, {counts['skipped']} complete from an earlier run, "
            f"{counts['failed']} refused; outputs in {self.output_dir}"
        )

    def _fingerprint(self, subject: Subject) -> str:
        content = {
            "input_sha256": subject.input_sha256,
            "brain_mask_sha256": subject.brain_mask_sha256,
            "checkpoint_sha256": self.model.get("checkpoint_sha256"),
            "settings": self.settings,
            "outputs": sorted(self.outputs.values()),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()

    def _plan(self, entry: dict) -> None:
        name = str(entry["subject"])
        if name in self.subjects:
            raise ValueError(f"subject {name!r} is given twice")
        subject = Subject(name, str(entry["image"]), self.output_dir / name, entry.get("brain_mask"))
        self.subjects[name] = subject
        if subject.out_dir.is_dir():
            remove_partial_files(subject.out_dir)
        try:
            start = time.perf_counter()
            subject.image, subject.warnings = check_image(subject.image_path, self.target_spacing, self.min_image_size)
            if subject.brain_mask_path:
                check_brain_mask(subject.brain_mask_path, subject.image)
            checked = time.perf_counter()
            subject.input_sha256 = sha256_file(subject.image_path)
            if subject.brain_mask_path:
                subject.brain_mask_sha256 = sha256_file(subject.brain_mask_path)
            subject.timing = {"check": checked - start, "hash": time.perf_counter() - checked}
        except ImageFileError as err:
            self.record_failure(name, str(err))
            return
        except Exception as err:  # any other reason this file cannot be used must not stop the others
            self.record_failure(name, f"{subject.image_path}: {type(err).__name__}: {err}")
            return
        for warning in subject.warnings:
            logger.warning(f"{subject.image_path}: {warning}")
        subject.fingerprint = self._fingerprint(subject)
        previous = read_subject_summary(subject.out_dir / SUMMARY_FILE)
        if previous is None or self.overwrite:
            return
        written = previous.get("outputs") if isinstance(previous.get("outputs"), dict) else {}
        complete = (
            previous.get("status") == "ok"
            and set(self.outputs.values()) <= set(written.values())
            and all((subject.out_dir / str(f)).is_file() for f in written.values())
        )
        if complete and previous.get("fingerprint") == subject.fingerprint:
            subject.status, subject.summary = "skipped", previous
            logger.info(f"{name}: outputs complete from an earlier run, skipped (use overwrite to redo)")
        else:
            logger.info(f"{name}: earlier outputs are incomplete or from another input or settings; processing again")

    def output_files(self, anatomy: bool) -> dict[str, str]:
        """The files to write for a subject, by kind: the chosen outputs, with the brain and ventricle masks
        when the network gives the ``anatomy``."""
        extra = {k: OUTPUT_FILES[k] for k in ANATOMY_OUTPUTS} if anatomy else {}
        return {**self.outputs, **extra}

    @property
    def pending(self) -> list[dict]:
        """Data-loader items of the subjects still to process, in input order."""
        return [s.entry for s in self.subjects.values() if s.status == "pending"]

    def __getitem__(self, name: str) -> Subject:
        return self.subjects[name]

    def record_success(self, name: str, summary: dict) -> None:
        """Record that ``name`` was processed; ``summary`` is its ``summary.json`` content."""
        subject = self.subjects[name]
        subject.status, subject.summary = "ok", summary

    def record_failure(self, name: str, error: str, clean: bool = True) -> None:
        """Record that ``name`` failed and log the one-line ``error``.

        With ``clean`` (the default) the subject's outputs are removed and a ``summary.json``
        holding the error is written in their place.
        """
        subject = self.subjects[name]
        subject.status, subject.error = "failed", " ".join(str(error).split())
        logger.error(f"FAILED {subject.error}")
        if not clean:
            return
        with contextlib.suppress(OSError):
            self.remove_outputs(subject)
        summary = {
            "subject": name,
            "status": "failed",
            "error": subject.error,
            "warnings": subject.warnings,
            "input": {"path": subject.image_path, "brain_mask": subject.brain_mask_path},
        }
        subject.summary = summary
        with contextlib.suppress(OSError):
            subject.out_dir.mkdir(parents=True, exist_ok=True)
            write_subject_summary(summary, subject.out_dir / SUMMARY_FILE)

    def remove_outputs(self, subject: Subject) -> None:
        """Delete ``subject``'s summary and output files (before rewriting them, or after a failure)."""
        for name in (SUMMARY_FILE, *OUTPUT_FILES.values()):
            path = subject.out_dir / name
            if path.is_file() or path.is_symlink():
                path.unlink()

    def write_summary(self) -> Path:
        """Write ``summary.csv``: one row per subject; subjects never reached are marked failed."""
        for subject in self.subjects.values():
            if subject.status == "pending":
                self.record_failure(
                    subject.subject, f"{subject.image_path}: not processed (the run stopped early)", clean=False
                )
        rows = []
        for subject in self.subjects.values():
            row = cohort_row(
                {
                    **subject.summary,
                    "subject": subject.subject,
                    "status": subject.status,
                    "error": subject.error,
                    "warnings": subject.warnings,
                    "output_dir": str(subject.out_dir),
                }
            )
            row["input"] = row["input"] or subject.image_path
            rows.append(row)
        path = self.output_dir / COHORT_FILE
        write_cohort_csv(rows, path)
        return path

    @property
    def failed(self) -> list[Subject]:
        """Subjects that failed."""
        return [s for s in self.subjects.values() if s.status == "failed"]

    def finalize(self) -> Path:
        """Write ``summary.csv`` and raise :class:`SubjectsFailedError` if any subject failed."""
        path = self.write_summary()
        failed = self.failed
        n_ok = sum(s.status == "ok" for s in self.subjects.values())
        n_skipped = sum(s.status == "skipped" for s in self.subjects.values())
        n_warned = sum(bool(s.warnings) for s in self.subjects.values())
        logger.info(
            f"{n_ok} processed, {n_skipped} skipped, {len(failed)} failed, {n_warned} with warnings; summary: {path}"
        )
        if failed:
            lines = "\n".join(f"  {s.error}" for s in failed)
            raise SubjectsFailedError(f"{len(failed)} of {len(self.subjects)} subject(s) failed (see {path}):\n{lines}")
        return path
