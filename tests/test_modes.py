"""timm's three modes on MixUp and CutMix: one draw per batch, per sample ("elem") or per pair ("pair")."""

from __future__ import annotations

import collections
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import tv_tensors

import zmix_transforms as Z
from tests.methods import MODE_CLASSES
from tests.strategies import seeds
from zmix_transforms import _backend
from zmix_transforms import functional as F
from zmix_transforms.functional import Region, _kernels


@given(n=st.integers(1, 40), seed=seeds())
def test_pair_partners_pair_every_sample(n: int, seed: int) -> None:
    partners = F.pair_partners(n, generator=torch.Generator().manual_seed(seed))
    assert partners.dtype == torch.int64 and sorted(partners.tolist()) == list(range(n))
    samples = torch.arange(n)
    if n == 1:
        assert partners.tolist() == [0]
        return
    assert (partners != samples).all(), "no sample is its own partner"
    unpaired = (partners[partners] != samples).nonzero().flatten()
    assert len(unpaired) == (3 if n % 2 else 0), "pairs, and for an odd batch one cycle of three"
    if n % 2:
        a = int(unpaired[0])
        assert int(partners[partners[partners[a]]]) == a


def test_pair_partners_draw_every_pairing_equally_often() -> None:
    g = torch.Generator().manual_seed(0)
    counts = collections.Counter(tuple(F.pair_partners(4, generator=g).tolist()) for _ in range(3000))
    assert set(counts) == {(1, 0, 3, 2), (2, 3, 0, 1), (3, 2, 1, 0)}  # the three pairings of four
    assert all(abs(c / 3000 - 1 / 3) < 0.04 for c in counts.values())


@pytest.mark.parametrize("mode", ["elem", "pair"])
@pytest.mark.parametrize("make", MODE_CLASSES, ids=[cls.__name__ for cls in MODE_CLASSES])
def test_p_is_drawn_per_sample_or_pair(mode: str, make: type) -> None:
    torch.manual_seed(0)
    transform = make(mode=mode, p=0.3, num_classes=20)
    mixed = []
    for _ in range(100):
        _, weights = transform(torch.rand(20, 1, 16, 16), torch.eye(20))
        untouched = weights.diagonal() == 1.0
        if mode == "pair":  # a pair is mixed or left whole together
            partners = (weights - torch.diag(weights.diagonal())).argmax(1)
            assert torch.equal(untouched[~untouched], untouched[partners[~untouched]])
        mixed.append((~untouched).double().mean())
    rate = float(torch.stack(mixed).mean())
    assert abs(rate - 0.3) < 0.05, rate  # 2,000 samples (1,000 pairs): a few standard deviations


def test_pair_cutmix_swaps_one_box_between_the_two_of_a_pair() -> None:
    torch.manual_seed(1)
    n = 8
    coded = torch.arange(n, dtype=torch.float64).reshape(n, 1, 1, 1).expand(n, 2, 12, 10).contiguous()
    mixed, weights = Z.CutMix(mode="pair")(coded, torch.eye(n, dtype=torch.float64))
    sources = mixed[:, 0].long()
    for a in range(n):
        b = int((weights[a] - weights[a, a] * (torch.arange(n) == a)).argmax())
        assert int((weights[b] - weights[b, b] * (torch.arange(n) == b)).argmax()) == a
        assert torch.equal(sources[a] == b, sources[b] == a), "the same box, each from the other"
        box = (sources[a] == b).double().mean()
        assert float(weights[a, b]) == pytest.approx(float(box), abs=1e-12)
        assert float(weights[a, b]) == float(weights[b, a])


def test_elem_cutmix_draws_a_box_per_sample_and_pastes_it_into_masks_too() -> None:
    torch.manual_seed(2)
    n = 16
    coded = torch.arange(n, dtype=torch.float64).reshape(n, 1, 1, 1).expand(n, 3, 20, 20).contiguous()
    masks = tv_tensors.Mask(coded[:, 0].long())
    images, weights, out_masks = Z.CutMix(mode="elem")(coded, torch.eye(n, dtype=torch.float64), masks)
    sizes = {float(weights[i, i]) for i in range(n)}
    assert len(sizes) > n // 2, "boxes of many sizes in one batch"
    assert isinstance(out_masks, tv_tensors.Mask) and torch.equal(out_masks, images[:, 0].long())


@pytest.mark.parametrize("inplace", [False, True])
def test_paste_region_with_a_region_per_sample_is_the_formula(inplace: bool) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(5, 2, 7, 9, generator=g)
    regions = [F.cutmix_region((7, 9), float(torch.rand((), generator=g)), generator=g) for _ in range(5)]
    for partners in (F.cycle_partners(5, generator=g), torch.tensor([1, 1, 0, 4, 2])):  # not a permutation
        expected = x.clone()
        for p, q in enumerate(partners.tolist()):
            expected[(p, ..., *regions[p].slices())] = x[(q, ..., *regions[p].slices())]
        out = F.paste_region(x.clone() if inplace else x, regions, partners, inplace=inplace)
        assert torch.equal(out, expected)


@given(
    seed=seeds(),
    dims=st.sampled_from([2, 3]),
    dtype=st.sampled_from([torch.float32, torch.uint8, torch.float16]),
)
def test_regions_pasted_as_one_mask_are_the_regions_pasted_one_by_one(
    seed: int, dims: int, dtype: torch.dtype
) -> None:
    """The route a batch on an accelerator takes (one masked copy, a constant number of kernels)
    gives the values of the per-sample paste, bit for bit (both copy pixels): new batches in the
    input's layout, in place, and partners that are not a permutation."""
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 9, (), generator=g))
    sizes = tuple(int(s) for s in torch.randint(1, 8, (dims,), generator=g))
    x = (torch.rand(n, 2, *sizes, generator=g) * 200).to(dtype)
    if dims == 2 and bool(torch.rand((), generator=g) < 0.5):
        x = x.contiguous(memory_format=torch.channels_last)
    regions = [F.cutmix_region(sizes, float(torch.rand((), generator=g)), generator=g) for _ in range(n)]
    partners = torch.randint(0, n, (n,), generator=g) if seed % 2 else F.cycle_partners(n, generator=g)
    expected = _kernels._paste_regions(x, regions, partners, inplace=False)
    out = _kernels._paste_regions_masked(x, regions, partners, inplace=False)
    assert torch.equal(out, expected) and out.stride() == x.stride() and out.data_ptr() != x.data_ptr()
    again = x.clone(memory_format=torch.preserve_format)
    assert _kernels._paste_regions_masked(again, regions, partners, inplace=True) is again
    assert torch.equal(again, expected)


def test_regions_pasted_as_one_mask_carry_gradients() -> None:
    features = torch.rand(4, 3, 5, 6, requires_grad=True)
    regions = [Region((0, 0), (2, 3)), Region((1, 1), (5, 6)), Region((0, 0), (0, 0)), Region((4, 5), (5, 6))]
    partners = torch.tensor([1, 2, 3, 0])
    weights = torch.rand(4, 3, 5, 6)  # a loss that tells the outputs apart
    grads = []
    for paste in (_kernels._paste_regions_masked, _kernels._paste_regions):
        out = paste(features, regions, partners, inplace=False)
        (grad,) = torch.autograd.grad((out * weights).sum(), features)
        grads.append((out.detach(), grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


@given(
    seed=seeds(),
    dims=st.sampled_from([2, 3]),
    dtype=st.sampled_from([torch.float32, torch.uint8, torch.float16]),
    mode=st.sampled_from(["elem", "pair"]),
)
def test_resizemix_patches_pasted_as_one_mask_are_the_patches_pasted_one_by_one(
    seed: int, dims: int, dtype: torch.dtype, mode: str
) -> None:
    """ResizeMix's per-sample patches by one masked copy (small samples on the CPU, any batch on an
    accelerator: a constant number of kernels) are the patches resized and pasted one by one, bit for
    bit: new batches in the input's layout, in place, and samples left unmixed (``p < 1``)."""
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 9, (), generator=g))
    sizes = tuple(int(s) for s in torch.randint(1, 9, (dims,), generator=g))
    x = (torch.rand(n, 2, *sizes, generator=g) * 200).to(dtype)
    if dims == 2 and seed % 3 == 0:
        x = x.contiguous(memory_format=torch.channels_last)
    transform = Z.ResizeMix(num_classes=3, mode=mode, p=0.7, spatial_dims=dims)
    params = transform.draw_params([x], g)
    outs = {}
    for on in (True, False):
        with _backend.routes(masked_regions=on):
            outs[on] = transform.mix_images(x, params)
            again = x.clone(memory_format=torch.preserve_format)
            assert transform.mix_images(again, params, inplace=True) is again
            assert torch.equal(again, outs[on])
    assert torch.equal(outs[True], outs[False]) and outs[True].stride() == x.stride()
    features = x.float().requires_grad_()
    weights = torch.rand(x.shape, generator=g)  # a loss that tells the outputs apart
    grads = []
    for on in (True, False):
        with _backend.routes(masked_regions=on):
            (grad,) = torch.autograd.grad((transform.mix_images(features, params) * weights).sum(), features)
        grads.append(grad)
    assert torch.equal(grads[0], grads[1])


def test_paste_region_per_sample_errors() -> None:
    x, partners = torch.rand(2, 1, 4, 4), torch.tensor([1, 0])
    inside = Region((0, 0), (2, 2))
    with pytest.raises(ValueError, match=r"^region must hold one Region per sample \(N = 2\), got 3"):
        F.paste_region(x, [inside] * 3, partners)
    with pytest.raises(ValueError, match=r"^region must hold one Region per sample \(N = 2\), got 0"):
        F.paste_region(torch.rand(2, 5), [], partners)  # no region: any batch of one axis or more
    with pytest.raises(TypeError, match=r"^region\[1\] must be a Region \(starts, stops\), got"):
        F.paste_region(x, [inside, (0, 0, 2, 2)], partners)
    with pytest.raises(ValueError, match=r"^region\[0\] must lie inside the batch's spatial shape \(4, 4\)"):
        F.paste_region(x, [Region((0, 0), (5, 1)), inside], partners)
    with pytest.raises(ValueError, match=r"^region must hold regions of one number of dimensions, got 2/3"):
        F.paste_region(x, [inside, Region((0, 0, 0), (1, 1, 1))], partners)
    with pytest.raises(TypeError, match=r"^region must be a Region or a sequence of Regions, got"):
        F.paste_region(x, "box", partners)


@pytest.mark.parametrize("mode", ["elem", "pair"])
def test_minmax_per_sample_boxes_have_sides_in_range(mode: str) -> None:
    torch.manual_seed(4)
    cutmix = Z.CutMix(minmax=(0.25, 0.5), mode=mode)
    params = cutmix.make_params([torch.rand(9, 3, 32, 32)])
    assert len(params["region"]) == 9
    for region, kept in zip(params["region"], params["lam"].tolist(), strict=True):
        assert all(8 <= stop - start < 16 for start, stop in zip(*region, strict=True))
        assert kept == 1.0 - region.size / (32 * 32)
    assert math.isclose(float(params["lam"].sum()), sum(1.0 - r.size / 1024 for r in params["region"]))


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
def test_resizemix_takes_one_fixed_scale(mode: str) -> None:
    """``scale=(lo, lo)`` (one τ, as the reference implementation's ``uniform(lo, lo)`` draws it):
    every patch of an 8×12 image is 4×6, a quarter of its pixels, anywhere."""
    transform = Z.ResizeMix((0.5, 0.5), num_classes=6, mode=mode)
    assert repr(transform).startswith("ResizeMix(scale=(0.5, 0.5), ")
    for seed in range(3):
        torch.manual_seed(seed)
        _, weights = transform(torch.rand(6, 3, 8, 12), torch.arange(6))
        assert torch.equal(weights.diagonal(), torch.full((6,), 0.75)), weights


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
@pytest.mark.parametrize("spatial", [(13, 17), (5, 9, 11)], ids=["2-D", "3-D"])
def test_resizemix_pastes_its_partner_shrunk_by_nearest_neighbour(
    mode: str, spatial: tuple[int, ...]
) -> None:
    """Place k of a patch's side s reads the partner's place ``k·size // s`` along each axis.

    The inputs are coded by their flat index, so each output value names where it was copied from.
    """
    n, channels = 6, 2
    x = torch.arange(n * channels * math.prod(spatial), dtype=torch.float64).reshape(n, channels, *spatial)
    transform = Z.ResizeMix(num_classes=n, mode=mode, spatial_dims=len(spatial))
    pasted = 0
    for seed in range(4):
        torch.manual_seed(seed)
        out, _ = transform(x, torch.arange(n))
        for p in range(n):
            sources = out[p].long() // x[0].numel()
            from_partner = (sources != p).any(0)
            if not from_partner.any():
                continue
            (partner,) = sources[:, from_partner].unique().tolist()
            corners = from_partner.nonzero()
            region = Region(
                tuple(corners.min(0).values.tolist()), tuple((corners.max(0).values + 1).tolist())
            )
            patch = x[partner]
            for axis, (size, side) in enumerate(zip(spatial, region.sides, strict=True), start=1):
                patch = patch.index_select(axis, torch.arange(side) * size // side)
            expected = x[p].clone()
            expected[(..., *region.slices())] = patch
            assert torch.equal(out[p], expected), (seed, p)
            pasted += 1
    assert pasted >= 12
