"""Synthetic FLAIR images with WMH labels built from real whole-head label maps (FreeSurfer labels).

``load_label_maps(folder)`` reads the anatomy; ``FLAIRSynthesizer(maps)(seed)`` draws one
``SyntheticSample`` on the network grid; ``SyntheticFLAIRStream`` feeds training on the fly.
"""

from .anatomy import CLASSES, LabelMap, load_label_map, load_label_maps
from .generator import FLAIRSynthesizer, SynthesisSettings, SyntheticSample
from .stream import SyntheticFLAIRStream, sample_to_dict, split_label_maps, synthetic_set

__all__ = [
    "CLASSES",
    "FLAIRSynthesizer",
    "LabelMap",
    "SynthesisSettings",
    "SyntheticFLAIRStream",
    "SyntheticSample",
    "load_label_map",
    "load_label_maps",
    "sample_to_dict",
    "split_label_maps",
    "synthetic_set",
]
