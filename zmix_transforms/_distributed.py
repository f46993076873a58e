"""torch.distributed support: independent draws on every rank, and batches gathered across ranks.

Per-rank draws. Training scripts seed every rank alike (``torch.manual_seed(0)``), so the global RNG
gives every rank the same λ, pairing and weights. When a process belongs to a group of several
ranks, a transform draws one 62-bit number from the global RNG per call and seeds a private CPU
generator with it and the rank: each (seed, rank, DataLoader worker) has its own stream, reproduced
bit for bit, and a process outside a group draws exactly as before. The rank is that of the default
process group (also in forked DataLoader workers, which inherit it), else the one recorded when the
transform was pickled into a spawned worker, else ``RANK``/``WORLD_SIZE`` from the environment
(``torchrun`` sets them).

Across ranks. ``exchange_layout`` all-gathers every rank's batch size, a shared seed and what must
agree (sample shape, dtypes, classes) in one small collective; the draws need nothing more. Then
either ``gather_batches`` all-gathers every rank's batch (padded to the largest, so ranks may hold
different batch sizes), or ``fetch_rows`` sends each rank only the rows its own rows are mixed from
(one ``all_to_all``): a mixup or CutMix row needs one partner, a ζ-mixup row with ``max_terms=k``
its k − 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["Layout", "World", "exchange_layout", "fetch_rows", "gather_batches", "rank_generator", "world"]


@dataclass(frozen=True)
class World:
    """This process's rank and the number of ranks."""

    rank: int
    size: int


def world(pickled: World | None = None) -> World | None:
    """The rank and world size this process draws for, or None outside a group of several ranks.

    ``pickled``: the world recorded when a transform was pickled into this process, used when this
    process belongs to no group (a spawned DataLoader worker).
    """
    if dist.is_available() and dist.is_initialized():
        found = World(dist.get_rank(), dist.get_world_size())
    elif pickled is not None:
        found = pickled
    elif "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        try:
            found = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
        except ValueError:
            return None
    else:
        return None
    return found if found.size > 1 else None


def rank_generator(here: World | None) -> torch.Generator | None:
    """A CPU generator for this call's draws on rank ``here.rank``; None (the global RNG) alone.

    One number is drawn from the global RNG (so that ``torch.manual_seed`` and DataLoader worker
    seeding still govern it) and mixed with the rank by SplitMix64's finalizer.
    """
    if here is None:
        return None
    drawn = int(torch.randint(0, 2**62, (), dtype=torch.int64))
    return torch.Generator().manual_seed(_mix64(drawn * 0x9E3779B97F4A7C15 + here.rank))


def _mix64(value: int) -> int:
    """SplitMix64's finalizer: distinct inputs give well-spread, distinct 63-bit seeds."""
    mask = (1 << 64) - 1
    value &= mask
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & mask
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & mask
    return (value ^ (value >> 31)) & ((1 << 63) - 1)


@dataclass(frozen=True)
class Layout:
    """The global batch: every rank's batch size, in rank order, and this rank."""

    sizes: tuple[int, ...]
    rank: int
    seed: int  # drawn on rank 0, the same on every rank

    @property
    def total(self) -> int:
        """The global batch size."""
        return sum(self.sizes)

    def offset(self, rank: int) -> int:
        """Where ``rank``'s rows start in the global batch."""
        return sum(self.sizes[:rank])

    def rows(self, rank: int, device: torch.device | str | None = None) -> torch.Tensor:
        """``rank``'s rows of the global batch."""
        start = self.offset(rank)
        return torch.arange(start, start + self.sizes[rank], device=device)


def exchange_layout(
    images: torch.Tensor | None, labels: torch.Tensor | None, process_group: Any, name: str
) -> Layout:
    """Every rank's batch size and rank 0's seed, in one small all-gather; check the batches agree.

    A rank that refused its own input calls this with ``images=None`` (and raises its own error
    after it), so that the other ranks raise too instead of waiting for it.

    Raises:
        ValueError: On every rank alike, if the ranks' samples differ in shape, dtype or classes; on
            the other ranks, if some rank refused its input.
    """
    group_size = dist.get_world_size(process_group)
    seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
    if images is None or labels is None:
        meta = torch.tensor([0, 0, seed, *([0] * _SIGNATURE_LENGTH)], dtype=torch.int64)
    else:
        meta = torch.tensor([1, images.shape[0], seed, *_signature(images, labels)], dtype=torch.int64)
    metas = [torch.empty_like(meta) for _ in range(group_size)]
    dist.all_gather(metas, meta, group=process_group)
    refused = [rank for rank, m in enumerate(metas) if int(m[0]) == 0]
    if refused:
        raise ValueError(
            f"{name}(across_ranks=True) needs every rank's input to mix the global batch, got rank(s) "
            f"{refused} refusing theirs (see the error on those ranks); no rank mixed this batch"
        )
    metas = [m[1:] for m in metas]
    if any(m[2:].tolist() != metas[0][2:].tolist() for m in metas):
        raise ValueError(
            f"{name}(across_ranks=True) needs batches whose samples have one shape, dtype and number "
            f"of classes on every rank, got {_describe_metas(metas)}"
        )
    sizes = tuple(int(m[0]) for m in metas)
    return Layout(sizes, dist.get_rank(process_group), int(metas[0][1]))


def gather_batches(
    images: torch.Tensor, labels: torch.Tensor, layout: Layout, process_group: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """All-gather ``images`` and float ``labels`` from every rank: the global batch, in rank order."""
    largest = max(layout.sizes)
    parts = []
    for local in (images, labels):
        # received straight into one global tensor; a smaller batch is padded to the largest
        out = local.new_empty((len(layout.sizes) * largest, *local.shape[1:]))
        send = local.contiguous()
        if local.shape[0] < largest:
            send = torch.cat([send, send.new_zeros((largest - local.shape[0], *local.shape[1:]))])
        dist.all_gather(list(out.split(largest)), send, group=process_group)
        if any(size != largest for size in layout.sizes):
            out = torch.cat(
                [chunk[:size] for chunk, size in zip(out.split(largest), layout.sizes, strict=True)]
            )
        parts.append(out)
    return parts[0], parts[1]


def fetch_rows(
    images: torch.Tensor,
    labels: torch.Tensor,
    layout: Layout,
    wanted: list[torch.Tensor],
    process_group: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The global rows ``wanted[layout.rank]`` of images and labels, each sent by the rank that holds it.

    ``wanted[s]`` are the sorted, distinct global rows rank ``s`` needs, the same list on every rank
    (it follows from the shared draws): each rank sends every other rank the rows of its own that
    rank wants, in one ``all_to_all`` per tensor.
    """
    start, size = layout.offset(layout.rank), layout.sizes[layout.rank]
    send_rows = [w[(w >= start) & (w < start + size)] - start for w in wanted]  # mine, for each rank
    mine = wanted[layout.rank]
    bounds = torch.tensor([layout.offset(s) for s in range(len(layout.sizes) + 1)], device=mine.device)
    receive_sizes = torch.bucketize(mine, bounds, right=True).bincount(minlength=len(bounds))[1:]
    send_sizes = [len(rows) for rows in send_rows]
    order = torch.cat(send_rows).to(images.device)
    parts = []
    for local in (images, labels):
        send = local.index_select(0, order.to(local.device))
        out = local.new_empty((len(mine), *local.shape[1:]))
        dist.all_to_all_single(out, send, receive_sizes.tolist(), send_sizes, group=process_group)
        parts.append(out)
    return parts[0], parts[1]


_DTYPES = (
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint16,
    torch.uint32,
    torch.uint64,
)


_SIGNATURE_LENGTH = 9  # dtype, ndim, 5 sizes, label dtype, classes


def _signature(images: torch.Tensor, labels: torch.Tensor) -> list[int]:
    """What must agree across ranks: image dtype and sample shape, label dtype and classes."""
    padded_shape = [*images.shape[1:], *([-1] * 5)][:5]  # a sample's sizes, -1 past its last
    return [
        _DTYPES.index(images.dtype),
        images.ndim,
        *padded_shape,
        _DTYPES.index(labels.dtype),
        labels.shape[1],
    ]


def _describe_metas(metas: list[torch.Tensor]) -> str:
    parts = []
    for rank, m in enumerate(metas):
        values = m.tolist()
        dtype, ndim, shape = _DTYPES[values[2]], values[3], values[4 : 4 + 5]
        sample = tuple(v for v in shape[: ndim - 1])
        parts.append(f"rank {rank}: {values[0]} samples of {sample} {dtype}, {values[-1]} classes")
    return "; ".join(parts)
