"""The dtype a batch is mixed in, and the way back to the batch's own dtype.

float32 and float64 batches are mixed in their own dtype; float16, bfloat16 and integers of up to
16 bits in float32; int32, int64, uint32 and uint64 in float64 (float32's 24-bit mantissa would round
them), relative to the batch's first sample (see ``_kernels._in_compute_dtype``). Integer results
round to nearest with ties up, ``floor(x + 1/2)``.

8-bit batches (uint8, int8) mixed with weights in steps of 1/256 are computed in int16 instead
(``in_steps``, ``high_byte``; the route ``integer_steps``): ``(a·x + (256 − a)·y + 128) // 256`` for
``λ = a/256`` is exactly what float32 computes, since every product and sum of the float32 formula
is exact for such weights, and it needs no float32 copy of the batch.

Kernels that only copy values (those of the methods that copy pixels) see a uint16, uint32 or uint64
batch through the signed dtype of its width (``copies_bits``): the same bits, on torch versions
without kernels for the unsigned ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast, overload

import torch

from .. import _backend

# Integer dtypes mixed relative to their first sample, in float64 and out of place (_kernels): their
# values do not all fit float32's 24-bit mantissa. uint64 goes through int64 shifted by 2^63.
WIDE_INTEGERS = (torch.int32, torch.int64, torch.uint32, torch.uint64)

# Float dtypes that are their own compute dtype: mixed as they are, with no cast (compute_dtype).
WIDE_FLOATS = (torch.float32, torch.float64)

#: The signed dtype of each unsigned one's width, whose view ``copies_bits`` copies values through.
SIGNED_VIEWS = {torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}

_Kernel = TypeVar("_Kernel", bound=Callable[..., torch.Tensor])


def signed_view(x: torch.Tensor) -> torch.Tensor:
    """``x`` seen as the signed dtype of its width where it is uint16–64 (the same bits), else ``x``."""
    signed = SIGNED_VIEWS.get(x.dtype)
    return x if signed is None else x.view(signed)


def copies_bits(kernel: _Kernel) -> _Kernel:
    """Run ``kernel(x, ...)``, which only copies ``x``'s values, on a signed view of a uint16–64 ``x``.

    The same bits, so the same values, exactly; the result is viewed back (``x`` itself where the
    kernel returned the view, in place). torch 2.9 to 2.11 have no CPU ``gather``, ``where`` or
    advanced indexing for uint16, uint32 and uint64; their signed twins have them everywhere.
    """

    @functools.wraps(kernel)
    def on_signed(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        view = signed_view(x)
        if view is x:
            return kernel(x, *args, **kwargs)
        out = kernel(view, *args, **kwargs)
        return x if out is view else out.view(x.dtype)

    return cast(_Kernel, on_signed)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The float dtype a batch of ``dtype`` is mixed in."""
    if dtype in WIDE_FLOATS:
        return dtype
    if dtype in WIDE_INTEGERS:
        return torch.float64
    return torch.float32


def restore_dtype(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast a float result back to ``dtype``, rounding to nearest (ties up) for integer dtypes."""
    if x.dtype == dtype:
        return x
    if not dtype.is_floating_point:
        rounded = add_half_for_rounding(x, dtype)
        return truncating_copy_(torch.empty_like(rounded, dtype=dtype), rounded)  # the cast truncates
    return x.to(dtype)


def truncating_copy_(out: torch.Tensor, x: torch.Tensor, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """``out.copy_(x)``: float values cast to ``out``'s dtype, truncated; uint8 on the CPU through int16.

    ATen casts float32 to int16 and int16 to uint8 with vector instructions, but float32 to uint8 one
    value at a time (2–4× slower on an Intel Xeon); truncation gives the same value either way
    for the results cast here, which lie in (−1, 256) (route ``int16_casts``; off: the direct cast).
    ``scratch``, a contiguous tensor of at least two bytes per value of ``x`` that the caller has
    finished reading, holds the int16 step instead of a new tensor.
    """
    direct = (
        out.dtype != torch.uint8
        or not x.is_floating_point()
        or x.device.type != "cpu"
        or not _backend.ROUTES["int16_casts"]
        or torch.compiler.is_compiling()
    )
    if direct:
        return out.copy_(x)
    if scratch is None:
        wide = torch.empty(x.shape, dtype=torch.int16, device=x.device)
    else:
        wide = scratch.view(-1).view(torch.int16)[: x.numel()].view(x.shape)
    return out.copy_(wide.copy_(x.detach()))  # a cast to integers carries no gradient


def add_half_for_rounding(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Prepare a float result for the cast to integer ``dtype`` so that it rounds to nearest, ties up.

    ``floor(x + 1/2)``; the cast truncates, which is floor already for values >= 0, the only ones an
    unsigned type can hold. A convex combination of integers lies within their range: no overflow.
    The in-place matrix product folds the 1/2 into its product and rounds alike.
    """
    x = x.add_(0.5)
    return x.floor_() if dtype.is_signed else x


#: λ in steps of 1/STEPS mixes 8-bit batches exactly in int16 (the transforms round λ so for them).
STEPS = 256
EIGHT_BITS = (torch.uint8, torch.int8)


@overload
def round_to_steps(lam: float) -> float: ...
@overload
def round_to_steps(lam: torch.Tensor) -> torch.Tensor: ...
def round_to_steps(lam: float | torch.Tensor) -> float | torch.Tensor:
    """λ rounded to the nearest multiple of 1/256 (ties to even): a weight 8-bit batches mix exactly."""
    if isinstance(lam, torch.Tensor):
        return (lam * STEPS).round_() / STEPS
    return round(lam * STEPS) / STEPS


def in_steps(dtype: torch.dtype, weights: Sequence[float]) -> list[int] | None:
    """The weights as whole steps ``a = 256·λ`` when an 8-bit batch can be mixed in int16, else None."""
    if dtype not in EIGHT_BITS or not _backend.ROUTES["integer_steps"]:
        return None
    steps = [w * STEPS for w in weights]
    return [int(a) for a in steps] if all(a == int(a) for a in steps) else None


def high_byte(total: torch.Tensor, shift: torch.Tensor | int = 8) -> torch.Tensor:
    """``total // 256`` of int16 sums, in place, for a cast to uint8 or int8 (which keeps the low byte).

    For int8 the sums stay in int16's range and the arithmetic shift floors them. For uint8 they
    reach 2^16 − 128: int16 holds them wrapped, with the bits of the unsigned sum, and the shift
    leaves the unsigned quotient in the low byte, which the cast to uint8 keeps. ``shift`` is 8, or
    8 as a 0-dim int16 tensor on ``total``'s device for callers that shift sample by sample: ATen
    wraps a Python int into a new tensor on every call (about 2 µs, AMD EPYC).
    """
    return total.bitwise_right_shift_(shift)
