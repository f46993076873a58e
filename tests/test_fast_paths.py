"""The CPU fast paths give the results of the plain formulas and are taken where they apply.

* Batches computed in float32 (integers, half types) are mixed out of place by mixing a copy in place.
* ζ-mixup's row argsort goes through one NumPy sort of packed integers, ties found alike.
* 8-bit pair mixes with λ in steps of 1/256 run in int16, with float32's values exactly.
* Every route switched off gives the same values (``_backend.routes``).
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

import zmix_transforms as Z
from tests.dispatch import Ops
from tests.memory import peak_bytes
from tests.numerics import assert_products_agree, assert_same_mix
from tests.strategies import make_images
from zmix_transforms import _backend
from zmix_transforms import functional as F
from zmix_transforms.fmix import fmix_masks
from zmix_transforms.functional import _draws, _inplace, _kernels
from zmix_transforms.functional._dtypes import truncating_copy_


def _reference(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (weights.double() @ x.double().reshape(x.shape[0], -1)).reshape(weights.shape[0], *x.shape[1:])


def _assert_mixed(out: torch.Tensor, x: torch.Tensor, weights: torch.Tensor) -> None:
    """``out`` is ``weights @ x`` to float32 accuracy, rounded to nearest for integer dtypes."""
    expected = _reference(x, weights)
    assert out.dtype == x.dtype and out.shape == expected.shape
    error = (out.double() - expected).abs()
    if x.dtype.is_floating_point:
        tolerance = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 1.6e-2, torch.float16: 2e-3}[
            x.dtype
        ]
        assert error.max() <= tolerance * max(1.0, float(expected.abs().max()))
    else:
        assert error.max() <= 0.5 + 1e-3
        clear = ((expected - expected.floor()) - 0.5).abs() > 1e-3  # not within 1e-3 of a tie
        assert torch.equal(out.double()[clear], (expected + 0.5).floor()[clear])


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8, torch.int8, torch.int16, torch.bfloat16])
@pytest.mark.parametrize("inplace", [False, True])
def test_large_products_give_the_formulas_results(dtype: torch.dtype, inplace: bool) -> None:
    # larger than the buffers: in place over blocks, narrow types out of place through a copy too
    x = make_images((64, 3, 96, 96), dtype, seed=3)
    weights = F.zeta_weights(64, generator=torch.Generator().manual_seed(0))
    target = x.clone()
    out = F.apply_weights(target, weights, inplace=inplace)
    assert (out is target) == inplace
    _assert_mixed(out, x, weights)


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((8, 3, 8, 8), torch.float32), ((64, 3, 32, 32), torch.float64)],
    ids=["small", "float64"],
)
def test_small_and_float64_products(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    x = torch.rand(shape, dtype=dtype)
    weights = F.zeta_weights(shape[0], dtype=dtype)
    _assert_mixed(F.apply_weights(x, weights), x, weights)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_batches_with_half_weights_are_mixed_in_float32(dtype: torch.dtype) -> None:
    """Weights of the batch's own half type too: one float32 product, rounded once to the half type."""
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(64, 3, 16, 16, generator=g) * 100).to(dtype)
    weights = F.zeta_weights(64, generator=g, dtype=dtype)
    # the same float32 product (shape, layout and kernel) in this process: equal bit for bit
    assert torch.equal(F.apply_weights(x, weights), F.apply_weights(x.float(), weights.float()).to(dtype))


def test_products_under_autograd_have_the_formulas_gradients() -> None:
    x = torch.rand(64, 3, 32, 32, requires_grad=True)
    weights = F.zeta_weights(64, generator=torch.Generator().manual_seed(1))
    out = F.apply_weights(x, weights)
    (out * torch.arange(64.0).reshape(64, 1, 1, 1)).sum().backward()
    # d/dx[i] of Σ_p c_p Σ_i W[p, i] x[i] is Σ_p c_p W[p, i], the same at every position of x[i]
    expected = (torch.arange(64.0) @ weights).reshape(64, 1, 1, 1).expand_as(x)
    assert x.grad is not None
    torch.testing.assert_close(x.grad, expected)


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("dtype", [torch.uint8, torch.bfloat16])
def test_out_of_place_products_of_narrow_types_make_no_float32_batch(dtype: torch.dtype) -> None:
    x = make_images((32, 3, 224, 224), dtype, seed=4)
    weights = F.zeta_weights(32, dtype=torch.float64)
    F.apply_weights(x, weights)  # a process's first product of a class is timed (a block's buffer more)
    peak, out = peak_bytes(F.apply_weights, x, weights)
    batch_bytes = x.numel() * x.element_size()
    # the result and the kernel's buffers (at most 2.5 MB); a float32 copy alone is 4× or 2× the batch
    assert peak <= batch_bytes + _inplace._BUFFER_BYTES + 2**16, f"peak {peak / batch_bytes:.2f}× the batch"
    assert peak < 1.6 * batch_bytes
    _assert_mixed(out, x, weights)
    assert out.is_contiguous()


@pytest.mark.parametrize("numpy_sorts", [True, False], ids=["numpy's sort", "kthvalue"])
@pytest.mark.parametrize(
    ("count", "spatial"), [(1, (64, 64)), (5, (70, 90)), (2, (16, 16, 20)), (3, (32, 32)), (40, (8, 12))]
)
def test_fmix_masks_by_selection_equal_those_by_sort(
    count: int, spatial: tuple[int, ...], numpy_sorts: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``selection_masks`` route sets the same pixels as the sort, kept shares 0 and 1 included,
    with thresholds from NumPy's sort or from ``kthvalue`` (small rows without NumPy's: the sort)."""
    monkeypatch.setattr(_backend, "NUMPY_SORTS_FASTER", numpy_sorts)
    lams = torch.rand(count, dtype=torch.float64, generator=torch.Generator().manual_seed(count))
    lams[0] = 0.0 if count > 1 else lams[0]
    lams[-1] = 1.0 if count > 2 else lams[-1]
    masks = fmix_masks(lams, spatial, 3.0, torch.Generator().manual_seed(7))
    with _backend.routes(selection_masks=False):
        expected = fmix_masks(lams, spatial, 3.0, torch.Generator().manual_seed(7))
    assert torch.equal(masks, expected)
    pixels = math.prod(spatial)
    assert masks.flatten(1).sum(1).tolist() == (lams * pixels).round().long().tolist()
    noise = torch.randn(count, pixels, generator=torch.Generator().manual_seed(8))
    kept = (lams * pixels).round().long()
    by_threshold = _backend.top_shares(noise, kept)
    assert (by_threshold is None) == (not numpy_sorts and pixels < 4096)
    assert by_threshold is None or torch.equal(by_threshold, _top_shares_by_sort(noise, kept))


def _top_shares_by_sort(noise: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    with _backend.routes(selection_masks=False):
        return _draws.top_share_masks(noise, kept)


@pytest.mark.parametrize("numpy_faster", [True, False])
def test_numpy_sorts_are_timed_once_against_torch_sort_and_the_choice_kept(
    numpy_faster: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``selection_masks`` reads thresholds from NumPy's sort only where it was timed at least twice
    as fast as ``torch.sort``, once a process; ``kthvalue`` otherwise."""
    monkeypatch.setattr(_backend, "NUMPY_SORTS_FASTER", None)
    timed: list[bool] = []
    monkeypatch.setattr(_backend, "_numpy_sorts_faster", lambda: timed.append(numpy_faster) or numpy_faster)
    sorted_by_numpy: list[int] = []
    numpy_sort = np.sort
    monkeypatch.setattr(np, "sort", lambda a, axis: sorted_by_numpy.append(a.shape[0]) or numpy_sort(a, axis))
    noise = torch.randn(3, 4096, generator=torch.Generator().manual_seed(9))
    kept = torch.tensor([0, 100, 4096])
    for _ in range(2):
        assert torch.equal(_backend.top_shares(noise, kept), _top_shares_by_sort(noise, kept))
    assert timed == [numpy_faster] and _backend.NUMPY_SORTS_FASTER is numpy_faster
    assert sorted_by_numpy == ([3, 3] if numpy_faster else [])


@pytest.mark.parametrize(("share", "faster"), [(0.5, True), (0.6, False)])
def test_numpy_sorts_pass_the_timing_at_twice_torch_sorts_speed(
    share: float, faster: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timing itself, on a clock the sorts advance: NumPy's sort taking half ``torch.sort``'s
    time passes, taking 0.6 of it fails."""
    now = [0.0]

    def ticking(sort: Callable[..., object], seconds: float) -> Callable[..., object]:
        def timed(*args: object, **kwargs: object) -> object:
            now[0] += seconds
            return sort(*args, **kwargs)

        return timed

    monkeypatch.setattr(_backend.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(_backend.np, "sort", ticking(np.sort, share))
    monkeypatch.setattr(_backend.torch, "sort", ticking(torch.sort, 1.0))
    assert _backend._numpy_sorts_faster() is faster


@pytest.mark.parametrize(
    ("shape", "dtype", "inplace", "masked"),
    [
        ((8, 3, 32, 32), torch.float32, False, True),
        ((8, 3, 64, 64), torch.float32, False, True),  # 12,288 values a sample
        ((8, 1, 128, 128), torch.uint8, False, False),  # 16,384
        ((8, 3, 32, 32), torch.float32, True, True),  # 12 KiB a sample
        ((8, 1, 64, 64), torch.float32, True, False),  # 16 KiB
        ((8, 3, 64, 64), torch.uint8, True, True),  # 12 KiB
    ],
)
def test_per_sample_regions_are_pasted_by_one_masked_copy_where_samples_are_small(
    shape: tuple[int, ...], dtype: torch.dtype, inplace: bool, masked: bool
) -> None:
    """The ``masked_regions`` route: below 16,384 values a sample (16 KiB in place) one masked copy
    (no copy per sample), the same pixels as the copies per sample it replaces (route off)."""
    x = make_images(shape, dtype, seed=5)
    g = torch.Generator().manual_seed(5)
    regions = [F.cutmix_region(shape[2:], float(torch.rand((), generator=g)), generator=g) for _ in range(8)]
    partners = F.cycle_partners(8, generator=g)
    outs = {}
    for on in (True, False):
        batch = x.clone()
        with _backend.routes(masked_regions=on), Ops() as ops:
            outs[on] = F.paste_region(batch, regions, partners, inplace=inplace)
        if on:
            assert ("where" in ops.names or "bitwise_xor" in ops.names) == masked, ops.names
            assert ops.names.count("copy_") <= (1 if masked else 8), ops.names
    assert torch.equal(outs[True], outs[False])


@pytest.mark.parametrize("numpy_sorts", [True, False], ids=["numpy's sort", "kthvalue"])
def test_fmix_masks_with_values_tied_at_the_threshold_keep_their_exact_share(
    numpy_sorts: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where values tie at a row's threshold, ``>=`` would set too many: the sort decides instead."""
    monkeypatch.setattr(_backend, "NUMPY_SORTS_FASTER", numpy_sorts)
    noise = torch.arange(5000, dtype=torch.float64).floor_divide(10).reshape(1, -1)  # ten of each value
    for kept in (1, 15, 4995):
        masks = _draws.top_share_masks(noise, torch.tensor([kept]))
        assert int(masks.sum()) == kept
        assert noise[masks].min() >= noise[~masks].max()


_ALL_DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]
_ALL_DTYPES += [torch.float16, torch.bfloat16, torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", _ALL_DTYPES, ids=str)
@pytest.mark.parametrize("into", ["a new tensor", "x", "other"])
def test_bitwise_where_gives_torch_wheres_bits(
    dtype: torch.dtype, into: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``where_into`` keeps every value's bits (NaN payloads, −0.0, infinities) with one mask or one
    per sample, written into a new tensor or over either operand, as ``torch.where`` does."""
    from zmix_transforms.functional._kernels import where_into

    g = torch.Generator().manual_seed(0)
    shape = (6, 3, 32, 32)  # 18,432 values: large enough for the route, at most 2 MiB in float64
    x, other = (torch.randn(shape, generator=g) * 100).to(dtype), torch.randn(shape).to(dtype)
    if dtype.is_floating_point:
        x[0, 0, 0, :4] = torch.tensor([math.nan, -0.0, math.inf, -math.nan]).to(dtype)
    bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[dtype.itemsize]
    for mask in (torch.rand(1, 1, 32, 32, generator=g) < 0.5, torch.rand(6, 1, 32, 32, generator=g) < 0.5):
        expected = torch.where(mask, x, other)
        for route in (True, False):
            a, b = x.clone(), other.clone()
            out = {"a new tensor": torch.empty_like(x), "x": a, "other": b}[into]
            # the route runs, or with its switch off torch.where does: each without the other's op
            monkeypatch.setattr(torch, "where" if route else "bitwise_xor", None)
            with _backend.routes(bitwise_where=route):
                result = where_into(mask, a, b, out=out)
            monkeypatch.undo()
            assert result.dtype == dtype and result.data_ptr() == out.data_ptr()
            assert torch.equal(result.view(bits), expected.view(bits)), (route, mask.shape)


def test_fmix_makes_one_new_batch_and_resizemix_gathers_only_the_patches() -> None:
    """FMix writes into the buffer of its partners' gather; ResizeMix gathers the shrunk patches.

    At their peaks FMix held a gathered batch and its result (2.01× the batch) and holds one
    (1.01×); ResizeMix with τ ≈ 0.8 held its result, a full-size gather and the gather shrunk along
    H (2.80×) and now shrinks the batch before gathering (2.44×).
    """
    x, labels = make_images((16, 3, 40, 40), torch.float32, seed=5), torch.arange(16) % 10
    batch_bytes = x.numel() * x.element_size()
    for transform, limit in ((Z.FMix(num_classes=10), 1.2), (Z.ResizeMix((0.79, 0.8), num_classes=10), 2.5)):
        transform(x, labels)  # what a first call measures once a process (NumPy's sort against torch's)
        peak, (out, _) = peak_bytes(transform, x, labels)
        assert peak <= limit * batch_bytes, f"{transform}: peak {peak / batch_bytes:.2f}× the batch"
        assert out.data_ptr() != x.data_ptr() and out.stride() == x.stride()


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("n", [1, 2, 7, 64, 300, 1100])
def test_ranked_columns_through_numpy_equal_torch(n: int, dtype: torch.dtype) -> None:
    """The keys rank alike (diagonal first, then by random word), and tied rows are found alike."""
    index_bits = max(n - 1, 1).bit_length()
    words = torch.randint(0, 2 * n, (n, n), generator=torch.Generator().manual_seed(n), dtype=dtype)
    columns, tied = _backend.rank_array(words.numpy().copy(), None, index_bits)
    expected, expected_tied = _backend.ranked_columns(words.clone(), torch.arange(n), index_bits)
    assert columns.dtype == np.int64 and torch.equal(torch.from_numpy(columns), expected)
    keyed = words.double().masked_fill(torch.eye(n, dtype=torch.bool), -1.0)
    assert torch.equal(expected, keyed.argsort(dim=1, stable=True))  # ties by column: why rows tie
    repeats = [len(set(row[:p] + row[p + 1 :])) < n - 1 for p, row in enumerate(words.tolist())]
    assert tied.tolist() == expected_tied.tolist() == [p for p, r in enumerate(repeats) if r]


def test_ranked_columns_of_some_rows_put_their_own_sample_first() -> None:
    words = torch.randint(0, 2**20, (2, 9), generator=torch.Generator().manual_seed(1), dtype=torch.int32)
    rows = torch.tensor([3, 7])
    columns, _ = _backend.rank_array(words.numpy().copy(), rows.numpy(), 4)
    expected, _ = _backend.ranked_columns(words.clone(), rows, 4)
    assert torch.equal(torch.from_numpy(columns), expected) and columns[:, 0].tolist() == [3, 7]


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_a_key_shifted_onto_the_least_random_part_ties_with_the_diagonal(dtype: torch.dtype) -> None:
    """A random word whose shift leaves only the sign bit has the diagonal's random part: in a row
    whose diagonal lies right of that column, the column sorts first, so the row must be drawn
    again (a real draw's word does this with probability 2^−(bits − index_bits) a key). Both routes
    report it, and only it (mutation seed 61: ties in each row's first two places left out passed)."""
    n, index_bits = 4, 2
    bits = torch.iinfo(dtype).bits
    words = torch.randint(0, 2**10, (n, n), generator=torch.Generator().manual_seed(3), dtype=dtype)
    words[:, 1:] += torch.arange(1, n, dtype=dtype) << 11  # distinct random parts elsewhere
    words[2, 0] = 1 << (bits - 1 - index_bits)  # shifted: the sign bit alone, the least random part
    columns, tied = _backend.rank_array(words.numpy().copy(), None, index_bits)
    expected, expected_tied = _backend.ranked_columns(words.clone(), torch.arange(n), index_bits)
    assert tied.tolist() == expected_tied.tolist() == [2]
    assert torch.equal(torch.from_numpy(columns), expected) and expected[2, :2].tolist() == [0, 2]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("n", [1, 2, 8, 9, 63, 64, 300, 512, 513])
def test_zeta_weights_through_numpy_equal_torch(n: int, dtype: torch.dtype) -> None:
    """The same random words ranked in NumPy give the same matrix, element for element.

    Both routes pack a key into the same width: int32 up to N = 512, int64 from N = 513 (fewer than
    ``_draws._MIN_RANDOM_BITS`` random bits would be left beside the index in 32).

    Above N = 8 the weights are scattered by NumPy below N = 64 and by ``torch.scatter_`` from there
    (and for bfloat16, which NumPy lacks). Up to N = 8, on either route, each row's weights are
    gathered from a table of every ranking's weights: they equal the series gathered by the ranks
    the same words pick from the table of rankings.

    No arithmetic differs: the ranks are integers and the series is cast once and copied into place.
    """
    weights = F.zeta_weights(n, 2.8, generator=torch.Generator().manual_seed(n), dtype=dtype)
    if n <= _draws._TABLE_MAX:
        ranks = torch.from_numpy(_draws._table_ranks(n, torch.Generator().manual_seed(n))).long()
        expected = F.zeta_series(n, 2.8, dtype=dtype)[ranks]
    else:
        with _backend.routes(numpy_argsort=False):
            expected = F.zeta_weights(n, 2.8, generator=torch.Generator().manual_seed(n), dtype=dtype)
    assert weights.dtype == dtype and torch.equal(weights, expected)


@pytest.mark.parametrize("n", [1, 5, 8, 9, 70])
def test_one_draw_in_two_dtypes_is_the_float64_draw_rounded_once(n: int) -> None:
    """``ZetaMixup``'s float64 and float32 weights: one draw, the float32 one exactly the other rounded.

    Up to N = 8 each dtype is gathered from its own table; above, the float64 matrix is cast.
    """
    weights, weights_float32 = _draws.zeta_weights_drawn(
        n, 2.8, torch.Generator().manual_seed(n), None, (torch.float64, torch.float32)
    )
    alone = _draws.zeta_weights_unchecked(n, 2.8, torch.Generator().manual_seed(n), None, torch.float64)
    assert torch.equal(weights, alone) and weights_float32.dtype == torch.float32
    assert torch.equal(weights_float32, weights.to(torch.float32))


def test_region_views_of_any_strides_paste_as_slicing_does() -> None:
    """A region is pasted alike into a batch at an offset in its storage and into a non-dense one."""
    g = torch.Generator().manual_seed(0)
    big = torch.rand(7, 3, 9, 11, generator=g)
    partners = torch.tensor([1, 2, 3, 4, 5, 0])
    region = F.Region((1, 3), (4, 8))
    for x in (big[1:], big[1:].transpose(2, 3), big[1:, :, ::2]):
        expected = x.clone()
        expected[..., 1:4, 3:8] = x[..., 1:4, 3:8][partners]
        assert torch.equal(F.paste_region(x, region, partners), expected)
        inplace = x.clone()
        assert torch.equal(F.paste_region(inplace, region, partners, inplace=True), expected)


def test_the_rows_a_small_batchs_weights_are_gathered_by_are_each_threads_own() -> None:
    """A draw's rows live in its thread's buffer until that thread's next draw: another thread's draw
    of the same size, in between, leaves them as they were (the race the test below looks for, made
    certain)."""
    array, tensor = _draws._table_rows(6, torch.Generator().manual_seed(0))
    kept = array.copy()
    other: list[np.ndarray] = []
    thread = threading.Thread(
        target=lambda: other.append(_draws._table_rows(6, torch.Generator().manual_seed(1))[0].copy())
    )
    thread.start()
    thread.join(timeout=60)
    assert len(other) == 1 and not np.array_equal(other[0], kept)  # the other thread drew other rows
    assert np.array_equal(array, kept) and tensor.tolist() == kept.tolist()


def test_draws_from_several_threads_at_once_are_each_threads_own() -> None:
    """Threads drawing at once (a threaded loader, a prefetcher) each get their generator's draws.

    The NumPy routes keep scratch buffers per thread (σ for mixup's cycle, ζ-mixup's keys, and the
    rows a small batch's W is gathered by): a buffer shared between threads would hand one thread's
    draw to another.
    """

    def draws(seed: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        out = []
        for i in range(60):
            n = 5 + i % 8  # up to 8 W's rows are looked up in a table, above its keys are sorted
            out += [F.cycle_partners(n, generator=g), F.zeta_weights(n, generator=g)]
            out += F.zeta_terms(40 + n, max_terms=3, generator=g)
        return out

    expected = {seed: draws(seed) for seed in range(4)}  # one thread at a time
    got: dict[int, list[torch.Tensor]] = {}
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns between any two steps of a draw, not every 5 ms
    try:
        threads = [threading.Thread(target=lambda s=seed: got.__setitem__(s, draws(s))) for seed in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    assert sorted(got) == list(range(4))
    for seed, mine in got.items():
        assert all(torch.equal(a, b) for a, b in zip(mine, expected[seed], strict=True)), f"thread {seed}"


def test_worker_processes_run_the_product_after_the_parent_did() -> None:
    """The BLAS's OpenMP threads started in the parent do not hang forked DataLoader workers."""
    images = make_images((128, 3, 64, 64), torch.float32, seed=5)
    labels = torch.arange(128) % 10
    F.apply_weights(images[:64], F.zeta_weights(64))  # the parent starts its thread pool first
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, labels),
        batch_size=64,
        num_workers=2,
        collate_fn=Z.ZetaMixupCollate(num_classes=10),
        timeout=120,  # a hung worker fails the test instead of stalling it
    )
    batches = list(loader)
    assert len(batches) == 2
    for (mixed, soft), start in zip(batches, (0, 64), strict=True):
        original = images[start : start + 64]
        assert mixed.shape == original.shape and torch.isfinite(mixed).all()
        assert (mixed >= original.min(0).values - 1e-4).all() and (
            mixed <= original.max(0).values + 1e-4
        ).all()
        torch.testing.assert_close(soft.sum(1), torch.ones(64))


def _every_kernel(dtype: torch.dtype, size: int) -> list[tuple[torch.Tensor, int | None]]:
    """The out-of-place and in-place results of every kernel on one seeded batch.

    Each with its terms per row where it is a matrix product (its last bits depend on how the
    product is computed), None where it is elementwise.
    """
    x = make_images((12, 3, size, size), dtype, seed=size)
    g = torch.Generator().manual_seed(3)
    weights = F.zeta_weights(12, generator=g, dtype=torch.float64)
    indices, values = F.zeta_terms(12, max_terms=4, generator=g, dtype=torch.float64)
    partners, lams = F.cycle_partners(12, generator=g), F.sample_lambdas(1.0, 12, generator=g)
    steps = (lams * 256).round() / 256  # what MixUp draws for 8-bit batches
    box = F.cutmix_box(size, size, 0.4, generator=g)
    ranked = _backend.ranked_columns(torch.randint(0, 80, (40, 40), generator=g), torch.arange(40), 6)[0]
    results: list[tuple[torch.Tensor, int | None]] = [
        (F.apply_weights(x, weights), 12),
        (F.apply_terms(x, indices, values), 4),
        (F.mix_pairs(x, 0.3, partners), None),
        (F.mix_pairs(x, lams, partners), None),
        (F.mix_pairs(x, 77 / 256, partners), None),
        (F.mix_pairs(x, steps, partners), None),
        (F.paste_box(x, box, partners), None),
        (ranked, None),
    ]
    for kernel, args, terms in (
        (F.apply_weights, (weights,), 12),
        (F.apply_terms, (indices, values), 4),
        (F.mix_pairs, (0.3, partners), None),
        (F.mix_pairs, (77 / 256, partners), None),
        (F.mix_pairs, (steps, partners), None),
        (F.paste_box, (box, partners), None),
    ):
        target = x.clone()
        kernel(target, *args, inplace=True)
        results.append((target, terms))
    return results


@pytest.mark.parametrize("route", sorted(_backend.ROUTES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8, torch.bfloat16])
@pytest.mark.parametrize("size", [8, 112])  # 3×112×112 samples take the per-sample paths
def test_every_route_switched_off_gives_the_same_values(route: str, dtype: torch.dtype, size: int) -> None:
    saved = dict(_backend.ROUTES)
    with _inplace_budget(size), _backend.routes(**dict.fromkeys(_backend.ROUTES, True)):
        expected = _every_kernel(dtype, size)
        with _backend.routes(**{route: False}):
            assert _backend.ROUTES[route] is False
            actual = _every_kernel(dtype, size)
        assert _backend.ROUTES[route] is True
    assert saved == _backend.ROUTES
    # bit for bit, but for the products, whose blocking and BLAS some routes choose
    for (got, _), (want, terms) in zip(actual, expected, strict=True):
        assert_same_mix(got, want, terms, route)


@contextlib.contextmanager
def _inplace_budget(size: int) -> Iterator[None]:
    """For small batches, a 4 KB buffer budget, so that the in-place kernels walk and block too."""
    with pytest.MonkeyPatch.context() as patch:
        if size == 8:
            patch.setattr(_inplace, "_buffer_budget", lambda batch: 4096)
        yield


def test_the_environment_switch_names_routes_or_all() -> None:
    assert _backend.disabled_routes("") == []
    assert _backend.disabled_routes(" numpy_argsort, int16_casts ,") == ["numpy_argsort", "int16_casts"]
    assert _backend.disabled_routes("all") == list(_backend.ROUTES)
    with pytest.raises(
        ValueError, match=r"^ZMIX_TRANSFORMS_DISABLE must be 'all' or name routes among \[.*\], got 'mkl'$"
    ):
        _backend.disabled_routes("numpy_argsort,mkl")
    with pytest.raises(ValueError, match=r"got 'all'$"):  # "all" is all or nothing
        _backend.disabled_routes("all,numpy_argsort")


@pytest.mark.parametrize("value", ["", "selection_masks"])
def test_the_environment_switch_reaches_the_routes_methods_declare(value: str) -> None:
    """A method's own route (``declare_route``, in its module) is switched by the environment too:
    the package reads the variable once every method's module is imported. Every other route is
    on, and with the variable empty every route: the fast paths are the default (mutation seed 61:
    ``selection_masks`` starting off passed when only it was turned off)."""
    code = "import zmix_transforms as Z; print(*(name for name, on in Z._backend.ROUTES.items() if not on))"
    env = {**os.environ, "ZMIX_TRANSFORMS_DISABLE": value}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == value.split(), run.stderr


@pytest.mark.parametrize("value", ["all", "numpy_draws,selection_masks", "numpy_draws,mkl"])
def test_reading_the_environment_turns_off_what_it_names(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZMIX_TRANSFORMS_DISABLE", value)
    with _backend.routes(**dict.fromkeys(_backend.ROUTES, True)):
        if "mkl" in value:
            with pytest.raises(ValueError, match=r"^ZMIX_TRANSFORMS_DISABLE must be .* got 'mkl'$"):
                _backend.read_environment()
            return
        _backend.read_environment()
        off = [name for name, on in _backend.ROUTES.items() if not on]
        assert off == (list(_backend.ROUTES) if value == "all" else ["numpy_draws", "selection_masks"])


def test_a_route_a_method_declares_starts_on() -> None:
    """A new method's fast path is on until the environment or ``routes`` turns it off, as the
    package's own are (mutation seed 59: declared off, it passed, since no module declares one yet)."""
    assert "a_new_route" not in _backend.ROUTES
    try:
        _backend.declare_route("a_new_route")
        assert _backend.ROUTES["a_new_route"] is True
        assert "a_new_route" in _backend.disabled_routes("all")
        with _backend.routes(a_new_route=False):
            assert _backend.ROUTES["a_new_route"] is False
        assert _backend.ROUTES["a_new_route"] is True
    finally:
        _backend.ROUTES.pop("a_new_route", None)


@pytest.mark.parametrize("on", [False, True])
def test_declaring_a_route_again_keeps_its_state(on: bool) -> None:
    with _backend.routes(selection_masks=on):
        _backend.declare_route("selection_masks")
        assert _backend.ROUTES["selection_masks"] is on


def test_routes_refuse_unknown_names() -> None:
    with (
        pytest.raises(
            ValueError, match=r"^routes takes route names among \[.*'numpy_argsort'.*\], got \['mkl'\]"
        ),
        _backend.routes(mkl=False),
    ):
        pass


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
def test_the_products_of_some_rows_agree_with_those_rows_of_the_whole_product(dtype: torch.dtype) -> None:
    """What mixing across ranks relies on: a rank's rows, computed alone, within the product bound.

    Not bit for bit: a BLAS may sum a product of fewer rows in another order (MKL on an AMD EPYC
    does, for most shapes).
    """
    x = make_images((10, 3, 7, 6), dtype, seed=8)
    g = torch.Generator().manual_seed(8)
    weights = F.zeta_weights(10, generator=g, dtype=torch.float64)
    indices, values = F.zeta_terms(10, max_terms=3, generator=g, dtype=torch.float64)
    dense, sparse = F.apply_weights(x, weights), F.apply_terms(x, indices, values)
    # weights of the batch's own float dtype take the common call's shortcut to the product
    own = weights.to(dtype) if dtype.is_floating_point else weights
    own_dense = F.apply_weights(x, own)
    for rows in (slice(0, 1), slice(1, 3), slice(3, 9), slice(9, 10)):
        assert_products_agree(F.apply_weights(x, weights[rows]), dense[rows], 10, f"rows {rows}")
        assert_products_agree(F.apply_weights(x, own[rows]), own_dense[rows], 10, f"rows {rows}")
        assert_products_agree(F.apply_terms(x, indices[rows], values[rows]), sparse[rows], 3, f"rows {rows}")


@pytest.mark.usefixtures("routes_on")
def test_some_rows_of_a_large_narrow_batch_are_mixed_as_the_whole_products_rows() -> None:
    """The narrow route (a uint8 batch whose float32 copy exceeds the buffers) takes whole products
    only: a product of some rows (a rank's, mixing across ranks) is the formula's, of those rows."""
    x = make_images((10, 3, 160, 160), torch.uint8, seed=8)
    assert not _inplace.fits_budget(x, x.numel() * 4)  # the route's condition, for the whole product
    weights = F.zeta_weights(10, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    dense = F.apply_weights(x, weights)
    for rows in (slice(0, 1), slice(3, 9)):
        part = F.apply_weights(x, weights[rows])
        assert part.shape == (rows.stop - rows.start, 3, 160, 160)
        assert_products_agree(part, dense[rows], 10, f"rows {rows}")


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8])
@pytest.mark.parametrize("per_sample", [False, True], ids=["batch", "per-sample"])
def test_eight_bit_pair_mixes_in_steps_give_float32s_values_for_every_input(
    dtype: torch.dtype, per_sample: bool
) -> None:
    """Every pair of 8-bit values and every λ = a/256: int16 route = float32 formula = exact rounding."""
    values = torch.arange(256) + (0 if dtype == torch.uint8 else -128)
    pairs = torch.stack([values.repeat_interleave(256), values.repeat(256)])  # all 65,536 (x, y)
    size = 256 if per_sample else 16  # 256×256 samples take the per-sample route
    x = pairs.reshape(2, 1, size, -1).to(dtype) if per_sample else pairs.reshape(-1, 1, 16, 16).to(dtype)
    partners = torch.arange(x.shape[0]) ^ 1  # sample 2i with 2i + 1
    for a in range(257):
        expected = ((a * x.double() + (256 - a) * x.double()[partners]) / 256 + 0.5).floor().to(dtype)
        fast = F.mix_pairs(x, a / 256, partners)
        with _backend.routes(integer_steps=False):
            plain = F.mix_pairs(x, a / 256, partners)
        assert torch.equal(fast, expected) and torch.equal(plain, expected), f"a = {a}"


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8])
@pytest.mark.parametrize("route", [True, False], ids=["integer_steps on", "off"])
def test_eight_bit_pair_mixes_go_through_float32_only_with_integer_steps_off(
    dtype: torch.dtype, route: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values alike either way (above): the switch decides the route, the int16 steps or float32."""
    x = make_images((16, 1, 16, 16), dtype, seed=3)  # small samples: neither blocks nor per-sample lerps
    partners = F.cycle_partners(16, generator=torch.Generator().manual_seed(1))
    formula, in_float32 = _kernels._mix_pairs, []
    monkeypatch.setattr(_kernels, "_mix_pairs", lambda *args: in_float32.append(1) or formula(*args))
    with _backend.routes(integer_steps=route):
        mixed = F.mix_pairs(x, 77 / 256, partners)
    assert mixed.dtype == dtype and bool(in_float32) != route


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8])
@pytest.mark.parametrize("block", [1, 5, 12])
def test_eight_bit_samples_lerped_in_blocks_give_the_formulas_values(dtype: torch.dtype, block: int) -> None:
    """Large 8-bit samples with one λ are mixed a block at a time, the last block shorter (12 = 5+5+2)."""
    x = make_images((12, 3, 112, 112), dtype, seed=4)  # 37,632 values a sample: the per-sample route
    partners = F.cycle_partners(12, generator=torch.Generator().manual_seed(5))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_inplace, "LERP_BLOCK_BYTES", block * x[0].numel() * 2)
        for a in (0, 77, 200, 256):
            expected = ((a * x.double() + (256 - a) * x.double()[partners]) / 256 + 0.5).floor().to(dtype)
            assert torch.equal(F.mix_pairs(x, a / 256, partners), expected), f"a = {a}"


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.float32])
def test_mixup_rounds_lambda_to_steps_for_eight_bit_batches(mode: str, dtype: torch.dtype) -> None:
    """8-bit batches: λ in steps of 1/256, shared by images and labels; other dtypes: λ as drawn."""
    x = make_images((10, 3, 6, 6), dtype, seed=11)
    transform = Z.MixUp(0.4, mode=mode, num_classes=10)
    drawn = Z.MixUp(0.4, mode=mode, num_classes=10).draw_params([x], torch.Generator().manual_seed(2))
    params = transform.draw_params([x], torch.Generator().manual_seed(2))
    lam = torch.as_tensor(params["lam"], dtype=torch.float64).expand(10)
    steps = lam * 256
    assert torch.equal(params["partners"], drawn["partners"])
    if dtype.is_floating_point:
        assert not torch.equal(steps, steps.round())  # 10 Beta(0.4, 0.4) draws are not all steps
        return
    assert torch.equal(steps, steps.round())
    unrounded = Z.MixUp(0.4, mode=mode, num_classes=10).draw_params(
        [x.float()], torch.Generator().manual_seed(2)
    )
    assert (lam - torch.as_tensor(unrounded["lam"], dtype=torch.float64)).abs().max() <= 1 / 512
    images = transform.mix_images(x, params)
    labels = transform.mix_labels(F.one_hot(torch.arange(10), 10), params)
    partners = params["partners"]
    weight = lam.reshape(-1, 1, 1, 1)
    expected = (weight * x.double() + (1 - weight) * x.double()[partners] + 0.5).floor().to(dtype)
    assert torch.equal(images, expected)
    rows = torch.arange(10)  # no sample is its own partner: each label row holds λ and 1 − λ
    assert torch.equal(labels[rows, rows].double(), lam)
    assert torch.equal(labels[rows, partners].double(), 1 - lam)


@pytest.mark.usefixtures("routes_on")
def test_uint8_casts_through_int16_truncate_as_the_direct_cast() -> None:
    """Every float32 in (−1, 256) on a fine grid, and its neighbours, casts to the same uint8."""
    grid = torch.arange(-0.96875, 256, 1 / 32, dtype=torch.float32)
    values = torch.cat([grid, grid.nextafter(torch.tensor(-2.0)), grid.nextafter(torch.tensor(300.0))])
    values = values[(values > -1) & (values < 256)]
    direct = torch.empty(values.shape, dtype=torch.uint8).copy_(values)
    assert _backend.ROUTES["int16_casts"]
    through = truncating_copy_(torch.empty(values.shape, dtype=torch.uint8), values)
    reused = truncating_copy_(
        torch.empty(values.shape, dtype=torch.uint8),
        values,
        scratch=torch.empty(values.shape, dtype=torch.float32),
    )
    assert torch.equal(through, direct) and torch.equal(reused, direct)
    assert torch.equal(direct[values.trunc() == 255], torch.full_like(direct[values.trunc() == 255], 255))


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("faster", [True, False], ids=["oneDNN", "torch.mm"])
def test_products_take_the_kernel_measured_faster_and_keep_it(faster: bool) -> None:
    """``onednn_products``: the choice measured once per shape class is what later calls run."""
    weights = F.zeta_weights(16, generator=torch.Generator().manual_seed(0))
    x = make_images((16, 3, 64, 64), torch.float32, seed=0)
    flat = x.reshape(16, -1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_backend, "ONEDNN_FASTER", {})
        calls: list[str] = []
        patch.setattr(_backend, "_onednn_is_faster", lambda w, f, into: calls.append("measured") or faster)
        taken: list[str] = []
        onednn = _backend.onednn_product
        patch.setattr(_backend, "onednn_product", lambda w, f: taken.append("oneDNN") or onednn(w, f))
        first = F.apply_weights(x, weights)
        second = F.apply_weights(x, weights)
        assert calls == ["measured"] and list(_backend.ONEDNN_FASTER.values()) == [faster]
        assert taken == (["oneDNN", "oneDNN"] if faster else [])
    assert torch.equal(first, second)
    assert_products_agree(first, (weights @ flat).reshape(x.shape), 16, "against torch.mm")


@pytest.mark.usefixtures("routes_on")
def test_products_fall_back_to_torch_mm_where_onednn_is_missing_or_not_faster() -> None:
    weights = F.zeta_weights(16, generator=torch.Generator().manual_seed(1))
    flat = make_images((16, 3 * 64 * 64), torch.float32, seed=1)

    def missing(w: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("no oneDNN in this build")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_backend, "ONEDNN_FASTER", {})
        patch.setattr(_backend, "onednn_product", missing)
        assert torch.equal(_backend.product(weights, flat), weights @ flat)
        assert list(_backend.ONEDNN_FASTER.values()) == [False]
        # small products, float64 and products that need gradients are never timed
        assert torch.equal(_backend.product(weights, flat[:, :8]), weights @ flat[:, :8])
        assert torch.equal(
            _backend.product(weights.double(), flat.double()), weights.double() @ flat.double()
        )
        grad = weights.clone().requires_grad_()
        assert torch.equal(_backend.product(grad, flat), grad @ flat)
        assert len(_backend.ONEDNN_FASTER) == 1
        # where oneDNN was measured faster, a product that needs gradients still takes torch.mm
        # (oneDNN's linear has no autograd kernel: backward leaves no gradient), either factor's
        patch.setattr(_backend, "ONEDNN_FASTER", dict.fromkeys(_backend.ONEDNN_FASTER, True))
        for w, f in ((grad, flat), (weights, flat.clone().requires_grad_())):
            product = _backend.product(w, f)
            assert product.grad_fn is not None
            torch.testing.assert_close(product, weights @ flat)


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("n", [1, 8])
def test_large_eight_bit_samples_are_lerped_through_small_buffers_with_autograd_on(n: int) -> None:
    """``per_sample_lerp`` with autograd on (the default) and a float λ: a uint8 batch of large
    samples gets no float32 or int16 copy (a batch of one too: it is mixed with itself, exactly)."""
    x = make_images((n, 3, 128, 128), torch.uint8, seed=6)
    partners = F.cycle_partners(n, generator=torch.Generator().manual_seed(6))
    assert torch.is_grad_enabled()
    for lam in (0.5, 0.3):  # int16 steps in blocks; float32 buffers a sample
        peak, out = peak_bytes(F.mix_pairs, x, lam, partners)
        assert peak <= 1.6 * x.numel() + (1 << 21), f"peak {peak / x.numel():.2f}× the batch"
        with _backend.routes(per_sample_lerp=False):
            assert torch.equal(out, F.mix_pairs(x, lam, partners))
        if n == 1:
            assert torch.equal(out, x)


def test_resampled_sources_of_one_row_apply_to_every_sample_and_of_n_rows_each_to_its_own() -> None:
    """``paste_resampled`` against the formula written out: one row of sources for the whole batch
    (a traced patch), or a row a sample (per-sample patches), two samples with other patches."""
    x = torch.arange(2 * 2 * 4 * 5, dtype=torch.float32).reshape(2, 2, 4, 5)
    partners = torch.tensor([1, 0])
    rows = torch.tensor([[-1, 0, 0, 1], [2, 3, -1, -1]])  # sample 0: rows 1-3, sample 1: rows 0-1
    columns = torch.tensor([[0, 2, 4, -1, -1], [-1, -1, 1, 1, 3]])
    for sources in ([rows, columns], [rows[:1], columns[:1]]):
        expected = x.clone()
        for p, q in enumerate(partners.tolist()):
            r, c = sources[0][p % len(sources[0])], sources[1][p % len(sources[1])]
            for i, j in ((i, j) for i in range(4) for j in range(5) if r[i] >= 0 and c[j] >= 0):
                expected[p, :, i, j] = x[q, :, r[i], c[j]]
        assert torch.equal(_kernels.paste_resampled(x, partners, sources), expected)
        again = x.clone()
        assert _kernels.paste_resampled(again, partners, sources, inplace=True) is again
        assert torch.equal(again, expected)


@pytest.mark.parametrize(
    ("shape", "sides"),
    [
        ((5, 3, 13, 17), (4, 9)),
        ((4, 13, 17), (13, 1)),
        ((3, 2, 5, 9, 11), (2, 9, 3)),
        ((2, 3, 4, 9, 8), (5, 2)),
    ],
    ids=["images", "no channel axis", "volumes", "videos"],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_partners_resized_by_one_index_equal_those_resized_axis_by_axis(
    shape: tuple[int, ...], sides: tuple[int, ...], dtype: torch.dtype
) -> None:
    """``resized_partners`` off the CPU (one advanced index, every axis's index moved in one copy)
    takes each value from where the CPU's ``index_select``/``gather`` per axis takes it, with the
    partners gathered or without."""
    x = make_images(shape, dtype, seed=len(shape))
    partners = F.cycle_partners(shape[0], generator=torch.Generator().manual_seed(1))
    for rows in (partners, None):
        on_cpu = _kernels.resized_partners(x, sides, rows)
        by_index = _kernels._resized_by_one_index(x, sides, rows)
        expected = x if rows is None else x[rows]
        for axis, side in enumerate(sides, start=x.ndim - len(sides)):
            expected = expected.index_select(axis, torch.arange(side) * x.shape[axis] // side)
        assert torch.equal(on_cpu, expected) and torch.equal(by_index, expected)
    elsewhere, rows = x.to("meta"), partners.to("meta")
    with Ops() as ops:  # on another device (meta stands in): one copy and one index
        _kernels.resized_partners(elsewhere, sides, rows)
    assert ops.launches == ["_to_copy", "index"], ops.launches


def test_products_time_torch_mm_into_the_lent_batch() -> None:
    """Where a lent batch is given, the product ``torch.mm`` is timed with is written into it."""
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN: nothing is timed")
    weights = F.zeta_weights(24, generator=torch.Generator().manual_seed(3))
    flat = make_images((24, 3000), torch.float32, seed=3)
    into = torch.full((24, 3000), float("nan"))
    assert isinstance(_backend._onednn_is_faster(weights, flat, into), bool)
    assert_products_agree(into, weights @ flat, 24, "torch.mm into the lent batch")


@pytest.mark.parametrize(
    ("onednn", "mm", "chosen"),
    [
        ([1.0, 1.0, 1.0], [2.0, 2.0, 2.0], True),
        ([1.0, 1.0, 1.0], [1.25, 1.25, 1.25], True),  # 1.25× faster: above the 1.2× rule
        ([1.0, 1.0, 1.0], [1.15, 1.15, 1.15], False),  # 1.15×: below it
        ([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], False),
        ([5.0, 1.0, 3.0], [2.0, 2.0, 2.0], True),  # the best of the rounds counts, not the first
        ([1.0, 1.0, 1.0], [9.0, 1.1, 9.0], False),
    ],
)
def test_onednn_is_chosen_where_its_best_time_is_1_2x_torch_mm_s(
    onednn: list[float], mm: list[float], chosen: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timing rule on a clock that each product advances by its listed time, round by round
    (after one warm-up call of each, which costs nothing here)."""
    now = [0.0]
    costs = {"onednn": [0.0, *onednn], "mm": [0.0, *mm]}

    def run(name: str) -> Callable[..., None]:
        def product(*args: object, **kwargs: object) -> None:
            now[0] += costs[name].pop(0)

        return product

    monkeypatch.setattr(_backend, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: now[0])}))
    monkeypatch.setattr(_backend, "onednn_product", run("onednn"))
    monkeypatch.setattr(torch, "mm", run("mm"))
    weights, flat = torch.eye(2), torch.ones(2, 3)
    assert _backend._onednn_is_faster(weights, flat, rounds=3) is chosen
    assert costs == {"onednn": [], "mm": []}  # a warm-up and three rounds of each


def test_onednn_products_compute_the_product() -> None:
    """The operator itself, where the build has it: ``W @ x`` within the product bound."""
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN")
    weights = F.zeta_weights(24, generator=torch.Generator().manual_seed(2))
    flat = make_images((24, 5000), torch.float32, seed=2)
    assert_products_agree(_backend.onednn_product(weights, flat), weights @ flat, 24, "oneDNN")
