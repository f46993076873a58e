"""The collate classes mix the batch they just collated in place: no second full-size batch."""

from __future__ import annotations

import contextlib
import functools
import pickle
import threading
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import default_collate
from torchvision import tv_tensors

import zmix_transforms as Z
from tests.memory import peak_bytes
from tests.methods import BLENDING_CLASSES
from tests.numerics import assert_products_agree, assert_same_mix
from tests.settings import threads
from tests.strategies import image_dtypes, make_images, permutations, seeds
from zmix_transforms import _backend
from zmix_transforms import functional as F
from zmix_transforms._backend import routes
from zmix_transforms.functional import _inplace

COLLATES = {
    "ZetaMixupCollate": lambda **kw: Z.ZetaMixupCollate(num_classes=10, **kw),
    "ZetaMixupCollate(max_terms)": lambda **kw: Z.ZetaMixupCollate(num_classes=10, max_terms=5, **kw),
    "MixUpCollate": lambda **kw: Z.MixUpCollate(num_classes=10, **kw),
    "MixUpCollate(elem)": lambda **kw: Z.MixUpCollate(num_classes=10, mode="elem", **kw),
    "MixUpCollate(pair)": lambda **kw: Z.MixUpCollate(num_classes=10, mode="pair", **kw),
    "CutMixCollate": lambda **kw: Z.CutMixCollate(0.05, num_classes=10, **kw),  # boxes near the whole image
    "CutMixCollate(elem)": lambda **kw: Z.CutMixCollate(0.05, num_classes=10, mode="elem", **kw),
    "CutMixCollate(pair)": lambda **kw: Z.CutMixCollate(0.05, num_classes=10, mode="pair", **kw),
    "ResizeMixCollate(elem)": lambda **kw: Z.ResizeMixCollate(num_classes=10, mode="elem", **kw),
    "MixCollate(ZetaCutMix)": lambda **kw: Z.MixCollate(Z.ZetaCutMix(num_classes=10), **kw),
    "MixCollate(RandomMix)": lambda **kw: Z.MixCollate(
        Z.RandomMix([Z.ZetaMixup(num_classes=10), Z.MixUp(num_classes=10), Z.CutMix(num_classes=10)]), **kw
    ),
}


def _samples(n: int, dtype: torch.dtype, size: int = 32) -> list[tuple[torch.Tensor, int]]:
    images = make_images((n, 3, size, size), dtype, seed=0)
    return [(images[i].clone(), i % 10) for i in range(n)]


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("name", list(COLLATES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("size", [32, 112])
def test_collate_allocates_no_second_batch(name: str, dtype: torch.dtype, size: int) -> None:
    """With one thread, as in a ``DataLoader`` worker, every collate mixes a large batch where it
    lies (with several threads outside a worker, ζ-mixup's float product does not: next test)."""
    with threads(1):
        _assert_no_second_batch(name, dtype, size)


def _assert_no_second_batch(name: str, dtype: torch.dtype, size: int) -> None:
    samples = _samples(32, dtype, size)
    batch_bytes = 32 * samples[0][0].numel() * samples[0][0].element_size()
    # the batch, the kernels' buffers (a quarter of the batch, or 256 KB for a small batch) and
    # what a batch of 32 samples needs beside them (weights, labels, one sample held aside)
    allowed = 1.35 * batch_bytes + max(batch_bytes / 4, _inplace._MIN_BUFFER_BYTES)
    if batch_bytes >= 4 * _inplace._MIN_BUFFER_BYTES:
        assert allowed == 1.6 * batch_bytes
    collate = COLLATES[name]()
    assert collate.mixes_in_place
    # a process's first product of a shape class times oneDNN against torch.mm into the in-place
    # buffer (one block-sized buffer more, once): timed here, by another collate (no spare shared)
    COLLATES[name]()(samples)
    for seed in range(3):
        torch.manual_seed(seed)
        peak, _ = peak_bytes(collate, samples)
        assert peak <= allowed, f"peak {peak / batch_bytes:.2f}× the batch"
    # The tracker does see a second batch when there is one: the same collate, out of place.
    out_of_place = COLLATES[name](inplace=False)
    assert not out_of_place.mixes_in_place
    peak, _ = peak_bytes(out_of_place, samples)
    assert peak >= 2.0 * batch_bytes


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("structure", ["pairs", "Image pairs", "dicts", "soft masks"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_outside_a_worker_with_threads_a_large_float_zeta_product_goes_into_the_spare(
    dtype: torch.dtype, structure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With several threads, outside a worker, a float batch beyond the in-place buffers takes one
    product apart from it: a new batch on the collate's first call, then the batch the call before
    collated (the spare), never one a call returned; the collate keeps one batch more. With one
    thread, the route ``spare_batches`` off, or a dict batch (whose images the collate does not
    keep), it is mixed where it lies and no second batch is made. Either way the mix is ζ-mixup's on
    ``default_collate``'s batch. Soft masks beside the images are mixed where they lie (the
    collate keeps only the images)."""
    monkeypatch.setitem(_backend.ROUTES, "onednn_products", False)  # oneDNN has no out=: torch.mm's route
    pairs = _samples(8, dtype, size=256)  # 6 MiB of float32, above the in-place buffers
    samples: list[Any] = {
        "pairs": pairs,
        "Image pairs": [(tv_tensors.Image(image), label) for image, label in pairs],
        "dicts": [{"image": image, "label": label} for image, label in pairs],
        "soft masks": [
            (image, tv_tensors.Mask(torch.softmax(image[:2], dim=0)), label) for image, label in pairs
        ],
    }[structure]
    batch_bytes = 8 * pairs[0][0].numel() * pairs[0][0].element_size()
    assert not _inplace.fits_budget(torch.stack([image for image, _ in pairs]), batch_bytes)
    masks_bytes = 2 * batch_bytes / 3 if structure == "soft masks" else 0  # two channels of three
    in_place = 1.35 * batch_bytes + masks_bytes + max(batch_bytes / 4, _inplace._MIN_BUFFER_BYTES)
    collated: list[int] = []

    def images_of(batch: Any) -> torch.Tensor:
        return batch["image"] if structure == "dicts" else batch[0]

    masks: list[int] = []

    def recording_collate(batch: list[Any]) -> Any:
        collated_batch = default_collate(batch)
        collated.append(images_of(collated_batch).data_ptr())
        if structure == "soft masks":
            masks.append(collated_batch[1].data_ptr())
        return collated_batch

    for count, route in ((2, True), (1, True), (2, False)):
        monkeypatch.setitem(_backend.ROUTES, "spare_batches", route)
        apart = count > 1 and route and structure != "dicts"
        collated.clear()
        collate = Z.ZetaMixupCollate(num_classes=10, collate_fn=recording_collate, inplace=True)
        returned = []
        with threads(count):
            for call in range(3):
                torch.manual_seed(call)
                peak, mixed = peak_bytes(collate, samples)
                torch.manual_seed(call)
                batch = default_collate(samples)
                if structure == "soft masks":  # default_collate stacks Mask items into plain tensors
                    batch[1] = tv_tensors.Mask(batch[1])
                expected = Z.ZetaMixup(num_classes=10)(batch)
                images, where = images_of(mixed), (count, route, call)
                assert type(images) is (tv_tensors.Image if structure == "Image pairs" else torch.Tensor)
                assert_same_mix(images, images_of(expected), 8)
                if structure == "soft masks":  # not kept: mixed where they lie
                    assert mixed[1].data_ptr() == masks[-1], where
                    assert_same_mix(mixed[1], expected[1], 8)
                if not apart:
                    assert images.data_ptr() == collated[-1] and peak <= in_place, where
                elif call == 0:  # no spare yet: a new batch
                    assert images.data_ptr() not in collated and peak >= 2 * batch_bytes, where
                else:  # into the spare: only the collation allocates
                    into_spare = 1.35 * batch_bytes + masks_bytes
                    if masks_bytes:  # and the masks' blocks, in place
                        into_spare += max(masks_bytes / 4, _inplace._MIN_BUFFER_BYTES)
                    assert images.data_ptr() == collated[-2] and peak <= into_spare, where
                returned.append(images)  # held, as a training loop holds its batch
        assert len({images.data_ptr() for images in returned}) == 3, "no batch is returned twice"
        assert [spare.data_ptr() for spare in collate._spares] == ([collated[-1]] if apart else [])


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("channels", [2, 1])  # 32,768 values a sample, the least walked, and half
def test_samples_from_the_walks_least_size_are_mixed_along_the_pairing(channels: int) -> None:
    """From ``PER_SAMPLE_MIN_ELEMENTS`` values a sample, a batch beyond the buffers is mixed in place
    one sample at a time (no second batch); below it, out of place and copied back."""
    assert _inplace.PER_SAMPLE_MIN_ELEMENTS == 2 * 128 * 128
    batch = make_images((64, channels, 128, 128), torch.float32, seed=1)  # 8 or 4 MiB
    partners = F.cycle_partners(64, generator=torch.Generator().manual_seed(1))
    peak, _ = peak_bytes(functools.partial(F.mix_pairs, inplace=True), batch, 0.3, partners)
    walked = peak <= _inplace._BUFFER_BYTES
    assert walked == (channels == 2), f"peak {peak} bytes"


def test_the_int16_walk_keeps_its_buffers_for_its_threads_next_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 8-bit batch walked in int16 steps goes through three int16 buffers of a sample that its
    thread keeps: the next call of that size allocates nothing but its two 0-dim int16 constants and
    mixes the same, another thread walks through buffers of its own, and a sample above
    ``_WALK_BUFFER_MAX_BYTES`` gets new ones."""
    x = make_images((6, 3, 7, 13), torch.uint8, seed=2)  # a shape no other test walks
    partners = F.cycle_partners(6, generator=torch.Generator().manual_seed(2))
    steps = [37, 200, 128, 1, 255, 90]
    expected = x.clone()
    for p, q in enumerate(partners.tolist()):  # (a·x + (256 − a)·y + 128) // 256, in int32
        expected[p] = (steps[p] * x[p].int() + (256 - steps[p]) * x[q].int() + 128) // 256

    def walk(out: torch.Tensor) -> torch.Tensor:
        assert _inplace.lerp_cycles_in_steps(x, steps, partners, out=out)
        return out

    sample_bytes = 2 * x[0].numel()
    for call in range(3):
        peak, mixed = peak_bytes(walk, torch.empty_like(x))
        assert torch.equal(mixed, expected), f"call {call}"
        assert (peak >= 3 * sample_bytes) if call == 0 else (peak < 16), f"call {call}: {peak} bytes"

    def addresses() -> set[int]:
        return {buffer.data_ptr() for buffer in _inplace._walk_buffers(x.shape[1:], x.device)}

    mine, theirs = addresses(), list[set[int]]()
    thread = threading.Thread(target=lambda: theirs.append(addresses()))
    thread.start()
    thread.join(timeout=60)
    assert len(mine) == 3 and addresses() == mine, "the thread's own three, again"
    assert len(theirs) == 1 and len(theirs[0]) == 3 and not mine & theirs[0], "another thread's own"
    for limit, kept in ((3 * sample_bytes, True), (3 * sample_bytes - 1, False)):  # up to the limit
        monkeypatch.setattr(_inplace, "_WALK_BUFFER_MAX_BYTES", limit)
        for call in range(2):
            peak, mixed = peak_bytes(walk, torch.empty_like(x))
            assert torch.equal(mixed, expected), f"limit {limit}, call {call}"
            assert (peak < 16) if kept else (peak >= 3 * sample_bytes), (
                f"limit {limit}, call {call}: {peak} bytes"
            )


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize(
    ("name", "n"),
    [
        ("CutMixCollate(elem)", 512),
        ("CutMixCollate(pair)", 512),
        ("ResizeMixCollate(elem)", 512),
        ("ResizeMixCollate(elem)", 128),
    ],
)
def test_a_collate_of_many_small_samples_allocates_no_second_batch(name: str, n: int) -> None:
    """512 samples of 3×32² float32 (6 MiB): small enough a sample for one masked copy, too large a
    batch for its gather to fit the buffers, so pasted sample by sample, in place. ResizeMix's masked
    copy gathers the partners and resamples them (two batches): 128 samples (1.5 MiB) are too many."""
    samples = _samples(n, torch.float32)
    batch_bytes = n * samples[0][0].numel() * 4
    collate = COLLATES[name]()
    for seed in range(2):
        torch.manual_seed(seed)
        peak, _ = peak_bytes(collate, samples)
        assert peak <= 1.6 * batch_bytes, f"peak {peak / batch_bytes:.2f}× the batch"


@pytest.mark.parametrize("name", list(COLLATES))
@given(n=st.integers(1, 24), dtype=image_dtypes(), seed=seeds(), side=st.integers(1, 9))
def test_in_place_mixes_like_out_of_place(
    name: str, n: int, dtype: torch.dtype, seed: int, side: int
) -> None:
    images = make_images((n, 2, side, side + 1), dtype, seed)
    samples = [(images[i], i % 10) for i in range(n)]
    torch.manual_seed(seed)
    in_place = COLLATES[name]()(samples)
    torch.manual_seed(seed)
    out_of_place = COLLATES[name](inplace=False)(samples)
    assert torch.equal(in_place[1], out_of_place[1]), "labels: the same draws, the same arithmetic"
    # the blocked in-place product sums in another order: within the product bound
    terms = n if "Zeta" in name or "RandomMix" in name else None
    assert_same_mix(in_place[0], out_of_place[0], terms, name)
    assert torch.equal(images, make_images((n, 2, side, side + 1), dtype, seed)), "the samples are untouched"


def test_custom_collate_functions_are_mixed_out_of_place_by_default() -> None:
    shared = torch.rand(8, 3, 4, 4)

    def collate_views(samples: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return shared[: len(samples)], torch.arange(len(samples)) % 10  # a view of someone else's tensor

    before = shared.clone()
    collate = Z.ZetaMixupCollate(num_classes=10, collate_fn=collate_views)
    assert not collate.mixes_in_place
    collate(list(range(8)))
    assert torch.equal(shared, before)
    assert Z.ZetaMixupCollate(num_classes=10, collate_fn=collate_views, inplace=True).mixes_in_place


def test_inplace_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"^inplace=True cannot be combined with return_originals=True"):
        Z.MixUpCollate(inplace=True, return_originals=True)
    with pytest.raises(TypeError, match=r"^inplace must be a bool or None, got int"):
        Z.MixCollate(Z.MixUp(), inplace=1)
    assert not Z.MixUpCollate(return_originals=True).mixes_in_place
    assert not Z.MixCollate(lambda batch: batch).mixes_in_place  # a foreign transform is only called


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.uint8])
def test_functional_in_place_kernels(dtype: torch.dtype) -> None:
    x = make_images((12, 3, 9, 7), dtype, seed=1)
    g = torch.Generator().manual_seed(0)
    partners = F.cycle_partners(12, generator=g)
    weights = F.zeta_weights(12, generator=g, dtype=torch.float64)
    box = F.cutmix_box(9, 7, 0.3, generator=g)
    for kernel, arg in ((F.mix_pairs, 0.3), (F.paste_box, box)):
        target = x.clone()
        assert kernel(target, arg, partners, inplace=True) is target
        assert torch.equal(target, kernel(x, arg, partners))
    target = x.clone()
    assert F.apply_weights(target, weights, inplace=True) is target
    assert_products_agree(target, F.apply_weights(x, weights), 12, "in place over blocks")
    with pytest.raises(
        ValueError, match=r"^inplace needs square weights \(N, N\) with N = 12, got shape \(3, 12\)"
    ):
        F.apply_weights(x.clone(), weights[:3], inplace=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("walk", [False, True], ids=["batch fits the buffers", "walk"])
def test_in_place_with_partners_that_are_not_a_permutation(
    walk: bool, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk along the pairing's cycles needs a permutation: otherwise the kernel mixes out of place
    and copies back, as for a batch whose temporaries fit the buffers. uint8 with λ in steps of
    1/256 (one, or one per sample) too: its walk, in place and sample by sample into a new batch."""
    if walk:  # no buffers, and every sample large enough to walk
        monkeypatch.setattr(_inplace, "_buffer_budget", lambda batch: 0)
        monkeypatch.setattr(_inplace, "PER_SAMPLE_MIN_ELEMENTS", 1)
    x = make_images((4, 3, 5, 5), dtype, seed=2)
    assert _inplace.walk_cycles(x, 1) == (walk and _backend.ROUTES["inplace_kernels"])  # a route
    partners = torch.tensor([1, 1, 3, 0])  # sample 1 is the partner of two samples
    regions = [
        F.Region((0, 0), (5, 5)),
        F.Region((1, 2), (3, 4)),
        F.Region((0, 1), (4, 2)),
        F.Region((2, 2), (5, 5)),
    ]
    per_sample = torch.tensor([0.25, 0.5, 0.75, 0.125], dtype=torch.float64)
    cases = [(F.mix_pairs, 0.375), (F.mix_pairs, per_sample), (F.paste_box, F.Box(0, 0, 5, 5))]
    for kernel, arg in [*cases, (F.paste_region, regions)]:
        target = x.clone()
        kernel(target, arg, partners, inplace=True)
        with routes(per_sample_lerp=False):
            expected = kernel(x, arg, partners)  # the formula, the batch at once
        assert torch.equal(target, expected)
        assert torch.equal(kernel(x, arg, partners), expected)


def test_non_contiguous_batches_in_place() -> None:
    x = torch.rand(6, 8, 8, 3).permute(0, 3, 1, 2)  # channels-last memory
    weights = F.zeta_weights(6, dtype=torch.float64)
    target = x.clone(memory_format=torch.channels_last)
    F.apply_weights(target, weights, inplace=True)
    torch.testing.assert_close(target, F.apply_weights(x, weights))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.uint8, torch.int16])
@pytest.mark.parametrize("per_sample", [False, True])
def test_large_samples_take_the_one_pass_path_with_the_same_results(
    dtype: torch.dtype, per_sample: bool
) -> None:
    """Samples of 3×128×128 are lerped one by one (CPU); the results equal the batched formula."""
    x = make_images((6, 3, 128, 128), dtype, seed=2)
    g = torch.Generator().manual_seed(1)
    partners = F.cycle_partners(6, generator=g)
    lam = F.sample_lambdas(1.0, 6, generator=g) if per_sample else 0.35
    compute = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    xc = x.to(compute)
    weight = lam.to(compute).reshape(6, 1, 1, 1) if per_sample else lam
    expected = xc[partners].lerp(xc, weight)
    if not dtype.is_floating_point:
        expected = (expected + 0.5).floor()
    out = F.mix_pairs(x, lam, partners)
    assert out.dtype == dtype
    torch.testing.assert_close(out.to(compute), expected.to(dtype).to(compute), rtol=0, atol=0)
    target = x.clone()
    F.mix_pairs(target, lam, partners, inplace=True)
    assert torch.equal(target, out)


@given(partners=permutations())
def test_walking_the_cycles_reads_every_partner_before_it_is_written(partners: torch.Tensor) -> None:
    n = len(partners)
    batch = torch.arange(n * 6, dtype=torch.float32).reshape(n, 2, 3)
    expected = batch[partners]
    done = _inplace.along_cycles(partners, batch, lambda p, partner: batch[p].copy_(partner))
    assert done
    assert torch.equal(batch, expected)


@given(
    partners=permutations(),
    dtype=st.sampled_from([torch.float32, torch.uint8, torch.int8, torch.bfloat16]),
    per_sample=st.booleans(),
    in_steps=st.booleans(),
    seed=seeds(),
)
def test_mix_pairs_walking_the_cycles_equals_out_of_place(
    partners: torch.Tensor, dtype: torch.dtype, per_sample: bool, in_steps: bool, seed: int
) -> None:
    """Also with λ in steps of 1/256, as the transforms draw it for 8-bit batches: those are mixed in
    int16 steps, each sample widened once along its cycle. Out of place, large narrow samples are
    lerped one by one (along the cycles too, for λ in steps): the formula's values, fixed points
    included."""
    n = len(partners)
    x = make_images((n, 3, 5, 4), dtype, seed)
    g = torch.Generator().manual_seed(seed)
    lam = F.sample_lambdas(0.4, n, generator=g) if per_sample else F.sample_lambda(0.4, generator=g)
    if in_steps:
        lam = (lam * 256).round() / 256 if per_sample else round(lam * 256) / 256
    box = F.cutmix_box(5, 4, 0.5, generator=g)
    for kernel, arg in ((F.mix_pairs, lam), (F.paste_box, box)):
        target = x.clone()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_inplace, "PER_SAMPLE_MIN_ELEMENTS", 1)  # every sample is "large": walk
            patch.setattr(_inplace, "_buffer_budget", lambda batch: 0)  # no batch fits whole
            kernel(target, arg, partners, inplace=True)
            sample_by_sample = kernel(x, arg, partners)
        expected = kernel(x, arg, partners)
        assert torch.equal(target, expected)
        assert torch.equal(sample_by_sample, expected)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8])
def test_samples_paired_with_themselves_keep_their_values_sample_by_sample(
    dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of place, large 8-bit samples are lerped one by one into a new batch, along the pairing's
    cycles: a sample paired with itself is copied there, not left as the new memory held it (here,
    memory just freed with other values, which an allocation of that size is likely to get back)."""
    monkeypatch.setattr(_inplace, "PER_SAMPLE_MIN_ELEMENTS", 1)  # every sample is "large"
    x = make_images((5, 3, 16, 16), dtype, seed=1)
    lam = torch.tensor([64, 128, 192, 32, 96], dtype=torch.float64) / 256  # steps of 1/256, unequal
    partners = torch.tensor([1, 0, 2, 4, 3])  # sample 2 is paired with itself
    for _ in range(3):
        stale = torch.full_like(x, 77)
        del stale
        mixed = F.mix_pairs(x, lam, partners)
        assert torch.equal(mixed[2], x[2])
        with routes(per_sample_lerp=False):
            assert torch.equal(mixed, F.mix_pairs(x, lam, partners))


@given(
    n=st.integers(1, 12),
    budget=st.integers(0, 4096),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.uint8, torch.int16, torch.bfloat16]),
    max_terms=st.sampled_from([None, 1, 3]),
    seed=seeds(),
)
def test_products_in_place_over_any_block_size_equal_out_of_place(
    n: int, budget: int, dtype: torch.dtype, max_terms: int | None, seed: int
) -> None:
    x = make_images((n, 3, 5, 7), dtype, seed)
    g = torch.Generator().manual_seed(seed)
    indices, values = F.zeta_terms(n, max_terms=max_terms, generator=g, dtype=torch.float64)
    weights = F.zeta_weights(n, max_terms=max_terms, generator=torch.Generator().manual_seed(seed))
    expected = F.apply_weights(x, weights)
    sparse_expected = F.apply_terms(x, indices, values)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_inplace, "_buffer_budget", lambda batch: budget)  # blocks of budget // (8·N) columns
        dense, sparse = x.clone(), x.clone()
        F.apply_weights(dense, weights, inplace=True)
        F.apply_terms(sparse, indices, values, inplace=True)
    assert_products_agree(dense, expected, n, "dense")
    assert_products_agree(sparse, sparse_expected, max_terms or n, "sparse")


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize(
    "make",
    [
        lambda: Z.ZetaMixup(num_classes=10),
        lambda: Z.ZetaMixup(num_classes=10, max_terms=5),
        lambda: Z.MixUp(num_classes=10),
        lambda: Z.MixUp(num_classes=10, mode="elem"),
        lambda: Z.CutMix(0.05, num_classes=10),
    ],
    ids=["ZetaMixup", "ZetaMixup(max_terms)", "MixUp", "MixUp(elem)", "CutMix"],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_channels_last_batches_mix_in_place_in_their_own_layout(make, dtype: torch.dtype) -> None:
    """A channels_last batch is mixed through its memory-order view: in place, no contiguous copy."""
    x = make_images((32, 3, 112, 112), dtype, seed=3).to(memory_format=torch.channels_last)
    labels = torch.arange(32) % 10
    torch.manual_seed(0)
    expected, expected_labels = make()(x, labels)
    assert expected.is_contiguous(memory_format=torch.channels_last)
    batch = x.clone(memory_format=torch.channels_last)
    torch.manual_seed(0)
    peak, (mixed, mixed_labels) = peak_bytes(functools.partial(make().mix, inplace=True), batch, labels)
    assert mixed is batch and torch.equal(mixed_labels, expected_labels)
    # ζ-mixup in place sums over blocks of columns: within the product bound of the whole product
    terms = 32 if isinstance(make(), Z.ZetaMixup) else None
    assert_same_mix(mixed, expected, terms)
    batch_bytes = x.numel() * x.element_size()
    assert peak <= 0.35 * batch_bytes + max(batch_bytes / 4, _inplace._MIN_BUFFER_BYTES)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Z.ZetaMixup(num_classes=10),
        lambda: Z.MixUp(num_classes=10),
        lambda: Z.MixUp(num_classes=10, mode="elem"),
        lambda: Z.CutMix(0.05, num_classes=10),
    ],
    ids=["ZetaMixup", "MixUp", "MixUp(elem)", "CutMix"],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("channels_last", [False, True])
def test_a_fresh_batch_that_fits_the_buffers_is_returned_not_copied_back(
    make, dtype: torch.dtype, channels_last: bool
) -> None:
    """Inside ``fresh_batch()`` (the collates) a small batch's new mix is returned; outside, written back."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = make_images((6, 3, 8, 8), dtype, seed=5).contiguous(memory_format=layout)
    labels = torch.arange(6) % 10
    torch.manual_seed(0)
    expected, expected_labels = make()(x, labels)
    outputs = {}
    for fresh in (False, True):
        batch = x.clone(memory_format=layout)
        torch.manual_seed(0)
        with _inplace.fresh_batch() if fresh else contextlib.nullcontext():
            mixed, mixed_labels = make().mix(batch, labels, inplace=True)
        if fresh:  # where the mix is written back (CutMix pastes in place: always) it may stay so
            if dtype == torch.float32 and not isinstance(make(), Z.CutMix):
                assert mixed is not batch, "a small float batch's new mix is returned, not copied"
        else:
            assert mixed is batch
        assert mixed.is_contiguous(memory_format=layout) and mixed.dtype == dtype
        assert torch.equal(mixed_labels, expected_labels)
        outputs[fresh] = mixed
    assert not _inplace.is_fresh(), "the context ends with its block"
    assert torch.equal(outputs[True], outputs[False]), "the same mix, returned or copied back"
    assert_same_mix(outputs[True], expected, 6 if isinstance(make(), Z.ZetaMixup) else None)


@pytest.mark.parametrize("method", ["MixUpCollate", "ZetaMixupCollate"])
@pytest.mark.parametrize("p", [1.0, 0.5])
@pytest.mark.parametrize("route", [True, False], ids=["spare_batches on", "off"])
def test_a_collate_writes_a_small_mix_into_the_batch_it_collated_the_call_before(
    method: str, p: float, route: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spare: a collated batch no call returned takes the next call's mix, never a returned one."""
    monkeypatch.setitem(_backend.ROUTES, "onednn_products", False)  # oneDNN has no out=: torch.mm's route
    monkeypatch.setitem(_backend.ROUTES, "spare_batches", route)
    collated: list[int] = []

    def recording_collate(batch: list[tuple[torch.Tensor, int]]) -> list[torch.Tensor]:
        images, labels = default_collate(batch)
        collated.append(images.data_ptr())
        return [images, labels]

    make = getattr(Z, method)
    collate = make(num_classes=10, p=p, collate_fn=recording_collate, inplace=True)
    samples = _samples(8, torch.float32, size=8)  # a small batch: its mix is a new batch, not written back
    outputs, copies, spare, mixed_calls = [], [], None, 0
    for call in range(12):
        torch.manual_seed(call)
        images, labels = collate(samples)
        torch.manual_seed(call)
        expected, expected_labels = make(num_classes=10, p=p)(samples)  # a new collate: no spare
        assert_same_mix(images, expected, 8 if method == "ZetaMixupCollate" else None)
        assert torch.equal(labels, expected_labels)
        if images.data_ptr() != collated[-1]:  # mixed out of place: into the spare, if one is kept
            if spare is not None:  # the batch collated by the last call that mixed (an unmixed one
                # returns its own batch and keeps the spare); held, so no new batch lands there
                assert (images.data_ptr() == spare) == route
                mixed_calls += 1
            spare = collated[-1]
        outputs.append(images)
        copies.append(images.clone())
    assert mixed_calls >= 3
    assert len({o.data_ptr() for o in outputs}) == len(outputs), "no batch is returned twice"
    for output, copy in zip(outputs, copies, strict=True):
        assert torch.equal(output, copy), "a later call wrote into a batch an earlier call returned"
    assert len(collate._spares) == 1
    plain = make(num_classes=10)
    plain(samples)
    assert (
        len(plain._spares) == 1 and pickle.loads(pickle.dumps(plain))._spares == []
    )  # workers collate their own


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("faster", [True, False], ids=["oneDNN's new blocks", "torch.mm into one buffer"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_an_in_place_product_takes_one_way_for_every_block(
    faster: bool, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over blocks of columns, every block's product goes the way measured for the first (widest)
    block's class, timed once against torch.mm into a buffer of that block's shape: torch.mm writes
    every block into that one buffer (a new block's pages may have to be faulted in), oneDNN makes
    a new block each time. Either mixes as the out-of-place product does."""
    x = make_images((16, 3, 128, 100), dtype, seed=2)  # blocks of 16,384 columns: 2 whole and 5,632
    weights = F.zeta_weights(16, generator=torch.Generator().manual_seed(2))
    expected = F.apply_weights(x, weights)
    monkeypatch.setattr(_backend, "ONEDNN_FASTER", {})
    monkeypatch.setattr(_backend, "_onednn_candidate", lambda w, f: True)
    timed: list[tuple[tuple[int, ...], torch.Tensor]] = []
    monkeypatch.setattr(
        _backend, "_onednn_is_faster", lambda w, f, into: timed.append((tuple(f.shape), into)) or faster
    )
    mm, taken, written = torch.mm, [], []
    monkeypatch.setattr(_backend, "onednn_product", lambda w, f: taken.append(f.shape[1]) or mm(w, f))

    def recorded_mm(a: torch.Tensor, b: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
        if out is None:
            return mm(a, b)
        written.append((b.shape[1], out.data_ptr()))
        return mm(a, b, out=out)

    monkeypatch.setattr(torch, "mm", recorded_mm)
    got = F.apply_weights(x.clone(), weights, inplace=True)
    assert [shape for shape, _ in timed] == [(16, 16384)] and timed[0][1].shape == (16, 16384)
    if faster:
        assert taken == [16384, 16384, 5632] and written == []
    else:
        assert taken == [] and [columns for columns, _ in written] == [16384, 16384, 5632]
        assert {address for _, address in written} == {timed[0][1].data_ptr()}
    assert_same_mix(got, expected, 16)


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("faster", [True, False], ids=["oneDNN's new batch", "torch.mm into the spare"])
def test_a_zeta_collate_times_onednn_against_torch_mm_into_its_spare(
    faster: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lent batch is a shape class of its own: oneDNN's new batch is timed against torch.mm into it."""
    monkeypatch.setattr(_backend, "ONEDNN_FASTER", {})
    monkeypatch.setattr(_backend, "_onednn_candidate", lambda w, f: f.shape[1] == 3 * 8 * 8)  # the images
    timed: list[torch.Tensor | None] = []
    monkeypatch.setattr(_backend, "_onednn_is_faster", lambda w, f, into: timed.append(into) or faster)
    taken: list[str] = []
    monkeypatch.setattr(_backend, "onednn_product", lambda w, f: taken.append("oneDNN") or torch.mm(w, f))
    collate = Z.ZetaMixupCollate(num_classes=10)
    samples = _samples(8, torch.float32, size=8)
    collate(samples)  # no spare yet: the plain product's class is timed, and the collated batch kept
    (spare,) = collate._spares
    assert timed == [None]
    through = []
    for call in range(3):  # the lent class timed once, on the first call that has a spare
        torch.manual_seed(call)
        before = len(taken)
        images, _ = collate(samples)
        through.append(len(taken) - before)
        torch.manual_seed(call)
        assert_same_mix(images, Z.ZetaMixup(num_classes=10)(default_collate(samples))[0], 8)
        if call == 0:
            assert (images.data_ptr() == spare.data_ptr()) != faster
    assert len(timed) == 2 and timed[1] is not None and timed[1].data_ptr() == spare.data_ptr()
    assert timed[1].shape == (8, 3 * 8 * 8)
    assert through == [int(faster)] * 3
    assert sorted(_backend.ONEDNN_FASTER.values()) == [faster, faster]


@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("method", ["MixUpCollate", "ZetaMixupCollate"])
def test_one_spare_takes_one_mix_a_call_of_images_and_soft_masks_alike(method: str) -> None:
    """Images and float masks of one shape both fit the spare: the first mix takes it, the other not."""
    images = make_images((8, 3, 8, 8), torch.float32, seed=1)
    masks = torch.softmax(make_images((8, 3, 8, 8), torch.float32, seed=2), dim=1)
    samples = [(images[i], tv_tensors.Mask(masks[i]), i % 3) for i in range(8)]
    make = getattr(Z, method)
    collate = make(num_classes=3)
    returned = []
    for call in range(4):
        torch.manual_seed(call)
        mixed_images, mixed_masks, _ = collate(samples)
        torch.manual_seed(call)
        expected_images, expected_masks, _ = make(num_classes=3)(samples)  # no spare
        terms = 8 if method == "ZetaMixupCollate" else None
        assert_same_mix(mixed_images, expected_images, terms)
        assert_same_mix(mixed_masks, expected_masks, terms)
        returned += [mixed_images, mixed_masks]
    assert len({t.data_ptr() for t in returned}) == len(returned), "each batch in memory of its own"


@pytest.mark.parametrize("make", BLENDING_CLASSES)
def test_float_masks_are_mixed_in_place_with_the_images(make: type) -> None:
    """With ``inplace=True`` a blending method writes float (soft) masks over themselves, as the
    images; class-index masks become one-hot soft masks first, a new batch either way."""
    images = make_images((6, 3, 5, 5), torch.float32, seed=3)
    soft = tv_tensors.Mask(torch.softmax(make_images((6, 4, 5, 5), torch.float32, seed=4), dim=1))
    indices = tv_tensors.Mask(torch.randint(0, 4, (6, 5, 5), generator=torch.Generator().manual_seed(5)))
    transform = make(num_classes=4)
    torch.manual_seed(0)
    expected = transform(images, soft, indices, torch.arange(6) % 4)
    torch.manual_seed(0)
    batch = (images.clone(), soft.clone(), indices.clone(), torch.arange(6) % 4)
    mixed = transform.mix(*batch, inplace=True)
    assert mixed[0].data_ptr() == batch[0].data_ptr() and mixed[1].data_ptr() == batch[1].data_ptr()
    assert mixed[2].dtype == torch.float32 and mixed[2].shape == (6, 4, 5, 5)
    for got, want in zip(mixed, expected, strict=True):
        assert_same_mix(got, want, 6 if make is Z.ZetaMixup else None)


def test_dict_batches_mix_in_place_and_keep_no_spare() -> None:
    samples = [{"image": torch.rand(3, 4, 4), "label": i % 3} for i in range(6)]
    collate = Z.MixUpCollate(num_classes=3)
    assert collate.mixes_in_place
    for _ in range(3):
        out = collate(samples)
        assert out["image"].shape == (6, 3, 4, 4) and out["label"].shape == (6, 3)
    assert collate._spares == []  # only an [images, labels, ...] batch's images are kept


def test_a_spare_fits_a_mix_of_its_own_shape_dtype_device_and_layout_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(_backend.ROUTES, "spare_batches", True)  # on in every leg, off at the end
    spare = torch.zeros(4, 3, 5, 5)
    like = torch.ones(4, 3, 5, 5)
    misfits = {
        "shape": torch.ones(4, 3, 5, 6),
        "dtype": torch.ones(4, 3, 5, 5, dtype=torch.float64),
        "layout": like.contiguous(memory_format=torch.channels_last),
        "itself": spare,
    }
    if torch.cuda.is_available():
        misfits["device"] = like.cuda()
    for why, other in misfits.items():
        with _inplace.lend_spare(_inplace.Spare(spare)):
            assert _inplace.lent_spare(other) is None and _inplace.take_spare(other) is None, why
    with _inplace.lend_spare(_inplace.Spare(spare.contiguous(memory_format=torch.channels_last))):
        assert _inplace.take_spare(like) is None, "a spare of another layout"
    assert _inplace.take_spare(like) is None, "no spare lent outside the block"
    with _inplace.lend_spare(_inplace.Spare(spare)):
        assert _inplace.lent_spare(like) is spare and _inplace.take_spare(like) is spare
        assert _inplace.lent_spare(like) is None and _inplace.take_spare(like) is None, "taken once"
    monkeypatch.setitem(_backend.ROUTES, "spare_batches", False)
    with _inplace.lend_spare(_inplace.Spare(spare)):
        assert _inplace.take_spare(like) is None, "the route off"


def test_threads_sharing_a_collate_never_get_a_batch_another_call_returned() -> None:
    collate = Z.MixUpCollate(num_classes=10)
    samples = _samples(8, torch.float32, size=8)
    returned: list[tuple[torch.Tensor, torch.Tensor]] = []

    def calls() -> None:
        for _ in range(25):
            images, _ = collate(samples)
            returned.append((images, images.clone()))  # list.append: safe across threads

    threads = [threading.Thread(target=calls) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(returned) == 100
    assert len({images.data_ptr() for images, _ in returned}) == 100, "a batch was returned twice"
    assert all(torch.equal(images, copy) for images, copy in returned), "a returned batch was written"
    assert len(collate._spares) <= 4
