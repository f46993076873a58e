"""The region type shared by the checks and the draws (a leaf module: it imports nothing of the package)."""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["Region"]


class Region(NamedTuple):
    """A half-open box over the last spatial dimensions: ``starts[i] <= index < stops[i]``.

    ``(y, x)`` for images, ``(z, y, x)`` for volumes; [`Box`][zmix_transforms.functional.Box] is
    the 2-D one in torchvision's order.
    """

    starts: tuple[int, ...]
    stops: tuple[int, ...]

    @property
    def sides(self) -> tuple[int, ...]:
        """The region's length along each axis."""
        return tuple(stop - start for start, stop in zip(self.starts, self.stops, strict=True))

    @property
    def size(self) -> int:
        """The number of pixels (voxels) in the region."""
        return math.prod(self.sides)

    def slices(self) -> tuple[slice, ...]:
        """Index the region of a batch ``x`` (N, ..., *spatial) as ``x[(..., *region.slices())]``."""
        return tuple(slice(start, stop) for start, stop in zip(self.starts, self.stops, strict=True))
