"""wmhseg: white-matter hyperintensity segmentation on FLAIR MRI with MONAI."""

__version__ = "0.1.0"
