"""torch.distributed: independent draws per rank, and mixing across ranks, on real process groups.

Each test spawns its ranks with ``torch.multiprocessing`` (backend gloo, 127.0.0.1 on a free port,
a 60 s timeout on every collective); the ranks write what they saw to files, and the test, in this
process, checks them. A rank that fails ends the others, and every process is killed at the end.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import itertools
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors

import zmix_transforms as Z
from tests.methods import VARIANTS
from tests.numerics import assert_same_mix
from zmix_transforms import _distributed
from zmix_transforms._backend import routes

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")

SEED = 1234
_OUT: list[Path] = []  # in a rank: where the ranks write their results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _entry(rank: int, world_size: int, port: int, job: str, out: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        torch.set_num_threads(1)
        _OUT[:] = [Path(out)]
        result = JOBS[job](rank, world_size)
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def run_ranks(job: str, world_size: int, tmp_path: Path, timeout: float = 240.0) -> list[Any]:
    """Run ``JOBS[job]`` on ``world_size`` spawned ranks; return each rank's result."""
    context = mp.start_processes(
        _entry,
        args=(world_size, _free_port(), job, str(tmp_path)),
        nprocs=world_size,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + timeout
    try:
        while not context.join(timeout=5):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{job} on {world_size} ranks did not finish in {timeout} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
                process.join(5)
    return [torch.load(tmp_path / f"rank{rank}.pt", weights_only=False) for rank in range(world_size)]


# -- per-rank draws --------------------------------------------------------------------------------


class _Coded(Dataset):
    """Sample i: a constant image of value i and a one-hot float label of 16 classes."""

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.full((1, 4, 4), float(i)), torch.nn.functional.one_hot(torch.tensor(i % 16), 16).float()


def _draws(per_rank: bool = True) -> dict[str, torch.Tensor]:
    """What each transform draws on an identity-labelled batch (labels reveal the weights)."""
    torch.manual_seed(SEED)
    images, eye = torch.rand(8, 3, 4, 4), torch.eye(8)
    kw: dict[str, Any] = {} if per_rank else {"per_rank": False}  # per_rank=True: the default
    draws = {
        name: make()(images, eye)[1]
        for name, make in {
            "ZetaMixup": lambda: Z.ZetaMixup(**kw),
            "MixUp": lambda: Z.MixUp(**kw),
            "CutMix": lambda: Z.CutMix(**kw),
            "RandomMix": lambda: Z.RandomMix([Z.MixUp(**kw), Z.ZetaMixup(**kw)], **kw),
        }.items()
    }
    # RandomMix's own picks, 16 of them, between two transforms that draw nothing
    pick = Z.RandomMix([lambda x, y: (x, y * 0), lambda x, y: (x, y * 0 + 1)], **kw)
    draws["RandomMix's picks"] = torch.stack([pick(images, eye)[1][0, 0] for _ in range(16)])
    return draws


def _loader_batches(context: str) -> list[torch.Tensor]:
    torch.manual_seed(SEED)
    loader = DataLoader(
        _Coded(),
        batch_size=8,
        num_workers=2,
        multiprocessing_context=context,
        collate_fn=Z.ZetaMixupCollate(),
        timeout=120,
    )
    return [labels for _, labels in loader]


def per_rank_job(rank: int, world_size: int) -> dict[str, Any]:
    return {
        "main": _draws(),
        "main again": _draws(),
        "main, per_rank=False": _draws(per_rank=False),
        "fork workers": _loader_batches("fork"),
        "fork workers again": _loader_batches("fork"),
        "spawn workers": _loader_batches("spawn"),
    }


def test_every_rank_draws_its_own_mixes_reproducibly(tmp_path: Path) -> None:
    ranks = run_ranks("per_rank", 2, tmp_path)
    alone = _draws()  # this process belongs to no group: the draws of earlier versions
    for name, weights in ranks[0]["main"].items():
        other = ranks[1]["main"][name]
        assert not torch.equal(weights, other), f"{name}: both ranks drew the same"
        assert torch.equal(weights, ranks[0]["main again"][name]), f"{name}: not reproducible"
        # the opt-out: every rank seeded alike draws alike, as a process outside a group does
        assert torch.equal(ranks[0]["main, per_rank=False"][name], ranks[1]["main, per_rank=False"][name])
        assert torch.equal(ranks[0]["main, per_rank=False"][name], alone[name])
    for context in ("fork workers", "spawn workers"):
        first, second = ranks[0][context], ranks[1][context]
        assert len(first) == len(second) == 8
        assert all(not torch.equal(a, b) for a, b in zip(first, second, strict=True)), context
    assert all(
        torch.equal(a, b)
        for a, b in zip(ranks[0]["fork workers"], ranks[0]["fork workers again"], strict=True)
    )


# -- mixing across ranks --------------------------------------------------------------------------


# every method's variant whose draws are the method's alone (p = 1, no smoothing): the reference
# below draws them for the concatenated batch with rank 0's seed
ACROSS = {variant.id: variant for variant in VARIANTS if variant.plain}
METHODS: dict[str, Callable[[], Any]] = {
    name: functools.partial(variant.make, num_classes=5, across_ranks=True)
    for name, variant in ACROSS.items()
}
SIZES = {2: [3, 5], 4: [2, 4, 1, 3]}  # unequal batch sizes, as in a last batch


def _rank_batch(rank: int, size: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(rank)
    images = torch.rand(size, 3, 6, 5, generator=g) * 255
    images = images if dtype.is_floating_point else images.round().to(dtype)
    return images, torch.randint(0, 5, (size,), generator=g)


@contextlib.contextmanager
def _counting_fetches() -> Iterator[list[int]]:
    """Count the calls of ``fetch_rows`` inside the block."""
    count = [0]
    original = _distributed.fetch_rows

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(*args, **kwargs)

    _distributed.fetch_rows = counted
    try:
        yield count
    finally:
        _distributed.fetch_rows = original


# a sample's shape on each rank: the last size or the channels differ
SAMPLES_THAT_DIFFER: dict[str, Callable[[int], tuple[int, ...]]] = {
    "last size": lambda rank: (3, 6, 5 + rank),
    "channels": lambda rank: (3 + rank, 6, 5),
}


def across_job(rank: int, world_size: int) -> dict[str, Any]:
    size = SIZES[world_size][rank]
    results: dict[str, Any] = {}
    dist.barrier()
    keys_before = dist.distributed_c10d._get_default_store().num_keys()  # before any call's keys
    dist.barrier()
    for dtype in (torch.float32, torch.uint8):
        images, labels = _rank_batch(rank, size, dtype)
        for name, make in METHODS.items():
            for fetch in (True, False):  # only the rows needed, or every rank's whole batch
                torch.manual_seed(100 + rank)  # ranks seeded differently: the draws are rank 0's
                with routes(fetch_rows=fetch), _counting_fetches() as fetches:
                    results[name, dtype, fetch] = make()(images, labels)
                results["fetches", name, dtype, fetch] = fetches[0]
            torch.manual_seed(100 + rank)  # the same batch in channels_last: the same mix, that layout
            results[name, dtype, "channels_last"] = make()(
                images.to(memory_format=torch.channels_last), labels
            )
    image, two = tv_tensors.Image(torch.rand(2, 3, 6, 5)), torch.tensor([0, 1])
    refused = {  # inputs MixUp refuses on every rank alike
        **{case: (torch.rand(2, *shape(rank)), two) for case, shape in SAMPLES_THAT_DIFFER.items()},
        # a sample across ranks is one image batch and its labels
        "a mask": {"image": image, "mask": tv_tensors.Mask(torch.zeros(2, 6, 5, dtype=torch.int64))},
        "two image batches": {"image": image, "other": image.clone(), "labels": two},
        "grad": (torch.rand(2, 3, 6, 5, requires_grad=True), two),
    }
    errors = {}
    for case, sample in refused.items():
        try:
            Z.MixUp(num_classes=5, across_ranks=True)(sample)
        except ValueError as error:
            errors[case] = str(error)
    try:  # only rank 1's input is refused: every rank raises at once, none waits for the others
        labels = torch.tensor([0, 1]) if rank != 1 else torch.tensor([0, 1, 2])
        Z.ZetaMixup(num_classes=5, across_ranks=True)(torch.rand(2, 3, 6, 5), labels)
    except ValueError as error:
        errors["one refuses"] = str(error)
    results["errors"] = errors
    # each call posts its keys to the group's store and removes its last call's, so the store holds
    # one call's keys, whatever the calls before (counted between barriers, once every rank is done,
    # from the store's keys before the job's first call)
    store, keys = dist.distributed_c10d._get_default_store(), []
    mix = Z.MixUp(num_classes=5, across_ranks=True)
    for _ in range(4):
        mix(*_rank_batch(rank, size, torch.float32))
        dist.barrier()
        keys.append(store.num_keys())
        dist.barrier()
    results["store keys"] = [count - keys_before for count in keys]
    # p: every rank tosses the same coin (from the shared seed), so all mix or none; unmixed, a
    # rank's batch comes back as it does in one process (soft, smoothed labels)
    images, labels = _rank_batch(rank, size, torch.float32)
    torch.manual_seed(100 + rank)
    coin = Z.MixUp(num_classes=5, across_ranks=True, p=0.5, label_smoothing=0.1)
    results["p"] = [coin(images, labels) for _ in range(8)]
    torch.manual_seed(100 + rank)  # no timeout of its own: the store's, and the same mix
    results["rank_timeout=None"] = Z.MixUp(num_classes=5, across_ranks=True, rank_timeout=None)(
        images, labels
    )
    return results


def _reference(name: str, world_size: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The concatenated batch mixed in one process with rank 0's draws."""
    batches = [_rank_batch(rank, size, dtype) for rank, size in enumerate(SIZES[world_size])]
    images = torch.cat([b[0] for b in batches])
    labels = torch.nn.functional.one_hot(torch.cat([b[1] for b in batches]), 5).float()
    torch.manual_seed(100)
    seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))  # rank 0's first draw
    transform = METHODS[name]()
    params = transform.draw_params([images], torch.Generator().manual_seed(seed))
    return transform.mix_images(images, params), transform.mix_labels(labels, params)


def _product_terms(name: str, total: int) -> int | None:
    """The terms of each row's product (ζ-mixup), or None for an elementwise (pair) method."""
    variant = ACROSS[name]
    if variant.family not in ("zeta", "zetacut"):
        return None
    return int(variant.options.get("max_terms", total))


@pytest.mark.parametrize("world_size", [2, 4])
def test_mixing_across_ranks_equals_mixing_the_concatenated_batch(world_size: int, tmp_path: Path) -> None:
    ranks = run_ranks("across", world_size, tmp_path)
    for dtype, name, fetch in itertools.product((torch.float32, torch.uint8), METHODS, (True, False)):
        images = torch.cat([result[name, dtype, fetch][0] for result in ranks])
        labels = torch.cat([result[name, dtype, fetch][1] for result in ranks])
        expected_images, expected_labels = _reference(name, world_size, dtype)
        assert images.dtype == dtype
        context, terms = f"{name} {dtype} fetch={fetch}", _product_terms(name, len(images))
        # a rank's rows of ζ-mixup's product are summed in another order: within the product bound
        assert_same_mix(images, expected_images, terms, context)
        assert_same_mix(labels, expected_labels, terms, context)
        torch.testing.assert_close(labels.sum(1), torch.ones(len(labels)))
        # fetched only where each row needs a few rows (pairs, max_terms) and the route is on
        fetches = {result["fetches", name, dtype, fetch] for result in ranks}
        dense = _product_terms(name, len(images)) == len(images)  # every row needs every row
        assert fetches == {1 if fetch and not dense else 0}, name
    for dtype, name in itertools.product((torch.float32, torch.uint8), METHODS):
        for result in ranks:
            laid, plain = result[name, dtype, "channels_last"], result[name, dtype, True]
            terms = _product_terms(name, sum(SIZES[world_size]))
            assert_same_mix(laid[0], plain[0], terms, f"{name} {dtype}")
            assert_same_mix(laid[1], plain[1], terms, f"{name} {dtype}")
            assert laid[0].is_contiguous(memory_format=torch.channels_last), f"{name} {dtype}"
    # every rank refuses alike, naming each rank's samples: no rank waits on a collective the others skip
    for case, shape in SAMPLES_THAT_DIFFER.items():
        each = "; ".join(
            f"rank {r}: 2 samples of {shape(r)} torch.float32, 5 classes" for r in range(world_size)
        )
        for result in ranks:
            assert result["errors"][case] == (
                "MixUp(across_ranks=True) needs batches whose samples have one shape, dtype and number of "
                f"classes on every rank, got {each}"
            ), case
    for result in ranks:
        assert result["errors"]["grad"].startswith("images must not require grad with across_ranks=True")
        for case, found in {
            "a mask": "1 image batch(es), 1 mask(s) and no",
            "two image batches": "2 image batch(es), 0 mask(s) and one",
        }.items():
            assert result["errors"][case] == (
                f"MixUp(across_ranks=True) mixes one image batch with its labels, got {found} labels tensor"
            ), case
    assert ranks[1]["errors"]["one refuses"].startswith("labels and images must have the same batch size")
    # the last call's keys, one a rank, and no earlier call's
    assert all(result["store keys"] == [world_size] * 4 for result in ranks), [r["store keys"] for r in ranks]
    unmixed = [
        Z.MixUp(num_classes=5, p=0.0, label_smoothing=0.1)(*_rank_batch(rank, size, torch.float32))
        for rank, size in enumerate(SIZES[world_size])
    ]
    left = [[torch.equal(out[0], unmixed[r][0]) for out in result["p"]] for r, result in enumerate(ranks)]
    torch.manual_seed(100)  # each call's seed is rank 0's next draw: the coin a process tosses with it
    seeds = [int(torch.randint(0, 2**62, (), dtype=torch.int64)) for _ in range(8)]
    coin, total = Z.MixUp(num_classes=5, p=0.5), sum(SIZES[world_size])
    tossed = [not coin._should_mix(total, torch.Generator().manual_seed(seed)) for seed in seeds]
    assert all(each == tossed for each in left) and 0 < sum(tossed) < 8, (left, tossed)  # both sides
    for rank, result in enumerate(ranks):
        for out, kept in zip(result["p"], left[rank], strict=True):
            assert torch.equal(out[1], unmixed[rank][1]) or not kept  # mixed, they may match by class
        for got, plain in zip(result["rank_timeout=None"], result["MixUp", torch.float32, True], strict=True):
            assert torch.equal(got, plain)  # elementwise: exact
    for result in ranks[:1] + ranks[2:]:
        assert result["errors"]["one refuses"].startswith(
            "ZetaMixup(across_ranks=True) needs every rank's input to mix the global batch, got rank(s) [1]"
        )


def test_across_ranks_needs_a_process_group_and_no_collate() -> None:
    with pytest.raises(
        ValueError, match=r"^MixUp\(across_ranks=True\) needs an initialized torch.distributed"
    ):
        Z.MixUp(num_classes=2, across_ranks=True)(torch.rand(2, 3, 4, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"^transform must not mix across ranks in a collate function"):
        Z.MixCollate(Z.ZetaMixup(num_classes=2, across_ranks=True))
    with pytest.raises(ValueError, match=r"^transforms\[1\] must not mix across ranks inside RandomMix"):
        Z.RandomMix([Z.MixUp(), Z.CutMix(across_ranks=True)])
    with pytest.raises(TypeError, match=r"^across_ranks must be a bool, got 'yes' of type str"):
        Z.ZetaMixup(across_ranks="yes")


def workers_job(rank: int, world_size: int) -> dict[str, str]:
    """``across_ranks`` hidden from ``MixCollate``'s check (inside a ``v2.Compose``) in a worker."""
    from torchvision.transforms import v2

    samples = [(torch.rand(3, 4, 4), i % 3) for i in range(8)]
    collate = Z.MixCollate(v2.Compose([Z.ZetaMixup(num_classes=3, across_ranks=True)]))
    errors = {}
    for context in ("fork", "spawn"):
        loader = DataLoader(
            samples,
            batch_size=4,
            num_workers=1,
            multiprocessing_context=context,
            collate_fn=collate,
            timeout=60,
        )
        try:
            next(iter(loader))
            errors[context] = "no error"
        except ValueError as error:
            errors[context] = str(error)
    return errors


def test_across_ranks_refuses_a_dataloader_worker(tmp_path: Path) -> None:
    """A forked worker's copy of the group hung in the exchange (a spawned one has no group): the
    call refuses, in any worker, at once."""
    (errors,) = run_ranks("workers", 1, tmp_path)
    for context in ("fork", "spawn"):
        assert re.search(
            r"ZetaMixup\(across_ranks=True\) cannot mix in a DataLoader worker, got a call in worker 0: "
            r"workers run outside the process group",
            errors[context],
        ), errors[context]


def test_outside_a_group_the_draws_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    torch.manual_seed(3)
    default = Z.MixUp(num_classes=3)(torch.rand(6, 3, 4, 4), torch.arange(6) % 3)
    torch.manual_seed(3)
    opted_out = Z.MixUp(num_classes=3, per_rank=False)(torch.rand(6, 3, 4, 4), torch.arange(6) % 3)
    assert all(torch.equal(a, b) for a, b in zip(default, opted_out, strict=True))
    # torchrun's environment alone (a spawned DataLoader worker of a rank) also draws per rank
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    torch.manual_seed(3)
    ranked = Z.MixUp(num_classes=3)(torch.rand(6, 3, 4, 4), torch.arange(6) % 3)
    assert not torch.equal(ranked[1], default[1])
    # read on every call: the environment's change is seen at once (no value kept from before)
    monkeypatch.delenv("WORLD_SIZE")
    torch.manual_seed(3)
    again = Z.MixUp(num_classes=3)(torch.rand(6, 3, 4, 4), torch.arange(6) % 3)
    assert all(torch.equal(a, b) for a, b in zip(default, again, strict=True))
    # one rank (torchrun --nproc-per-node 1) is no group of several ranks: the draws are unchanged
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    torch.manual_seed(3)
    alone = Z.MixUp(num_classes=3)(torch.rand(6, 3, 4, 4), torch.arange(6) % 3)
    assert all(torch.equal(a, b) for a, b in zip(default, alone, strict=True))


def test_the_world_is_read_from_an_environment_of_any_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replaced ``os.environ`` (a plain dict: no CPython encoded-key dict to look in) is read too."""
    monkeypatch.setattr(os, "environ", {"RANK": "1", "WORLD_SIZE": "2"})
    assert _distributed.world() == _distributed.World(1, 2)
    monkeypatch.setattr(os, "environ", {})
    assert _distributed.world() is None
    monkeypatch.setattr(os, "environ", {"RANK": "", "WORLD_SIZE": "2"})  # not a rank: no world
    assert _distributed.world() is None


# -- ranks that fail -------------------------------------------------------------------------------

TIMEOUT = 2.0  # rank_timeout of the fault jobs: a missing rank is reported after it, not after minutes


def _rank_fault(rank: int) -> dict[str, Callable[[], Any]]:
    """Each fault: what this rank does (rank 1 is the odd one; None: it makes no call across ranks)."""
    batch = (torch.rand(3, 3, 4, 4), torch.tensor([0, 1, 2]))

    def call(transform: Any, inputs: Any = batch) -> Callable[[], Any]:
        return lambda: transform(*inputs) if isinstance(inputs, tuple) else transform(inputs)

    def across(make: Callable[..., Any], **options: Any) -> Any:
        return make(num_classes=3, across_ranks=True, rank_timeout=TIMEOUT, **options)

    odd = rank == 1

    def failing_getter(sample: Any) -> Any:
        raise KeyError("no 'target' in this sample")

    meta = (torch.empty(3, 3, 4, 4, device="meta"), torch.tensor([0, 1, 2]))
    return {
        "p=0 on one rank": call(across(Z.MixUp, p=0.0 if odd else 1.0)),
        "another method": call(across(Z.MixUp if odd else Z.ZetaMixup)),
        "another max_terms": call(across(Z.ZetaMixup, max_terms=2 if odd else 3)),
        "another gamma": call(across(Z.ZetaMixup, gamma=2.0 if odd else 2.8)),
        "another mode": call(across(Z.CutMix, mode="pair" if odd else "batch")),
        "a labels_getter that raises": call(
            across(Z.MixUp, labels_getter=failing_getter if odd else "default"),
            {"image": batch[0], "label": batch[1]},
        ),
        "meta tensors on one rank": call(across(Z.ZetaMixup), meta if odd else batch),
        "raises before the call": (lambda: None) if odd else call(across(Z.MixUp)),
        "across_ranks=False on one rank": call(Z.MixUp(num_classes=3) if odd else across(Z.MixUp)),
    }


def faults_job(rank: int, world_size: int) -> dict[str, Any]:
    """Every fault on a fresh group (a fault leaves the ranks' calls out of step): how each rank ended."""
    results = {}
    for fault in _rank_fault(rank):
        group = dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=60))
        act = _rank_fault(rank)[fault]
        start = time.monotonic()
        try:
            with _default_group(group):
                act()
            outcome = ("returned", "")
        except Exception as error:
            outcome = (type(error).__name__, str(error))
        results[fault] = (*outcome, time.monotonic() - start)
    return results


@contextlib.contextmanager
def _default_group(group: Any) -> Iterator[None]:
    """Run the transforms of the block on ``group`` (their default is the default group)."""
    original = _distributed.exchange_layout

    def on_group(images: Any, labels: Any, process_group: Any, *args: Any, **kwargs: Any) -> Any:
        return original(images, labels, group, *args, **kwargs)

    _distributed.exchange_layout = on_group
    try:
        yield
    finally:
        _distributed.exchange_layout = original


def test_a_rank_fault_ends_every_rank_at_once_naming_its_cause(tmp_path: Path) -> None:
    ranks = run_ranks("faults", 3, tmp_path)
    expected = {  # what the ranks that do their part see
        "p=0 on one rank": r"needs the same transform on every rank, got p=1\.0 on rank 0 and p=0\.0 on rank 1",
        "another method": r"got transform='ZetaMixup' on rank 0 and transform='MixUp' on rank 1",
        "another max_terms": r"got max_terms=3 on rank 0 and max_terms=2 on rank 1",
        "another gamma": r"got gamma=2\.8 on rank 0 and gamma=2\.0 on rank 1",
        "another mode": r"got mode='batch' on rank 0 and mode='pair' on rank 1",
        "a labels_getter that raises": r"got rank\(s\) \[1\] refusing theirs \(rank 1: KeyError: .no 'target'",
        "meta tensors on one rank": r"got rank\(s\) \[1\] refusing theirs \(rank 1: ValueError: images and "
        r"labels must hold values with across_ranks=True",
        "raises before the call": r"waited rank_timeout=2 s for rank\(s\) \[1\] to join this call",
        "across_ranks=False on one rank": r"waited rank_timeout=2 s for rank\(s\) \[1\] to join this call",
    }
    for fault, pattern in expected.items():
        for rank, result in enumerate(ranks):
            kind, message, seconds = result[fault]
            assert seconds < 5.0, f"{fault}: rank {rank} took {seconds:.1f} s"
            if rank == 1 and fault in ("raises before the call", "across_ranks=False on one rank"):
                assert kind == "returned", fault  # it made no call across ranks: nothing to wait for
            elif rank == 1 and fault == "a labels_getter that raises":
                assert (kind, message) == ("KeyError", "\"no 'target' in this sample\""), fault
            elif rank == 1 and fault == "meta tensors on one rank":
                assert kind == "ValueError" and message.startswith("images and labels must hold values"), (
                    fault
                )
            else:
                wanted = "RankTimeoutError" if "waited" in pattern else "ValueError"
                assert kind == wanted, (fault, rank, kind, message)
                assert re.search(pattern, message), (fault, rank, message)


def dies_job(rank: int, world_size: int) -> Any:
    """Rank 1 dies before the call; the others report it missing after rank_timeout."""
    if rank == 1:
        torch.save("died", _OUT[0] / "rank1.pt")
        os._exit(0)
    start = time.monotonic()
    try:
        Z.MixUp(num_classes=3, across_ranks=True, rank_timeout=TIMEOUT)(
            torch.rand(2, 3, 4, 4), torch.tensor([0, 1])
        )
    except Exception as error:
        return type(error).__name__, str(error), time.monotonic() - start
    return "returned", "", time.monotonic() - start


def test_a_rank_that_dies_is_named_by_the_others(tmp_path: Path) -> None:
    ranks = run_ranks("dies", 3, tmp_path)
    assert ranks[1] == "died"
    for result in (ranks[0], ranks[2]):
        kind, message, seconds = result
        assert kind == "RankTimeoutError" and seconds < 5.0, result
        assert "for rank(s) [1] to join this call" in message


JOBS: dict[str, Callable[[int, int], Any]] = {
    "per_rank": per_rank_job,
    "across": across_job,
    "faults": faults_job,
    "dies": dies_job,
    "workers": workers_job,
}
