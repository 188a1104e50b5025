"""The official masking and binarisation of the WMH challenge evaluation (Kuijf et al., IEEE TMI 2019;
hjkuijf/wmhchallenge ``evaluation.py``, ``getImages``).

* Reference: T = label 1 (``0.5 <= ref <= 1.5``); label 2 (``1.5 <= ref <= 2.5``) is "don't care".
  The reference is compared as float64 values, which is what the official script does for the challenge's
  float references and what it intends for integer ones.
* Result: zeroed inside the don't-care region, then binarised by pixel type, all bounds inclusive:
  integers ``1 <= v <= 1000``, floats ``0.5 <= v <= 1000``. SimpleITK casts the bound 1000 to the pixel type,
  so uint8 results use ``1 <= v <= 232`` (a foreground of 255 scores as empty) and int8 results are an error.
"""

from __future__ import annotations

import numpy as np

__all__ = ["reference_masks", "binarise_result", "result_window"]

_UPPER = 1000


def reference_masks(reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (wmh, ignore) masks of a reference label volume: label 1, and label 2 ("other pathology")."""
    reference = np.asarray(reference)
    if reference.dtype == bool or np.issubdtype(reference.dtype, np.integer):
        # for integers 0.5 <= v <= 1.5 is v == 1 and 1.5 <= v <= 2.5 is v == 2
        return reference == 1, reference == 2
    if not np.issubdtype(reference.dtype, np.floating):
        raise TypeError(f"reference must be an integer or float volume, got dtype {reference.dtype}")
    # 0.5, 1.5 and 2.5 are exact in every float type, so comparing in the native type equals float64
    return (reference >= 0.5) & (reference <= 1.5), (reference >= 1.5) & (reference <= 2.5)


def result_window(dtype: np.dtype) -> tuple[float, float]:
    """Inclusive (lower, upper) foreground window the official script applies to a result of this dtype."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b" or np.issubdtype(dtype, np.unsignedinteger) or np.issubdtype(dtype, np.signedinteger):
        if dtype == np.int8:
            raise ValueError(
                "int8 results cannot be evaluated: the official script fails on them (the bound 1000 wraps to "
                "-24, below the lower bound 1); write the result as uint8"
            )
        if dtype in (np.dtype(bool), np.dtype(np.uint8)):
            return 1, _UPPER % 256  # 232: SimpleITK wraps 1000 to the uint8 range
        return 1, _UPPER
    if np.issubdtype(dtype, np.floating):
        return 0.5, _UPPER
    raise TypeError(f"result must be an integer or float volume, got dtype {dtype}")


def binarise_result(result: np.ndarray, ignore: np.ndarray | None = None) -> np.ndarray:
    """Boolean WMH mask R of a result volume, with the official window for its dtype and ``ignore`` removed."""
    result = np.asarray(result)
    lower, upper = result_window(result.dtype)
    if result.dtype == bool:
        binary = result.copy()
    else:
        binary = (result >= lower) & (result <= upper)
    if ignore is not None:
        if ignore.shape != result.shape:
            raise ValueError(f"ignore mask shape {ignore.shape} differs from result shape {result.shape}")
        binary &= ~ignore
    return binary
