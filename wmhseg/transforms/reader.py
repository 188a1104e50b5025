"""A NIfTI reader for MONAI's ``LoadImage`` that decompresses ``.nii.gz`` files with ISA-L."""

from __future__ import annotations

from collections.abc import Sequence

from monai.data import NibabelReader
from monai.data.utils import correct_nifti_header_if_necessary
from monai.utils import ensure_tuple

from ..io import load_nifti


class IsalNibabelReader(NibabelReader):
    """:class:`~monai.data.NibabelReader` that reads each file with :func:`wmhseg.io.load_nifti`.

    A ``.nii.gz`` file is read and decompressed in memory in one go by ISA-L (about 2.5 times
    faster than nibabel's streaming ``gzip``); the image, its header and its metadata are those
    of ``nibabel.load``.  Other files are read by ``nibabel.load`` as before.
    """

    def read(self, data: Sequence[str] | str, **kwargs):
        filenames = ensure_tuple(data)
        self.filenames = filenames
        images = [correct_nifti_header_if_necessary(load_nifti(name)) for name in filenames]
        return images if len(filenames) > 1 else images[0]
