"""Pure tensor functions behind every mixing method.

Every method is one idea: output sample ``p`` is a convex combination of the input samples, with row
``p`` of a row-stochastic weight matrix ``W`` as its weights, and images and labels go through the
same weights.

* ζ-mixup uses a dense ``W`` ([`zeta_weights`][zeta_weights]), applied by one matrix product
  ([`apply_weights`][apply_weights]).
* mixup uses ``W = λ·I + (1 − λ)·P`` for a pairing permutation ``P``
  ([`cycle_partners`][cycle_partners]), applied by [`mix_pairs`][mix_pairs].
* CutMix takes each pixel whole from the sample or its partner ([`cutmix_box`][cutmix_box],
  applied by [`paste_box`][paste_box]) and weights the labels by the exact pixel fractions.

The functions come in two kinds, as in torchvision's ``transforms.v2`` and timm's ``Mixup``:
**draws** ([`sample_lambda`][sample_lambda], [`zeta_weights`][zeta_weights],
[`cycle_partners`][cycle_partners], [`cutmix_box`][cutmix_box]) take an explicit ``torch.Generator``
(the global torch RNG when it is ``None``); **kernels** ([`apply_weights`][apply_weights],
[`mix_pairs`][mix_pairs], [`paste_box`][paste_box]) are deterministic.
[`zeta_mixup`][zeta_mixup], [`mixup`][mixup] and [`cutmix`][cutmix] draw and apply in one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch

from . import _matmul
from ._checks import (
    check_batch_tensor,
    check_finite_positive,
    check_generator,
    check_lam,
    check_num_classes,
    check_probability,
    check_soft_labels,
)

__all__ = [
    "Box",
    "apply_terms",
    "apply_weights",
    "cutmix",
    "cutmix_box",
    "cycle_partners",
    "mix_pairs",
    "mixup",
    "one_hot",
    "paste_box",
    "sample_lambda",
    "sample_lambdas",
    "smooth_labels",
    "zeta_dropped_mass",
    "zeta_mixup",
    "zeta_series",
    "zeta_terms",
    "zeta_weights",
]


# --------------------------------------------------------------------------------------------------
# dtype handling: half types and integers are computed in float32 and returned in their own dtype
# --------------------------------------------------------------------------------------------------


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _restore_dtype(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast a float result back to ``dtype``, rounding to nearest (ties up) for integer dtypes."""
    if x.dtype == dtype:
        return x
    if not dtype.is_floating_point:
        return _to_integer(_add_half_for_rounding(x, dtype), dtype)
    return x.to(dtype)


def _to_integer(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast ``x``, prepared by ``_add_half_for_rounding``, to integer ``dtype`` (truncating)."""
    return x.to(torch.int32).to(dtype) if _casts_through_int32(dtype, x.device) else x.to(dtype)


def _casts_through_int32(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether a float to ``dtype`` cast goes through int32.

    ATen's CPU cast from float to uint8, int8 or int16 is not vectorized: the two casts through
    int32 give the same values (a mixed value lies within the inputs' range) in a fifth of the time.
    """
    return device.type == "cpu" and dtype in (torch.uint8, torch.int8, torch.int16)


def _add_half_for_rounding(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Prepare a float result for the cast to integer ``dtype`` so that it rounds to nearest, ties up.

    ``floor(x + 1/2)``; the cast truncates, which is floor already for values >= 0, the only ones an
    unsigned type can hold. A convex combination of integers lies within their range: no overflow.
    The in-place matrix product folds the 1/2 into its product and rounds alike.
    """
    x = x.add_(0.5)
    return x.floor_() if dtype.is_signed else x


def _draw_device(generator: torch.Generator | None, device: torch.device | str | None) -> torch.device:
    """The device random numbers are drawn on: the generator's own, else the target device."""
    if generator is not None:
        return generator.device
    return torch.device(device) if device is not None else torch.device("cpu")


# --------------------------------------------------------------------------------------------------
# draws
# --------------------------------------------------------------------------------------------------


def sample_lambda(alpha: float, *, generator: torch.Generator | None = None) -> float:
    """Draw a mixing weight λ ~ Beta(α, α).

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0. Small values (0.2) give λ
            near 0 or 1, ``alpha=1`` gives a uniform λ.
        generator: Source of randomness; the global torch RNG when ``None``.

    Returns:
        λ as a Python float in [0, 1].

    Raises:
        ValueError: If ``alpha`` is not a finite number > 0.
        TypeError: If ``alpha`` is not a number or ``generator`` is not a ``torch.Generator``.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> 0.0 <= sample_lambda(1.0, generator=g) <= 1.0
        True
    """
    alpha = check_finite_positive("alpha", alpha)
    check_generator(generator)
    concentration = torch.full((2,), alpha, dtype=torch.float64, device=_draw_device(generator, None))
    # Beta(a, a) is the first coordinate of Dirichlet(a, a); torch clamps the underlying Gamma draws
    # away from zero, so tiny alphas still give a finite λ.
    return float(torch._sample_dirichlet(concentration, generator=generator)[0])


def sample_lambdas(
    alpha: float,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw one mixing weight λ ~ Beta(α, α) per sample (timm's "elem" mode).

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0.
        batch_size: ``N``, an int >= 1.
        generator: Source of randomness; the global torch RNG of ``device`` when ``None``.
        device: Device of the result (default CPU).

    Returns:
        A float64 tensor of shape (N,) with values in [0, 1].

    Raises:
        ValueError: If ``alpha`` is not a finite number > 0 or ``batch_size`` < 1.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> lams = sample_lambdas(0.4, 5, generator=torch.Generator().manual_seed(0))
        >>> lams.shape, bool(((lams >= 0) & (lams <= 1)).all())
        (torch.Size([5]), True)
    """
    alpha = check_finite_positive("alpha", alpha)
    n = _check_batch_size(batch_size)
    check_generator(generator)
    concentration = torch.full((n, 2), alpha, dtype=torch.float64, device=_draw_device(generator, device))
    lams = torch._sample_dirichlet(concentration, generator=generator)[:, 0]
    return lams.to(device if device is not None else lams.device, non_blocking=True)


def zeta_series(
    batch_size: int,
    gamma: float = 2.8,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The normalized p-series ``k^-γ / Σ_{j=1..N} j^-γ`` for ranks ``k = 1..N``.

    Args:
        batch_size: ``N``, an int >= 1.
        gamma: The exponent γ, a finite number > 0.
        device: Device of the result.
        dtype: Float dtype of the result (default: ``torch.get_default_dtype()``).

    Returns:
        A 1-D tensor of length ``N``, decreasing, summing to 1; computed in float64, then cast.

    Raises:
        ValueError: If ``batch_size`` < 1 or ``gamma`` is not a finite number > 0.
        TypeError: If ``batch_size`` is not an int.

    Examples:
        >>> zeta_series(3, 1.0, dtype=torch.float64)
        tensor([0.5455, 0.2727, 0.1818], dtype=torch.float64)
    """
    n = _check_batch_size(batch_size)
    gamma = check_finite_positive("gamma", gamma)
    ranks = torch.arange(1, n + 1, dtype=torch.float64, device=device)
    series = ranks.pow_(-gamma)
    series /= series.sum()
    return series.to(dtype or torch.get_default_dtype())


def zeta_terms(
    batch_size: int,
    gamma: float = 2.8,
    *,
    max_terms: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ζ-mixup's weights in compact form: each row's ``k`` largest terms.

    The ranks of row ``p`` are a uniformly random permutation of ``1..N`` with rank 1 on the
    diagonal, drawn independently for each row, without a Python loop: one ``argsort`` of random keys
    whose diagonal key is forced to the front. Row ``p`` keeps its ranks ``1..k`` (the sample itself
    and ``k − 1`` partners drawn uniformly without replacement), weighted by the p-series normalized
    over those ``k`` ranks. With ``k = N`` this is exact ζ-mixup; [`zeta_weights`][zeta_weights] gives
    the same draw as a dense matrix.

    Args:
        batch_size: ``N``, an int >= 1.
        gamma: The exponent γ, a finite number > 0 (default 2.8).
        max_terms: ``k``, the terms kept per row (an int >= 1); ``None`` or ``k >= N`` keeps all ``N``.
        generator: Source of randomness; the global torch RNG of ``device`` when ``None``. Keys are
            drawn on the generator's device, then moved to ``device``.
        device: Device of the result (default CPU).
        dtype: Float dtype of the weights (default: ``torch.get_default_dtype()``).

    Returns:
        ``(indices, values)``: int64 column indices of shape (N, k), ``indices[:, 0]`` the diagonal,
        and float weights of shape (N, k), each row the decreasing normalized series summing to 1.

    Raises:
        ValueError: If ``batch_size`` or ``max_terms`` < 1 or ``gamma`` is not a finite number > 0.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> indices, values = zeta_terms(6, max_terms=3, generator=torch.Generator().manual_seed(0))
        >>> indices.shape, indices[:, 0].tolist(), bool(torch.allclose(values.sum(1), torch.ones(6)))
        (torch.Size([6, 3]), [0, 1, 2, 3, 4, 5], True)
    """
    n = _check_batch_size(batch_size)
    k = n if max_terms is None else min(_check_size("max_terms", max_terms), n)
    check_generator(generator)
    series = zeta_series(k, gamma, device=device, dtype=dtype)
    # float64 keys: float32 has only 2^24 values, and a tie would be ordered by index, not at random.
    keys = torch.rand(n, n, generator=generator, device=_draw_device(generator, device), dtype=torch.float64)
    keys.diagonal().fill_(-1.0)  # rank 1 (the largest weight) goes to the sample itself
    # The k smallest keys in order: the same first k ranks as a full argsort, at a fraction of its cost.
    order = keys.topk(k, dim=1, largest=False).indices if k < n else _argsort_rows(keys)
    return order.to(series.device, non_blocking=True), series.expand(n, k)


def _argsort_rows(keys: torch.Tensor) -> torch.Tensor:
    """``keys.argsort(dim=1)``; on the CPU through NumPy's sort.

    NumPy's vectorized sort is 3 to 7 times as fast as ATen's for rows of 128 to 1024 keys. Distinct
    keys have one sorted order, so both give the same indices (float64 keys from ``torch.rand`` tie
    with probability about N²·2⁻⁵³).
    """
    if keys.device.type != "cpu" or torch.compiler.is_compiling():
        return keys.argsort(dim=1)
    return torch.from_numpy(keys.numpy().argsort(axis=1)).to(torch.int64)


def zeta_weights(
    batch_size: int,
    gamma: float = 2.8,
    *,
    max_terms: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Draw the N×N ζ-mixup weight matrix.

    Row ``p`` holds ``r^-γ / Σ_{k=1..N} k^-γ``, where the ranks ``r`` of row ``p`` are a uniformly
    random permutation of ``1..N`` with rank 1 on the diagonal, drawn independently for each row.
    The matrix is built without a Python loop: one ``argsort`` of random keys (the diagonal's key
    forced to the front) gives every row's order, and one ``scatter`` writes the p-series there. With
    ``max_terms=k``, each row keeps its ``k`` largest terms, renormalized (see
    [`zeta_terms`][zeta_terms]); the rest of the row is 0.

    Args:
        batch_size: ``N``, an int >= 1.
        gamma: The exponent γ, a finite number > 0 (default 2.8, the paper's). Larger γ keeps each
            output closer to its own input; for γ >= 1.73 the own weight exceeds 0.5 for every N.
        max_terms: Terms kept per row; ``None`` (default) keeps all: exact ζ-mixup.
        generator: Source of randomness; the global torch RNG of ``device`` when ``None``. Keys are
            drawn on the generator's device, then moved to ``device``.
        device: Device of the result (default CPU).
        dtype: Float dtype of the result (default: ``torch.get_default_dtype()``).

    Returns:
        A float tensor of shape (N, N), non-negative, each row summing to 1, its row maxima on the
        diagonal.

    Raises:
        ValueError: If ``batch_size`` or ``max_terms`` < 1 or ``gamma`` is not a finite number > 0.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> w = zeta_weights(4, generator=torch.Generator().manual_seed(0))
        >>> w.shape, bool(torch.allclose(w.sum(1), torch.ones(4)))
        (torch.Size([4, 4]), True)
        >>> bool((w.argmax(1) == torch.arange(4)).all())
        True
    """
    indices, values = zeta_terms(
        batch_size, gamma, max_terms=max_terms, generator=generator, device=device, dtype=dtype
    )
    n = indices.shape[0]
    return torch.zeros(n, n, dtype=values.dtype, device=values.device).scatter_(1, indices, values)


def zeta_dropped_mass(max_terms: int, gamma: float = 2.8, batch_size: int | None = None) -> float:
    """The weight that exact ζ-mixup puts beyond each row's ``k`` largest terms.

    ``Σ_{k<r≤N} r^-γ / Σ_{r≤N} r^-γ``: how much of each row ``max_terms=k`` drops (and then
    renormalizes away). It grows with ``N``; without ``batch_size`` this returns its limit for
    ``N → ∞``, ``1 − Σ_{r≤k} r^-γ / ζ(γ)``, a bound for every batch size (1 for γ <= 1, where the
    series diverges).

    Args:
        max_terms: ``k``, an int >= 1.
        gamma: The exponent γ, a finite number > 0.
        batch_size: ``N``; ``None`` for the bound over all ``N``.

    Returns:
        The dropped fraction, in [0, 1).

    Raises:
        ValueError: If an argument is out of range.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> round(zeta_dropped_mass(16, 2.8), 5)
        0.00286
    """
    k = _check_size("max_terms", max_terms)
    gamma = check_finite_positive("gamma", gamma)
    head = float((torch.arange(1, k + 1, dtype=torch.float64) ** -gamma).sum())
    if batch_size is not None:
        n = _check_batch_size(batch_size)
        if n <= k:
            return 0.0
        total = float((torch.arange(1, n + 1, dtype=torch.float64) ** -gamma).sum())
        return 1.0 - head / total
    if gamma <= 1.0:
        return 1.0
    # ζ(γ): the sum to M plus the Euler–Maclaurin tail ∫_M^∞ x^-γ dx − M^-γ / 2 (+ O(M^-γ-1)).
    m = 100_000
    partial = float((torch.arange(1, m + 1, dtype=torch.float64) ** -gamma).sum())
    zeta = partial + m ** (1.0 - gamma) / (gamma - 1.0) - 0.5 * m**-gamma
    return 1.0 - head / zeta


def cycle_partners(
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw a mixing partner for every sample: a uniformly random single cycle through the batch.

    With ``σ`` a uniformly random permutation, the partner of ``σ_i`` is ``σ_{(i+1) mod N}``. Unlike
    ``torch.randperm``, no sample is paired with itself (for N >= 2), and unlike torchvision's
    ``roll(1)``, the pairing does not depend on the order the loader put the samples in.

    Args:
        batch_size: ``N``, an int >= 1.
        generator: Source of randomness; the global torch RNG of ``device`` when ``None``.
        device: Device of the result (default CPU).

    Returns:
        An int64 tensor ``partners`` of shape (N,): sample ``p`` is mixed with ``partners[p]``. For
        N = 1 it is ``[0]``.

    Raises:
        ValueError: If ``batch_size`` < 1.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> p = cycle_partners(5, generator=torch.Generator().manual_seed(0))
        >>> bool((p != torch.arange(5)).all()), sorted(p.tolist())
        (True, [0, 1, 2, 3, 4])
    """
    n = _check_batch_size(batch_size)
    check_generator(generator)
    sigma = torch.randperm(n, generator=generator, device=_draw_device(generator, device))
    partners = torch.empty_like(sigma)
    partners[sigma] = sigma.roll(-1)
    return partners.to(device if device is not None else partners.device, non_blocking=True)


class Box(NamedTuple):
    """A half-open pixel box ``[y1, y2) × [x1, x2)``, in torchvision's XYXY order."""

    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def area(self) -> int:
        """The number of pixels in the box."""
        return (self.x2 - self.x1) * (self.y2 - self.y1)


def cutmix_box(
    height: int,
    width: int,
    lam: float,
    *,
    generator: torch.Generator | None = None,
) -> Box:
    """Draw a CutMix box of area about ``(1 − λ)·H·W`` with a uniformly random centre.

    The box has the image's aspect ratio (sides ``H·√(1−λ)`` and ``W·√(1−λ)``, rounded), its centre is
    uniform over the pixels, and it is clipped to the image, so it may be smaller than asked near the
    border. Use ``1 − box.area / (H·W)`` as the exact fraction of pixels each sample keeps.

    Args:
        height: Image height ``H`` >= 1.
        width: Image width ``W`` >= 1.
        lam: The fraction of the image to keep, in [0, 1].
        generator: Source of randomness; the global torch RNG when ``None``.

    Returns:
        The [`Box`][Box] ``(x1, y1, x2, y2)``, half-open.

    Raises:
        ValueError: If a size is < 1 or ``lam`` is outside [0, 1].
        TypeError: If an argument has the wrong type.

    Examples:
        >>> box = cutmix_box(32, 32, 0.75, generator=torch.Generator().manual_seed(0))
        >>> 0 <= box.x1 <= box.x2 <= 32 and box.area <= 16 * 16
        True
    """
    height = _check_size("height", height)
    width = _check_size("width", width)
    lam = check_lam(lam)
    check_generator(generator)
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = round(height * ratio), round(width * ratio)
    draw_device = _draw_device(generator, None)
    cy = int(torch.randint(height, (), generator=generator, device=draw_device))
    cx = int(torch.randint(width, (), generator=generator, device=draw_device))
    y1, x1 = cy - cut_h // 2, cx - cut_w // 2
    return Box(
        x1=min(max(x1, 0), width),
        y1=min(max(y1, 0), height),
        x2=min(max(x1 + cut_w, 0), width),
        y2=min(max(y1 + cut_h, 0), height),
    )


# --------------------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------------------


def apply_weights(x: torch.Tensor, weights: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    """Mix a batch with a weight matrix: ``out[p] = Σ_i weights[p, i] · x[i]``, one matrix product.

    Args:
        x: A batch of shape (N, ...) of any float or integer dtype. Half types are computed in
            float32, integers in float32 then rounded to nearest; the result has ``x``'s dtype.
        weights: A float (M, N) matrix, on ``x``'s device; row-stochastic for a convex mix.
        inplace: Overwrite ``x`` with the result (``weights`` must then be square). The product runs
            over blocks of columns through a cache-sized buffer, so no second batch is allocated.

    Returns:
        The mixed batch of shape (M, ...): a new tensor, or ``x`` itself when ``inplace``.

    Raises:
        TypeError: If an argument is not a tensor of real numbers.
        ValueError: If the shapes do not match.

    Note:
        On the CPU, large float32 products outside autograd and ``torch.compile`` go through
        oneDNN's linear operator instead of ``torch.mm`` (same arithmetic, faster where MKL does not
        use AVX-512); see the Performance page. There, integer and half-precision batches are
        mixed out of place by mixing a copy in place, so no float32 copy of the batch is made.

    Examples:
        >>> apply_weights(torch.tensor([[0.0], [10.0]]), torch.tensor([[0.75, 0.25], [0.0, 1.0]]))
        tensor([[ 2.5000],
                [10.0000]])
    """
    n = check_batch_tensor("x", x, min_ndim=1, layout="(N, ...)")
    if not isinstance(weights, torch.Tensor) or not weights.is_floating_point():
        raise TypeError(f"weights must be a float torch.Tensor of shape (M, N), got {_describe(weights)}")
    if weights.ndim != 2 or weights.shape[1] != n:
        raise ValueError(
            f"weights must have shape (M, N) with N = {n} (the batch size of x), "
            f"got shape {tuple(weights.shape)}"
        )
    dtype = _compute_dtype(x.dtype)
    if inplace:
        if weights.shape[0] != n:
            raise ValueError(
                f"inplace needs square weights (N, N) with N = {n}, got shape {tuple(weights.shape)}"
            )
        # no flat (N, D) view to write through, or a product that fits the buffers: compute, copy back
        if not x.is_contiguous() or (x.dtype == dtype and _fits_budget(x, x.numel() * x.element_size())):
            return x.copy_(apply_weights(x, weights))
        _apply_weights_inplace(x, weights.to(dtype), dtype)
        return x
    if x.dtype != dtype and weights.shape[0] == n and x.device.type == "cpu":
        # Computed in float32: mixing a copy in place needs no float32 batch, only block buffers
        # (on the CPU; a GPU is better served by one product than by launches per block).
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device).copy_(x)
        _apply_weights_inplace(out, weights.to(dtype), dtype)
        return out
    out = _matmul.matmul(weights.to(dtype), x.reshape(n, -1).to(dtype).contiguous())
    return _restore_dtype(out, x.dtype).reshape(weights.shape[0], *x.shape[1:])


# Buffers of the in-place kernels: at most 2.5 MB (they stay in cache) and at most a quarter of the
# batch's own bytes (no second batch), but never held under 2 MB: below that, the per-block
# overhead of a small batch's many blocks costs more than the memory saves.
_BUFFER_BYTES = 5 << 19
_MIN_BUFFER_BYTES = 1 << 21


def _buffer_budget(x: torch.Tensor) -> int:
    """Bytes the buffers of an in-place kernel on batch ``x`` may take.

    At most ``_BUFFER_BYTES`` and at most ``max(a quarter of the batch's own bytes, _MIN_BUFFER_BYTES)``.
    """
    return min(_BUFFER_BYTES, max(x.numel() * x.element_size() // 4, _MIN_BUFFER_BYTES))


def _fits_budget(x: torch.Tensor, temporary_bytes: int) -> bool:
    """Whether an in-place kernel on ``x`` may mix out of place and copy back.

    True when the out-of-place mix's temporaries, ``temporary_bytes``, fit the buffer budget: then
    one pass over the whole batch costs less than the same work in blocks or chunks.
    """
    return temporary_bytes <= _buffer_budget(x)


def _block_columns(flat: torch.Tensor, bytes_per_column: int) -> int:
    """Columns per block of an in-place kernel on ``flat`` (N, D), ``bytes_per_column`` of buffers each."""
    return max(1, _buffer_budget(flat) // bytes_per_column)


def _apply_weights_inplace(x: torch.Tensor, weights: torch.Tensor, dtype: torch.dtype) -> None:
    """``x ← weights @ x`` for contiguous ``x``, over blocks of columns."""
    _mix_columns_inplace(x, dtype, lambda block, half: _matmul.matmul(weights, block, half))


def _mix_columns_inplace(
    x: torch.Tensor,
    dtype: torch.dtype,
    mix: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
) -> None:
    """Overwrite contiguous ``x`` (N, ...) with a mix that treats every column of its (N, D) view alike.

    Each block of columns is copied whole (cast to ``dtype``) into a buffer before its columns are
    overwritten, so no second batch is needed. ``mix(block, half)`` returns the mixed block as a new
    tensor, plus ``half`` (a vector of 1/2, one per column) when it is given: integer results are
    then truncated, as ``_add_half_for_rounding`` prepares them.
    """
    n = x.shape[0]
    flat = x.view(n, -1)
    width = flat.shape[1]
    block = _block_columns(flat, 2 * n * dtype.itemsize)  # the source block and its mix
    size = n * min(block, width)
    source = torch.empty(size, dtype=dtype, device=x.device)
    # narrow integer types: the mix is cast through int32 (as _to_integer does) into the source
    # block's buffer, which the mix has consumed; ``dtype`` is float32 for them, 4 bytes too
    integer = source.view(torch.int32) if _casts_through_int32(x.dtype, x.device) else None
    half = None
    if not x.dtype.is_floating_point:
        half = torch.full((min(block, width),), 0.5, dtype=dtype, device=x.device)
    for start in range(0, width, block):
        columns = flat[:, start : start + block]
        count = columns.numel()
        mixed = mix(
            source[:count].view(columns.shape).copy_(columns),
            None if half is None else half[: columns.shape[1]],
        )
        if half is not None and x.dtype.is_signed:
            mixed.floor_()
        columns.copy_(mixed if integer is None else integer[:count].view(columns.shape).copy_(mixed))
        del mixed  # before the next block's mix is made


def apply_terms(
    x: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, *, inplace: bool = False
) -> torch.Tensor:
    """Mix a batch with ``k`` terms per row: ``out[p] = Σ_j values[p, j] · x[indices[p, j]]``.

    The sparse counterpart of [`apply_weights`][apply_weights] for the compact weights of
    [`zeta_terms`][zeta_terms]: cost ``k·N·D`` instead of ``N²·D``, through
    ``torch.nn.functional.embedding_bag`` (a weighted sum of gathered rows in one pass).

    Args:
        x: A batch of shape (N, ...) of any float or integer dtype (computed as in
            [`apply_weights`][apply_weights]).
        indices: Int64 sample indices of shape (N, k), on ``x``'s device.
        values: Float weights of shape (N, k), on ``x``'s device; rows summing to 1 for a convex mix.
        inplace: Overwrite ``x``, over blocks of columns through a small buffer.

    Returns:
        The mixed batch: a new tensor, or ``x`` itself when ``inplace``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the shapes do not match or an index is outside the batch.

    Examples:
        >>> x = torch.tensor([[0.0], [10.0], [20.0]])
        >>> apply_terms(x, torch.tensor([[0, 2], [1, 0], [2, 1]]), torch.tensor([[0.5, 0.5]] * 3))
        tensor([[10.],
                [ 5.],
                [15.]])
    """
    n = check_batch_tensor("x", x, min_ndim=1, layout="(N, ...)")
    if not isinstance(indices, torch.Tensor) or indices.dtype != torch.int64 or indices.ndim != 2:
        raise TypeError(f"indices must be an int64 torch.Tensor of shape (N, k), got {_describe(indices)}")
    if not isinstance(values, torch.Tensor) or not values.is_floating_point():
        raise TypeError(f"values must be a float torch.Tensor of shape (N, k), got {_describe(values)}")
    if indices.shape[0] != n or values.shape != indices.shape:
        raise ValueError(
            f"indices and values must both have shape (N, k) with N = {n}, "
            f"got {tuple(indices.shape)} and {tuple(values.shape)}"
        )
    if (
        indices.device.type == "cpu"
        and indices.numel()
        and not 0 <= int(indices.min()) <= int(indices.max()) < n
    ):
        raise ValueError(
            f"indices must lie in [0, N) = [0, {n}), "
            f"got values from {int(indices.min())} to {int(indices.max())}"
        )
    dtype = _compute_dtype(x.dtype)
    weights = values.to(dtype).contiguous()
    if not inplace:
        table = x.reshape(n, -1).to(dtype).contiguous()
        out = torch.nn.functional.embedding_bag(indices, table, per_sample_weights=weights, mode="sum")
        return _restore_dtype(out, x.dtype).reshape(x.shape)
    if not x.is_contiguous() or (x.dtype == dtype and _fits_budget(x, x.numel() * x.element_size())):
        return x.copy_(apply_terms(x, indices, values))  # as apply_weights does

    def mix(table: torch.Tensor, half: torch.Tensor | None) -> torch.Tensor:
        out = torch.nn.functional.embedding_bag(indices, table, per_sample_weights=weights, mode="sum")
        return out if half is None else out.add_(half)

    _mix_columns_inplace(x, dtype, mix)
    return x


def mix_pairs(
    x: torch.Tensor, lam: float | torch.Tensor, partners: torch.Tensor, *, inplace: bool = False
) -> torch.Tensor:
    """Mix every sample with its partner: ``out[p] = λ · x[p] + (1 − λ) · x[partners[p]]``.

    Args:
        x: A batch of shape (N, ...) of any float or integer dtype (computed as in
            [`apply_weights`][apply_weights]).
        lam: The weight of each sample's own value, in [0, 1]: one number for the batch, or a float
            tensor of shape (N,) with one weight per sample (as from [`sample_lambdas`][sample_lambdas]).
        partners: Int64 indices of shape (N,), on ``x``'s device, as from [`cycle_partners`][cycle_partners].
        inplace: Overwrite ``x`` with the result, along the cycles of ``partners`` in chunks of
            samples that fit a cache-sized buffer (one saved sample per cycle; large samples one at
            a time, in one pass). Partners that are not a permutation are mixed out of place and
            copied back.

    Returns:
        The mixed batch: a new tensor of ``x``'s shape and dtype, or ``x`` itself when ``inplace``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``lam`` is outside [0, 1] or ``partners`` does not match the batch.

    Examples:
        >>> mix_pairs(torch.tensor([0.0, 8.0]), 0.75, torch.tensor([1, 0]))
        tensor([2., 6.])
    """
    n = check_batch_tensor("x", x, min_ndim=1, layout="(N, ...)")
    _check_partners(partners, n)
    dtype = _compute_dtype(x.dtype)
    weight = _check_lam_per_sample(lam, n, x.ndim, dtype) if isinstance(lam, torch.Tensor) else check_lam(lam)
    if inplace:
        # Bytes per value: the out-of-place formula makes the partners' values (and, computed in
        # float32, the batch in float32 and an int32 cast); a chunk also gathers its own values.
        converted = 3 * dtype.itemsize if x.dtype != dtype else 0
        if _fits_budget(x, x.numel() * (x.element_size() + converted)):
            # the whole out-of-place mix fits the buffer budget: fewer, larger ops
            return x.copy_(mix_pairs(x, lam, partners))
        weights = _weight_per_sample(weight, n)
        lerp = _SampleLerp(x, dtype)

        def mix_chunk(own: list[int], partner_values: torch.Tensor) -> None:
            if len(own) == 1:  # one sample, straight into place
                lerp(x[own[0]], partner_values[0], weights[own[0]], out=x[own[0]])
                return
            # the batched formula below, on the samples ``own`` and their partners' values
            index = torch.tensor(own, dtype=torch.int64, device=x.device)
            own_weight = weight.index_select(0, index) if isinstance(weight, torch.Tensor) else weight
            mixed = partner_values.to(dtype).lerp_(x.index_select(0, index).to(dtype), own_weight)
            x.index_copy_(0, index, _restore_dtype(mixed, x.dtype))

        chunk = _chunk_samples(x, x[0].numel() * (2 * x.element_size() + converted))
        if not _along_cycles(partners, x, mix_chunk, chunk):  # partners that are not a permutation
            x.copy_(mix_pairs(x, lam, partners))
        return x
    if x.device.type == "cpu" and x[0].numel() >= _PER_SAMPLE_MIN_ELEMENTS:
        # Large samples on the CPU: one pass, each sample lerped straight into the new batch.
        weights = _weight_per_sample(weight, n)
        lerp = _SampleLerp(x, dtype)
        out = torch.empty_like(x)
        for p, q in enumerate(partners.tolist()):
            lerp(x[p], x[q], weights[p], out=out[p])
        return out
    xc = x.to(dtype)
    out = xc.index_select(0, partners).lerp_(xc, weight)
    return _restore_dtype(out, x.dtype)


def _weight_per_sample(weight: float | torch.Tensor, n: int) -> list[float]:
    """The mixing weight of each of ``n`` samples, as Python floats."""
    return weight.reshape(n).tolist() if isinstance(weight, torch.Tensor) else [weight] * n


# Samples at least this large are mixed one by one on the CPU (one memory pass instead of two).
_PER_SAMPLE_MIN_ELEMENTS = 1 << 15


def _chunk_samples(x: torch.Tensor, bytes_per_sample: int) -> int:
    """Samples per chunk of an in-place walk along cycles on batch ``x``.

    One at a time for large samples on the CPU (each is then mixed straight into place, in one
    pass); otherwise as many as ``bytes_per_sample`` of buffers each fit in the buffer budget.
    """
    if x.device.type == "cpu" and x[0].numel() >= _PER_SAMPLE_MIN_ELEMENTS:
        return 1
    return max(1, _buffer_budget(x) // max(1, bytes_per_sample))


class _SampleLerp:
    """``out ← λ·sample + (1 − λ)·partner`` for one sample, with the batched kernel's formula.

    Samples of a dtype that is not computed natively go through two reused float buffers.
    """

    def __init__(self, x: torch.Tensor, dtype: torch.dtype) -> None:
        self.buffers = None
        if x.dtype != dtype:
            self.buffers = (
                torch.empty(x.shape[1:], dtype=dtype, device=x.device),
                torch.empty(x.shape[1:], dtype=dtype, device=x.device),
            )

    def __call__(self, sample: torch.Tensor, partner: torch.Tensor, lam: float, *, out: torch.Tensor) -> None:
        if self.buffers is None:
            torch.lerp(partner, sample, lam, out=out)
            return
        own, other = self.buffers
        own.copy_(sample)
        torch.lerp(other.copy_(partner), own, lam, out=own)
        out.copy_(
            own
            if out.dtype.is_floating_point
            else _to_integer(_add_half_for_rounding(own, out.dtype), out.dtype)
        )


def _along_cycles(
    partners: torch.Tensor,
    batch: torch.Tensor,
    update: Callable[[list[int], torch.Tensor], object],
    chunk: int,
) -> bool:
    """Update every sample in place from its partner, walking the cycles of ``partners`` in chunks.

    ``batch[i]`` is the part of sample ``i`` that is read and written (the whole sample, or its box
    region). A chunk is up to ``chunk`` consecutive samples of a cycle: ``update(own, values)``
    writes ``batch[own]`` from ``values``, their partners' parts as they were (stacked; for a chunk
    of one, a view of the partner's part, which the update must read before it writes). A cycle's
    first part is saved before it is overwritten, for the cycle's last sample; every other partner
    comes later in the cycle and is still unwritten.

    Returns:
        False (nothing done) when ``partners`` is not a permutation.
    """
    cycles = _cycles(partners)
    if cycles is None:
        return False
    chunk = max(1, chunk)
    for cycle in cycles:
        saved = batch[cycle[0]].clone()
        samples = torch.tensor(cycle, dtype=torch.int64, device=batch.device)
        for start in range(0, len(cycle), chunk):
            own = cycle[start : start + chunk]
            if chunk == 1:  # the partner's part itself, still unwritten: no copy
                values = (saved if start == len(cycle) - 1 else batch[cycle[start + 1]]).unsqueeze(0)
            else:
                following = samples[start + 1 : start + chunk + 1]  # the partners; one short at the end
                values = torch.empty((len(own), *batch.shape[1:]), dtype=batch.dtype, device=batch.device)
                torch.index_select(batch, 0, following, out=values[: len(following)])
                if len(following) < len(own):
                    values[-1].copy_(saved)
            update(own, values)
    return True


def _copy_into(batch: torch.Tensor, own: list[int], values: torch.Tensor) -> None:
    """``batch[own] = values``: the update of a walk along cycles that copies partners' parts."""
    if len(own) == 1:
        batch[own[0]].copy_(values[0])
    else:
        batch.index_copy_(0, torch.tensor(own, dtype=torch.int64, device=batch.device), values)


def _cycles(partners: torch.Tensor) -> list[list[int]] | None:
    """The cycles of a permutation, each listed so that ``partners[c[i]] == c[i + 1]``.

    Returns ``None`` if ``partners`` is not a permutation. Fixed points are left out: a sample mixed
    with itself stays as it is.
    """
    targets = partners.tolist()
    n = len(targets)
    if sorted(targets) != list(range(n)):
        return None
    seen = [False] * n
    cycles = []
    for start in range(n):
        if seen[start] or targets[start] == start:
            continue
        cycle = []
        p = start
        while not seen[p]:
            seen[p] = True
            cycle.append(p)
            p = targets[p]
        cycles.append(cycle)
    return cycles


def paste_box(x: torch.Tensor, box: Box, partners: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    """Paste the box region of every sample's partner into a copy of the sample (CutMix's image step).

    Args:
        x: A batch of shape (N, ..., H, W) of any dtype.
        box: The region, as from [`cutmix_box`][cutmix_box]; it must lie inside the image.
        partners: Int64 indices of shape (N,), on ``x``'s device, as from [`cycle_partners`][cycle_partners].
        inplace: Write into ``x`` (only the box regions are copied, in chunks through a
            cache-sized buffer).

    Returns:
        ``x`` with ``out[p, ..., y1:y2, x1:x2] = x[partners[p], ..., y1:y2, x1:x2]``: a new tensor, or
        ``x`` itself when ``inplace``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the box lies outside the image or ``partners`` does not match the batch.

    Examples:
        >>> x = torch.arange(8.0).reshape(2, 1, 2, 2)
        >>> paste_box(x, Box(0, 0, 1, 1), torch.tensor([1, 0]))[0, 0]
        tensor([[4., 1.],
                [2., 3.]])
    """
    n = check_batch_tensor("x", x, min_ndim=3, layout="(N, ..., H, W)")
    _check_partners(partners, n)
    height, width = x.shape[-2:]
    if not isinstance(box, tuple) or len(box) != 4:
        raise TypeError(f"box must be a Box (x1, y1, x2, y2), got {box!r}")
    x1, y1, x2, y2 = (int(v) for v in box)
    if not (0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height):
        raise ValueError(
            f"box must lie inside the {height}×{width} image with x1 <= x2 and y1 <= y2, got {box}"
        )
    if x2 <= x1 or y2 <= y1:
        return x if inplace else x.clone()
    region = x[..., y1:y2, x1:x2]
    if inplace:
        chunk = _chunk_samples(x, region[0].numel() * region.element_size())
        if _fits_budget(x, region.numel() * region.element_size()) or not _along_cycles(
            partners, region, partial(_copy_into, region), chunk
        ):
            region.copy_(region.index_select(0, partners))
        return x
    out = x.clone()
    out[..., y1:y2, x1:x2] = region.index_select(0, partners)
    return out


# --------------------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------------------


def one_hot(
    labels: torch.Tensor,
    num_classes: int,
    *,
    dtype: torch.dtype | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Turn class indices into one-hot rows, optionally smoothed.

    Args:
        labels: Integer class indices of shape (N,), any integer dtype, each in ``[0, num_classes)``.
        num_classes: The number of classes ``K`` >= 1.
        dtype: Float dtype of the result (default float32).
        label_smoothing: ``s`` in [0, 1]: the true class gets ``1 − s + s/K``, every other class
            ``s/K`` (as timm and ``torch.nn.CrossEntropyLoss(label_smoothing=s)`` do).

    Returns:
        A float tensor of shape (N, K) on ``labels``' device; each row sums to 1.

    Raises:
        TypeError: If ``labels`` is not an integer tensor, or ``dtype`` is not a float dtype.
        ValueError: If ``labels`` is not 1-D or holds a value outside ``[0, num_classes)``.

    Note:
        The range is checked on CPU tensors. On an accelerator it is left to the device-side assertion
        of ``scatter`` (as ``torch.nn.functional.one_hot`` does on CUDA), so that no CPU sync is forced.

    Examples:
        >>> one_hot(torch.tensor([2, 0]), 3)
        tensor([[0., 0., 1.],
                [1., 0., 0.]])
    """
    classes = check_num_classes(num_classes, allow_none=False)
    assert classes is not None  # allow_none=False
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of class indices, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be integer class indices (any int dtype), got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"class-index labels must have shape (N,), got shape {tuple(labels.shape)}")
    dtype = dtype or torch.float32
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a float dtype, got {dtype}")
    if labels.device.type == "cpu" and labels.numel() > 0:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= classes:
            raise ValueError(
                f"labels must be class indices in [0, num_classes) = [0, {classes}), "
                f"got values from {low} to {high}"
            )
    out = torch.zeros(labels.shape[0], classes, dtype=dtype, device=labels.device)
    return smooth_labels(out.scatter_(1, labels.long().unsqueeze(1), 1.0), label_smoothing)


def smooth_labels(labels: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Blend float labels with the uniform distribution: ``(1 − s) · y + s / K``.

    For one-hot rows this is timm's label smoothing: ``1 − s + s/K`` on the true class, ``s/K``
    elsewhere. Rows that sum to 1 keep summing to 1.

    Args:
        labels: Float labels of shape (N, K).
        label_smoothing: ``s`` in [0, 1]; 0 returns ``labels`` itself.

    Returns:
        The smoothed labels (a new tensor unless ``s`` is 0).

    Raises:
        ValueError: If ``label_smoothing`` is outside [0, 1].
        TypeError: If ``labels`` is not a float tensor or ``label_smoothing`` is not a number.

    Examples:
        >>> smooth_labels(torch.tensor([[0.0, 1.0]]), 0.2)
        tensor([[0.1000, 0.9000]])
    """
    s = check_probability("label_smoothing", label_smoothing)
    if not isinstance(labels, torch.Tensor) or not labels.is_floating_point() or labels.ndim != 2:
        raise TypeError(f"labels must be a float torch.Tensor of shape (N, K), got {_describe(labels)}")
    if s == 0.0:
        return labels
    return labels.mul(1.0 - s).add_(s / labels.shape[1])


# --------------------------------------------------------------------------------------------------
# draw and apply in one call
# --------------------------------------------------------------------------------------------------


def zeta_mixup(
    images: torch.Tensor,
    labels: torch.Tensor,
    gamma: float = 2.8,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ζ-mixup: mix every sample with all samples of the batch, weighted by a random p-series.

    ``W = zeta_weights(N, gamma)``; ``images' = W @ images`` and ``labels' = W @ labels``.

    Args:
        images: A batch of shape (N, ...) of any float or integer dtype: feature vectors, 2-D points,
            images, videos or volumes. The result keeps the dtype (see [`apply_weights`][apply_weights]).
        labels: Float labels of shape (N, K) (one-hot, soft or multi-hot; see [`one_hot`][one_hot]).
        gamma: The exponent γ, a finite number > 0 (default 2.8).
        generator: Source of randomness; the global torch RNG of the images' device when ``None``.

    Returns:
        ``(images, labels)``: new tensors of the input shapes.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the shapes do not match, a batch is empty, or ``gamma`` is out of range.

    Note:
        Traces under ``torch.compile(fullgraph=True)`` without a graph break when ``generator`` is
        ``None`` (torch 2.14 cannot trace a ``torch.Generator`` argument and breaks the graph there).

    Examples:
        >>> x, y = torch.rand(8, 3, 4, 4), one_hot(torch.arange(8) % 2, 2)
        >>> xm, ym = zeta_mixup(x, y, generator=torch.Generator().manual_seed(0))
        >>> xm.shape, bool(torch.allclose(ym.sum(1), torch.ones(8)))
        (torch.Size([8, 3, 4, 4]), True)
    """
    n = check_batch_tensor("images", images, min_ndim=1, layout="(N, ...)")
    check_soft_labels(labels, n)
    # float64 weights: each use casts them to its own compute dtype, so label sums stay exact.
    weights = zeta_weights(n, gamma, generator=generator, device=images.device, dtype=torch.float64)
    return apply_weights(images, weights), apply_weights(labels, weights)


def mixup(
    images: torch.Tensor,
    labels: torch.Tensor,
    lam: float | torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup: ``x' = λ·x + (1 − λ)·x[π]`` for a random single-cycle pairing π, same for the labels.

    Args:
        images: A batch of shape (N, ...) of any float or integer dtype.
        labels: Float labels of shape (N, K).
        lam: The weight of each sample's own value, in [0, 1] (e.g. from [`sample_lambda`][sample_lambda]),
            or one weight per sample as a float tensor of shape (N,) (from
            [`sample_lambdas`][sample_lambdas]).
        generator: Source of randomness for the pairing; the global torch RNG when ``None``.

    Returns:
        ``(images, labels)``: new tensors of the input shapes.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the shapes do not match, a batch is empty, or ``lam`` is outside [0, 1].

    Note:
        Traces under ``torch.compile(fullgraph=True)`` without a graph break when ``generator`` is
        ``None`` (torch 2.14 cannot trace a ``torch.Generator`` argument and breaks the graph there).

    Examples:
        >>> x, y = torch.rand(4, 2), one_hot(torch.tensor([0, 1, 0, 1]), 2)
        >>> xm, ym = mixup(x, y, 0.7, generator=torch.Generator().manual_seed(0))
        >>> bool((ym.max(1).values >= 0.7).all())
        True
    """
    n = check_batch_tensor("images", images, min_ndim=1, layout="(N, ...)")
    check_soft_labels(labels, n)
    if not isinstance(lam, torch.Tensor):
        lam = check_lam(lam)
    partners = cycle_partners(n, generator=generator, device=images.device)
    return mix_pairs(images, lam, partners), mix_pairs(labels, lam, partners)


def cutmix(
    images: torch.Tensor,
    labels: torch.Tensor,
    lam: float,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix: paste a random box of each sample's partner into it; weight labels by pixel fractions.

    The box ([`cutmix_box`][cutmix_box]) has area about ``(1 − λ)·H·W``; after clipping to the image, the
    label weight of the sample itself is the exact fraction of its pixels kept, ``1 − area / (H·W)``.

    Args:
        images: A batch of shape (N, ..., H, W) of any dtype.
        labels: Float labels of shape (N, K).
        lam: The fraction of each image to keep before clipping, in [0, 1].
        generator: Source of randomness for the box and the pairing; the global torch RNG when ``None``.

    Returns:
        ``(images, labels)``: new tensors of the input shapes.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the shapes do not match, a batch is empty, or ``lam`` is outside [0, 1].

    Note:
        Under ``torch.compile`` the box stays a tensor and is pasted with ``torch.where``, so the
        function traces without a graph break (with ``generator=None``: torch 2.14 cannot trace a
        ``torch.Generator`` argument, and breaks the graph there).

    Examples:
        >>> x, y = torch.rand(4, 3, 8, 8), one_hot(torch.tensor([0, 1, 2, 3]), 4)
        >>> xm, ym = cutmix(x, y, 0.5, generator=torch.Generator().manual_seed(0))
        >>> xm.shape, bool(torch.allclose(ym.sum(1), torch.ones(4)))
        (torch.Size([4, 3, 8, 8]), True)
    """
    n = check_batch_tensor("images", images, min_ndim=3, layout="(N, ..., H, W)")
    check_soft_labels(labels, n)
    lam = check_lam(lam)
    if torch.compiler.is_compiling():
        return _cutmix_traceable(images, labels, lam, generator)
    height, width = images.shape[-2:]
    box = cutmix_box(height, width, lam, generator=generator)
    partners = cycle_partners(n, generator=generator, device=images.device)
    kept = 1.0 - box.area / (height * width)
    return paste_box(images, box, partners), mix_pairs(labels, kept, partners)


def _cutmix_traceable(
    images: torch.Tensor, labels: torch.Tensor, lam: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix with the box kept as tensors, for ``torch.compile``: no ``.item()``, no graph break.

    The same draws as [`cutmix_box`][cutmix_box] (centre row, then column, then the partners); the
    box is pasted with ``torch.where`` over a mask instead of slicing by Python ints.
    """
    n, (height, width) = images.shape[0], images.shape[-2:]
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = round(height * ratio), round(width * ratio)
    device = images.device
    cy = torch.randint(height, (), generator=generator, device=device)
    cx = torch.randint(width, (), generator=generator, device=device)
    y1, x1 = cy - cut_h // 2, cx - cut_w // 2
    rows, cols = torch.arange(height, device=device), torch.arange(width, device=device)
    inside_rows = (rows >= y1) & (rows < y1 + cut_h)
    inside_cols = (cols >= x1) & (cols < x1 + cut_w)
    inside = inside_rows[:, None] & inside_cols[None, :]
    partners = cycle_partners(n, generator=generator, device=device)
    mixed = torch.where(inside, images.index_select(0, partners), images)
    dtype = _compute_dtype(labels.dtype)
    kept = 1.0 - inside_rows.sum().to(dtype) * inside_cols.sum().to(dtype) / (height * width)
    soft = labels.to(dtype)
    return mixed, _restore_dtype(soft.index_select(0, partners).lerp_(soft, kept), labels.dtype)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _check_batch_size(batch_size: object) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool):
        raise TypeError(
            f"batch_size must be an int >= 1, got {batch_size!r} of type {type(batch_size).__name__}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size}")
    return batch_size


def _check_size(name: str, size: object) -> int:
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"{name} must be an int >= 1, got {size!r} of type {type(size).__name__}")
    if size < 1:
        raise ValueError(f"{name} must be an int >= 1, got {size}")
    return size


def _check_lam_per_sample(lam: torch.Tensor, batch_size: int, ndim: int, dtype: torch.dtype) -> torch.Tensor:
    """Check per-sample weights and shape them to broadcast over a batch of ``ndim`` dimensions."""
    if not lam.is_floating_point():
        raise TypeError(f"lam must be a number or a float tensor of shape (N,), got dtype {lam.dtype}")
    if lam.shape != (batch_size,):
        raise ValueError(
            f"lam must be a number or a tensor of shape (N,) = ({batch_size},), got shape {tuple(lam.shape)}"
        )
    if lam.device.type == "cpu" and not bool(((lam >= 0) & (lam <= 1)).all()):
        raise ValueError(
            f"lam must hold weights in [0, 1], got values from {float(lam.min())} to {float(lam.max())}"
        )
    return lam.to(dtype).reshape(batch_size, *([1] * (ndim - 1)))


def _check_partners(partners: object, batch_size: int) -> None:
    if not isinstance(partners, torch.Tensor) or partners.dtype != torch.int64:
        raise TypeError(f"partners must be an int64 torch.Tensor of shape (N,), got {_describe(partners)}")
    if partners.shape != (batch_size,):
        raise ValueError(
            f"partners must have shape (N,) = ({batch_size},), matching the batch, "
            f"got shape {tuple(partners.shape)}"
        )


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of dtype {value.dtype} and shape {tuple(value.shape)}"
    return type(value).__name__
