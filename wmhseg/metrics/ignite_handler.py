"""Ignite handler for the WMH challenge metrics, usable as ``key_metric`` / ``additional_metrics`` in a bundle."""

from __future__ import annotations

from collections.abc import Callable

from monai.handlers import IgniteMetricHandler

from .monai_metric import WMHChallengeMetric

__all__ = ["WMHChallengeMetricHandler"]


class WMHChallengeMetricHandler(IgniteMetricHandler):
    """Attach one WMH challenge metric (Kuijf et al., IEEE TMI 2019) to an Ignite engine.

    Computes :class:`~wmhseg.metrics.monai_metric.WMHChallengeMetric` per case; the epoch value is the mean over
    the cases that have one. With ``save_details=True`` the per-case values go to
    ``engine.state.metric_details[name]``, which ``monai.handlers.MetricsSaver`` writes as ``<name>_raw.csv``.

    Example (bundle JSON)::

        "key_metric": {"val_dsc": {"_target_": "wmhseg.metrics.WMHChallengeMetricHandler", "metric_name": "dsc",
                                   "output_transform": "$monai.handlers.from_engine(['pred', 'label'])"}},
        "additional_metrics": {"val_hd95": {"_target_": "wmhseg.metrics.WMHChallengeMetricHandler",
                                            "metric_name": "hd95", "output_transform": "..."}}

    Args:
        metric_name: ``"dsc"``, ``"hd95"``, ``"avd"``, ``"recall"`` or ``"f1"``.
        wmh_class, ignore_class, spacing: see :class:`~wmhseg.metrics.monai_metric.WMHChallengeMetric`.
        output_transform: maps ``engine.state.output`` to ``(y_pred, y)``.
        save_details: keep per-case values in ``engine.state.metric_details``.
    """

    def __init__(
        self,
        metric_name: str = "dsc",
        wmh_class: int = 1,
        ignore_class: int | None = 2,
        spacing: tuple[float, float, float] | None = None,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric_fn = WMHChallengeMetric(
            metric_name=metric_name, wmh_class=wmh_class, ignore_class=ignore_class, spacing=spacing
        )
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)
