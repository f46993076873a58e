"""CPU library routes that compute what plain PyTorch computes, faster, each with an off switch.

Every route here gives the same values as the plain PyTorch call beside it (a test compares them),
and each can be turned off: set ``ZMIX_TRANSFORMS_DISABLE`` to a comma-separated list of route
names before import, or use [`routes`][zmix_transforms._backend.routes] as a context manager (the
benchmark measures each route on and off that way). The routes:

* ``onednn``: float32 matrix products through oneDNN's linear operator instead of ``torch.mm``.
  PyTorch's CPU ``mm`` calls MKL, which picks its AVX2 kernels on non-Intel processors even where
  they have AVX-512; oneDNN dispatches on the instruction set alone. Used only for large products
  (``_ONEDNN_MIN_MACS``) outside autograd and ``torch.compile``, after a once-per-process check
  that the operator exists and agrees with ``torch.mm``.
* ``int32_cast``: float to uint8/int8/int16 casts through int32. ATen's direct CPU cast to narrow
  integers is not vectorized; the two casts give the same values for the in-range values a mix makes.
* ``numpy_argsort``: ζ-mixup's row-wise argsort of random keys through NumPy's vectorized sort.

The kernels' own fast paths (``zmix_transforms.functional``) switch the same way; each computes
what its kernel's formula computes:

* ``inplace_kernels``: in-place products over blocks of columns and in-place pair mixes along the
  pairing's cycles (off: mix out of place and copy back, which allocates a second batch).
* ``chunked_walk``: in-place pair mixes of small samples walk the cycles several samples at a time
  (off: small samples are mixed out of place and copied back; large ones always walk one by one).
* ``narrow_blocks``: out-of-place products of uint8/int8/int16/half batches on the CPU mix a copy
  in place, over blocks (off: one float32 product of the whole batch).
* ``per_sample_lerp``: out-of-place pair mixes of large samples on the CPU lerp each sample
  straight into the result (off: one gather, then one lerp over the batch).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["ROUTES", "argsort_rows", "casts_through_int32", "matmul", "routes"]

#: Which routes are on; ``ZMIX_TRANSFORMS_DISABLE="onednn,numpy_argsort"`` turns those off at import.
ROUTES: dict[str, bool] = {
    "onednn": True,
    "int32_cast": True,
    "numpy_argsort": True,
    "inplace_kernels": True,
    "chunked_walk": True,
    "narrow_blocks": True,
    "per_sample_lerp": True,
}
for _name in filter(None, (v.strip() for v in os.environ.get("ZMIX_TRANSFORMS_DISABLE", "").split(","))):
    if _name not in ROUTES:
        raise ValueError(f"ZMIX_TRANSFORMS_DISABLE must name routes among {sorted(ROUTES)}, got {_name!r}")
    ROUTES[_name] = False


@contextmanager
def routes(**enabled: bool) -> Iterator[None]:
    """Turn routes on or off inside a ``with`` block.

    Args:
        **enabled: Route names and whether each is on, e.g. ``routes(onednn=False)``.

    Yields:
        Nothing; the routes are restored when the block ends.
    """
    unknown = set(enabled) - set(ROUTES)
    if unknown:
        raise ValueError(f"routes takes route names among {sorted(ROUTES)}, got {sorted(unknown)}")
    saved = dict(ROUTES)
    ROUTES.update(enabled)
    try:
        yield
    finally:
        ROUTES.update(saved)


# Products of fewer multiply-adds than this go through torch.mm: oneDNN's per-call set-up (about
# 20 µs) costs more than it saves on them.
_ONEDNN_MIN_MACS = 1 << 21

_onednn_works: bool | None = None  # None until the first large product checks it


def matmul(weights: torch.Tensor, flat: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """The product ``weights @ flat``, plus ``bias`` (one value per column) if given, as a new tensor.

    Args:
        weights: A float (M, N) matrix.
        flat: A contiguous (N, D) matrix of ``weights``' dtype and device.
        bias: A (D,) vector added to every row of the product.

    Returns:
        The (M, D) product.
    """
    if _use_onednn(weights, flat):
        return torch.ops.mkldnn._linear_pointwise(weights, flat.t(), bias, "none", [], "")
    if bias is None:
        return torch.mm(weights, flat)
    return torch.addmm(bias, weights, flat)


def _use_onednn(weights: torch.Tensor, flat: torch.Tensor) -> bool:
    if (
        not ROUTES["onednn"]
        or flat.device.type != "cpu"
        or flat.dtype != torch.float32
        or weights.dtype != torch.float32
        or not flat.is_contiguous()  # oneDNN reorders a strided (N, D) view element by element
        or weights.shape[0] * flat.shape[0] * flat.shape[1] < _ONEDNN_MIN_MACS
        or torch.compiler.is_compiling()
        or (torch.is_grad_enabled() and (weights.requires_grad or flat.requires_grad))
    ):
        return False
    global _onednn_works
    if _onednn_works is None:
        _onednn_works = _onednn_agrees_with_mm()
    return _onednn_works


def _onednn_agrees_with_mm() -> bool:
    """Whether oneDNN's linear operator exists here and computes what ``torch.mm`` computes."""
    if not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    weights = torch.rand(16, 16, generator=generator)
    flat = torch.rand(16, 96, generator=generator)
    bias = torch.rand(96, generator=generator)
    try:
        with torch.no_grad():
            product = torch.ops.mkldnn._linear_pointwise(weights, flat.t(), bias, "none", [], "")
    except (AttributeError, RuntimeError, NotImplementedError, TypeError):
        return False
    expected = torch.addmm(bias, weights, flat)
    return product.shape == expected.shape and torch.allclose(product, expected, rtol=1e-5, atol=1e-5)


def casts_through_int32(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether a float to ``dtype`` cast goes through int32 (``int32_cast``; CPU, uint8/int8/int16)."""
    return ROUTES["int32_cast"] and device.type == "cpu" and dtype in (torch.uint8, torch.int8, torch.int16)


def argsort_rows(keys: torch.Tensor) -> torch.Tensor:
    """``keys.argsort(dim=1)``; on the CPU through NumPy's sort (``numpy_argsort``).

    Distinct keys have one sorted order, so both give the same indices (float64 keys from
    ``torch.rand`` tie with probability about N²·2⁻⁵³).
    """
    if not ROUTES["numpy_argsort"] or keys.device.type != "cpu" or torch.compiler.is_compiling():
        return keys.argsort(dim=1)
    return torch.from_numpy(keys.numpy().argsort(axis=1)).to(torch.int64)
