"""Networks by name: one place where presets are registered, listed and built."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn


@dataclass(frozen=True)
class NetworkPreset:
    """A named network: a constructor, its preset keyword arguments and a description."""

    factory: Callable[..., nn.Module]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, NetworkPreset] = {}


def register_network(name: str, factory: Callable[..., nn.Module], description: str, **kwargs: Any) -> None:
    """Register ``factory(**kwargs)`` under ``name``; re-registering a name is an error."""
    if name in _REGISTRY:
        raise ValueError(f"a network named {name!r} is already registered.")
    _REGISTRY[name] = NetworkPreset(factory, dict(kwargs), description)


def list_networks() -> list[str]:
    """Names of every registered network, in registration order."""
    return list(_REGISTRY)


def network_preset(name: str) -> NetworkPreset:
    """The :class:`NetworkPreset` registered under ``name``."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown network {name!r}; available: {', '.join(_REGISTRY)}.")
    return _REGISTRY[name]


def network_arguments(name: str, options: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """The constructor arguments :func:`get_network` passes: the preset's, then ``options``, then ``overrides``."""
    return {**network_preset(name).kwargs, **dict(options or {}), **overrides}


def get_network(name: str = "saunet3d", options: Mapping[str, Any] | None = None, **overrides: Any) -> nn.Module:
    """Build the network registered as ``name`` with :func:`network_arguments`.

    ``options`` is a dict of arguments (the bundle's ``network_options``) and ``overrides`` single
    ones, which win.  The bundle's ``network_def`` is the component
    ``{"_target_": "wmhseg.networks.get_network", "name": "@network_preset", "options": "@network_options"}``,
    so an argument is also a config id of its own: ``--network_def#out_channels 2``.

    Example: ``get_network("backbone_gn_sam", out_channels=2)``.
    """
    return network_preset(name).factory(**network_arguments(name, options, **overrides))
