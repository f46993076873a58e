"""The in-place twins of the kernels: the same formulas, computed through small reused buffers.

The collate classes mix the batch they have just collated in place, so that no second full-size
batch is allocated (but ζ-mixup's float product outside a worker with several threads, which goes
into a batch the collate keeps: ``product_apart``). Each twin here computes exactly what its kernel
in ``_kernels`` computes:

* ``apply_weights_`` / ``apply_terms_``: the product over blocks of columns of the (N, D) view (on
  the CPU); each block is copied to a buffer (cast to the compute dtype) before its columns are
  overwritten.
* ``mix_pairs_`` / ``paste_region_``: along the cycles of the pairing, one large sample at a time
  (on the CPU); a cycle's first sample is saved before it is overwritten (8-bit batches in int16
  steps keep its int16 copy, in buffers the thread keeps for its next walk), every other partner
  comes later in the cycle and is still unwritten.
  Batches of small samples, and batches on other devices, are mixed out of place and copied back.

Buffers take at most ``_BUFFER_BYTES`` and at most a quarter of the batch, but never less than
``_MIN_BUFFER_BYTES``: below that the per-block overhead of many tiny blocks costs more than the
memory saves. A batch whose out-of-place mix fits that budget is mixed out of place and copied back
(``fits_budget``): one pass over it costs less than the same work in blocks or chunks. Inside
``fresh_batch()`` (the collate classes, whose batch nobody else holds) such a batch's new mix is
returned instead of copied back: the copy back is a pass over the batch, and the memory bound is the
same (the new batch is no larger than the temporaries the budget allows).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .. import _backend
from ._draws import thread_buffer
from ._dtypes import STEPS, WIDE_INTEGERS, add_half_for_rounding, high_byte, truncating_copy_

_BUFFER_BYTES = 5 << 19
_MIN_BUFFER_BYTES = 1 << 21

# Samples at least this large are mixed one by one on the CPU (one memory pass instead of two).
PER_SAMPLE_MIN_ELEMENTS = 1 << 15


def _buffer_budget(x: torch.Tensor) -> int:
    """Bytes the buffers of an in-place kernel on batch ``x`` may take.

    At most ``_BUFFER_BYTES`` and at most ``max(a quarter of the batch's own bytes, _MIN_BUFFER_BYTES)``.
    """
    return min(_BUFFER_BYTES, max(x.numel() * x.element_size() // 4, _MIN_BUFFER_BYTES))


_FRESH = contextvars.ContextVar("zmix_transforms_fresh_batch", default=False)


@contextlib.contextmanager
def fresh_batch() -> Iterator[None]:
    """Within: an in-place mix that fits the budget may return its new batch instead of copying back.

    For a caller that mixes a batch nobody else holds and uses only what the mix returns (the
    collate classes). At 128×3×32² float32 (AMD EPYC, 2 threads) the copy back made ``MixUpCollate``
    1.3× slower than mixing out of place.
    """
    token = _FRESH.set(True)
    try:
        yield
    finally:
        _FRESH.reset(token)


def is_fresh() -> bool:
    """Whether this call runs inside ``fresh_batch()``."""
    return _FRESH.get()


def copy_back(x: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    """``x`` overwritten with ``mixed``, its out-of-place mix; inside ``fresh_batch()``, ``mixed`` itself."""
    return mixed if _FRESH.get() else x.copy_(mixed)


class Spare:
    """A batch nobody else holds, lent to the kernels of one call to write their mix into.

    The collate classes lend the batch they collated on the call before, which that call did not
    return (its mix went elsewhere): its pages are already faulted in, where a new batch's must be
    (at 128×3×32² float32 about 0.4 ms of a 1.9 ms ζ-mixup collate, AMD EPYC). The first kernel
    whose output it fits takes it (``taken``); no other kernel of the call can.
    """

    def __init__(self, batch: torch.Tensor | None, *, keeps: torch.Tensor | None = None) -> None:
        self.batch = batch
        self.taken = False
        #: The collated batch that the collate keeps as the next call's spare if this call's mix
        #: of it goes elsewhere (an ``[images, labels, ...]`` batch's images), or None
        #: (``product_apart``).
        self.keeps = keeps

    def fits(self, like: torch.Tensor) -> bool:
        """Whether the spare batch can hold ``like``'s mix: same shape, dtype and device, contiguous."""
        spare = self.batch
        return (
            _backend.ROUTES["spare_batches"]
            and not self.taken
            and spare is not None
            and spare.shape == like.shape
            and spare.dtype == like.dtype
            and spare.device == like.device
            and spare.is_contiguous()
            and like.is_contiguous()
            and spare.data_ptr() != like.data_ptr()
            # a batch collated in inference mode cannot be written outside it
            and (not spare.is_inference() or torch.is_inference_mode_enabled())
        )


_SPARE: contextvars.ContextVar[Spare | None] = contextvars.ContextVar("zmix_transforms_spare", default=None)


@contextlib.contextmanager
def lend_spare(spare: Spare) -> Iterator[None]:
    """Within: the in-place kernels may write their mix into ``spare``'s batch (see ``Spare``)."""
    token = _SPARE.set(spare)
    try:
        yield
    finally:
        _SPARE.reset(token)


def lent_spare(like: torch.Tensor) -> torch.Tensor | None:
    """The batch ``lend_spare`` lent, if it can take ``like``'s mix this call, without taking it."""
    spare = _SPARE.get()
    return spare.batch if spare is not None and spare.fits(like) else None


def take_spare(like: torch.Tensor) -> torch.Tensor | None:
    """The batch lent by ``lend_spare`` for ``like``'s mix, at most once a call; else None."""
    spare = _SPARE.get()
    if spare is None or not spare.fits(like):
        return None
    spare.taken = True
    return spare.batch


def fits_budget(x: torch.Tensor, temporary_bytes: int) -> bool:
    """Whether an in-place kernel on ``x`` may mix out of place and copy back.

    True when the out-of-place mix's temporaries, ``temporary_bytes``, fit the buffer budget.
    """
    return temporary_bytes <= _buffer_budget(x)


def product_in_blocks(x: torch.Tensor, dtype: torch.dtype) -> bool:
    """Whether an in-place product on ``x`` runs over blocks of columns (computed in ``dtype``).

    Otherwise it is computed out of place and copied back: when ``x`` has no flat (N, D) view to
    write through, is int32 or int64 (mixed relative to its first sample, out of place), is a float batch
    of its own compute dtype small enough for the buffer budget, or lies on another device than the
    CPU (on a GPU each block would be a few more kernel launches).
    """
    if x.device.type != "cpu" or not _backend.ROUTES["inplace_kernels"]:
        return False
    if not x.is_contiguous() or x.dtype in WIDE_INTEGERS:
        return False
    return x.dtype != dtype or not fits_budget(x, x.numel() * x.element_size())


def product_apart(x: torch.Tensor, dtype: torch.dtype) -> bool:
    """Whether a collate's in-place product on ``x`` is made apart from it, whatever its size.

    True inside ``fresh_batch()`` (a collate outside a ``DataLoader`` worker) with the route
    ``spare_batches`` on and more than one thread, for a batch of its own compute dtype (float32,
    float64) that the collate keeps once its mix goes elsewhere (``Spare.keeps``: the images of an
    ``[images, labels, ...]`` batch; its masks, and a dict's images, are mixed in place): the
    product goes into the collate's spare batch (a new one on its first call), and the collated
    batch is kept as the next call's spare. That is one ATen call; over blocks of columns each block
    takes three (its copy out, its product, its copy back), and with several threads each is a
    parallel region whose threads must meet. It costs one more batch of memory, held by the collate:
    its peak is then the recipe's (the collated batch and a new mix). With one thread the blocks'
    copies run in the cache with no thread to wait for, and in place was as fast (Performance log);
    a batch of another dtype (uint8) is widened block by block.
    """
    spare = _SPARE.get()
    kept = spare is not None and spare.keeps is not None and spare.keeps.data_ptr() == x.data_ptr()
    fresh = kept and _FRESH.get() and _backend.ROUTES["spare_batches"]
    return fresh and x.dtype == dtype and torch.get_num_threads() > 1


def walk_cycles(x: torch.Tensor, temporary_bytes: int) -> bool:
    """Whether an in-place pair mix on ``x`` walks the pairing's cycles (else: out of place, copy back).

    Batches of large samples (``PER_SAMPLE_MIN_ELEMENTS`` or more) on the CPU walk, one sample at a
    time, unless the out-of-place mix's temporaries, ``temporary_bytes``, fit the buffer budget.
    Batches of small samples are mixed out of place and copied back: walking them in chunks of
    samples was slower. A batch on another device never walks: the walk reads the pairing on the
    host (on a GPU, a wait for the stream) and launches a kernel or two per sample.
    """
    if x.device.type != "cpu" or not _backend.ROUTES["inplace_kernels"] or fits_budget(x, temporary_bytes):
        return False
    return x.numel() >= x.shape[0] * PER_SAMPLE_MIN_ELEMENTS


def check_writable(x: torch.Tensor) -> None:
    """Raise unless ``x`` can be overwritten: no autograd history to break, no overlapping memory."""
    if torch.is_grad_enabled() and x.requires_grad:
        raise ValueError(
            "x must not require grad for inplace=True (it would overwrite values autograd needs), "
            "got a tensor that requires grad; use inplace=False"
        )
    if torch._debug_has_internal_overlap(x) == 1:  # 1: overlaps for sure (0: no, 2: cannot tell)
        raise ValueError(
            f"x must not have overlapping memory for inplace=True (an expanded tensor has), got strides "
            f"{x.stride()} for shape {tuple(x.shape)}; pass x.clone() or use inplace=False"
        )


# -- products: over blocks of columns ----------------------------------------------------------------


def apply_weights_(x: torch.Tensor, weights: torch.Tensor, dtype: torch.dtype) -> None:
    """``x ← weights @ x`` for contiguous ``x``, over blocks of columns (``weights`` in ``dtype``).

    Every block's product goes one way, the way measured faster for the first (widest) block's
    shape class (``_backend.takes_onednn``): ``torch.mm`` into one buffer that every block reuses,
    or oneDNN's new block, whose pages may have to be faulted in (a process's first call of a
    class times the two, with that buffer made for the timing).
    """
    reused: list[torch.Tensor] = []
    onednn: list[bool] = []

    def buffer_for(block: torch.Tensor) -> torch.Tensor:
        if not reused:  # the first block is the widest
            reused.append(torch.empty_like(block))
        return reused[0].view(-1)[: block.numel()].view(block.shape)

    def mix(block: torch.Tensor, half: torch.Tensor | None) -> torch.Tensor:
        if not onednn:
            onednn.append(_backend.takes_onednn(weights, block, functools.partial(buffer_for, block)))
            if onednn[0]:
                reused.clear()  # made for the timing only
        if onednn[0]:
            mixed = _backend.onednn_product(weights, block)
        else:
            mixed = torch.mm(weights, block, out=buffer_for(block))
        return mixed if half is None else mixed.add_(half)

    mix_columns_(x, dtype, mix)


def apply_terms_(x: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, dtype: torch.dtype) -> None:
    """``x[p] ← Σ_j values[p, j] · x[indices[p, j]]`` for contiguous ``x``, over blocks of columns."""

    def mix(table: torch.Tensor, half: torch.Tensor | None) -> torch.Tensor:
        out = torch.nn.functional.embedding_bag(indices, table, per_sample_weights=values, mode="sum")
        return out if half is None else out.add_(half)

    mix_columns_(x, dtype, mix)


def _block_columns(flat: torch.Tensor, bytes_per_column: int) -> int:
    """Columns per block of an in-place kernel on ``flat`` (N, D), ``bytes_per_column`` of buffers each."""
    return max(1, _buffer_budget(flat) // bytes_per_column)


def mix_columns_(
    x: torch.Tensor,
    dtype: torch.dtype,
    mix: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
) -> None:
    """Overwrite contiguous ``x`` (N, ...) with a mix that treats every column of its (N, D) view alike.

    Each block of columns is copied whole (cast to ``dtype``) into a buffer before its columns are
    overwritten. ``mix(block, half)`` returns the mixed block (a new tensor, or a buffer of its own
    that it reuses for every block), plus ``half`` (a vector of 1/2, one per column) when it is
    given: integer results are then truncated, as ``add_half_for_rounding`` prepares them.
    """
    n = x.shape[0]
    flat = x.view(n, -1)
    width = flat.shape[1]
    block = _block_columns(flat, 2 * n * dtype.itemsize)  # the source block and its mix
    size = n * min(block, width)
    source = torch.empty(size, dtype=dtype, device=x.device)
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
        truncating_copy_(columns, mixed, scratch=source)  # the source block is read
        del mixed  # before the next block's mix is made


# -- pairs: along the cycles of the pairing ----------------------------------------------------------


def weight_per_sample(weight: float | torch.Tensor, n: int) -> list[float]:
    """The mixing weight of each of ``n`` samples, as Python floats."""
    return weight.reshape(-1).expand(n).tolist() if isinstance(weight, torch.Tensor) else [weight] * n


class SampleLerp:
    """``out ← λ·sample + (1 − λ)·partner`` for a sample or a block of them: the batched formula.

    Samples of a dtype that is not computed natively go through two reused buffers of ``block``
    samples each: int16 for 8-bit samples whose weights are all in steps of 1/256 (``steps``, as
    ``_dtypes.in_steps`` decides), else float. A call takes ``x[p]`` (``block=None``) or up to
    ``block`` samples ``x[i:j]`` with one λ.
    """

    def __init__(self, x: torch.Tensor, dtype: torch.dtype, *, steps: bool, block: int | None = None) -> None:
        self.buffers = None
        self.steps = steps
        if steps:
            dtype = torch.int16
            self.half, self.shift = _step_constants(x.device)
        if x.dtype != dtype:
            shape = x.shape[1:] if block is None else (block, *x.shape[1:])
            self.buffers = (
                torch.empty(shape, dtype=dtype, device=x.device),
                torch.empty(shape, dtype=dtype, device=x.device),
            )

    def __call__(self, sample: torch.Tensor, partner: torch.Tensor, lam: float, *, out: torch.Tensor) -> None:
        if self.buffers is None:
            torch.lerp(partner, sample, lam, out=out)
            return
        own, other = self.buffers
        if own.shape != sample.shape:  # a block's last, shorter run of samples
            own, other = own[: len(sample)], other[: len(sample)]
        own.copy_(sample)
        if self.steps:  # (a·x + (256 − a)·y + 128) // 256 in int16, a = 256·λ: what float32 gives
            a = int(lam * STEPS)
            torch.add(self.half, own, alpha=a, out=own).add_(other.copy_(partner), alpha=STEPS - a)
            out.copy_(high_byte(own, self.shift))
            return
        torch.lerp(other.copy_(partner), own, lam, out=own)
        if out.dtype.is_floating_point:
            out.copy_(own)
            return
        # the partner's buffer is read
        truncating_copy_(out, add_half_for_rounding(own, out.dtype), scratch=other)


#: An 8-bit batch mixed in int16 steps with one λ lerps blocks of samples of about this many bytes
#: in int16: six ATen calls per block instead of five per sample. AMD EPYC (AVX2), 64×3×224² uint8,
#: six interleaved runs: 1.07–1.46× faster than sample by sample on 2 threads, 1.22–1.33× on one
#: (1 MiB: 1.11–1.20×; 4 MiB, out of cache: 0.6–0.7×). Float buffers (half, int16 samples) gained
#: nothing in blocks (0.8–1.1×) and stay sample by sample.
LERP_BLOCK_BYTES = 1 << 21


def lerp_blocks(x: torch.Tensor, a: int, partners: torch.Tensor) -> torch.Tensor:
    """``(a·x + (256 − a)·x[partners] + 128) // 256`` of an 8-bit batch into a new batch, in blocks.

    Each block's partners are gathered into a buffer of ``x``'s dtype first: no int16 copy of the
    batch is made.
    """
    block = max(1, min(x.shape[0], LERP_BLOCK_BYTES // (x[0].numel() * 2)))
    lerp = SampleLerp(x, torch.int16, steps=True, block=block)
    gathered = torch.empty((block, *x.shape[1:]), dtype=x.dtype, device=x.device)
    out = torch.empty_like(x)
    for start in range(0, x.shape[0], block):
        rows = partners[start : start + block]
        partner = torch.index_select(x, 0, rows, out=gathered[: len(rows)])
        lerp(x[start : start + block], partner, a / STEPS, out=out[start : start + block])
    return out


def along_cycles(
    partners: torch.Tensor, batch: torch.Tensor, update: Callable[[int, torch.Tensor], object]
) -> bool:
    """Update every sample in place from its partner, walking the cycles of ``partners``.

    ``batch[i]`` is the part of sample ``i`` that is read and written (the whole sample, or its box
    region). ``update(i, value)`` writes ``batch[i]`` from ``value``, its partner's part as it was
    (a view of it, which the update must read before it writes). A cycle's first part is saved
    before it is overwritten, for the cycle's last sample; every other partner comes later in the
    cycle and is still unwritten.

    Returns:
        False (nothing done) when ``partners`` is not a permutation.
    """
    cycles = _cycles(partners)
    if cycles is None:
        return False
    for cycle in cycles:
        saved = batch[cycle[0]].clone()
        for position, sample in enumerate(cycle):
            update(sample, saved if position == len(cycle) - 1 else batch[cycle[position + 1]])
    return True


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


def mix_pairs_(
    x: torch.Tensor,
    weight: float | torch.Tensor,
    partners: torch.Tensor,
    dtype: torch.dtype,
    *,
    steps: bool,
) -> bool:
    """``x[p] ← λ_p · x[p] + (1 − λ_p) · x[partners[p]]`` along the cycles of ``partners``.

    ``weight`` is λ (a float, or a (N, 1, ...) tensor); ``steps``: every λ is a multiple of 1/256
    on an 8-bit batch (see ``SampleLerp``). Returns False (nothing done) when ``partners`` is not a
    permutation.
    """
    weights = weight_per_sample(weight, x.shape[0])
    if steps:
        return lerp_cycles_in_steps(x, [int(w * STEPS) for w in weights], partners, out=x)
    lerp = SampleLerp(x, dtype, steps=steps)
    return along_cycles(partners, x, lambda p, partner: lerp(x[p], partner, weights[p], out=x[p]))


def lerp_cycles_in_steps(
    x: torch.Tensor, steps: list[int], partners: torch.Tensor, *, out: torch.Tensor
) -> bool:
    """``out[p] ← (a_p·x[p] + (256 − a_p)·x[partners[p]] + 128) // 256`` along the cycles, in int16.

    ``SampleLerp``'s formula, with each sample widened to int16 once, not twice: as the partner of
    the sample before it in its cycle, then kept for its own mix. A cycle's first sample, widened
    first, stays aside for its last one, so ``out`` may be ``x`` (no copy of it is saved). Five
    ATen calls a sample, where a call costs about as much as its arithmetic on a 3×224² sample:
    against ``SampleLerp``'s seven, ``MixUpCollate`` on 64×3×224² uint8 took 0.90–0.91× the time
    (medians of three processes, AMD EPYC, 2 threads, fresh malloc). A sample paired with itself
    keeps its values. Returns False (nothing done) when ``partners`` is not a permutation.
    """
    cycles = _cycles(partners)
    if cycles is None:
        return False
    first, *pair = _walk_buffers(x.shape[1:], x.device)
    half, shift = _step_constants(x.device)
    samples, results = x.unbind(0), out.unbind(0)  # one call for every sample's view
    for cycle in cycles:
        own = first.copy_(samples[cycle[0]])
        for position, p in enumerate(cycle):
            last = position == len(cycle) - 1
            partner = first if last else pair[position % 2].copy_(samples[cycle[position + 1]])
            total = pair[1] if position == 0 else own  # the first one's int16 values are kept
            torch.add(half, own, alpha=steps[p], out=total).add_(partner, alpha=STEPS - steps[p])
            results[p].copy_(high_byte(total, shift))
            own = partner
    if out is not x:  # the samples paired with themselves: those no cycle holds
        walked = {p for cycle in cycles for p in cycle}
        for p in range(len(samples)):
            if p not in walked:
                results[p].copy_(samples[p])
    return True


#: The int16 walk keeps its three buffers of a sample for the thread's next call while they take at
#: most this many bytes (3×224² samples: 0.9 MB): allocated per call, each can be a new mapping
#: whose pages are faulted in again. 64×3×224² uint8, AMD EPYC, 2 threads, three processes: with
#: malloc mapping each block anew (the benchmark's), the walk took 0.85–0.86× the time, and
#: ``MixUpCollate`` 0.93–0.94×; with freed memory held, or glibc's defaults, the walk 0.96–1.03×.
_WALK_BUFFER_MAX_BYTES = 1 << 22


def _walk_buffers(shape: torch.Size, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Three int16 buffers of a sample's ``shape``: this thread's, up to ``_WALK_BUFFER_MAX_BYTES``."""
    if 3 * 2 * shape.numel() > _WALK_BUFFER_MAX_BYTES:
        return _new_walk_buffers(shape, device)
    return thread_buffer(("int16 walk", shape, device), _new_walk_buffers, shape, device)


def _new_walk_buffers(shape: torch.Size, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.empty(shape, dtype=torch.int16, device=device) for _ in range(3))


def _step_constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``STEPS // 2`` and the shift 8 as 0-dim int16 tensors: the int16 steps' per-sample operands.

    As tensors made once, a call adds and shifts by them without ATen wrapping a Python int into a
    new tensor each time (see ``_dtypes.high_byte``).
    """
    half, shift = (torch.full((), value, dtype=torch.int16, device=device) for value in (STEPS // 2, 8))
    return half, shift


def paste_region_(region: torch.Tensor, partners: torch.Tensor) -> bool:
    """``region[p] ← region[partners[p]]`` along the cycles of ``partners`` (CutMix's box regions).

    Returns False (nothing done) when ``partners`` is not a permutation.
    """
    return along_cycles(partners, region, lambda p, partner: region[p].copy_(partner))


def paste_regions_(x: torch.Tensor, indices: list[tuple[Any, ...]], partners: torch.Tensor) -> bool:
    """``x[p][indices[p]] ← x[partners[p]][indices[p]]`` along the cycles of ``partners``.

    One region per sample (timm's "elem" and "pair" modes): a cycle's first sample keeps, aside, only
    the region its last sample takes from it. Returns False (nothing done) when ``partners`` is not
    a permutation.
    """
    cycles = _cycles(partners)
    if cycles is None:
        return False
    for cycle in cycles:
        saved = x[cycle[0]][indices[cycle[-1]]].clone()
        for position, p in enumerate(cycle):
            source = saved if position == len(cycle) - 1 else x[cycle[position + 1]][indices[p]]
            x[p][indices[p]].copy_(source)
    return True
