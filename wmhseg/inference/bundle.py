"""Where the MONAI bundle lives and which version it is."""

from __future__ import annotations

import json
import os
from pathlib import Path

BUNDLE_ENV = "WMHSEG_BUNDLE"
"""Environment variable naming the bundle folder (the one holding ``configs/inference.json``)."""


def default_bundle_dir() -> Path:
    """``$WMHSEG_BUNDLE`` if set, else the ``bundle/`` folder of the source tree this package is in."""
    if os.environ.get(BUNDLE_ENV):
        return Path(os.environ[BUNDLE_ENV]).expanduser()
    return Path(__file__).resolve().parents[2] / "bundle"


def bundle_version(bundle_root: str | os.PathLike) -> str | None:
    """The ``version`` of ``configs/metadata.json`` in ``bundle_root``, or None when there is none."""
    try:
        return str(json.loads((Path(bundle_root) / "configs" / "metadata.json").read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
