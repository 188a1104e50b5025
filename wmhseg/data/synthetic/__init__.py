"""Synthetic FLAIR phantoms with WMH labels: the embedded default data set (no download needed).

``make_phantom(seed, protocol)`` returns one subject as arrays and an affine;
``generate_phantoms(folder, n, seed)`` writes a set plus its datalist JSON;
``default_datalist()`` returns the cached default set's datalist, generating it on first use.
"""

from .acquisition import PROTOCOLS, Protocol
from .dataset import DEFAULT_SET, cached_phantom_set, default_datalist, default_root, generate_phantoms
from .phantom import ORIENTATIONS, Phantom, make_phantom

__all__ = [
    "DEFAULT_SET",
    "ORIENTATIONS",
    "PROTOCOLS",
    "Phantom",
    "Protocol",
    "cached_phantom_set",
    "default_datalist",
    "default_root",
    "generate_phantoms",
    "make_phantom",
]
