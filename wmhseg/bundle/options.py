"""Command-line values as the bundle receives them.

``python -m monai.bundle run ... --resume true`` hands the config the *string*
``"true"`` (python-fire only converts ``True``), so flags go through
:func:`as_bool` instead of Python truthiness, which would read ``"false"`` as true.
The ``wmhseg`` commands take config overrides as ``--set ID=VALUE`` (:func:`parse_overrides`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", "none", "null", ""}


def as_bool(value: Any, name: str = "flag") -> bool:
    """``value`` as a bool: bools, 0/1, None, and the strings true/false, yes/no, on/off, 1/0."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{name} must be true or false, got {value!r}.")


def parse_overrides(items: Sequence[str], option: str = "--set") -> dict[str, Any]:
    """Config overrides from ``ID=VALUE`` strings; ``VALUE`` is read as JSON when it parses, else kept as text."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{option} {item!r}: use ID=VALUE")
        try:
            overrides[key.strip()] = json.loads(value)
        except ValueError:
            overrides[key.strip()] = value
    return overrides
