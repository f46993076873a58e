"""Kernels: apply drawn parameters to a batch. Deterministic; each reads as its formula.

* [`apply_weights`][zmix_transforms.functional.apply_weights]: ``out = W @ x``.
* [`apply_terms`][zmix_transforms.functional.apply_terms]: ``out[p] = Σ_j v[p, j] · x[i[p, j]]``.
* [`mix_pairs`][zmix_transforms.functional.mix_pairs]: ``out[p] = λ·x[p] + (1 − λ)·x[π(p)]``.
* [`paste_box`][zmix_transforms.functional.paste_box]: ``out[p, box] = x[π(p), box]``.

Each formula runs in the batch's compute dtype (``_dtypes``) through ``_in_compute_dtype``, on the
batch's dimensions in memory order (``memory_order``: a channels_last batch is mixed as the
contiguous tensor it is, and its results are channels_last too). With
``inplace=True`` a kernel calls its twin in ``_inplace``, which computes the same values through
small buffers; fast paths sit beside the formula, each named where it is taken.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import torch
from torchvision import tv_tensors

from .. import _backend
from .._checks import (
    check_batch_tensor,
    check_indices,
    check_lam,
    check_lam_per_sample,
    check_partners,
    check_region_inside,
    check_regions,
    check_same_device,
    describe,
)
from . import _inplace
from ._draws import Box, Region, to_device
from ._dtypes import (
    EIGHT_BITS,
    STEPS,
    WIDE_FLOATS,
    WIDE_INTEGERS,
    add_half_for_rounding,
    compute_dtype,
    copies_bits,
    high_byte,
    in_steps,
    restore_dtype,
    signed_view,
)

__all__ = ["apply_terms", "apply_weights", "mix_pairs", "paste_box", "paste_region"]


def _in_compute_dtype(x: torch.Tensor, mix: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``mix`` applied to ``x``'s values in its compute dtype, returned in ``x``'s dtype.

    int32, int64, uint32 and uint64 batches are mixed relative to their first sample, ``x[0] + mix(x − x[0])``
    (``mix`` is linear with weights summing to 1): the differences are exact in float64 wherever
    the values at a position span less than 2^53, so equal values stay exactly themselves even at the
    ends of the dtype's range, whatever the weights' precision, and results saturate at the range.
    """
    dtype = compute_dtype(x.dtype)
    if x.dtype not in WIDE_INTEGERS:
        return restore_dtype(mix(x if x.dtype == dtype else x.to(dtype)), x.dtype)
    if x.dtype == torch.uint64:  # x − 2^63 as int64 (the top bit flipped): the same order, and a mix
        # commutes with a shift of every value, so the int64 result shifted back is the uint64 mix
        shifted = _in_compute_dtype(x.view(torch.int64) ^ _INT64_MIN, mix)
        return (shifted ^ _INT64_MIN).view(torch.uint64)
    reference = x[:1].to(torch.int64)
    differences = _differences(x.to(torch.int64), reference)
    offsets = add_half_for_rounding(mix(differences), torch.int64)  # floor(m + 1/2), integer-valued
    out = _saturating_add(reference, offsets)
    if x.dtype != torch.int64:  # int32, uint32: a sum beyond the dtype's range saturates too
        out = out.clamp_(torch.iinfo(x.dtype).min, torch.iinfo(x.dtype).max)
    return out.to(x.dtype)


_INT64_MIN = torch.iinfo(torch.int64).min


def _differences(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``x − reference`` in float64, from the exact int64 difference where that does not overflow."""
    exact = x - reference
    overflow = ((x ^ reference) & (x ^ exact)) < 0  # operands of opposite signs, result of the wrong one
    return torch.where(overflow, x.double() - reference.double(), exact.double())


# The largest float64 below 2^63: every larger float64 is outside int64's range.
_INT64_BELOW_2_63 = float(2**63 - 1024)


def _saturating_add(reference: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``reference + offsets`` in int64 for integer-valued float64 ``offsets`` of up to ±2^64.

    Added in two halves, each within int64; a sum beyond int64's range saturates instead of wrapping.
    """
    half = (offsets / 2).trunc_()
    out = reference
    for part in (half, offsets - half):
        step = part.clamp(-(2.0**63), _INT64_BELOW_2_63).to(torch.int64)
        total = out + step
        total[(step > 0) & (total < out)] = torch.iinfo(torch.int64).max
        total[(step < 0) & (total > out)] = torch.iinfo(torch.int64).min
        out = total
    return out


def memory_order(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...] | None]:
    """``x`` with its dimensions in memory order, and the permutation back (None: ``x`` as it is).

    A batch in a dense layout other than the contiguous one, batch dimension outermost
    (channels_last, channels_last_3d), is a contiguous tensor with permuted dimensions. The
    kernels mix that view, so no contiguous copy is made first, and their results, permuted back,
    keep ``x``'s layout, as torchvision's MixUp does; the kernels treat the dimensions after the
    batch's alike, so the values are the same.
    """
    if x.ndim < 3 or x.is_contiguous():
        return x, None
    order = (0, *sorted(range(1, x.ndim), key=x.stride, reverse=True))
    view = x.permute(order)
    if not view.is_contiguous():
        return x, None
    return view, tuple(sorted(range(x.ndim), key=order.__getitem__))


def _autocast_on(x: torch.Tensor) -> bool:
    """Whether autocast is on for ``x``'s device: it would run matrix products in half precision."""
    compiling = torch.compiler.is_compiling()
    if not compiling and not _any_autocast():  # no region open on any device (most calls): one call
        return False
    device_type = x.device.type
    available = _autocast_available_traced if compiling else _autocast_available
    return available(device_type) and torch.is_autocast_enabled(device_type)


#: Whether an autocast region is open on any device in this thread (private to torch, so only a
#: shortcut: where a build lacks it, each call asks for its device as the public API does).
_any_autocast: Callable[[], bool] = getattr(torch._C, "_is_any_autocast_enabled", lambda: True)


@functools.lru_cache(maxsize=8)
def _autocast_available(device_type: str) -> bool:
    """Whether ``device_type`` has autocast at all (fixed for the process; asked once per type)."""
    return torch.amp.is_autocast_available(device_type)


@torch.compiler.assume_constant_result
def _autocast_available_traced(device_type: str) -> bool:
    """``_autocast_available`` as Dynamo sees it: called while tracing, its answer a constant.

    Dynamo would trace through the cache (and warn that it does), and torch 2.11's Dynamo cannot
    trace ``torch.amp.is_autocast_available`` at all: under ``fullgraph=True`` that failed the
    compile (seen on a GPU machine).
    """
    return torch.amp.is_autocast_available(device_type)


Kernel = TypeVar("Kernel", bound=Callable[..., torch.Tensor])


def _routed(*, without_autocast: bool) -> Callable[[Kernel], Kernel]:
    """The preamble every kernel shares, written once: the kernel sees ``x`` in its memory order.

    ``kernel(x, *args, inplace=...)`` gets ``x`` as the contiguous tensor it is in memory (a
    channels_last batch, or any dense order of the dimensions after the batch's, with no copy), and
    its result goes back to ``x``'s layout. With ``without_autocast`` (the products), an autocast
    region is left for the kernel, so that it sums in the batch's compute dtype rather than
    autocast's half precision.
    """

    def route(kernel: Kernel) -> Kernel:
        @functools.wraps(kernel)
        def routed(x: torch.Tensor, *args: Any, inplace: bool = False) -> torch.Tensor:
            if without_autocast and _autocast_on(x):
                with torch.autocast(x.device.type, enabled=False):
                    return routed(x, *args, inplace=inplace)
            view, back = memory_order(x)
            if back is None:
                return kernel(x, *args, inplace=inplace)
            out = kernel(view, *args, inplace=inplace)  # the layout in memory order: contiguous
            # in place, the view was written (x with it), unless fresh_batch() let a new mix return
            return x if inplace and out is view else out.permute(back)

        return cast(Kernel, routed)

    return route


Public = TypeVar("Public", bound=Callable[..., Any])


def keeps_type(function: Public) -> Public:
    """A public function's batch (its first argument) keeps its torchvision type, as in ``v2.functional``.

    A ``tv_tensors.Image`` or ``Video`` (any ``TVTensor``) is mixed as its plain data and the mixed
    batch (the result, or a result's first item) is wrapped back in its type: an ``Image`` in, an
    ``Image`` out, whichever formula ran (ATen's ops return plain tensors; ``clone`` keeps the
    type), and, under ``torch.compile``, traced as a plain tensor. In place, the batch itself
    returns. Other tensors, subclasses such as MONAI's ``MetaTensor`` included, go through as they are.
    """
    batch = next(iter(inspect.signature(function).parameters))  # its name, if passed by keyword

    @functools.wraps(function)
    def typed(*args: Any, **kwargs: Any) -> Any:
        x = args[0] if args else kwargs.get(batch)
        if not isinstance(x, tv_tensors.TVTensor):
            return function(*args, **kwargs)
        plain = x.as_subclass(torch.Tensor)
        out = function(plain, *args[1:], **kwargs) if args else function(**{**kwargs, batch: plain})
        mixed = out[0] if isinstance(out, tuple) else out
        typed_mix = x if mixed is plain else tv_tensors.wrap(mixed, like=x)
        return (typed_mix, *out[1:]) if isinstance(out, tuple) else typed_mix

    return cast(Public, typed)


@keeps_type
def apply_weights(x: torch.Tensor, weights: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    """Mix a batch with a weight matrix: ``out[p] = Σ_i weights[p, i] · x[i]``, one matrix product.

    Args:
        x: A batch of shape (N, ...) of any float or integer dtype. Half types and integers of up to
            16 bits are computed in float32, int32 and int64 in float64; integers are rounded to
            nearest; the result has ``x``'s dtype.
        weights: A float (M, N) matrix, on ``x``'s device; row-stochastic for a convex mix. For an
            integer ``x`` of 32 or 64 bits the rows must sum to 1 (see the note).
        inplace: Overwrite ``x`` with the result (``weights`` must then be square). The product runs
            over blocks of columns through a cache-sized buffer, so no second batch is allocated.

    Returns:
        The mixed batch of shape (M, ...): a new tensor in ``x``'s memory layout (a channels_last
        batch gives a channels_last result), or ``x`` itself when ``inplace``.

    Raises:
        TypeError: If an argument is not a tensor of real numbers.
        ValueError: If the shapes or devices do not match, or ``inplace`` is asked of a tensor that
            requires grad or has overlapping memory.

    Note:
        On the CPU, integer and half-precision batches too large for the kernels' buffers are mixed
        out of place by mixing a copy in place, over blocks of columns, so no float32 copy of the
        batch is made (the ``narrow_blocks`` fast path; see the Performance page). Inside a
        ``torch.autocast`` region the product still runs in the compute dtype, not autocast's
        half precision, so a mix is the same inside a training step's region as outside.
        Integer batches are mixed for weights whose rows sum to 1, as every method's do: 32- and
        64-bit ones relative to their first sample (``x[0] + W·(x − x[0])``, which equals ``W·x``
        only then). A sum beyond the dtype's range saturates at its end. For 8- and 16-bit batches
        with weights that may reach beyond the inputs' range (a negative weight, or a row summing
        to more than 1), that takes a float copy of the batch: on a GPU and under
        ``torch.compile`` every such batch does, since reading the weights to tell would be a sync
        or a graph break.

    Examples:
        >>> apply_weights(torch.tensor([[0.0], [10.0]]), torch.tensor([[0.75, 0.25], [0.0, 1.0]]))
        tensor([[ 2.5000],
                [10.0000]])
    """
    n = check_batch_tensor("x", x, min_ndim=1, layout="(N, ...)")
    if not isinstance(weights, torch.Tensor) or not weights.is_floating_point():
        raise TypeError(f"weights must be a float torch.Tensor of shape (M, N), got {describe(weights)}")
    if weights.ndim != 2 or weights.shape[1] != n:
        raise ValueError(
            f"weights must have shape (M, N) with N = {n} (the batch size of x), "
            f"got shape {tuple(weights.shape)}"
        )
    check_same_device("weights", weights, x.device, "x")
    if inplace and weights.shape[0] != n:
        raise ValueError(
            f"inplace needs square weights (N, N) with N = {n}, got shape {tuple(weights.shape)}"
        )
    if _may_leave_the_range(x, weights):
        return _saturated(x, lambda values: apply_weights_unchecked(values, weights), inplace=inplace)
    return apply_weights_unchecked(x, weights, inplace=inplace)


def _may_leave_the_range(x: torch.Tensor, weights: torch.Tensor) -> bool:
    """Whether a narrow integer batch's mix by ``weights`` may leave its dtype's range.

    A row of non-negative weights summing to at most 1 keeps every value within the inputs' range,
    as every method's does; any other row may not. On a GPU, and under ``torch.compile``, the
    weights are not read (a sync; a data-dependent branch): any 8- or 16-bit batch takes the
    saturating path there.
    """
    if x.dtype.is_floating_point or x.dtype in WIDE_INTEGERS:  # (bool batches are refused by the checks)
        return False
    if weights.device.type != "cpu" or torch.compiler.is_compiling():
        return True
    # the slack keeps a float32 row's rounding (N·2⁻²⁴) from counting: beyond 1 + 1e-5, a 16-bit
    # value's overshoot could reach half a step
    return bool((weights < 0).any() or (weights.sum(1) > 1 + 1e-5).any())


def _saturated(
    x: torch.Tensor, mix: Callable[[torch.Tensor], torch.Tensor], *, inplace: bool
) -> torch.Tensor:
    """``mix`` of a narrow integer batch in its compute dtype, clamped to the dtype's range, cast back."""
    if inplace:
        _inplace.check_writable(x)  # before the work, as the kernels' own in-place paths check it
    info = torch.iinfo(x.dtype)
    mixed = restore_dtype(mix(x.to(compute_dtype(x.dtype))).clamp_(info.min, info.max), x.dtype)
    return x.copy_(mixed) if inplace else mixed


def apply_weights_unchecked(x: torch.Tensor, weights: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    """[`apply_weights`][zmix_transforms.functional.apply_weights] on arguments already checked.

    For the transforms, whose weights are drawn to fit the batch. ``x`` is still checked for
    ``inplace``, which overwrites it.
    """
    if (
        not inplace
        and x.dtype == weights.dtype
        and x.dtype in WIDE_FLOATS
        and x.is_contiguous()
        and not _autocast_on(x)
    ):
        # the formula at once for the common call (a contiguous float batch and weights of its
        # dtype): one product of the (N, D) view, without the routes' checks
        if x.ndim == 2:
            return _backend.product(weights, x)
        if x.ndim > 2 and weights.shape[0] == x.shape[0]:  # flatten and view_as: cheaper calls
            return _backend.product(weights, x.flatten(1)).view_as(x)
        return _backend.product(weights, x.view(x.shape[0], -1)).view(weights.shape[0], *x.shape[1:])
    return _apply_weights_routes(x, weights, inplace=inplace)


@_routed(without_autocast=True)
def _apply_weights_routes(x: torch.Tensor, weights: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    """``apply_weights_unchecked``'s routes: in place over blocks, narrow blocks, the formula."""
    dtype = compute_dtype(x.dtype)
    if inplace:
        _inplace.check_writable(x)
        n, rows = x.shape[0], weights.to(dtype)
        # a batch lent by the collate: one torch.mm into it, unless oneDNN's new batch was measured
        # faster (oneDNN has no out=; its new batch's pages may have to be faulted in, the lent
        # batch's are mapped: which wins depends on the CPU and on how malloc reuses memory)
        lent = _inplace.lent_spare(x) if x.dtype == dtype and weights.shape[0] == n else None
        if lent is not None:  # contiguous, as a spare fits only a contiguous batch
            flat, out = x.view(n, -1), lent.view(n, -1)
            if not _backend.takes_onednn(rows, flat, into=out):
                _inplace.take_spare(x)
                return torch.mm(rows, flat, out=out).view_as(x)
        if _inplace.product_in_blocks(x, dtype) and not _inplace.product_apart(x, dtype):
            _inplace.apply_weights_(x, rows, dtype)
            return x
        return _inplace.copy_back(x, _apply_weights(x, weights))
    n = x.shape[0]
    square = weights.shape[0] == n
    needs_grad = x.requires_grad or weights.requires_grad
    # fast path: narrow batches (half types, integers of <= 16 bits) on the CPU whose float32 copy
    # would not fit the buffers: a copy mixed in place, over blocks (no float32 batch)
    narrow = x.dtype != dtype and x.dtype not in WIDE_INTEGERS and x.device.type == "cpu"
    blocks = narrow and not _inplace.fits_budget(x, x.numel() * dtype.itemsize)
    if square and blocks and not needs_grad and _backend.ROUTES["narrow_blocks"]:
        # fast path: narrow batches on the CPU, mixed as a copy mixed in place (no float32 batch)
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device).copy_(x)
        _inplace.apply_weights_(out, weights.to(dtype), dtype)
        return out
    return _apply_weights(x, weights)


def _apply_weights(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The formula: ``W @ x`` over the (N, D) view, in ``x``'s compute dtype."""

    def product(values: torch.Tensor) -> torch.Tensor:
        flat = values.reshape(values.shape[0], -1).contiguous()
        rows = weights.to(values.dtype)
        return _backend.product(rows, flat).reshape(weights.shape[0], *values.shape[1:])

    return _in_compute_dtype(x, product)


@keeps_type
def apply_terms(
    x: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, *, inplace: bool = False
) -> torch.Tensor:
    """Mix a batch with ``k`` terms per output row: ``out[p] = Σ_j values[p, j] · x[indices[p, j]]``.

    The sparse counterpart of [`apply_weights`][zmix_transforms.functional.apply_weights] for the
    compact weights of [`zeta_terms`][zmix_transforms.functional.zeta_terms]: cost ``k·N·D`` instead
    of ``N²·D``, through ``torch.nn.functional.embedding_bag`` (a weighted sum of gathered rows in
    one pass).

    Args:
        x: A batch of shape (N, ...) of any float or integer dtype (computed as in
            [`apply_weights`][zmix_transforms.functional.apply_weights]).
        indices: Int64 sample indices of shape (M, k), each in [0, N), on ``x``'s device: one row per
            output sample (M = N for a whole batch).
        values: Float weights of shape (M, k), on ``x``'s device; rows summing to 1 for a convex mix.
        inplace: Overwrite ``x``, over blocks of columns through a small buffer (needs M = N).

    Returns:
        The mixed batch of shape (M, ...): a new tensor in ``x``'s memory layout (a channels_last
        batch gives a channels_last result), or ``x`` itself when ``inplace``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the shapes or devices do not match or an index is outside the batch.

    Examples:
        >>> x = torch.tensor([[0.0], [10.0], [20.0]])
        >>> apply_terms(x, torch.tensor([[0, 2], [1, 0], [2, 1]]), torch.tensor([[0.5, 0.5]] * 3))
        tensor([[10.],
                [ 5.],
                [15.]])
    """
    n = check_batch_tensor("x", x, min_ndim=1, layout="(N, ...)")
    if not isinstance(indices, torch.Tensor) or indices.dtype != torch.int64 or indices.ndim != 2:
        raise TypeError(f"indices must be an int64 torch.Tensor of shape (N, k), got {describe(indices)}")
    if not isinstance(values, torch.Tensor) or not values.is_floating_point():
        raise TypeError(f"values must be a float torch.Tensor of shape (N, k), got {describe(values)}")
    if values.shape != indices.shape or (inplace and indices.shape[0] != n):
        expected = f"(N, k) with N = {n}" if inplace else "(M, k)"
        raise ValueError(
            f"indices and values must both have shape {expected}, "
            f"got {tuple(indices.shape)} and {tuple(values.shape)}"
        )
    check_same_device("indices", indices, x.device, "x")
    check_same_device("values", values, x.device, "x")
    check_indices("indices", indices, n)
    if _may_leave_the_range(x, values):
        return _saturated(x, lambda batch: apply_terms_unchecked(batch, indices, values), inplace=inplace)
    return apply_terms_unchecked(x, indices, values, inplace=inplace)


@_routed(without_autocast=True)
def apply_terms_unchecked(
    x: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, *, inplace: bool = False
) -> torch.Tensor:
    """[`apply_terms`][zmix_transforms.functional.apply_terms] on arguments already checked.

    For the transforms, whose terms are drawn to fit the batch. ``x`` is still checked for
    ``inplace``, which overwrites it.
    """
    dtype = compute_dtype(x.dtype)
    if inplace:
        _inplace.check_writable(x)
        if _inplace.product_in_blocks(x, dtype):
            _inplace.apply_terms_(x, indices, values.to(dtype).contiguous(), dtype)
            return x
        return _inplace.copy_back(x, _apply_terms(x, indices, values))
    return _apply_terms(x, indices, values)


def _apply_terms(x: torch.Tensor, indices: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The formula: a weighted sum of gathered rows of the (N, D) view, in ``x``'s compute dtype."""

    def gathered_sum(table: torch.Tensor) -> torch.Tensor:
        flat = table.reshape(table.shape[0], -1).contiguous()
        weights = values.to(table.dtype).contiguous()
        if flat.shape[1] == 0:  # samples of no values: embedding_bag needs a column
            return table.new_empty((indices.shape[0], *table.shape[1:]))
        out = torch.nn.functional.embedding_bag(indices, flat, per_sample_weights=weights, mode="sum")
        return out.reshape(indices.shape[0], *table.shape[1:])

    return _in_compute_dtype(x, gathered_sum)


@keeps_type
def mix_pairs(
    x: torch.Tensor, lam: float | torch.Tensor, partners: torch.Tensor, *, inplace: bool = False
) -> torch.Tensor:
    """Mix every sample with its partner: ``out[p] = λ · x[p] + (1 − λ) · x[partners[p]]``.

    Args:
        x: A batch of shape (N, ...) of any float or integer dtype (computed as in
            [`apply_weights`][zmix_transforms.functional.apply_weights]).
        lam: The weight of each sample's own value, in [0, 1]: one number for the batch, or a float
            tensor of shape (N,) on ``x``'s device with one weight per sample (as from
            [`sample_lambdas`][zmix_transforms.functional.sample_lambdas]).
        partners: Int64 indices of shape (N,), each in [0, N), on ``x``'s device, as from
            [`cycle_partners`][zmix_transforms.functional.cycle_partners].
        inplace: Overwrite ``x`` with the result. A batch of large samples (32 768 values or more)
            is walked along the cycles of ``partners``, one sample at a time, holding one sample per
            cycle aside; a smaller batch, or partners that are not a permutation, is mixed out of
            place and copied back.

    Returns:
        The mixed batch: a new tensor of ``x``'s shape, dtype and memory layout (a channels_last
        batch gives a channels_last result), or ``x`` itself when ``inplace``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``lam`` is outside [0, 1], ``partners`` does not match the batch, or the
            devices differ.

    Note:
        uint8 and int8 batches whose weights are all multiples of 1/256 (as
        [`MixUp`][zmix_transforms.MixUp] draws them for such batches) are computed in int16 as
        ``(a·x + (256 − a)·x[π] + 128) // 256``, ``λ = a/256``: the values float32 gives, exactly,
        without a float32 copy of the batch (the route ``integer_steps``).

    Examples:
        >>> mix_pairs(torch.tensor([0.0, 8.0]), 0.75, torch.tensor([1, 0]))
        tensor([2., 6.])
    """
    n = check_batch_tensor("x", x, min_ndim=1, layout="(N, ...)")
    check_partners(partners, n, x.device)
    lam = check_lam_per_sample(lam, n, x.device) if isinstance(lam, torch.Tensor) else check_lam(lam)
    return mix_pairs_unchecked(x, lam, partners, inplace=inplace)


def mix_pairs_unchecked(
    x: torch.Tensor, lam: float | torch.Tensor, partners: torch.Tensor, *, inplace: bool = False
) -> torch.Tensor:
    """[`mix_pairs`][zmix_transforms.functional.mix_pairs] on arguments already checked: its routes.

    For callers whose ``lam`` and ``partners`` are valid by construction (the transforms, which
    check their input once and draw the rest): in place along the cycles, the per-sample lerp, or
    the formula. ``x`` is still checked for ``inplace``, which overwrites it.
    """
    if not inplace and type(lam) is float and x.dtype in WIDE_FLOATS and x.is_contiguous():
        # the formula at once for the common call (a contiguous float32/float64 batch, one λ): the
        # routes below would choose it after checks that cost 2 µs a call (AMD EPYC, 8×3×8×8)
        return x.index_select(0, partners).lerp_(x, lam)
    return _mix_pairs_routes(x, lam, partners, inplace=inplace)


@_routed(without_autocast=False)
def _mix_pairs_routes(
    x: torch.Tensor, lam: float | torch.Tensor, partners: torch.Tensor, *, inplace: bool = False
) -> torch.Tensor:
    """``mix_pairs_unchecked``'s routes: in place, the per-sample lerp, 8-bit steps, the formula."""
    n = x.shape[0]
    dtype = compute_dtype(x.dtype)
    weight = lam
    if isinstance(lam, torch.Tensor):  # one λ (0-dim, as drawn under torch.compile) or one per sample
        weight = lam.to(dtype) if lam.ndim == 0 else lam.to(dtype).reshape(n, *([1] * (x.ndim - 1)))
    steps = None  # per-sample λ is read on the CPU only, outside tracing: no sync, no graph break
    readable = not isinstance(lam, torch.Tensor) or (
        lam.device.type == "cpu" and not torch.compiler.is_compiling()
    )
    if x.dtype in EIGHT_BITS and readable:
        # one step for a batch's one λ (not one per sample: 128 of them cost 45 µs in Python)
        steps = in_steps(x.dtype, lam.reshape(-1).tolist() if isinstance(lam, torch.Tensor) else [lam])
    if inplace:
        _inplace.check_writable(x)
        out = _inplace.take_spare(x) if x.dtype == dtype else None
        if out is not None:  # a batch lent by the collate (its λ drawn, no grad): the formula into it
            return torch.index_select(x, 0, partners, out=out).lerp_(x, weight)
        converted = 3 * dtype.itemsize if x.dtype != dtype else 0
        walk = x.dtype not in WIDE_INTEGERS and _inplace.walk_cycles(
            x, x.numel() * (x.element_size() + converted)
        )
        if walk and _inplace.mix_pairs_(x, weight, partners, dtype, steps=steps is not None):
            return x
        if x.dtype == dtype and not getattr(weight, "requires_grad", False) and not _inplace.is_fresh():
            # the formula written over x, whose values are read where they are written
            return torch.lerp(x.index_select(0, partners), x, weight, out=x)
        mixed = _mix_pairs(x, weight, partners) if steps is None else _mix_in_steps(x, steps, partners)
        return _inplace.copy_back(x, mixed)
    narrow = x.dtype != dtype and x.dtype not in WIDE_INTEGERS
    if narrow and _per_sample_lerp(x, weight):
        # fast path: large narrow samples on the CPU, lerped through small buffers straight into the
        # new batch (no float32 copy of the batch): 8-bit ones with one λ in blocks of samples, with
        # per-sample λ along the pairing's cycles
        if steps is not None and len(set(steps)) == 1:
            return _inplace.lerp_blocks(x, steps[0], partners)
        out = torch.empty_like(x)
        if steps is not None and _inplace.lerp_cycles_in_steps(x, steps, partners, out=out):
            return out
        weights = _inplace.weight_per_sample(weight, n)
        lerp = _inplace.SampleLerp(x, dtype, steps=steps is not None)
        for p, q in enumerate(partners.tolist()):
            lerp(x[p], x[q], weights[p], out=out[p])
        return out
    if steps is not None:  # fast path: 8-bit batches with λ in steps of 1/256, exactly, in int16
        return _mix_in_steps(x, steps, partners)
    return _mix_pairs(x, weight, partners)


def _per_sample_lerp(x: torch.Tensor, weight: float | torch.Tensor) -> bool:
    """Whether a narrow batch takes the per-sample lerp: large samples on the CPU, no autograd."""
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or getattr(weight, "requires_grad", False))
    large = x.device.type == "cpu" and x.numel() >= x.shape[0] * _inplace.PER_SAMPLE_MIN_ELEMENTS
    return large and not needs_grad and _backend.ROUTES["per_sample_lerp"]


def _mix_pairs(x: torch.Tensor, weight: float | torch.Tensor, partners: torch.Tensor) -> torch.Tensor:
    """The formula: ``x[π].lerp(x, λ)`` (= ``λ·x + (1 − λ)·x[π]``), in ``x``'s compute dtype."""
    return _in_compute_dtype(x, lambda values: values.index_select(0, partners).lerp_(values, weight))


def _mix_in_steps(x: torch.Tensor, steps: list[int], partners: torch.Tensor) -> torch.Tensor:
    """The formula for an 8-bit batch and ``λ_p = a_p/256``: ``(a·x + (256 − a)·x[π] + 128) // 256``.

    In int16 (see ``_dtypes.high_byte``): the same values as ``_mix_pairs`` computes in float32.
    ``steps`` holds one ``a`` for the whole batch, or one per sample.
    """
    own = x.to(torch.int16, memory_format=torch.contiguous_format)
    partner = own.index_select(0, partners)
    if len(set(steps)) == 1:
        total = torch.add(_half_step(x.device), own, alpha=steps[0]).add_(partner, alpha=STEPS - steps[0])
    else:
        a = torch.tensor(steps, dtype=torch.int16, device=x.device).reshape(-1, *([1] * (x.ndim - 1)))
        total = own.mul_(a).add_(STEPS // 2).add_(partner.mul_(STEPS - a))
    return torch.empty_like(x).copy_(high_byte(total))


def _half_step(device: torch.device) -> torch.Tensor:
    """``STEPS // 2`` as an int16 scalar: ``torch.add(half, t, alpha=a)`` is ``a·t + 128`` in one pass."""
    return torch.full((), STEPS // 2, dtype=torch.int16, device=device)


@keeps_type
def paste_box(x: torch.Tensor, box: Box, partners: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    """Paste the box region of every sample's partner into a copy of the sample (CutMix's image step).

    Args:
        x: A batch of shape (N, ..., H, W) of any dtype.
        box: The region, as from [`cutmix_box`][zmix_transforms.functional.cutmix_box]; it must lie
            inside the image.
        partners: Int64 indices of shape (N,), each in [0, N), on ``x``'s device, as from
            [`cycle_partners`][zmix_transforms.functional.cycle_partners].
        inplace: Write into ``x``: only the box regions are copied, along the cycles of
            ``partners`` for large samples (one region per cycle held aside), else through one
            region-sized copy of the partners.

    Returns:
        ``x`` with ``out[p, ..., y1:y2, x1:x2] = x[partners[p], ..., y1:y2, x1:x2]``: a new tensor, or
        ``x`` itself when ``inplace``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the box lies outside the image, ``partners`` does not match the batch, or the
            devices differ.

    Examples:
        >>> x = torch.arange(8.0).reshape(2, 1, 2, 2)
        >>> paste_box(x, Box(0, 0, 1, 1), torch.tensor([1, 0]))[0, 0]
        tensor([[4., 1.],
                [2., 3.]])
    """
    if not isinstance(box, tuple) or len(box) != 4:
        raise TypeError(f"box must be a Box (x1, y1, x2, y2), got {box!r}")
    try:
        x1, y1, x2, y2 = (operator.index(v) for v in box)
    except TypeError:
        raise TypeError(f"box must hold four ints (x1, y1, x2, y2), got {box!r}") from None
    if isinstance(x, torch.Tensor) and x.ndim >= 3:
        height, width = x.shape[-2:]
        if not (0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height):
            raise ValueError(
                f"box must lie inside the {height}×{width} image with x1 <= x2 and y1 <= y2, got {box}"
            )
    return paste_region(x, Region((y1, x1), (y2, x2)), partners, inplace=inplace)


@keeps_type
def paste_region(
    x: torch.Tensor,
    region: Region | Sequence[Region],
    partners: torch.Tensor,
    *,
    inplace: bool = False,
) -> torch.Tensor:
    """Paste the region of every sample's partner into a copy of the sample (CutMix, 2-D or 3-D).

    Args:
        x: A batch of shape (N, ..., *spatial) of any dtype, where ``spatial`` are the region's
            ``d`` dimensions: (H, W) for images, (D, H, W) for volumes.
        region: The region, as from [`cutmix_region`][zmix_transforms.functional.cutmix_region], or
            a sequence of N regions, one per sample (timm's "elem" and "pair" modes); each must lie
            inside the last ``d`` dimensions of ``x``.
        partners: Int64 indices of shape (N,), each in [0, N), on ``x``'s device. With one region
            per sample on the CPU they are read (for large samples, pasted one by one); on a GPU
            the regions become one mask, and nothing is read back.
        inplace: Write into ``x`` (only the regions are copied; on the CPU, one large sample at a
            time).

    Returns:
        ``x`` with the region of ``out[p]`` taken from ``x[partners[p]]`` (with one region per sample,
        ``region[p]``): a new tensor, or ``x`` itself when ``inplace``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a region lies outside the batch, the regions or ``partners`` do not match the
            batch, or the devices differ.

    Examples:
        >>> x = torch.arange(16.0).reshape(2, 1, 2, 2, 2)
        >>> paste_region(x, Region((0, 0, 0), (1, 2, 2)), torch.tensor([1, 0]))[0, 0, :, 0]  # rows y = 0
        tensor([[8., 9.],
                [4., 5.]])
        >>> x = torch.arange(8.0).reshape(2, 1, 2, 2)
        >>> regions = [Region((0, 0), (1, 1)), Region((1, 1), (2, 2))]  # one per sample
        >>> paste_region(x, regions, torch.tensor([1, 0])).flatten().tolist()
        [4.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 3.0]
    """
    if not isinstance(region, Region):
        regions = check_regions(region, x)
        check_partners(partners, x.shape[0], x.device)
        return paste_region_unchecked(x, regions, partners, inplace=inplace)
    dims = len(region.starts)
    n = check_batch_tensor("x", x, min_ndim=dims + 1, layout="(N, ..., *spatial)")
    check_partners(partners, n, x.device)
    check_region_inside("region", region, tuple(x.shape[-dims:]))
    return paste_region_unchecked(x, region, partners, inplace=inplace)


def paste_region_unchecked(
    x: torch.Tensor, region: Region | list[Region], partners: torch.Tensor, *, inplace: bool = False
) -> torch.Tensor:
    """[`paste_region`][zmix_transforms.functional.paste_region] on arguments already checked.

    For the transforms, whose regions and partners are drawn to fit the batch. ``x`` is still
    checked for ``inplace``, which overwrites it.
    """
    if not isinstance(region, Region):
        if takes_masked_paste(x, inplace=inplace):
            return _paste_regions_masked(x, region, partners, inplace=inplace)
        return _paste_regions(x, region, partners, inplace=inplace)
    if inplace:
        _inplace.check_writable(x)
    if region.size == 0:
        return x if inplace else x.clone()
    if torch.is_grad_enabled() and x.requires_grad:  # the formula, differentiable
        index: tuple[Any, ...] = (..., *region.slices())
        out = x.clone()
        out[index] = x[index].index_select(0, partners)
        return out
    block = _region_view(x, region)
    if inplace:
        walk = _inplace.walk_cycles(x, block.numel() * block.element_size())
        if not (walk and _inplace.paste_region_(block, partners)):
            block.copy_(block.index_select(0, partners))
        return x
    out = x.clone()
    # the same gather, written straight into the copy's region: no region-sized temporary
    torch.index_select(block, 0, partners, out=_region_view(out, region))
    return out


def takes_masked_paste(x: torch.Tensor, *, inplace: bool, batches: int = 1) -> bool:
    """Whether one region a sample is pasted into ``x`` by one masked copy, not a copy per sample.

    Always on other devices (a copy per sample is a launch each); on the CPU where samples are
    small (route ``masked_regions``). In place, a copy per sample writes only the regions: the
    mask pays for smaller samples, and its temporaries, ``batches`` batch-sized ones (the gather of
    the partners, and what is made from it), must fit the buffers (no second batch).
    """
    if x.device.type != "cpu":
        return True
    sample = x.numel() // max(x.shape[0], 1) * (x.element_size() if inplace else 1)
    fits = not inplace or _inplace.fits_budget(x, batches * x.numel() * x.element_size())
    return sample < _MASKED_REGIONS_MAX and fits and _backend.ROUTES["masked_regions"]


def _region_view(x: torch.Tensor, region: Region) -> torch.Tensor:
    """``x[..., *region.slices()]`` in one op (slicing dispatches one per dimension it narrows)."""
    d = len(region.starts)
    strides = x.stride()
    offset = x.storage_offset()
    for start, stride in zip(region.starts, strides[x.ndim - d :], strict=True):
        offset += start * stride
    return x.as_strided((*x.shape[: x.ndim - d], *region.sides), strides, offset)


def _paste_regions(
    x: torch.Tensor, regions: list[Region], partners: torch.Tensor, *, inplace: bool
) -> torch.Tensor:
    """The formula with one region per sample: ``out[p][region_p] = x[partners[p]][region_p]``.

    In place, along the cycles of ``partners`` (one region per cycle held aside); partners that are
    not a permutation are read whole before anything is written.
    """
    indices: list[tuple[Any, ...]] = [(..., *region.slices()) for region in regions]
    if inplace:
        _inplace.check_writable(x)
        if _inplace.paste_regions_(x, indices, partners):
            return x
    out = x if inplace else x.clone()
    source = x.clone() if inplace else x
    for p, q in enumerate(partners.tolist()):
        if regions[p].size:
            out[p][indices[p]] = source[q][indices[p]]
    return out


#: Below this many values a sample (bytes, in place), per-sample regions are pasted on the CPU as
#: one masked copy (``masked_regions``). ``CutMix(mode="elem")``, route off over on: 1.2–2.2× at
#: 3,072 to 12,288 values a sample; ``CutMixCollate``, in place: 1.1–1.9× up to 12 KiB a sample,
#: 0.76–0.91× for float32 samples of 16–48 KiB (AMD EPYC, 2 threads).
_MASKED_REGIONS_MAX = 1 << 14


def _paste_regions_masked(
    x: torch.Tensor, regions: list[Region], partners: torch.Tensor, *, inplace: bool
) -> torch.Tensor:
    """``_paste_regions`` as one masked copy: a constant number of ops (a GPU's batch, small samples).

    Each region's extent along each axis is made on the host, (N, size) bools for every axis in one
    tensor, moved in one non-blocking copy; on the device their product is the (N, *spatial) mask.
    The same values as pasting region by region (pixels are copied, never computed).
    """
    d = len(regions[0].starts)
    sizes = x.shape[x.ndim - d :]
    bounds = torch.tensor([(*r.starts, *r.stops) for r in regions], dtype=torch.int64, device="cpu")
    extents = [
        (bounds[:, axis, None] <= positions) & (positions < bounds[:, d + axis, None])
        for axis, positions in enumerate(torch.arange(size, device="cpu") for size in sizes)
    ]
    moved = to_device(torch.cat(extents, dim=1), x.device).split(list(sizes), dim=1)
    taken = x.index_select(0, to_device(partners, x.device))  # every partner read before any write
    return _paste_masked(_product_mask(moved, x.ndim), taken, x, inplace=inplace)


def _axis_shape(along: torch.Tensor, axis: int, ndim: int) -> list[int]:
    """The shape that lays an (n, size) tensor along ``axis`` of an ``ndim``-dimensional batch."""
    shape = [along.shape[0], *[1] * (ndim - 1)]
    shape[axis] = along.shape[1]
    return shape


def _product_mask(along: Sequence[torch.Tensor], ndim: int) -> torch.Tensor:
    """The (n, 1, ..., 1, *spatial) mask set where every axis's (n, size) bools of ``along`` are.

    ``along`` holds one tensor for each of the last ``len(along)`` axes of an ``ndim``-dimensional
    batch; ``n`` is 1 (every sample alike) or N.
    """
    start = ndim - len(along)
    mask = along[0].reshape(_axis_shape(along[0], start, ndim))
    for axis, bools in enumerate(along[1:], start=start + 1):
        mask = mask & bools.reshape(_axis_shape(bools, axis, ndim))
    return mask


def _paste_masked(mask: torch.Tensor, taken: torch.Tensor, x: torch.Tensor, *, inplace: bool) -> torch.Tensor:
    """``taken`` (the partners' pixels, read before any write) where ``mask`` is set, else ``x``.

    Over ``x`` for ``inplace``; differentiable where ``x`` needs gradients; else into the gather's
    buffer when it has ``x``'s layout, or a new batch in ``x``'s layout.
    """
    if inplace:
        _inplace.check_writable(x)
        return where_into(mask, taken, x, out=x)
    if torch.is_grad_enabled() and x.requires_grad:  # features: differentiable
        return torch.where(mask, taken, x)
    return where_into(mask, taken, x, out=taken if taken.stride() == x.stride() else torch.empty_like(x))


@copies_bits
def paste_resampled(
    x: torch.Tensor, partners: torch.Tensor, sources: Sequence[torch.Tensor], *, inplace: bool = False
) -> torch.Tensor:
    """Paste each sample's partner, resampled, in a constant number of ops at any batch size.

    ``out[p][i] = x[partners[p]][s(p, i)]`` where every axis's source of position ``i`` is ≥ 0,
    else ``x[p][i]``. ``sources`` holds, for each of the last ``len(sources)`` axes, an int64
    (n, size) tensor on ``x``'s device, ``n`` 1 (every sample alike) or N: the partner's index along
    that axis that each position takes, −1 where the patch does not reach. Pixels are copied, never
    computed: any dtype is exact.
    """
    taken = x.index_select(0, partners)  # every partner read before any write
    for axis, source in enumerate(sources, start=x.ndim - len(sources)):
        index = source.clamp_min(0)
        if source.shape[0] == 1:  # every sample alike: one index along the axis
            taken = taken.index_select(axis, index[0])
        else:
            every = (*taken.shape[:axis], source.shape[1], *taken.shape[axis + 1 :])
            taken = taken.gather(axis, index.reshape(_axis_shape(source, axis, x.ndim)).expand(every))
    inside = _product_mask([source >= 0 for source in sources], x.ndim)
    return _paste_masked(inside, taken, x, inplace=inplace)


@copies_bits
def resized_partners(
    x: torch.Tensor, sides: Sequence[int], partners: torch.Tensor | None = None
) -> torch.Tensor:
    """``x[partners]`` (all of ``x`` when None) resized to ``sides`` over its last axes, nearest.

    Position ``k`` along an axis of size ``S`` takes ``k·S // side``: pixels are copied, never
    computed, so any dtype is exact. On the CPU one ``index_select`` an axis (``gather`` along the
    last, where ``index_select`` took 1.3–4× as long), the partners gathered from the shrunk batch;
    on another device one indexing op, its indices made on the host and moved in one copy (two
    launches where an axis took two and the partners one more).
    """
    if x.device.type != "cpu":
        return _resized_by_one_index(x, sides, partners)
    for axis, side in enumerate(sides, start=x.ndim - len(sides)):
        index = _nearest(x.shape[axis], side)
        last = axis == x.ndim - 1
        x = x.gather(axis, index.expand(*x.shape[:-1], side)) if last else x.index_select(axis, index)
    return x if partners is None else x.index_select(0, partners)


@functools.lru_cache(maxsize=1024)
def _nearest(size: int, side: int) -> torch.Tensor:
    """The positions ``k·size // side`` a side of ``side`` samples along an axis of ``size`` (CPU).

    Made once (three ATen calls a call saved, about 5 µs an axis) and only read; outside inference
    mode, so that a gather that autograd records may save it.
    """
    with torch.inference_mode(False):
        return torch.arange(side, device="cpu") * size // side


def _resized_by_one_index(
    x: torch.Tensor, sides: Sequence[int], partners: torch.Tensor | None = None
) -> torch.Tensor:
    """``resized_partners`` as one advanced index of every axis (the other axes by ``arange``)."""
    lead = x.ndim - len(sides)
    pieces = [torch.arange(size, device="cpu") for size in x.shape[int(partners is not None) : lead]]
    pieces += [_nearest(size, side) for side, size in zip(sides, x.shape[lead:], strict=True)]
    moved = list(to_device(torch.cat(pieces), x.device).split([len(piece) for piece in pieces]))
    axes = ([] if partners is None else [partners]) + moved
    return x[tuple(index.reshape(_axis_shape(index[None], axis, x.ndim)) for axis, index in enumerate(axes))]


def resized_sources(starts: torch.Tensor, sides: torch.Tensor, spatial: Sequence[int]) -> list[torch.Tensor]:
    """``paste_resampled``'s sources for the whole image resized (nearest) into each of n boxes.

    ``starts`` and ``sides``: int64 (n, d) corners and sides of the boxes over the last d axes of
    sizes ``spatial``. The box's ``k``-th position along an axis of size S takes the image's
    ``k·S // side``; −1 off the box (a box of side 0 covers nothing).
    """
    sources = []
    for axis, size in enumerate(spatial):
        k, side = torch.arange(size, device=starts.device) - starts[:, axis, None], sides[:, axis, None]
        sources.append(torch.where((k >= 0) & (k < side), k * size // side.clamp_min(1), -1))
    return sources


#: The integer dtype of each element size: the view in which ``where_into`` selects bits.
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
#: ``where_into`` selects bits for 8- and 16-bit values, and for wider ones in batches up to this
#: size: larger float32 batches are bound by memory, where ``where``'s one pass beat three (0.9×).
_BITWISE_WIDE_MAX_BYTES = 1 << 21
#: ... and from this many values: below, the five ATen calls cost more than ``where``'s loop saves
#: (they made a mask mix of 8×3×8² 1.18× slower, and one of 16×3×32², 49,152 values, 1.07–1.11× faster).
_BITWISE_MIN_VALUES = 1 << 14


def where_into(
    mask: torch.Tensor, x: torch.Tensor, other: torch.Tensor, *, out: torch.Tensor
) -> torch.Tensor:
    """``torch.where(mask, x, other, out=out)``: ``x`` where ``mask`` is set, else ``other``.

    ``mask`` (bool) broadcasts against ``x``; ``out`` may be ``x`` or ``other`` itself (two distinct
    tensors). Fast path (route ``bitwise_where``): on the CPU, three in-place bitwise ops over the
    values' integer view, ``out = other ^ ((x ^ other) & m)`` (``m`` all ones where ``mask`` is
    set), or, when ``out`` is ``other``, ``out = x ^ ((x ^ other) & ~m)``: the same bits, NaN
    payloads and −0.0 included. ATen's CPU ``where`` takes one value at a time; its bitwise ops
    are vectorized.
    """
    size, values = x.element_size(), x.numel()
    worth = values >= _BITWISE_MIN_VALUES and (size <= 2 or values * size <= _BITWISE_WIDE_MAX_BYTES)
    routed = worth and _backend.ROUTES["bitwise_where"] and not torch.compiler.is_compiling()
    if not routed or size not in _BITS or x.device.type != "cpu" or x.requires_grad:
        # uint16–64 through their signed views (see copies_bits); any other dtype as it is
        torch.where(mask, signed_view(x), signed_view(other), out=signed_view(out))
        return out
    bits = _BITS[size]
    last = x if out is other else other  # the operand out does not hold until the end
    ones = mask.to(bits) - 1 if out is other else mask.to(bits).neg_()  # ~m or m, all ones or none
    view = out.view(bits)
    torch.bitwise_xor(x.view(bits), other.view(bits), out=view)
    return view.bitwise_and_(ones).bitwise_xor_(last.view(bits)).view(out.dtype)
