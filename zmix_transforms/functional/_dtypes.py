"""The dtype a batch is mixed in, and the way back to the batch's own dtype.

float32 and float64 batches are mixed in their own dtype; float16, bfloat16 and integers of up to
16 bits in float32; int32 and int64 in float64 (float32's 24-bit mantissa would round them), relative
to the batch's first sample (see ``_kernels._in_compute_dtype``). Integer results round to nearest
with ties up, ``floor(x + 1/2)``.
"""

from __future__ import annotations

import torch

# Integer dtypes mixed relative to their first sample, in float64 and out of place (_kernels).
WIDE_INTEGERS = (torch.int32, torch.int64)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The float dtype a batch of ``dtype`` is mixed in."""
    if dtype in (torch.float32, torch.float64):
        return dtype
    if dtype in WIDE_INTEGERS:
        return torch.float64
    return torch.float32


def restore_dtype(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast a float result back to ``dtype``, rounding to nearest (ties up) for integer dtypes."""
    if x.dtype == dtype:
        return x
    if not dtype.is_floating_point:
        return add_half_for_rounding(x, dtype).to(dtype)  # the cast truncates
    return x.to(dtype)


def add_half_for_rounding(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Prepare a float result for the cast to integer ``dtype`` so that it rounds to nearest, ties up.

    ``floor(x + 1/2)``; the cast truncates, which is floor already for values >= 0, the only ones an
    unsigned type can hold. A convex combination of integers lies within their range: no overflow.
    The in-place matrix product folds the 1/2 into its product and rounds alike.
    """
    x = x.add_(0.5)
    return x.floor_() if dtype.is_signed else x
