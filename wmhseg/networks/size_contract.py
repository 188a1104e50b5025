"""The input-size contract shared by the U-shaped networks: spatial sizes divisible by the pooling."""

from __future__ import annotations


def check_spatial_size(network: str, shape: list[int], multiples: list[int]) -> None:
    """Raise ``ValueError`` unless ``shape[axis]`` is a multiple of ``multiples[axis]`` on every axis.

    Called at the top of ``forward`` so that a wrong size fails before any computation, with a
    message that names the network, the axis and the required multiple.  TorchScript-compatible.
    """
    for axis in range(len(multiples)):
        if shape[axis] % multiples[axis] != 0:
            raise ValueError(
                network
                + " input spatial size "
                + str(shape)
                + " is invalid: axis "
                + str(axis)
                + " must be a multiple of "
                + str(multiples[axis])
                + " (required multiples per axis: "
                + str(multiples)
                + ")."
            )
