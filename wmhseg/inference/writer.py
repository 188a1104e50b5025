"""Ignite handler that turns each subject's probability map into the inference outputs, on the input's grid.

For every subject of an iteration, after the evaluator's postprocessing has inverted
the preprocessing (``Invertd``), :class:`SubjectWriter`:

1. checks that the probability map lies exactly on the input's voxel grid (shape and
   affine equal to those read from the input file) and fails the subject otherwise,
   so that a mask is never written in the wrong space;
2. where the network has the anatomy classes (:mod:`wmhseg.inference.anatomy`), makes the
   brain and ventricle masks;
3. zeroes the WMH probability outside the brain mask given by the user and outside the
   predicted brain mask;
4. thresholds it (``prob >= threshold``), drops 26-connected lesions smaller than
   ``min_lesion_voxels`` and classifies each lesion as periventricular or deep
   (:mod:`wmhseg.reporting.regions`; ``undetermined`` without a ventricle mask);
5. writes ``wmh_mask.nii.gz`` (uint8), ``wmh_prob.nii.gz`` (float32), ``brain_mask.nii.gz``
   and ``ventricles.nii.gz`` (uint8, with the anatomy), ``lesions.csv`` and ``qc.png``, each
   atomically and two at a time (gzip and PNG encoding release the GIL), and
   ``summary.json`` last.

``summary.json`` records the seconds of every stage (``timing_s``): ``check`` (reading and
checking the input) and ``hash`` (SHA-256) from the run plan, ``load`` (data loader:
read, reorient, resample, normalise), ``network`` (the windows, with ``plan``, the window
planning, inside it), ``invert`` (postprocessing: back to the input grid), ``lesions``
(anatomy masks, threshold, 26-connected labelling, regions, lesion table), ``write_mask``,
``write_prob``, ``write_brain``, ``write_ventricles``, ``write_lesions``, ``write_qc`` (each
file) and ``write`` (all of them, wall time), and ``total``; ``runtime`` holds the device, the precision and the windows used.

Any error fails that subject only: it is logged in one line, recorded for
``summary.csv`` and the subject's partial outputs are removed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import monai
import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.engines.utils import IterationEvents

import wmhseg

from ..io import GRID_TOLERANCE_MM, read_native, same_grid, save_on_native_grid
from ..networks.precision import PrecisionNetwork
from ..reporting.lesions import label_lesions, lesion_table, write_lesion_csv
from ..reporting.qc import render_qc
from ..reporting.regions import DEFAULT_PERIVENTRICULAR_MM, lesion_regions, regional_volumes
from ..reporting.summary import write_subject_summary
from .anatomy import OUTPUT_CHANNELS, anatomy_masks
from .batch import SUMMARY_FILE, BatchRun, Subject

logger = logging.getLogger("wmhseg.inference")


class GeometryError(RuntimeError):
    """The network output does not lie on the input's voxel grid."""


class SubjectWriter:
    """Write each subject's outputs when the evaluator completes an iteration.

    Args:
        batch: the run plan; it provides each subject's input geometry and output folder
            and receives the results.
        threshold: a voxel is WMH when its WMH probability is at least this.
        min_lesion_voxels: 26-connected lesions with fewer voxels are removed from the mask.
        periventricular_mm: a lesion is periventricular when a voxel of it is within this
            distance of the ventricles.
        pred_key: key of the output maps in the evaluator output: the WMH probability, then
            the brain and ventricle probabilities where the network has them
            (:func:`~wmhseg.inference.anatomy.output_maps`).
        atol_mm: how far (mm) the output's grid may put a corner voxel from where the input's does.
    """

    def __init__(
        self,
        batch: BatchRun,
        threshold: float = 0.5,
        min_lesion_voxels: int = 1,
        periventricular_mm: float = DEFAULT_PERIVENTRICULAR_MM,
        pred_key: str = "pred",
        atol_mm: float = GRID_TOLERANCE_MM,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if periventricular_mm < 0:
            raise ValueError(f"periventricular_mm must be >= 0, got {periventricular_mm}")
        self.periventricular_mm = float(periventricular_mm)
        self.batch = batch
        self.threshold = float(threshold)
        self.min_lesion_voxels = int(min_lesion_voxels)
        self.pred_key = pred_key
        self.atol_mm = atol_mm
        self._times: dict[str, float] = {}
        self._done = 0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.GET_BATCH_STARTED, self._mark, "start")
        engine.add_event_handler(Events.GET_BATCH_COMPLETED, self._mark, "loaded")
        engine.add_event_handler(IterationEvents.FORWARD_COMPLETED, self._mark, "network")
        engine.add_event_handler(IterationEvents.MODEL_COMPLETED, self._mark, "inverted")  # after the postprocessing
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._exception_raised)

    def _mark(self, engine: Engine, name: str) -> None:
        self._times[name] = time.perf_counter()

    def _exception_raised(self, engine: Engine, error: Exception) -> None:
        """The run stops: still write ``summary.csv`` for the subjects done so far, then re-raise."""
        self.batch.write_summary()
        raise error

    def __call__(self, engine: Engine) -> None:
        batch_items = engine.state.batch if isinstance(engine.state.batch, list) else [engine.state.batch]
        outputs = engine.state.output if isinstance(engine.state.output, list) else [engine.state.output]
        n_total = len(self.batch.pending) + self._done
        runtime = self._runtime(engine)
        planning = getattr(engine.inferer, "last_plan_seconds", 0.0) if runtime["windows"]["planned"] else 0.0
        times = {**self._times, "plan": planning}
        for item, output in zip(batch_items, outputs):
            name = str(item["subject"])
            subject = self.batch[name]
            self._done += 1
            try:
                summary = self.write(subject, output[self.pred_key], times, runtime)
            except Exception as err:  # one subject's failure must not stop the others
                self.batch.record_failure(name, f"{subject.image_path}: {' '.join(str(err).split())}")
                continue
            self.batch.record_success(name, summary)
            t = summary["timing_s"]
            logger.info(
                f"[{self._done}/{n_total}] {name}: {summary['wmh_volume_ml']:.3f} ml in {summary['lesion_count']} "
                f"lesion(s); load {t['load']:.1f} s, network {t['network']:.1f} s, write {t['write']:.1f} s"
            )

    @staticmethod
    def _runtime(engine: Engine) -> dict:
        """Device, precision and windows of the iteration just run."""
        network = getattr(engine, "network", None)
        inferer = getattr(engine, "inferer", None)
        plan = getattr(inferer, "last_plan", None)
        fixed = getattr(inferer, "roi_size", None)
        windows = (
            {"planned": True, "roi_size": list(plan.roi_size), "count": plan.count}
            if plan is not None
            else {"planned": False, "roi_size": list(fixed) if fixed is not None else None}
        )
        crop = getattr(inferer, "last_crop", None)
        windows["crop"] = [[c.start, c.stop] for c in crop] if crop is not None else None
        return {
            "device": str(getattr(engine.state, "device", None)),
            "precision": network.precision if isinstance(network, PrecisionNetwork) else "fp32",
            "windows": windows,
        }

    def _check_grid(self, subject: Subject, prob: Any) -> np.ndarray:
        expected = subject.image
        shape = tuple(int(s) for s in prob.shape[1:])
        affine = np.asarray(getattr(prob, "affine", np.full((4, 4), np.nan)), dtype=np.float64)
        channels = int(prob.shape[0])
        if channels not in (1, len(OUTPUT_CHANNELS)) or not same_grid(
            shape, affine, expected.shape, expected.affine, self.atol_mm
        ):
            raise GeometryError(
                f"the network output ({channels} channel(s)) is not on the input's grid (shape {shape} vs "
                f"{expected.shape}, affine "
                f"{np.round(affine, 4).tolist()} vs {np.round(expected.affine, 4).tolist()}); nothing written"
            )
        array = prob.detach().cpu().numpy() if isinstance(prob, torch.Tensor) else np.asarray(prob)
        return np.clip(array.astype(np.float32, copy=False), 0.0, 1.0)

    def write(self, subject: Subject, prob: Any, times: dict[str, float], runtime: dict | None = None) -> dict:
        """Check, threshold and write one subject's outputs; return its summary.

        Args:
            subject: the subject, from the run plan.
            prob: its output maps, shape ``(1 or 3, *input grid)``, with an ``affine``: WMH probability, then
                brain and ventricle probabilities.
            times: ``perf_counter`` marks ``start``, ``loaded``, ``network`` and ``inverted`` of its iteration,
                and ``plan``, the seconds of window planning inside the network stage.
            runtime: device, precision and windows, recorded in the summary.
        """
        labelled = time.perf_counter()
        out_dir = subject.out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.batch.remove_outputs(subject)  # summary.json goes first: the folder is incomplete until it is rewritten
        maps = self._check_grid(subject, prob)
        prob = maps[0]
        brain = ventricles = None
        if maps.shape[0] == len(OUTPUT_CHANNELS):
            brain, ventricles = anatomy_masks(maps[1], maps[2])
            prob = np.where(brain, prob, np.float32(0.0))
        del maps
        if subject.brain_mask_path:
            prob = np.where(read_native(subject.brain_mask_path).data > 0, prob, np.float32(0.0))
        labels, n_lesions = label_lesions(prob >= self.threshold, self.min_lesion_voxels)
        mask = (labels > 0).astype(np.uint8)
        rows = lesion_table(labels, n_lesions, subject.image.affine, prob)
        regions = lesion_regions(labels, n_lesions, ventricles, subject.image.spacing, self.periventricular_mm)
        for row, region in zip(rows, regions):
            row["region"] = region
        periventricular = np.array([False] + [r == "periventricular" for r in regions])[labels]
        del labels
        n_voxels = int(mask.sum())
        voxel_ml = subject.image.voxel_volume_ml
        volume_ml = n_voxels * voxel_ml
        icv_ml = float(brain.sum()) * voxel_ml if brain is not None else None
        regional = (
            regional_volumes([row["volume_ml"] for row in rows], regions)
            if ventricles is not None and ventricles.any()
            else {"periventricular_volume_ml": None, "deep_volume_ml": None, "undetermined_volume_ml": volume_ml}
        )
        anatomy = {
            **regional,
            "periventricular_mm": self.periventricular_mm,
            "intracranial_volume_ml": icv_ml,
            "wmh_percent_icv": 100.0 * volume_ml / icv_ml if icv_ml else None,
        }

        files = self.batch.output_files(anatomy=brain is not None)
        title = f"{subject.subject}: WMH {volume_ml:.2f} ml, {n_lesions} lesion(s), threshold {self.threshold:g}"
        if brain is not None:
            regions_text = (
                "no ventricles found, regions undetermined"
                if anatomy["periventricular_volume_ml"] is None
                else f"periventricular (orange) {anatomy['periventricular_volume_ml']:.2f} ml, deep (cyan) "
                f"{anatomy['deep_volume_ml']:.2f} ml"
            )
            title += f"\n{regions_text}; brain mask (green) {icv_ml:.0f} ml"
        writes: dict[str, Callable[[], None]] = {
            "write_prob": lambda: save_on_native_grid(
                prob, subject.image, out_dir / files["prob"], "wmhseg WMH probability"
            ),
            "write_mask": lambda: save_on_native_grid(mask, subject.image, out_dir / files["mask"], "wmhseg WMH mask"),
            "write_brain": lambda: save_on_native_grid(
                brain.astype(np.uint8), subject.image, out_dir / files["brain"], "wmhseg brain mask"
            ),
            "write_ventricles": lambda: save_on_native_grid(
                ventricles.astype(np.uint8), subject.image, out_dir / files["ventricles"], "wmhseg lateral ventricles"
            ),
            "write_qc": lambda: render_qc(
                read_native(subject.image_path).data,
                mask,
                subject.image.affine,
                out_dir / files["qc"],
                title,
                periventricular=periventricular if brain is not None else None,
                brain=brain,
            ),
            "write_lesions": lambda: write_lesion_csv(rows, out_dir / files["lesions"]),
        }
        writing = time.perf_counter()
        with ThreadPoolExecutor(max_workers=2) as pool:  # waits for every write, also when one fails
            futures = {
                name: pool.submit(_timed, write) for name, write in writes.items() if name[len("write_") :] in files
            }
        write_times = {name: future.result() for name, future in futures.items()}  # raises the first failure

        end = time.perf_counter()
        start, loaded, network, inverted = (times.get(k, end) for k in ("start", "loaded", "network", "inverted"))
        planned = {"check": subject.timing.get("check", 0.0), "hash": subject.timing.get("hash", 0.0)}
        timing = {
            **planned,
            "load": loaded - start,
            "network": network - loaded,
            "plan": times.get("plan", 0.0),
            "invert": inverted - network,
            "lesions": writing - labelled,
            **write_times,
            "write": end - writing,
            "total": sum(planned.values()) + end - start,
        }
        summary = {
            "subject": subject.subject,
            "status": "ok",
            "warnings": list(subject.warnings),
            "wmh_volume_ml": volume_ml,
            "wmh_voxels": n_voxels,
            "lesion_count": n_lesions,
            **anatomy,
            "threshold": self.threshold,
            "min_lesion_voxels": self.min_lesion_voxels,
            "input": {
                "path": str(subject.image_path),
                "sha256": subject.input_sha256,
                "shape": list(subject.image.shape),
                "spacing_mm": [round(float(s), 6) for s in subject.image.spacing],
                "affine": np.round(subject.image.affine, 6).tolist(),
                "brain_mask": subject.brain_mask_path,
                "brain_mask_sha256": subject.brain_mask_sha256,
            },
            "model": self.batch.model,
            "config": self.batch.settings,
            "software": {"wmhseg": wmhseg.__version__, "monai": monai.__version__, "torch": torch.__version__},
            "runtime": runtime or {},
            "outputs": dict(files),
            "elapsed_s": timing["total"],
            "timing_s": timing,
            "fingerprint": subject.fingerprint,
        }
        write_subject_summary(summary, out_dir / SUMMARY_FILE)
        return summary


def _timed(work: Callable[[], None]) -> float:
    """Run ``work`` and return its seconds."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start
