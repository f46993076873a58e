"""Fast paths that compute what plain PyTorch computes, faster, each with an off switch.

Every route here gives the same values as the plain PyTorch call beside it (a test compares them),
but for the matrix product's, which agree within the product bound (``onednn_products``, below),
and each can be turned off: set ``ZMIX_TRANSFORMS_DISABLE`` to a comma-separated list of route
names, or to ``all``, before import, or use [`routes`][zmix_transforms._backend.routes] as a context
manager (the benchmark measures each route on and off that way). The routes:

* ``numpy_argsort``: ζ-mixup's row-wise argsort of random keys on the CPU, in NumPy: each random
  word is packed above its column index, the rows are sorted as integers (the column is read back
  from the low bits) and the rows whose random bits tie are found. NumPy sorts rows of integers
  several times faster than ``torch.sort`` (SIMD sorts where the CPU has them, fewer passes
  everywhere), and its small operations cost less per call; the weights are then scattered into
  their matrix there too for N < 64, and by ``torch.scatter_`` from there (NumPy's 2-D fancy
  index costs several ns a value). Off: the same steps in PyTorch. (Up to N = 8 no keys are
  sorted, on or off: a row's ranking is looked up in a table of them all, ``_draws._table_rows``.)
* ``numpy_draws``: the pairing's single cycle (``partners[σ_i] = σ_{i+1}``) built in NumPy from
  the permutation torch draws into a NumPy buffer, instead of three ATen calls (a roll, a scatter
  and the permutation): 1.3× faster for N of 8 to 128 (Benchmarks page). Off: the same in PyTorch.

A method's module declares the routes of its own draws and kernels beside them
([`declare_route`][zmix_transforms._backend.declare_route]), with their documentation; they are
listed in ``ROUTES`` and switched the same way once the package is imported.

The kernels' own fast paths (``zmix_transforms.functional``) switch the same way; each computes
what its kernel's formula computes:

* ``inplace_kernels``: in-place products over blocks of columns and in-place pair mixes along the
  pairing's cycles (off: mix out of place and copy back, which allocates a second batch).
* ``narrow_blocks``: out-of-place products of uint8/int8/int16/half batches on the CPU whose
  float32 copy would exceed the buffer budget mix a copy in place, over blocks (off: one float32
  product of the whole batch).
* ``per_sample_lerp``: out-of-place pair mixes of large uint8/int8/int16/half samples on the CPU
  lerp each sample through small buffers into the result: int16 ones for 8-bit batches in steps
  of 1/256 (a block of samples at a time for one λ; per-sample λ along the pairing's cycles, each
  sample widened once); float32 ones otherwise (off: float32 or int16 copies of the batch).
* ``integer_steps``: pair mixes of uint8/int8 batches whose weights are multiples of 1/256 (the
  transforms round λ so for 8-bit batches) compute ``(a·x + (256 − a)·y + 128) // 256`` in int16,
  where float32 gives the same values exactly (off: through float32).
* ``int16_casts``: float results cast to uint8 on the CPU go through int16 (ATen vectorizes
  float32 → int16 and int16 → uint8 but casts float32 → uint8 one value at a time); truncation
  gives the same values for the results cast, which lie in (−1, 256) (off: the direct cast).
* ``onednn_products``: ζ-mixup's float32 products on the CPU (``W @ x`` over the batch's (N, D)
  view, in place over blocks too) go through oneDNN's linear operator where it is faster on this
  machine: the first product of each shape class times oneDNN against ``torch.mm`` (MKL or
  OpenBLAS), alternating, and keeps oneDNN only if it is at least 1.2× faster, as
  ``torch.backends.cudnn.benchmark`` picks a convolution. MKL runs its AVX2 kernels on AMD CPUs,
  where oneDNN's AVX-512 kernels were about 2× faster; on an Intel Xeon with AVX-512 MKL was as
  fast or faster. Both sum the same terms in their own order: the values agree within the product
  bound (README, Guarantees), and a process keeps its choice for each shape class (off: ``torch.mm``).
  A collate's spare batch (``spare_batches``) makes a class of its own: oneDNN has no ``out=``, so
  its new batch, whose pages may have to be faulted in, is timed against ``torch.mm`` into the
  spare, whose pages are mapped. So do the in-place products' blocks of columns, timed against
  ``torch.mm`` into one buffer that every block reuses.
* ``bitwise_where``: a mix that keeps each value from the sample or its partner by a bool mask
  selects on the CPU with three vectorized bitwise ops over the values' integer view, not ATen's
  ``where``, which takes one value at a time: from 16,384 values (below, the calls cost more than
  they save), 8- and 16-bit values, and wider ones in batches of at most 2 MiB (larger ones are
  bound by memory, where one pass wins); the same bits (off: ``torch.where``).
* ``spare_batches``: a collate class keeps the collated batch a small out-of-place mix leaves
  behind (one per thread calling at once, never a batch a call returned) and writes the next
  call's mix into it, mixup's, and ζ-mixup's unless oneDNN's new batch was measured faster
  (``onednn_products``): its pages are mapped already, where a new batch's must be faulted in
  (off: a new batch). With more than one thread, outside a worker, ζ-mixup's product of a float
  batch of any size is made apart from it this way: one ATen call instead of three per block of
  columns in place (off: the blocks).
* ``masked_regions``: one region per sample (CutMix's ``"elem"`` and ``"pair"`` modes), or one
  resized copy of the partner per sample (``paste_resampled``), is pasted on the CPU by one masked
  copy over the batch when its samples hold fewer than 16,384 values (in place, as the collates
  paste: fewer than 16 KiB, and a batch whose temporaries, the gather and what is made from it,
  fit the buffer budget, so that no second batch is made), instead of a copy per sample, whose
  Python calls (about 7 ATen ops a sample) cost more than two passes over small samples: 1.2–2.2×
  for ``CutMix`` at 128×3×32² to 32×3×64², 1.1–1.9× for ``CutMixCollate`` (AMD EPYC, 2 threads).
  On other devices it is always taken (a copy per sample would be a kernel launch each). The same
  pixels (off: a copy per sample).
* ``selection_masks``: masks set at each row's top share of values (a noise thresholded into a
  mask) on the CPU are set from each row's threshold, its ``k``-th largest value, instead of a sort
  with indices and a scatter: the thresholds are read from NumPy's sort of the values where NumPy
  sorts at least twice as fast as ``torch.sort`` (its SIMD sorts: x86 with AVX2 or AVX-512,
  AArch64; timed once, on first use, as the products' oneDNN), else selected by ``kthvalue`` row by
  row from 4096 values a row. Rows whose values tie at their threshold take the sort. The same
  pixels (off: the sort).
* ``fetch_rows``: with ``across_ranks=True``, ranks send each other only the rows each rank's rows
  are mixed from (mixup, CutMix, ζ-mixup with ``max_terms``), when that moves fewer rows than
  gathering every batch (off: all-gather every batch). Set it alike on every rank.

Measured on and off side by side (``benchmarks/bench_mixing.py``, the Benchmarks page), each route
is kept only where it is at least 1.2× faster. Removed that way: float to uint8/int8/int16 casts
through int32 (5× on an AMD EPYC, where ATen's direct cast was not vectorized, 1.15× on an Intel
Xeon), walks along the pairing's cycles in chunks of small samples (0.7× mixing out of place),
per-sample lerps of float32 samples (1.06×), and out-of-place CutMix writing each value once, slabs
around the box and the box (0.89–1.06×). The in-place kernels stay for their memory bound where
their speed-up is smaller.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["ROUTES", "declare_route", "product", "ranked_columns", "routes", "top_shares"]

#: Which routes are on; ``ZMIX_TRANSFORMS_DISABLE="numpy_argsort,narrow_blocks"`` turns those off at
#: import, ``ZMIX_TRANSFORMS_DISABLE=all`` every one.
ROUTES: dict[str, bool] = {
    "numpy_argsort": True,
    "numpy_draws": True,
    "inplace_kernels": True,
    "narrow_blocks": True,
    "per_sample_lerp": True,
    "integer_steps": True,
    "int16_casts": True,
    "onednn_products": True,
    "fetch_rows": True,
    "bitwise_where": True,
    "spare_batches": True,
    "masked_regions": True,
    "selection_masks": True,
}


def declare_route(name: str) -> None:
    """Add a method's own fast path to ``ROUTES``, on; its module calls this when it is imported.

    ``ZMIX_TRANSFORMS_DISABLE`` is read once every method's module is imported, at the end of the
    package's import, so it may name these routes too. Declaring a route again (a module reloaded)
    leaves it as it is.

    Args:
        name: The route's name.
    """
    ROUTES.setdefault(name, True)


def disabled_routes(value: str) -> list[str]:
    """The routes a value of ``ZMIX_TRANSFORMS_DISABLE`` turns off: comma-separated names, or ``all``."""
    names = [name for name in (part.strip() for part in value.split(",")) if name]
    if names == ["all"]:
        return list(ROUTES)
    for name in names:
        if name not in ROUTES:
            raise ValueError(
                f"ZMIX_TRANSFORMS_DISABLE must be 'all' or name routes among {sorted(ROUTES)}, got {name!r}"
            )
    return names


def read_environment() -> None:
    """Turn off the routes ``ZMIX_TRANSFORMS_DISABLE`` names: the package's last step on import."""
    for name in disabled_routes(os.environ.get("ZMIX_TRANSFORMS_DISABLE", "")):
        ROUTES[name] = False


@contextmanager
def routes(**enabled: bool) -> Iterator[None]:
    """Turn routes on or off inside a ``with`` block.

    Args:
        **enabled: Route names and whether each is on, e.g. ``routes(numpy_argsort=False)``.

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


def ranked_columns(
    keys: torch.Tensor, rows: torch.Tensor, index_bits: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """ζ-mixup's random words made keys and sorted: each row's columns in rank order, and its ties.

    Each key is a random word of ``keys`` (overwritten) shifted left by ``index_bits`` (its top
    bits drop out) and or-ed with its column index, so that the keys are distinct, sort as their
    random parts do, and give the column back from their low bits. Row ``i`` is the row
    ``rows[i]`` of the batch: its diagonal key gets the least random part, so it comes first. A
    row whose random parts repeat ordered the tied columns by their index (the caller draws it
    again): so does a row in which another word, shifted, has the least random part too (the
    sign bit alone), which then sorts before the diagonal if its column does. On the CPU the
    draws take ``rank_array`` instead (``numpy_argsort``).

    Returns:
        The int64 columns of every row in rank order, and the positions of the rows that tied.
    """
    n = keys.shape[1]
    low, least = (1 << index_bits) - 1, torch.iinfo(keys.dtype).min
    keys.bitwise_left_shift_(index_bits).bitwise_or_(torch.arange(n, dtype=keys.dtype, device=keys.device))
    every_row = torch.arange(rows.numel(), device=rows.device)
    keys[every_row, rows] = rows.to(keys.dtype).bitwise_or(least)  # rows kept
    ranked = keys.sort(dim=1).values
    drawn = ranked.view(-1).bitwise_right_shift(index_bits)
    ties = (drawn[1:] == drawn[:-1]).nonzero().squeeze(1)
    tied = ties[(ties + 1) % n != 0].div(n, rounding_mode="floor").unique()
    return ranked.bitwise_and_(low).to(torch.int64), tied


def rank_array(array: np.ndarray, rows: np.ndarray | None, index_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``ranked_columns`` in NumPy (the ``numpy_argsort`` route), on int32 or int64 words (overwritten).

    ``rows`` gives the batch row of each row of ``array`` (None: every row, in order). NumPy sorts
    rows of integers several times faster than ``torch.sort`` (SIMD sorts where the CPU has them,
    fewer passes everywhere), and its few small operations cost less per call than ATen's.

    Returns:
        The int64 columns of every row in rank order, and the (int64) positions of the rows that tied.
    """
    n = array.shape[1]
    array <<= index_bits
    columns, diagonal = _columns(n, array.dtype)
    array |= columns
    if rows is None:  # every row, in order: the diagonal (a strided view of the contiguous rows)
        array.reshape(-1)[:: n + 1] = diagonal
    else:
        own = rows.astype(array.dtype)
        array[np.arange(own.size), own] = diagonal[own]
    array.sort(axis=1)
    ranked = (array & ((1 << index_bits) - 1)).astype(np.int64)
    # neighbours with equal random parts, over the flat array (one contiguous pass; a pair across
    # two rows, rarer still, only sends the rows to the exact test below)
    drawn = (array >> index_bits).reshape(-1)
    if not np.count_nonzero(drawn[1:] == drawn[:-1]):
        return ranked, _NO_ROWS
    rows_drawn = drawn.reshape(array.shape)
    return ranked, np.flatnonzero((rows_drawn[:, 1:] == rows_drawn[:, :-1]).any(axis=1))


_NO_ROWS = np.empty(0, dtype=np.int64)
_NO_ROWS.flags.writeable = False


@functools.lru_cache(maxsize=16)
def _columns(n: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The column indices ``0..n−1`` in ``dtype``, and each with the least random part (read-only)."""
    columns = np.arange(n, dtype=dtype)
    diagonal = columns | np.iinfo(dtype).min
    columns.flags.writeable = diagonal.flags.writeable = False
    return columns, diagonal


# -- ζ-mixup's float32 products: torch.mm or oneDNN, whichever is faster on this machine ------------

#: For each shape class, whether oneDNN's linear operator multiplies faster than ``torch.mm`` here
#: (measured on the first product of that class in this process).
ONEDNN_FASTER: dict[tuple[int, ...], bool] = {}
_SPEED_UP = 1.2  # the rule for every route: kept where it is at least this much faster
# Below this many output values a product takes microseconds either way: not worth timing.
_MIN_ONEDNN_OUTPUT = 1 << 16


def product(weights: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``weights @ flat`` for float (M, N) weights and a contiguous float (N, D) batch view.

    Through oneDNN (``onednn_products``) for float32 on the CPU where it was measured faster for
    this shape class, else ``torch.mm``. Both compute the same sums, each in its own order.
    """
    return onednn_product(weights, flat) if takes_onednn(weights, flat) else torch.mm(weights, flat)


def takes_onednn(
    weights: torch.Tensor,
    flat: torch.Tensor,
    into: torch.Tensor | Callable[[], torch.Tensor] | None = None,
) -> bool:
    """Whether ``product(weights, flat)`` runs through oneDNN (measured on the shape class's first call).

    ``into``: a contiguous (M, D) tensor (or a function that makes one) that ``torch.mm`` can write
    into and oneDNN cannot (it makes a new tensor, whose pages may have to be faulted in): a
    collate's spare batch, whose pages are mapped, or the in-place product's buffer, which every
    block of columns reuses. Then oneDNN's new tensor is timed against ``torch.mm`` into it, a
    shape class of its own.
    """
    if not _onednn_candidate(weights, flat):
        return False
    threads, lent = torch.get_num_threads(), into is not None
    key = (weights.shape[0], weights.shape[1], flat.shape[1].bit_length(), threads, lent)
    faster = ONEDNN_FASTER.get(key)
    if faster is None:
        buffer = into() if callable(into) else into
        faster = ONEDNN_FASTER[key] = _onednn_is_faster(weights, flat, buffer)
    return faster


def _onednn_candidate(weights: torch.Tensor, flat: torch.Tensor) -> bool:
    return (
        weights.shape[0] * flat.shape[1] >= _MIN_ONEDNN_OUTPUT  # the cheapest test first
        and ROUTES["onednn_products"]
        and flat.device.type == "cpu"
        and flat.dtype == torch.float32
        and weights.dtype == torch.float32
        and flat.is_contiguous()
        and not (torch.is_grad_enabled() and (weights.requires_grad or flat.requires_grad))
        and not torch.compiler.is_compiling()
        and torch.backends.mkldnn.is_available()
    )


def onednn_product(weights: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``weights @ flat`` as oneDNN's ``linear(weights, flat.T)``: (M, N) · (N, D), a contiguous (M, D)."""
    return torch.ops.mkldnn._linear_pointwise(weights, flat.t(), None, "none", [], "")


def _onednn_is_faster(
    weights: torch.Tensor, flat: torch.Tensor, into: torch.Tensor | None = None, rounds: int = 3
) -> bool:
    """Time oneDNN against ``torch.mm`` (into ``into``, if given) on this product, alternating.

    Returns:
        True if oneDNN, its result a new batch, is at least 1.2× faster.
    """
    try:
        onednn_product(weights, flat)  # warm-up, and the test that this build has the operator
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    mm = torch.mm if into is None else functools.partial(torch.mm, out=into)
    mm(weights, flat)
    best = {"onednn": float("inf"), "mm": float("inf")}
    for _ in range(rounds):
        for name, run in (("onednn", onednn_product), ("mm", mm)):
            start = time.perf_counter()
            run(weights, flat)
            best[name] = min(best[name], time.perf_counter() - start)
    return best["onednn"] * _SPEED_UP <= best["mm"]


# -- each row's top share of values, by a threshold ---------------------------------------------------

#: Without NumPy's fast sort, rows of this many values or more get their threshold by ``kthvalue``
#: (one call a row), shorter ones take the sort: one 64² mask 1.26×, 128² 1.90×, 224² 1.95× faster
#: than the sort, 32 of them 1.30×, 1.60× and 1.54× (32²: 1.09×, 1.24×; AMD EPYC, AVX-512).
_SELECTION_MIN_VALUES = 4096
#: Whether NumPy sorts rows of float32 values at least twice as fast as ``torch.sort`` in this
#: process (None until timed, on first use).
NUMPY_SORTS_FASTER: bool | None = None
#: NumPy's SIMD sorts were 15–30× faster than ``torch.sort`` (16 rows of 1024 values, AMD EPYC with
#: AVX-512 or AVX2), its scalar sort 0.6–1.2× by shape (the same CPU, NumPy's SIMD turned off): a
#: factor of 2 tells them apart, where 1.2 would let the scalar sort pass on one shape and lose on
#: the next.
_SORT_SPEED_UP = 2.0


def top_shares(values: torch.Tensor, kept: torch.Tensor) -> torch.Tensor | None:
    """(L, P) bool masks, row ``l`` set at its ``kept[l]`` largest ``values``, by a threshold (CPU).

    A row's threshold is its ``kept[l]``-th largest value (none for ``kept[l] = 0``) and the row is
    set where it is at least that: the thresholds are read from NumPy's sort of the values (no
    indices, all rows in one call) where NumPy sorts faster than ``torch.sort``
    (``numpy_sorts_faster``), else selected by ``kthvalue`` row by row from 4096 values a row.

    Args:
        values: Float32 or float64 values (L, P) on the CPU, without autograd.
        kept: Int64 counts (L,) in [0, P] on the CPU.

    Returns:
        The masks, or None where this route does not give them: values tied at a row's threshold
        (``>=`` would set more than ``kept[l]``), or short rows without NumPy's fast sort.
    """
    rows, count = values.shape
    if numpy_sorts_faster():  # in NumPy to the end: its calls on a few rows cost a third of torch's
        array, counts = values.numpy(), kept.numpy()
        ordered = np.sort(array, axis=1)  # ascending: the k-th largest is at P − k
        thresholds = ordered[np.arange(rows), np.minimum(count - counts, count - 1)]
        thresholds[counts == 0] = math.inf
        selected = array >= thresholds[:, None]
        return torch.from_numpy(selected) if np.array_equal(selected.sum(1), counts) else None
    if count < _SELECTION_MIN_VALUES:
        return None
    masks = torch.zeros(values.shape, dtype=torch.bool)
    for row, k in enumerate(kept.tolist()):
        if k:
            torch.ge(values[row], values[row].kthvalue(count - k + 1).values, out=masks[row])
    return masks if torch.equal(masks.sum(1), kept) else None


def numpy_sorts_faster() -> bool:
    """Whether NumPy sorts rows of float32 values at least twice as fast as ``torch.sort`` here.

    Timed on the first call of the process and kept (``_SORT_SPEED_UP``): NumPy's SIMD sorts
    (x86 with AVX2 or AVX-512, AArch64) pass, its scalar sort (the x86-64 baseline) does not.
    """
    global NUMPY_SORTS_FASTER
    if NUMPY_SORTS_FASTER is None:
        NUMPY_SORTS_FASTER = _numpy_sorts_faster()
    return NUMPY_SORTS_FASTER


def _numpy_sorts_faster(rounds: int = 3) -> bool:
    """Time NumPy's sort of 16 rows of 1024 values against ``torch.sort``, alternating.

    New values each round: a sort of the same values again runs faster (its branches are learnt).
    """
    generator = torch.Generator().manual_seed(0)
    batches = [
        torch.rand(16, 1024, generator=generator, dtype=torch.float32, device="cpu")
        for _ in range(rounds + 1)
    ]
    sorts = {
        "numpy": lambda values: np.sort(values.numpy(), axis=1),
        "torch": lambda values: torch.sort(values, dim=1),
    }
    for run in sorts.values():  # warm-up
        run(batches[0])
    best = dict.fromkeys(sorts, math.inf)
    for values in batches[1:]:
        for name, run in sorts.items():
            start = time.perf_counter()
            run(values)
            best[name] = min(best[name], time.perf_counter() - start)
    return best["numpy"] * _SORT_SPEED_UP <= best["torch"]
