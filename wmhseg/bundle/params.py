"""The MLflow parameters of a bundle run, read from its executed config.

:func:`config_params` turns the config a run executes (all files and overrides merged) into
parameters, so no config keeps a hand-written copy of its own ids for tracking:

* every top-level id whose value is data (numbers, strings, ``null``, lists and dicts of them,
  references to such ids): ``lr``, ``patch_size``, ``network_preset``, ``eval_split``, ...;
* every top-level id computed by an expression (or referring to one) that the run has already
  evaluated, when the value is data and not a list of dicts (``pos_ratio``, ``datalist``, ...):
  no expression is evaluated for logging, so logging has no side effects;
* the arguments of the model's components, by the same rules, with their ``_target_``: for
  ``network_def`` (the model-zoo id of the network) every constructor argument, the preset's and
  the defaults included, as ``network.*`` (:func:`network_params`); ``loss``, ``optimizer`` and
  ``lr_scheduler`` as they are.

A tracker's own ``params`` (values computed for logging only: the augmentation set with its
defaults merged, the device, the world size) are added on top.  :func:`flatten_params` gives the
``a.b`` keys MLflow stores.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import logging
import platform
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
from monai.bundle import ConfigParser

from ..networks import network_arguments, network_preset

__all__ = ["COMPONENTS", "config_params", "config_parser", "flatten_params", "network_params", "package_versions"]

logger = logging.getLogger(__name__)

PACKAGES = ("wmhseg", "monai", "torch", "numpy", "pytorch-ignite", "mlflow", "nibabel", "SimpleITK")
COMPONENTS = ("network_def", "loss", "optimizer", "lr_scheduler")
"""Top-level components whose arguments are parameters; ``network_def`` is logged as ``network``."""
_NETWORK_FACTORY = "wmhseg.networks.get_network"


def config_parser() -> ConfigParser:
    """The :class:`~monai.bundle.ConfigParser` evaluating the expression that calls this.

    MONAI hands the objects a config builds neither the parser nor the merged config, and the
    tracker needs both (the executed config is logged as an artifact, its values as parameters);
    a config expression is always evaluated inside ``ConfigParser.get_parsed_content``, so the
    parser is the nearest ``self`` of that type on the call stack.
    """
    frame = inspect.currentframe()
    try:
        while frame is not None:
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, ConfigParser):
                return candidate
            frame = frame.f_back
    finally:
        del frame
    raise RuntimeError("config_parser() must be evaluated from inside a MONAI bundle config.")


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape a result."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            module = {"wmhseg": "wmhseg", "pytorch-ignite": "ignite"}.get(name)
            version = getattr(importlib.import_module(module), "__version__", None) if module else None
            versions[name] = str(version) if version else "not installed"
    return versions


def network_params(name: str, options: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """Every constructor argument of the network ``get_network(name, options, **overrides)`` builds.

    The factory's signature defaults, then :func:`wmhseg.networks.network_arguments`; so two
    runs log the same parameters exactly when they build the same network.
    """
    defaults = {
        key: value.default
        for key, value in inspect.signature(network_preset(name).factory).parameters.items()
        if value.default is not inspect.Parameter.empty
    }
    return {"name": name, **defaults, **network_arguments(name, options, **overrides)}


def _is_data(parser: ConfigParser, value: Any, seen: frozenset[str] = frozenset()) -> bool:
    """Whether raw config ``value`` parses to itself: no expression, macro or component, only references to data."""
    if isinstance(value, str):
        if value.startswith(("$", "%")):
            return False
        if value.startswith("@"):
            ref = value[1:]
            return ref not in seen and ref in parser and _is_data(parser, parser[ref], seen | {ref})
        return True
    if isinstance(value, Mapping):
        return "_target_" not in value and all(_is_data(parser, v, seen) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_data(parser, v, seen) for v in value)
    return value is None or isinstance(value, (bool, int, float))


def _is_loggable(value: Any) -> bool:
    """Scalars, lists of scalars and (nested) dicts of those: not a datalist or any other object."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(v is None or isinstance(v, (bool, int, float, str)) for v in value)
    return isinstance(value, Mapping) and all(isinstance(k, str) and _is_loggable(v) for k, v in value.items())


def _value(parser: ConfigParser, id: str) -> tuple[bool, Any]:
    """(True, value) of config ``id`` when it is data or an already computed loggable value, else (False, None)."""
    raw = parser[id]
    if _is_data(parser, raw):
        return True, parser.get_parsed_content(id)
    if isinstance(raw, str) and raw.startswith("@") and raw[1:] in parser:
        return _value(parser, raw[1:])
    computed = parser.ref_resolver.resolved_content
    if isinstance(raw, str) and raw.startswith("$") and id in computed and _is_loggable(computed[id]):
        return True, computed[id]
    return False, None


def _component_args(parser: ConfigParser, id: str) -> dict[str, Any]:
    args = {}
    for key in parser[id]:
        if not key.startswith("_"):
            known, value = _value(parser, f"{id}#{key}")
            if known:
                args[key] = value
    return args


def config_params(parser: ConfigParser, components: Sequence[str] = COMPONENTS) -> dict[str, Any]:
    """The parameters of the config ``parser`` executes (see the module docstring), nested."""
    params: dict[str, Any] = {}
    for id in parser.get():
        if id.startswith("_") or id in components:
            continue
        known, value = _value(parser, id)
        if known:
            params[id] = value
    for id in components:
        raw = parser.get(id)
        if not (isinstance(raw, Mapping) and "_target_" in raw):
            continue
        args = _component_args(parser, id)
        if id == "network_def" and raw["_target_"] == _NETWORK_FACTORY and isinstance(args.get("name"), str):
            params["network"] = network_params(**args)
        else:
            params["network" if id == "network_def" else id] = {"_target_": raw["_target_"], **args}
    return params


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings flattened to ``a.b`` keys; leaves as strings (sequences as JSON).

    Config descriptions (``_desc_`` keys) are left out.
    """
    flat: dict[str, str] = {}
    for key, value in params.items():
        if key == "_desc_":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
            continue
        text = json.dumps(value, default=str) if isinstance(value, (list, tuple)) else str(value)
        if len(text) > MAX_PARAM_VAL_LENGTH:
            logger.warning(f"MLflow parameter {name} truncated to {MAX_PARAM_VAL_LENGTH} characters.")
            text = text[:MAX_PARAM_VAL_LENGTH]
        flat[name] = text
    return flat
