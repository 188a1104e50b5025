"""Running the bundle in this process, exactly as ``python -m monai.bundle run`` does.

:func:`run_workflow` is the package's one way to run a bundle config: ``wmhseg predict``
(:mod:`wmhseg.commands.predict`), the experiment pipelines (:mod:`wmhseg.experiments.bundle_run`)
and the tests all go through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monai.bundle import ConfigWorkflow

__all__ = ["run_workflow"]


def run_workflow(
    config_file: str | Sequence[str],
    run_id: str = "run",
    workflow_type: str = "train",
    meta_file: str | Sequence[str] | None = None,
    logging_file: str | bool | None = None,
    **overrides: Any,
) -> ConfigWorkflow:
    """Initialise, run and finalise the bundle workflow of ``config_file`` (files merged in order); return it.

    As ``python -m monai.bundle run``: ``overrides`` replace config ids, ``meta_file`` and
    ``logging_file`` default to ``metadata.json`` and ``logging.conf`` beside the first config,
    and the ``finalize`` expressions run only after a successful run.  A config that lacks a
    property MONAI requires of a ``workflow_type`` workflow (``train``, ``infer``, ``eval``) is
    refused with ``ValueError`` before it runs.
    """
    workflow = ConfigWorkflow(
        config_file=config_file,
        meta_file=meta_file,
        logging_file=logging_file,
        workflow_type=workflow_type,
        run_id=run_id,
        **overrides,
    )
    workflow.initialize()
    try:
        missing = workflow.check_properties()
    except KeyError as err:  # MONAI raises on the first required property whose id the config lacks
        missing = [err.args[0]]
    if missing:
        raise ValueError(f"bundle config {config_file} is not a {workflow_type} workflow: missing {missing}")
    workflow.run()
    workflow.finalize()
    return workflow
