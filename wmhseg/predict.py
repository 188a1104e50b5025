"""The former home of ``wmhseg predict``, now :mod:`wmhseg.commands.predict`; ``import wmhseg.predict`` still works."""

from .commands.predict import TTA_FLIPS, add_arguments, config_overrides, run

__all__ = ["TTA_FLIPS", "add_arguments", "config_overrides", "run"]
