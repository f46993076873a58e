"""torch.distributed support: independent draws on every rank, and batches gathered across ranks.

Per-rank draws. Training scripts seed every rank alike (``torch.manual_seed(0)``), so the global RNG
gives every rank the same λ, pairing and weights. When a process belongs to a group of several
ranks, a transform draws one 62-bit number from the global RNG per call and seeds a private CPU
generator with it and the rank: each (seed, rank, DataLoader worker) has its own stream, reproduced
bit for bit, and a process outside a group draws exactly as before. The rank is that of the default
process group (also in forked DataLoader workers, which inherit it), else the one recorded when the
transform was pickled into a spawned worker, else ``RANK``/``WORLD_SIZE`` from the environment
(``torchrun`` sets them).

Across ranks. ``exchange_layout`` posts every rank's batch size, a shared seed, the transform's
configuration and what must agree (sample shape, dtypes, classes) to the process group's store, and
waits at most ``rank_timeout`` seconds for every other rank's; the draws need nothing more. So a
mismatch, a refused input or a rank that never comes is reported on every rank before any data
moves, instead of a collective that waits for the group's timeout (30 minutes) or aborts. Then
either ``gather_batches`` all-gathers every rank's batch (padded to the largest, so ranks may hold
different batch sizes), or ``fetch_rows`` sends each rank only the rows its own rows are mixed from
(one ``all_to_all``): a mixup or CutMix row needs one partner, a ζ-mixup row with ``max_terms=k``
its k − 1.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils._pytree import tree_flatten, tree_unflatten
from torch.utils.data import get_worker_info
from torchvision import tv_tensors

from . import _backend
from .functional._kernels import memory_order

__all__ = [
    "Layout",
    "RankTimeoutError",
    "World",
    "exchange_layout",
    "fetch_rows",
    "gather_batches",
    "mix_across_ranks",
    "rank_config",
    "rank_generator",
    "world",
]


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
    if _DISTRIBUTED and dist.is_initialized():
        found = World(dist.get_rank(), dist.get_world_size())
    elif pickled is not None:
        found = pickled
    else:
        encoded = getattr(os.environ, "_data", None)
        if encoded is not None and _WORLD_SIZE_KEY not in encoded:  # outside a group: at a glance
            return None
        size = os.environ.get("WORLD_SIZE")
        rank = None if size is None else os.environ.get("RANK")
        if rank is None:
            return None
        try:
            found = World(int(rank), int(size))  # type: ignore[arg-type]
        except ValueError:
            return None
    return found if found.size > 1 else None


_DISTRIBUTED = dist.is_available()
# CPython's os.environ keeps its variables in a dict of encoded keys, which it updates in place:
# looking a key up there costs 0.05 µs, where os.environ.get of a missing key raises and catches a
# KeyError (1.2 µs, on every call of every transform outside a group); without that dict,
# os.environ.get decides
_WORLD_SIZE_KEY: Any = getattr(os.environ, "encodekey", str)("WORLD_SIZE")


def rank_generator(here: World | None) -> torch.Generator | None:
    """A CPU generator for this call's draws on rank ``here.rank``; None (the global RNG) alone.

    One number is drawn from the global RNG (so that ``torch.manual_seed`` and DataLoader worker
    seeding still govern it) and mixed with the rank by SplitMix64's finalizer.
    """
    if here is None:
        return None
    drawn = int(torch.randint(0, 2**62, (), dtype=torch.int64, device="cpu"))
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


class RankTimeoutError(TimeoutError):
    """Some ranks did not join a call across ranks within ``rank_timeout`` seconds."""


_CALLS: dict[str, int] = {}  # calls across ranks made so far, per group (by its name)


def exchange_layout(
    images: torch.Tensor | None,
    labels: torch.Tensor | None,
    process_group: Any,
    name: str,
    config: dict[str, Any],
    timeout: float | None,
    refusal: str = "",
) -> Layout:
    """Every rank's batch size, configuration and rank 0's seed, through the group's store; check them.

    Each rank posts what it holds under a key of this call (the ranks count their calls alike), then
    waits at most ``timeout`` seconds (None: the store's own timeout) for every other rank's. A rank
    that refused its own input calls this with ``images=None`` and its error in ``refusal`` (and
    raises that error after it), so that the other ranks raise too instead of waiting for it.

    Raises:
        ValueError: On every rank alike, if the ranks' configurations differ, or their samples differ
            in shape, dtype or classes; on the other ranks, if some rank refused its input.
        RankTimeoutError: If some rank did not post within ``timeout`` (it raised before the call,
            called without ``across_ranks``, lags by more than ``timeout``, or died), naming it.
    """
    seed = int(torch.randint(0, 2**62, (), dtype=torch.int64, device="cpu"))
    group = process_group if process_group is not None else dist.group.WORLD
    assert group is not None  # the default group exists: the caller checked
    size, me = dist.get_world_size(group), dist.get_rank(group)
    call = _CALLS.get(group.group_name, 0)  # a group's name is the same on each of its ranks
    _CALLS[group.group_name] = call + 1
    prefix = f"zmix_transforms/{group.group_name}/"
    keys = [f"{prefix}{call}/{rank}" for rank in range(size)]
    mine = {"config": {key: repr(value) for key, value in config.items()}, "seed": seed}
    if images is None or labels is None:
        mine["refused"] = refusal
    else:
        mine["size"], mine["signature"] = images.shape[0], _signature(images, labels)
    store = dist.distributed_c10d._get_default_store()
    store.set(keys[me], json.dumps(mine))
    try:
        if timeout is None:
            store.wait(keys)
        else:
            store.wait(keys, datetime.timedelta(seconds=timeout))
    except RuntimeError as error:  # the store's timeout (DistStoreError), or rank 0's store is gone
        try:
            missing = [rank for rank, key in enumerate(keys) if not store.check([key])]
        except RuntimeError:
            raise RankTimeoutError(
                f"{name}(across_ranks=True) lost the process group's store (held by rank 0, which may "
                f"have died) while waiting for the other ranks: {error}"
            ) from error
        waited = "the store's timeout" if timeout is None else f"rank_timeout={timeout:g} s"
        raise RankTimeoutError(
            f"{name}(across_ranks=True) waited {waited} for rank(s) {missing} to join this call (call "
            f"{call} across ranks); each rank must make the same calls with across_ranks=True: a rank "
            f"that raised before it, called without across_ranks, lags by more than rank_timeout or died "
            f"never joins. No rank mixed this batch"
        ) from error
    posts = [json.loads(value) for value in store.multi_get(keys)]
    if call > 0:  # every rank has read the last call's keys, since every rank has posted this call's
        store.delete_key(f"{prefix}{call - 1}/{me}")
    refused = {rank: post["refused"] for rank, post in enumerate(posts) if "refused" in post}
    if refused:
        reasons = "; ".join(f"rank {rank}: {reason}" for rank, reason in refused.items())
        raise ValueError(
            f"{name}(across_ranks=True) needs every rank's input to mix the global batch, got rank(s) "
            f"{list(refused)} refusing theirs ({reasons}); no rank mixed this batch"
        )
    for rank, post in enumerate(posts[1:], start=1):
        if post["config"] != posts[0]["config"]:
            raise ValueError(
                f"{name}(across_ranks=True) needs the same transform on every rank, got "
                f"{_config_difference(posts[0]['config'], 0, post['config'], rank)}; no rank mixed this batch"
            )
    if any(post["signature"] != posts[0]["signature"] for post in posts):
        raise ValueError(
            f"{name}(across_ranks=True) needs batches whose samples have one shape, dtype and number "
            f"of classes on every rank, got {_describe_posts(posts)}"
        )
    sizes = tuple(int(post["size"]) for post in posts)
    return Layout(sizes, me, int(posts[0]["seed"]))


def _config_difference(first: dict[str, str], first_rank: int, other: dict[str, str], rank: int) -> str:
    """The first option that differs between two ranks' configurations, with both values."""
    for key in [*first, *(k for k in other if k not in first)]:
        if first.get(key) != other.get(key):
            return (
                f"{key}={first.get(key, '(none)')} on rank {first_rank} and "
                f"{key}={other.get(key, '(none)')} on rank {rank}"
            )
    raise AssertionError("the configurations do not differ")


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


def _describe_posts(posts: list[dict[str, Any]]) -> str:
    parts = []
    for rank, post in enumerate(posts):
        values = post["signature"]
        dtype, ndim, shape = _DTYPES[values[0]], values[1], values[2 : 2 + 5]
        sample = tuple(v for v in shape[: ndim - 1])
        parts.append(f"rank {rank}: {post['size']} samples of {sample} {dtype}, {values[-1]} classes")
    return "; ".join(parts)


# -- mixing across ranks, for any method -------------------------------------------------------

# options a rank may set on its own: they decide nothing every rank must agree on
_RANK_LOCAL = ("training", "labels_getter", "per_rank", "across_ranks", "process_group", "rank_timeout")


def mix_across_ranks(transform: Any, sample: Any) -> Any:
    """Mix this rank's rows of the global batch (every rank's batch, in rank order) with ``transform``.

    Any method of the base class: the draws over the global batch (``draw_params``, from a seed the
    ranks share), this rank's rows of them (``rows_params``) and its kernels (``mix_images``,
    ``mix_labels``); the rows each rank needs move between the ranks (``fetch_rows`` or
    ``gather_batches``) after ``exchange_layout`` has checked every rank.
    """
    name = type(transform).__name__
    worker = get_worker_info()
    if worker is not None:  # a forked worker's copy of the group hangs; a spawned one has none
        raise ValueError(
            f"{name}(across_ranks=True) cannot mix in a DataLoader worker, got a call in worker "
            f"{worker.id}: workers run outside the process group; apply it to the batches the loader "
            f"returns, in the training process"
        )
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            f"{name}(across_ranks=True) needs an initialized torch.distributed process group "
            f"(torch.distributed.init_process_group), got none"
        )
    flat_inputs, spec = tree_flatten(sample)
    config = rank_config(transform)
    try:  # a rank whose input is refused still joins the exchange, so that no rank waits on it
        batch = transform._parse(sample, flat_inputs)
        if batch.mask_positions or len(batch.image_positions) != 1 or batch.labels is None:
            raise ValueError(
                f"{name}(across_ranks=True) mixes one image batch with its labels, got "
                f"{len(batch.image_positions)} image batch(es), {len(batch.mask_positions)} mask(s) "
                f"and {'no' if batch.labels is None else 'one'} labels tensor"
            )
        position = batch.image_positions[0]
        images = flat_inputs[position].as_subclass(torch.Tensor)
        if images.device.type == "meta" or batch.labels.device.type == "meta":
            raise ValueError(
                "images and labels must hold values with across_ranks=True (they are exchanged "
                "between ranks), got a tensor on the meta device"
            )
        if torch.is_grad_enabled() and images.requires_grad:
            raise ValueError(
                "images must not require grad with across_ranks=True (the batches gathered from "
                "other ranks carry no gradient back to them), got a tensor that requires grad; mix "
                "inputs, not features, across ranks, or use across_ranks=False"
            )
    except Exception as error:  # a labels_getter's own error too: every other rank is told
        with contextlib.suppress(ValueError):  # it says this rank refused: this rank's error says why
            exchange_layout(
                None,
                None,
                transform.process_group,
                name,
                config,
                transform.rank_timeout,
                refusal=f"{type(error).__name__}: {error}",
            )
        raise
    labels = batch.labels
    layout = exchange_layout(images, labels, transform.process_group, name, config, transform.rank_timeout)
    generator = torch.Generator().manual_seed(layout.seed)  # the same on every rank
    if transform._should_mix(layout.total, generator):
        # the draws need the global batch's shape only: a view of one sample stands in for it
        stand_in = images.new_empty((1, *images.shape[1:])).expand(layout.total, *images.shape[1:])
        params = transform.draw_params([stand_in], generator)
        local, select = transform.rows_params(params, layout.rows(layout.rank, images.device))
        source, soft = _global_rows(transform, images, labels.to(images.device), layout, params, select)
        mixed = transform.mix_images(source, local)[: images.shape[0]]
        mixed_labels = transform.mix_labels(soft, local)[: images.shape[0]].to(labels.device)
        if memory_order(images)[1] is not None:
            # the global batch is mixed contiguous: this rank's rows go back to its batch's dense
            # layout, as the kernels return a batch in it (a batch of no dense layout stays contiguous)
            mixed = torch.empty_like(images).copy_(mixed)
    else:
        mixed, mixed_labels = images.clone(), labels.clone()
    flat_outputs = list(flat_inputs)
    original = flat_inputs[position]
    flat_outputs[position] = (
        tv_tensors.wrap(mixed, like=original) if isinstance(original, tv_tensors.TVTensor) else mixed
    )
    assert batch.label_position is not None
    flat_outputs[batch.label_position] = mixed_labels
    return tree_unflatten(flat_outputs, spec)


def rank_config(transform: Any) -> dict[str, Any]:
    """What must agree on every rank mixing across ranks: the method and every option it mixes with.

    Its public attributes of plain values (its parameters, ``p``, ``label_smoothing``, ...), less
    those that may differ between ranks.
    """
    plain = (bool, int, float, str, tuple, type(None))
    return {
        "transform": type(transform).__name__,
        "mixup_enabled": transform.mixup_enabled,  # a property (a shared flag in a collate)
        **{
            key: value
            for key, value in vars(transform).items()
            if not key.startswith("_") and isinstance(value, plain) and key not in _RANK_LOCAL
        },
    }


def _global_rows(
    transform: Any,
    images: torch.Tensor,
    labels: torch.Tensor,
    layout: Layout,
    params: dict[str, Any],
    select: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows ``select`` of the global batch (all of it when None), fetched or gathered.

    Each rank's needs follow from the shared draws, so every rank makes the same choice: fetch
    only the rows needed (``fetch_rows``) when that moves fewer rows than gathering every batch.
    """
    if select is None:
        return gather_batches(images, labels, layout, transform.process_group)
    wanted = []  # the rows each rank needs: this rank's are ``select``
    for rank in range(len(layout.sizes)):
        rows = layout.rows(rank, images.device)
        needed = select if rank == layout.rank else transform.rows_params(params, rows)[1]
        assert needed is not None  # a method that selects rows for one rank does for every rank
        wanted.append(needed.unique())
    fetched_rows = sum(len(w) - layout.sizes[rank] for rank, w in enumerate(wanted))
    gathered_rows = (len(layout.sizes) - 1) * layout.total
    if _backend.ROUTES["fetch_rows"] and fetched_rows < gathered_rows:
        rows = wanted[layout.rank]
        fetched = fetch_rows(images, labels, layout, wanted, transform.process_group)
        place = torch.searchsorted(rows, select)  # where each selected row lies among those fetched
        return fetched[0].index_select(0, place), fetched[1].index_select(0, place)
    every_image, every_label = gather_batches(images, labels, layout, transform.process_group)
    return every_image.index_select(0, select), every_label.index_select(0, select)
