"""Volumes (N, C, D, H, W) and segmentation targets: every method, 2-D and 3-D.

The property tests (test_properties.py) run every method on volume batches too; this module checks
what is particular to volumes and dense targets: masks mixed with the images' weights, cuboids
pasted into images and masks alike, the box law, the Dice loss, the memory bound, MONAI inputs.
"""

from __future__ import annotations

import collections
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import default_collate
from torchvision import tv_tensors

import zmix_transforms as Z
from tests.memory import peak_bytes
from tests.methods import (
    BLENDING_CLASSES,
    COLLATE_CLASSES,
    COPYING_CLASSES,
    PRODUCT_CLASSES,
    TRANSFORM_CLASSES,
)
from tests.numerics import assert_same_mix
from tests.settings import threads
from tests.strategies import lams, seeds
from zmix_transforms import functional as F
from zmix_transforms.functional import _inplace

BLENDING = [
    lambda **kw: Z.ZetaMixup(**kw),
    lambda **kw: Z.ZetaMixup(max_terms=3, **kw),
    lambda **kw: Z.MixUp(**kw),
    lambda **kw: Z.MixUp(mode="elem", **kw),
]
ALL = [*BLENDING, Z.ZetaCutMix, *COPYING_CLASSES]  # every method


Case = collections.namedtuple("Case", ["image", "mask", "name"])


def _batch(n: int, spatial: tuple[int, ...], classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 2, *spatial, generator=g, dtype=torch.float64)
    masks = torch.randint(0, classes, (n, *spatial), generator=g)
    return images, masks


@pytest.mark.parametrize("make", ALL)
@pytest.mark.parametrize("spatial", [(5, 6), (3, 5, 4)], ids=["2-D", "3-D"])
@given(seed=seeds())
def test_masks_are_mixed_with_the_images_weights(make, spatial: tuple[int, ...], seed: int) -> None:
    """Per position, the soft mask is the weights applied to the one-hot masks, as the images are."""
    n, classes, dims = 6, 3, len(spatial)
    images, masks = _batch(n, spatial, classes, seed)
    soft = F.one_hot_masks(masks, classes, spatial_dims=dims, dtype=torch.float64)
    torch.manual_seed(seed)
    transform = make(spatial_dims=dims)
    out = transform(
        {"image": images, "mask": tv_tensors.Mask(soft), "labels": torch.eye(n, dtype=torch.float64)}
    )
    mixed, mixed_soft, weights = out["image"], out["mask"], out["labels"]  # identity labels reveal W
    assert mixed_soft.shape == (n, classes, *spatial) and type(mixed_soft) is tv_tensors.Mask
    torch.testing.assert_close(mixed_soft.sum(1), torch.ones(n, *spatial, dtype=torch.float64))
    assert (mixed_soft >= 0).all()
    if not isinstance(transform, (Z.ZetaMixup, Z.MixUp)):
        return  # per-pixel weights: the cuboid test below and the property tests
    flat = soft.reshape(n, -1)
    torch.testing.assert_close(mixed_soft.reshape(n, -1), weights @ flat)
    torch.testing.assert_close(mixed.reshape(n, -1), weights @ images.reshape(n, -1))


@pytest.mark.parametrize("make", [*BLENDING, lambda **kw: Z.ZetaCutMix(**kw)])
@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("channel", [False, True], ids=["(N, *spatial)", "(N, 1, *spatial)"])
def test_class_index_masks_become_soft_masks(make, dims: int, channel: bool) -> None:
    """Class-index masks, with or without their channel of one (a dataset's (1, H, W) masks
    collated), become the one-hot soft masks (N, K, *spatial) the images' weights mix."""
    spatial = (4, 5) if dims == 2 else (3, 4, 5)
    images, masks = _batch(5, spatial, 4, seed=1)
    given_masks = masks.unsqueeze(1) if channel else masks
    torch.manual_seed(0)
    _, out_masks = make(num_classes=4, spatial_dims=dims)(images.float(), tv_tensors.Mask(given_masks))
    torch.manual_seed(0)
    soft = F.one_hot_masks(masks, 4, spatial_dims=dims)
    assert torch.equal(F.one_hot_masks(given_masks, 4, spatial_dims=dims), soft)
    _, expected = make(spatial_dims=dims)(images.float(), tv_tensors.Mask(soft))
    assert out_masks.shape == (5, 4, *spatial) and out_masks.dtype == torch.float32
    torch.testing.assert_close(out_masks, expected)
    torch.testing.assert_close(out_masks.sum(1), torch.ones(5, *spatial))


@pytest.mark.parametrize("make", [lambda **kw: Z.CutMix(**kw), lambda **kw: Z.CutMixCollate(**kw)])
@given(seed=seeds())
def test_cutmix_pastes_one_cuboid_into_volumes_and_masks(make, seed: int) -> None:
    n, spatial = 5, (6, 7, 5)
    _, masks = _batch(n, spatial, 3, seed)
    coded = torch.arange(n, dtype=torch.float64).reshape(n, 1, 1, 1, 1).expand(n, 2, *spatial).contiguous()
    torch.manual_seed(seed)
    transform = make(num_classes=n, spatial_dims=3)
    samples = [{"image": coded[i], "mask": tv_tensors.Mask(masks[i]), "label": i} for i in range(n)]
    if isinstance(transform, Z.MixCollate):
        batch = transform(samples)
    else:
        batch = transform({"image": coded, "mask": tv_tensors.Mask(masks), "label": torch.arange(n)})
    out, out_masks, labels = batch["image"], batch["mask"], batch["label"]
    sources = out[:, 0].round().long()  # (N, D, H, W): the sample each voxel came from
    taken = sources != torch.arange(n).reshape(n, 1, 1, 1)
    assert torch.equal(taken, taken[:1].expand_as(taken)), "one cuboid for the batch"
    # the cuboid is a box: its voxels are the product of the covered ranges along each axis
    covered = [taken[0].any(dim=tuple(a for a in range(3) if a != axis)) for axis in range(3)]
    assert int(taken[0].sum()) == math.prod(int(c.sum()) for c in covered)
    # the masks carry the same voxels (class indices stay indices), the labels the exact fractions
    grid = torch.meshgrid(*map(torch.arange, spatial), indexing="ij")
    expected_masks = torch.stack([masks[(sources[i], *grid)] for i in range(n)])
    assert torch.equal(out_masks, expected_masks) and out_masks.dtype == masks.dtype
    fraction = taken.double().mean(dim=(1, 2, 3))
    torch.testing.assert_close(labels.diagonal().double(), 1 - fraction, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls", TRANSFORM_CLASSES + COLLATE_CLASSES)
def test_a_tuple_of_images_masks_and_labels_mixes_both_targets(cls: type) -> None:
    """``(images, masks, labels)`` mixes the labels as the dict form does: the masks, at the labels'
    place in ``(images, labels)``, do not leave the labels behind, unmixed."""
    keys = ("image", "mask", "label")
    images, masks = _batch(4, (6, 6), 3, seed=2)
    labels = torch.tensor([0, 1, 2, 0])
    outputs = []
    for form in ("tuple", "dict"):
        torch.manual_seed(0)
        t = cls(num_classes=3)
        if isinstance(t, Z.MixCollate):
            triples = [
                (tv_tensors.Image(images[i]), tv_tensors.Mask(masks[i]), int(labels[i])) for i in range(4)
            ]
            batch = t(triples if form == "tuple" else [dict(zip(keys, s, strict=True)) for s in triples])
        elif form == "tuple":
            batch = t(images, tv_tensors.Mask(masks), labels)
        else:
            batch = t(dict(zip(keys, (images, tv_tensors.Mask(masks), labels), strict=True)))
        outputs.append(list(batch) if form == "tuple" else [batch[k] for k in keys])
    got_labels, expected = outputs[0][2], outputs[1]
    assert got_labels.shape == (4, 3) and not torch.equal(got_labels, F.one_hot(labels, 3))
    for got, want in zip(outputs[0], expected, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("cls", COLLATE_CLASSES)
def test_collated_image_and_mask_pairs_mix_the_masks(cls: type) -> None:
    """``(Image, Mask)`` samples, as torchvision's segmentation datasets give them with v2 transforms,
    collate into an image batch and a ``Mask`` batch, mixed as the transform mixes the batches."""
    images, masks = _batch(4, (6, 6), 3, seed=3)
    samples = [(tv_tensors.Image(images[i]), tv_tensors.Mask(masks[i])) for i in range(4)]
    torch.manual_seed(0)
    out_images, out_masks = cls(num_classes=3)(samples)
    torch.manual_seed(0)
    expected = cls.transform_class(num_classes=3)(tv_tensors.Image(images), tv_tensors.Mask(masks))
    assert isinstance(out_masks, tv_tensors.Mask) and isinstance(out_images, tv_tensors.Image)
    torch.testing.assert_close(out_images, expected[0])
    torch.testing.assert_close(out_masks, expected[1])


@pytest.mark.parametrize("cls", COLLATE_CLASSES)
@pytest.mark.parametrize("form", ["dict", "tuple", "namedtuple"])
def test_samples_with_file_names_still_mix_their_masks(cls: type, form: str) -> None:
    """A sample that also holds a file name (a string, which collates to a list of names) still gets
    its ``Mask`` batch mixed with the images' weights, and the names come back as collated."""
    images, masks = _batch(4, (6, 6), 3, seed=5)
    names = [f"case_{i}.png" for i in range(4)]
    samples: list = [(images[i], tv_tensors.Mask(masks[i]), names[i]) for i in range(4)]
    if form == "dict":
        samples = [{"name": name, "image": image, "mask": mask} for image, mask, name in samples]
    elif form == "namedtuple":
        samples = [Case(*sample) for sample in samples]
    torch.manual_seed(0)
    batch = cls(num_classes=3)(samples)
    assert type(batch) is {"dict": dict, "tuple": list, "namedtuple": Case}[form]
    got_images, got_masks, got_names = (
        (batch["image"], batch["mask"], batch["name"]) if form == "dict" else batch
    )
    torch.manual_seed(0)
    expected_images, expected_masks = cls.transform_class(num_classes=3)(images, tv_tensors.Mask(masks))
    assert list(got_names) == names
    assert isinstance(got_masks, tv_tensors.Mask)
    torch.testing.assert_close(got_images, expected_images)
    torch.testing.assert_close(got_masks, expected_masks)


@given(shape=st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40)), lam=lams(), seed=seeds())
def test_the_cuboid_holds_one_minus_lambda_of_the_volume(
    shape: tuple[int, int, int], lam: float, seed: int
) -> None:
    """Sides are ``round(side·(1 − λ)^(1/3))``, clipped: unclipped, the voxels are (1 − λ) of the volume
    up to rounding (MONAI's sides ``side·√(1 − λ)`` give (1 − λ)^(3/2))."""
    region = F.cutmix_region(shape, lam, generator=torch.Generator().manual_seed(seed))
    ratio = (1 - lam) ** (1 / 3)
    sides = [stop - start for start, stop in zip(*region, strict=True)]
    for side, size in zip(sides, shape, strict=True):
        assert 0 <= side <= round(size * ratio)
    unclipped = all(side == round(size * ratio) for side, size in zip(sides, shape, strict=True))
    if unclipped and min(shape) >= 20:  # rounding moves each side by at most 1/2 a voxel
        bound = math.prod(s * ratio + 0.5 for s in shape) - math.prod(max(s * ratio - 0.5, 0) for s in shape)
        assert abs(region.size - (1 - lam) * math.prod(shape)) <= bound


def test_the_2d_region_is_the_box_of_cutmix_box() -> None:
    for seed in range(20):
        box = F.cutmix_box(17, 23, 0.3, generator=torch.Generator().manual_seed(seed))
        region = F.cutmix_region((17, 23), 0.3, generator=torch.Generator().manual_seed(seed))
        assert region == ((box.y1, box.x1), (box.y2, box.x2)) and region.size == box.area


# -- the Dice loss ------------------------------------------------------------------------------------


def _hard_dice_loss(
    logits: torch.Tensor, indices: torch.Tensor, smooth: float, ignore: int | None = None
) -> torch.Tensor:
    """The Dice loss of one-hot targets, computed class by class from the indices (over the labeled
    positions alone: those whose index is not ``ignore``)."""
    probabilities = logits.softmax(1)
    per_sample = []
    for n in range(logits.shape[0]):
        scores = []
        labeled = indices[n] != ignore
        for k in range(logits.shape[1]):
            target = (indices[n] == k)[labeled].to(logits.dtype)
            predicted = probabilities[n, k][labeled]
            overlap = (predicted * target).sum()
            scores.append((2 * overlap + smooth) / (predicted.sum() + target.sum() + smooth))
        per_sample.append(1 - torch.stack(scores).mean())
    return torch.stack(per_sample)


@pytest.mark.parametrize("spatial", [(7,), (6, 5), (3, 4, 5)])  # signals, images, volumes
@given(seed=seeds())
def test_soft_dice_equals_the_hard_dice_on_one_hot_targets(spatial: tuple[int, ...], seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 4, *spatial, generator=g, dtype=torch.float64)
    indices = torch.randint(0, 4, (3, *spatial), generator=g)
    one_hot = F.one_hot_masks(indices, 4, spatial_dims=len(spatial), dtype=torch.float64)
    loss = Z.SoftDiceLoss(reduction="none")
    expected = _hard_dice_loss(logits, indices, 1e-5)
    torch.testing.assert_close(loss(logits, one_hot), expected)
    torch.testing.assert_close(loss(logits, indices), expected)
    torch.testing.assert_close(Z.SoftDiceLoss()(logits, one_hot), expected.mean())


def test_soft_dice_takes_mixed_masks_and_has_gradients() -> None:
    torch.manual_seed(0)
    images, masks = _batch(4, (8, 8), 3, seed=2)
    _, soft = Z.MixUp(num_classes=3)(images.float(), tv_tensors.Mask(masks))
    logits = torch.randn(4, 3, 8, 8, requires_grad=True)
    value = Z.SoftDiceLoss()(logits, soft)
    value.backward()
    assert 0 < float(value.detach()) < 1 and logits.grad is not None and torch.isfinite(logits.grad).all()
    perfect = Z.SoftDiceLoss()(torch.nn.functional.one_hot(masks, 3).movedim(-1, 1) * 50.0, masks)
    assert float(perfect) < 1e-6
    with pytest.raises(
        ValueError, match=r"^class-index targets must lie in \[0, K\) = \[0, 3\), got values from 3 to 3"
    ):
        Z.SoftDiceLoss()(logits.detach(), torch.full((4, 8, 8), 3))
    with pytest.raises(ValueError, match=r"^soft-mask targets must have the shape of logits"):
        Z.SoftDiceLoss()(logits.detach(), soft[:, :2])
    for not_logits in (logits.detach().long(), "logits"):  # ints, str
        with pytest.raises(
            TypeError, match=r"^logits must be a float torch.Tensor of shape \(N, K, \*spatial\)"
        ):
            Z.SoftDiceLoss()(not_logits, masks)
    with pytest.raises(  # class scores, as a classifier gives
        ValueError,
        match=r"^logits must have shape \(N, K, \*spatial\) with at least one spatial dimension, got shape "
        r"\(4, 3\); class scores \(N, K\) take SoftTargetCrossEntropy",
    ):
        Z.SoftDiceLoss()(logits.detach()[:, :, 0, 0], masks)


# -- ignore_index: unlabeled positions in class-index masks ---------------------------------------------

IGNORED = 255


def _masks_with_unlabeled(n: int, spatial: tuple[int, ...], classes: int, seed: int) -> torch.Tensor:
    """Class-index masks with about a third of the positions unlabeled (``IGNORED``), per sample."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.randint(0, classes, (n, *spatial), generator=g)
    return masks.masked_fill(torch.rand(n, *spatial, generator=g) < 1 / 3, IGNORED)


def test_one_hot_masks_give_unlabeled_positions_no_class() -> None:
    masks = _masks_with_unlabeled(3, (4, 5), 4, seed=0)
    soft = F.one_hot_masks(masks, 4, ignore_index=IGNORED, dtype=torch.float64)
    labeled = masks != IGNORED
    assert torch.equal(soft.sum(1), labeled.double())
    assert torch.equal(soft.argmax(1)[labeled], masks[labeled])
    # an ignore_index inside [0, K) leaves that class out, as torch's CrossEntropyLoss does
    assert torch.equal(
        F.one_hot_masks(torch.tensor([[[0, 1]]]), 2, ignore_index=1)[0], torch.tensor([[[1.0, 0]], [[0, 0]]])
    )
    with pytest.raises(
        ValueError,
        match=r"^masks \(besides ignore_index = 255\) must be class indices in \[0, num_classes\) = \[0, 4\), "
        r"got values from 0 to 300$",
    ):
        F.one_hot_masks(masks.masked_fill(masks == 3, 300), 4, ignore_index=IGNORED)
    with pytest.raises(
        ValueError,
        match=r"got values from 0 to 255; if a value marks unlabeled positions \(VOC's 255\), pass it",
    ):
        F.one_hot_masks(masks, 4)
    # a value the masks' dtype cannot hold marks nothing (uint8 would read -100 as 156, 511 as 255)
    small = torch.tensor([[[0, 156, 255]]], dtype=torch.uint8)
    for value, expected in [(-100, [1.0, 1, 1]), (511, [1.0, 1, 1]), (255, [1.0, 1, 0])]:
        assert F.one_hot_masks(small, 256, ignore_index=value).sum(1).flatten().tolist() == expected
    int8 = torch.tensor([[[0, 1, 2]]], dtype=torch.int8)
    assert F.one_hot_masks(int8, 3, ignore_index=200).sum(1).flatten().tolist() == [1.0, 1, 1]
    for bad in ("255", True, 2.0):
        with pytest.raises(TypeError, match=r"^ignore_index must be an int \(the mask value of unlabeled"):
            F.one_hot_masks(masks, 4, ignore_index=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", TRANSFORM_CLASSES)
@pytest.mark.parametrize("spatial", [(6, 5), (3, 4, 5)], ids=["2-D", "3-D"])
@given(seed=seeds())
def test_an_unlabeled_position_counts_with_the_labeled_share_of_its_sources(
    cls: type, spatial: tuple[int, ...], seed: int
) -> None:
    """A blending method's soft mask at a position sums to the share of its sources that were labeled
    there (the same mix of a 0/1 "labeled" mask, in the same call); a copying method copies the mask."""
    n, classes, dims = 6, 3, len(spatial)
    masks = _masks_with_unlabeled(n, spatial, classes, seed)
    labeled = (masks != IGNORED).unsqueeze(1).double()  # (N, 1, *spatial)
    images = torch.rand(n, 2, *spatial, dtype=torch.float64)
    transform = cls(num_classes=classes, spatial_dims=dims, ignore_index=IGNORED)
    torch.manual_seed(seed)
    out = transform({"image": images, "mask": tv_tensors.Mask(masks), "known": tv_tensors.Mask(labeled)})
    if cls in COPYING_CLASSES:  # copied whole: the unlabeled value moves with its pixel, as any class does
        assert out["mask"].dtype == masks.dtype
        torch.testing.assert_close(out["known"][:, 0], (out["mask"] != IGNORED).double(), rtol=0, atol=0)
        return
    soft = out["mask"]
    assert soft.shape == (n, classes, *spatial)
    torch.testing.assert_close(soft.sum(1).double(), out["known"][:, 0], rtol=0, atol=1e-6)
    torch.manual_seed(seed)  # the same draw on the soft masks the option makes: the same result
    expected = cls(spatial_dims=dims)(
        {
            "image": images,
            "mask": tv_tensors.Mask(F.one_hot_masks(masks, classes, spatial_dims=dims, ignore_index=IGNORED)),
            "known": tv_tensors.Mask(labeled),
        }
    )
    torch.testing.assert_close(soft, expected["mask"])


@pytest.mark.parametrize("cls", BLENDING_CLASSES)
def test_an_unmixed_batch_gives_unlabeled_positions_no_class_too(cls: type) -> None:
    masks = _masks_with_unlabeled(4, (5, 5), 3, seed=1)
    _, soft = cls(num_classes=3, p=0.0, ignore_index=IGNORED)(torch.rand(4, 3, 5, 5), tv_tensors.Mask(masks))
    assert torch.equal(soft, F.one_hot_masks(masks, 3, ignore_index=IGNORED))


@pytest.mark.parametrize("cls", COLLATE_CLASSES)
def test_collates_take_ignore_index(cls: type) -> None:
    masks = _masks_with_unlabeled(4, (6, 6), 3, seed=2)
    samples = [{"image": torch.rand(3, 6, 6), "mask": tv_tensors.Mask(masks[i])} for i in range(4)]
    collate = cls(num_classes=3, ignore_index=IGNORED)
    assert "ignore_index=255" in repr(collate)
    out = collate(samples)["mask"]
    if out.is_floating_point():
        assert (out.sum(1) <= 1 + 1e-6).all() and (out.sum(1) < 1 - 1e-6).any()
    else:
        assert (out == IGNORED).any()


@pytest.mark.parametrize("spatial", [(6, 5), (3, 4, 5)])
@given(seed=seeds())
def test_soft_dice_leaves_unlabeled_positions_out(spatial: tuple[int, ...], seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 4, *spatial, generator=g, dtype=torch.float64)
    masks = _masks_with_unlabeled(3, spatial, 4, seed)
    loss = Z.SoftDiceLoss(reduction="none", ignore_index=IGNORED)
    expected = _hard_dice_loss(logits, masks, 1e-5, ignore=IGNORED)
    torch.testing.assert_close(loss(logits, masks), expected)
    soft = F.one_hot_masks(masks, 4, spatial_dims=len(spatial), dtype=torch.float64, ignore_index=IGNORED)
    torch.testing.assert_close(Z.SoftDiceLoss(reduction="none")(logits, soft), expected)
    unlabeled = (masks == IGNORED).unsqueeze(1)
    other = (
        logits.masked_fill(unlabeled, 0.0)
        + torch.randn(logits.shape, generator=g, dtype=torch.float64) * unlabeled
    )
    torch.testing.assert_close(loss(other, masks), expected, msg="a prediction where nothing is known counts")
    with pytest.raises(
        ValueError,
        match=r"^class-index targets must lie in \[0, K\) = \[0, 4\) or be ignore_index = 255, got values from 0 to 256",
    ):
        loss(logits, masks.masked_fill(masks == IGNORED, 256))
    with pytest.raises(TypeError, match=r"^ignore_index must be an int"):
        Z.SoftDiceLoss(ignore_index="255")  # type: ignore[arg-type]
    small = masks.masked_fill(masks == IGNORED, 0).to(torch.uint8)  # -100 is no uint8 value: none ignored
    unmasked = Z.SoftDiceLoss(reduction="none")(logits, small)
    torch.testing.assert_close(Z.SoftDiceLoss(reduction="none", ignore_index=-100)(logits, small), unmasked)


@pytest.mark.parametrize("copying", COPYING_CLASSES)
def test_random_mix_of_blending_and_copying_methods_gives_soft_masks_whichever_it_picks(
    copying: type,
) -> None:
    """One form for a loss to take: a copy's class-index masks become the soft masks it amounts to."""
    n, classes = 6, 3
    masks = _masks_with_unlabeled(n, (6, 6), classes, seed=3)
    labeled = (masks != IGNORED).unsqueeze(1).double()
    images = torch.rand(n, 2, 6, 6, dtype=torch.float64)
    options = {"num_classes": classes, "ignore_index": IGNORED}
    mix = Z.RandomMix([Z.MixUp(**options), copying(**options)])
    copies = 0
    for seed in range(12):
        torch.manual_seed(seed)
        batch = images if seed % 2 else (images * 255).round().to(torch.uint8)  # images stay images
        out = mix({"image": batch, "mask": tv_tensors.Mask(masks), "known": tv_tensors.Mask(labeled)})
        assert out["image"].dtype == batch.dtype and out["image"].shape == batch.shape
        soft = out["mask"]
        assert type(soft) is tv_tensors.Mask and soft.shape == (n, classes, 6, 6) and soft.is_floating_point()
        torch.testing.assert_close(soft.sum(1).double(), out["known"][:, 0], rtol=0, atol=1e-6)
        copies += bool(((soft == 0) | (soft == 1)).all())  # a copy's soft masks are one-hot
    assert 0 < copies < 12, "both transforms were picked"
    copying_only = Z.RandomMix([Z.CutMix(), copying()])  # no soft masks to match: indices stay indices
    assert copying_only(images, tv_tensors.Mask(masks))[1].dtype == masks.dtype
    # with no masks in the batch none is needed: no num_classes, whichever it picks (the others pass)
    soft_labels = torch.softmax(torch.rand(n, classes, dtype=torch.float64), 1)
    for seed in range(12):
        torch.manual_seed(seed)
        batch = {"image": (images * 255).round().to(torch.uint8), "labels": soft_labels, "name": "b"}
        out = Z.RandomMix([Z.MixUp(), copying()])(batch)
        assert (
            out["image"].dtype == torch.uint8 and out["labels"].shape == (n, classes) and out["name"] == "b"
        )
    with pytest.raises(
        ValueError, match=r"^RandomMix gives the class-index masks of a transform that copies"
    ):
        for seed in range(30):
            torch.manual_seed(seed)
            Z.RandomMix([Z.MixUp(**options), copying()])(images, tv_tensors.Mask(masks))


@pytest.mark.parametrize("cls", TRANSFORM_CLASSES + COLLATE_CLASSES)
def test_bad_ignore_index(cls: type) -> None:
    with pytest.raises(
        TypeError, match=r"^ignore_index must be an int \(the mask value of unlabeled positions"
    ):
        cls(ignore_index="255")
    assert "ignore_index=-100" in repr(cls(ignore_index=-100))


# -- spatial_dims, memory, MONAI -------------------------------------------------------------------------


def test_spatial_dims_is_explicit() -> None:
    volume, labels = torch.rand(4, 1, 3, 8, 8), torch.arange(4)
    with pytest.raises(
        ValueError, match=r"got a Tensor of shape \(4, 1, 3, 8, 8\) .* or pass spatial_dims=3"
    ):
        Z.ZetaMixup(num_classes=4)(volume, labels)
    with pytest.raises(ValueError, match=r"^spatial_dims must be 2 \(images\) or 3 \(volumes\), got 4"):
        Z.CutMix(spatial_dims=4)
    for wrong, kind in ((2.0, "float"), (True, "bool"), ("3", "str")):  # not taken for 2, 1 or 3
        with pytest.raises(
            TypeError, match=rf"^spatial_dims must be 2 \(images\) or 3 \(volumes\), got .* of type {kind}$"
        ):
            Z.CutMix(spatial_dims=wrong)
    with pytest.raises(
        ValueError, match=r"needs a batch of images of shape \(N, C, D, H, W\), got an unbatched"
    ):
        Z.MixUp(num_classes=4, spatial_dims=3)(torch.rand(1, 3, 8, 8), labels)
    with pytest.raises(ValueError, match=r"^ZetaMixup\(spatial_dims=3\) mixes volume batches .* got a Video"):
        Z.ZetaMixup(num_classes=4, spatial_dims=3)(tv_tensors.Video(volume), labels)
    with pytest.raises(ValueError, match=r"^images must have spatial sizes >= 1 to cut a box from"):
        F.cutmix(torch.rand(2, 1, 0, 4, 4), torch.eye(2), 0.5, spatial_dims=3)


@pytest.mark.parametrize(
    "collate",
    [
        lambda: Z.ZetaMixupCollate(num_classes=4, spatial_dims=3),
        lambda: Z.ZetaMixupCollate(num_classes=4, spatial_dims=3, max_terms=3),
        lambda: Z.MixUpCollate(num_classes=4, spatial_dims=3),
        lambda: Z.CutMixCollate(0.05, num_classes=4, spatial_dims=3),
    ],
)
@pytest.mark.usefixtures("routes_on")
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_volume_collates_allocate_no_second_batch(collate, dtype: torch.dtype) -> None:
    """The bound of the image collates (test_inplace.py): the batch, its buffers and small change,
    with one thread, as in a ``DataLoader`` worker."""
    volumes = (torch.rand(16, 1, 24, 64, 64) * 255).to(dtype)
    samples = [(volumes[i].clone(), i % 4) for i in range(16)]
    batch_bytes = volumes.numel() * volumes.element_size()
    allowed = 1.35 * batch_bytes + max(batch_bytes / 4, _inplace._MIN_BUFFER_BYTES)
    target = collate()
    assert target.mixes_in_place
    torch.manual_seed(0)
    with threads(1):
        peak, (mixed, labels) = peak_bytes(target, samples)
    assert peak <= allowed, f"peak {peak / batch_bytes:.2f}× the batch"
    assert mixed.shape == volumes.shape and labels.shape == (16, 4)


def test_monai_metatensors_and_list_data_collate() -> None:
    monai = pytest.importorskip("monai")
    from monai.data import MetaTensor, list_data_collate

    samples = [{"image": MetaTensor(torch.rand(1, 4, 6, 6)), "label": torch.tensor(i % 3)} for i in range(6)]
    collate = Z.MixCollate(Z.ZetaMixup(num_classes=3, spatial_dims=3), collate_fn=list_data_collate)
    batch = collate(samples)
    assert batch["image"].shape == (6, 1, 4, 6, 6) and batch["label"].shape == (6, 3)
    torch.testing.assert_close(batch["label"].sum(1), torch.ones(6))
    images = MetaTensor(torch.rand(4, 1, 4, 6, 6))
    out, labels = Z.CutMix(num_classes=3, spatial_dims=3)(images, torch.tensor([0, 1, 2, 0]))
    assert isinstance(out, monai.data.MetaTensor) and out.shape == images.shape and labels.shape == (4, 3)


@pytest.mark.parametrize("collate", COLLATE_CLASSES)
def test_a_collate_of_metatensor_samples_mixes_them_as_its_method_mixes_their_batch(collate: type) -> None:
    """``(MetaTensor, label)`` samples (MONAI's tensors, with metadata of their own): every call of a
    collate gives what its method gives on ``default_collate``'s batch, in its type and with that
    call's metadata (none kept from an earlier batch), and leaves the samples as they were."""
    pytest.importorskip("monai")
    from monai.data import MetaTensor

    mix = collate(num_classes=3)
    terms = 6 if collate.transform_class in PRODUCT_CLASSES else None  # else bit for bit
    for call in range(3):  # the later calls, where a collate of plain tensors has a spare batch
        samples = [
            (MetaTensor(torch.rand(3, 8, 8), meta={"filename_or_obj": f"{call}-{i}"}), i % 3)
            for i in range(6)
        ]
        originals = [sample[0].as_tensor().clone() for sample in samples]
        torch.manual_seed(call)
        images, labels = mix(samples)
        torch.manual_seed(call)
        expected_images, expected_labels = collate.transform_class(num_classes=3)(*default_collate(samples))
        assert (
            type(images) is MetaTensor
            and images.meta["filename_or_obj"] == expected_images.meta["filename_or_obj"]
        )
        assert_same_mix(images.as_tensor(), expected_images.as_tensor(), terms, collate.__name__)
        assert_same_mix(labels, expected_labels, terms, collate.__name__)
        assert all(
            torch.equal(s[0].as_tensor(), before) for s, before in zip(samples, originals, strict=True)
        )


@pytest.mark.parametrize("collate", [Z.ZetaMixupCollate, Z.CutMixCollate])
def test_monai_segmentation_dicts_with_the_mask_wrapped_last(collate: type) -> None:
    """MONAI's segmentation dicts hold the mask under "label": wrapped in a ``Mask`` by a plain
    function last in the ``Compose`` (MONAI's own transforms would make it a MetaTensor again), the
    mask is mixed with the volumes' weights: soft masks from ζ-mixup, voxels from CutMix."""
    pytest.importorskip("monai")
    from monai.data import MetaTensor, list_data_collate
    from monai.transforms import Compose, RandFlipd

    _, masks = _batch(4, (4, 6, 6), 3, seed=7)
    coded = torch.arange(4.0).reshape(4, 1, 1, 1, 1).expand(4, 2, 4, 6, 6)  # each voxel names its sample
    pipeline = Compose(
        [RandFlipd(keys=["image", "label"], prob=0.5), lambda d: {**d, "label": tv_tensors.Mask(d["label"])}]
    )
    samples = [
        pipeline({"image": MetaTensor(coded[i]), "label": MetaTensor(masks[i][None])}) for i in range(4)
    ]
    torch.manual_seed(0)
    batch = collate(num_classes=3, spatial_dims=3, collate_fn=list_data_collate)(samples)
    images, mixed = batch["image"], batch["label"]
    assert isinstance(mixed, tv_tensors.Mask) and images.shape == (4, 2, 4, 6, 6)
    if collate is Z.ZetaMixupCollate:  # soft masks (N, K, D, H, W), summing to 1 at every voxel
        assert mixed.shape == (4, 3, 4, 6, 6)
        torch.testing.assert_close(mixed.sum(1), torch.ones(4, 4, 6, 6))
    else:  # class indices: each voxel's from the (flipped) mask of the sample its image voxel came from
        assert mixed.shape == (4, 1, 4, 6, 6) and mixed.dtype == torch.int64
        sources = torch.as_tensor(images)[:, 0].round().long()
        flipped = torch.stack([torch.as_tensor(s["label"])[0] for s in samples])
        grid = torch.meshgrid(*map(torch.arange, (4, 6, 6)), indexing="ij")
        expected = torch.stack([flipped[(sources[i], *grid)] for i in range(4)])
        assert torch.equal(torch.as_tensor(mixed)[:, 0], expected)
        assert bool((sources != torch.arange(4).reshape(4, 1, 1, 1)).any()), "a cuboid was pasted"


def test_random_mix_of_volume_transforms() -> None:
    mix = Z.RandomMix([Z.ZetaMixup(num_classes=3, spatial_dims=3), Z.CutMix(num_classes=3, spatial_dims=3)])
    volumes, masks = _batch(4, (3, 4, 5), 3, seed=5)
    for seed in range(4):
        torch.manual_seed(seed)
        out = mix({"image": volumes.float(), "mask": tv_tensors.Mask(masks), "label": torch.arange(4) % 3})
        assert out["image"].shape == (4, 2, 3, 4, 5)
        torch.testing.assert_close(out["label"].sum(1), torch.ones(4))
