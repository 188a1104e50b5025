"""What a bundle config needs to know about the workflow that is parsing it.

A MONAI bundle config cannot see its own file name or the merged content it came
from.  Both are needed here: outputs default to folders inside the bundle
whatever the current directory, and the executed config is logged to MLflow
without ``--tracking``.  Expressions in a config are always evaluated from inside
``ConfigParser.get_parsed_content``, itself called by a ``ConfigWorkflow`` when
the config is run with ``python -m monai.bundle run``; the functions below find
those objects on the call stack.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from monai.bundle import ConfigWorkflow

_CONFIG_NAME = "train.json"


def _caller_instance(cls: type) -> Any | None:
    """The nearest ``self`` of type ``cls`` among the frames calling this function, if any."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, cls):
                return candidate
            frame = frame.f_back
        return None
    finally:
        del frame


def bundle_root() -> str:
    """Absolute path of the bundle folder (the one holding ``configs/``).

    Found, in order: from the first config file of the running ``ConfigWorkflow``
    (``.../bundle/configs/train.json`` gives ``.../bundle``); from the current
    directory when it is the bundle folder or the repository root holding
    ``bundle/``.  Raises ``RuntimeError`` otherwise: pass ``--bundle_root``.
    """
    workflow = _caller_instance(ConfigWorkflow)
    if workflow is not None:
        root = Path(workflow.config_root_path)
        return str((root.parent if root.name == "configs" else root).resolve())
    cwd = Path.cwd()
    for candidate in (cwd, cwd / "bundle"):
        if (candidate / "configs" / _CONFIG_NAME).is_file():
            return str(candidate.resolve())
    raise RuntimeError(
        f"cannot locate the wmhseg bundle from {cwd}: no configs/{_CONFIG_NAME} here or under bundle/; "
        "pass --bundle_root <folder holding configs/>."
    )
