"""What the example tests check of a figure: a PNG that holds a drawing, whatever matplotlib drew it."""

from __future__ import annotations

from pathlib import Path


def assert_drawn(path: Path, *, min_side: int = 100, min_ink: float = 0.05) -> None:
    """Assert that ``path`` is a PNG at least ``min_side`` pixels a side, ``min_ink`` of it not white.

    A file's size depends on the matplotlib (and zlib) that wrote it: matplotlib 3.10 writes the
    same figure in about two thirds of 3.11's bytes. The pixels do not.
    """
    from matplotlib import image as mpimg  # an extra of the tests, imported where a figure is read

    image = mpimg.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= min_side, f"{path.name}: shape {image.shape}"
    ink = float((image[..., :3] < 0.95).any(axis=-1).mean())
    assert ink >= min_ink, f"{path.name}: {ink:.1%} of its pixels drawn"
