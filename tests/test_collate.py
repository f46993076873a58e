"""The collate classes: in a real DataLoader with worker processes, over PIL images, on samples of any layout."""

from __future__ import annotations

import pickle

import PIL.Image
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision import tv_tensors
from torchvision.transforms import v2

import zmix_transforms as Z
from tests.methods import COLLATE_CLASSES
from tests.strategies import SampleLayout, sample_layouts, seeds

NUM_CLASSES = 5


class PilImages(Dataset):
    """``size`` small RGB PIL images, each filled with a colour that encodes its index."""

    def __init__(self, size: int, period: int | None = None) -> None:
        self.size = size
        self.period = period or size
        self.to_tensor = v2.PILToTensor()

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i = index % self.period
        image = PIL.Image.new("RGB", (6, 5), color=(i * 7 % 256, i * 13 % 256, i * 29 % 256))
        return self.to_tensor(image), i % NUM_CLASSES


COLLATES = [
    *(lambda cls=cls: cls(num_classes=NUM_CLASSES) for cls in COLLATE_CLASSES),
    lambda: Z.MixCollate(
        v2.RandomChoice([Z.ZetaMixup(num_classes=NUM_CLASSES), Z.CutMix(num_classes=NUM_CLASSES)])
    ),
]
IDS = [*(cls.__name__ for cls in COLLATE_CLASSES), "MixCollate(RandomChoice)"]


def _epoch(collate: object, dataset: Dataset, **kwargs: object) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader = DataLoader(dataset, batch_size=8, num_workers=2, collate_fn=collate, **kwargs)
    return [(images, labels) for images, labels in loader]


@pytest.mark.parametrize("make", COLLATES, ids=IDS)
def test_dataloader_with_workers_mixes_every_sample(make: object) -> None:
    dataset = PilImages(33)  # a ragged last batch of one sample
    batches = _epoch(make(), dataset)
    assert [len(images) for images, _ in batches] == [8, 8, 8, 8, 1]
    originals = torch.stack([dataset[i][0] for i in range(33)])
    offset = 0
    for images, labels in batches:
        n = len(images)
        assert images.dtype == torch.uint8 and images.shape == (n, 3, 5, 6)
        assert labels.dtype == torch.float32 and labels.shape == (n, NUM_CLASSES)
        torch.testing.assert_close(labels.sum(1), torch.ones(n))
        chunk = originals[offset : offset + n]
        # Every output pixel lies within the batch's inputs at that position (no dropped sample).
        assert (images >= chunk.min(0).values).all() and (images <= chunk.max(0).values).all()
        offset += n
    last_images, last_labels = batches[-1]
    assert torch.equal(last_images, originals[32:]) and last_labels.argmax(1).tolist() == [32 % NUM_CLASSES]


@pytest.mark.parametrize("make", COLLATES, ids=IDS)
def test_collate_objects_pickle_and_keep_their_behaviour(make: object) -> None:
    collate = make()
    copy = pickle.loads(pickle.dumps(collate))
    samples = [PilImages(8)[i] for i in range(8)]
    torch.manual_seed(3)
    a = collate(samples)
    torch.manual_seed(3)
    b = copy(samples)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("make", COLLATES[:-1], ids=IDS[:-1])
def test_workers_draw_different_mixes(make: object) -> None:
    """Batches 0 and 1 hold the same samples but go to different workers: their mixes differ."""
    batches = _epoch(make(), PilImages(16, period=8))
    assert not torch.equal(batches[0][1], batches[1][1])


@pytest.mark.parametrize("make", COLLATES, ids=IDS)
def test_a_seed_makes_the_epoch_reproducible(make: object) -> None:
    dataset = PilImages(24)
    torch.manual_seed(11)
    first = _epoch(make(), dataset, shuffle=True)
    torch.manual_seed(11)
    second = _epoch(make(), dataset, shuffle=True)
    third = _epoch(make(), dataset, shuffle=True, generator=torch.Generator().manual_seed(5))
    fourth = _epoch(make(), dataset, shuffle=True, generator=torch.Generator().manual_seed(5))
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for a, b in zip(third, fourth, strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_custom_collate_fn_and_dict_samples() -> None:
    def collate_dicts(samples: list[dict[str, object]]) -> dict[str, torch.Tensor]:
        return {
            "image": torch.stack([s["image"] for s in samples]),
            "label": torch.tensor([s["label"] for s in samples]),
        }

    collate = Z.MixUpCollate(0.4, num_classes=3, collate_fn=collate_dicts)
    out = collate([{"image": torch.rand(3, 4, 4), "label": i % 3} for i in range(5)])
    assert out["image"].shape == (5, 3, 4, 4) and out["label"].shape == (5, 3)


class _SharedReport:
    """A collate function that mixes through ``collate`` and reports whether the images it would send
    from the worker lie in shared memory (a tensor that does not is copied there on its way)."""

    def __init__(self, collate: Z.MixCollate) -> None:
        self.collate = collate

    def __call__(self, batch: list[tuple[torch.Tensor, int]]) -> tuple[bool, bool]:
        images, _ = self.collate(batch)
        return images.is_shared(), torch.utils.data.get_worker_info() is not None


@pytest.mark.parametrize("cls", COLLATE_CLASSES, ids=lambda cls: cls.__name__)
def test_a_worker_sends_the_mixed_batch_from_the_shared_memory_it_was_collated_into(cls: type) -> None:
    """In a worker, ``default_collate`` stacks into shared memory: even a small batch, whose new mix the
    collates return in the main process, is written back there, not sent as a second batch."""
    dataset = [(torch.rand(3, 4, 4), i % NUM_CLASSES) for i in range(8)]
    collate = _SharedReport(cls(num_classes=NUM_CLASSES))
    assert collate.collate.mixes_in_place
    loader = DataLoader(dataset, batch_size=8, num_workers=1, collate_fn=collate)
    assert list(loader) == [(True, True)]


def _choice_collate() -> Z.MixCollate:
    return Z.MixCollate(
        v2.RandomChoice([Z.ZetaMixup(num_classes=NUM_CLASSES), Z.MixUp(num_classes=NUM_CLASSES)])
    )


def _set_each(collate: Z.MixCollate, value: bool) -> None:
    for t in collate.transform.transforms:  # type: ignore[attr-defined]
        t.mixup_enabled = value


# a collate and where its switch is set: the collate itself (timm's FastCollateMixup spelling), its
# transform, or each transform a v2.RandomChoice holds
SWITCHED = {
    "MixUpCollate": (lambda: Z.MixUpCollate(num_classes=NUM_CLASSES), setattr),
    "CutMixCollate.transform": (
        lambda: Z.CutMixCollate(num_classes=NUM_CLASSES),
        lambda collate, name, value: setattr(collate.transform, name, value),
    ),
    "RandomMix.from_timm": (
        lambda: Z.MixCollate(
            Z.RandomMix.from_timm(
                mixup_alpha=1.0, cutmix_alpha=1.0, label_smoothing=0.0, num_classes=NUM_CLASSES
            )
        ),
        setattr,
    ),
    "RandomChoice": (_choice_collate, setattr),
    "RandomChoice.transforms": (_choice_collate, lambda collate, name, value: _set_each(collate, value)),
}


@pytest.mark.parametrize(
    ("name", "context"), [*((name, "fork") for name in SWITCHED), ("MixUpCollate", "spawn")]
)
def test_switching_mixing_off_reaches_persistent_workers(name: str, context: str) -> None:
    """timm's ``--mixup-off-epoch`` with workers that outlive an epoch: ``mixup_enabled = False`` set in
    the training process stops the workers' mixing (labels come one-hot), and ``True`` starts it again.
    A plain attribute would stay as each worker copied it when it started."""
    make, switch = SWITCHED[name]
    collate = make()
    loader = DataLoader(
        PilImages(32), batch_size=8, num_workers=2, collate_fn=collate,
        persistent_workers=True, multiprocessing_context=context,
    )  # fmt: skip

    def mixed_batches() -> list[bool]:
        return [bool((labels.max(1).values < 1).any()) for _, labels in loader]

    torch.manual_seed(0)
    assert any(mixed_batches())
    switch(collate, "mixup_enabled", False)
    assert not any(mixed_batches()) and not collate.mixup_enabled
    switch(collate, "mixup_enabled", True)
    assert any(mixed_batches()) and collate.mixup_enabled


def test_a_collate_switch_needs_a_transform_that_has_one() -> None:
    with pytest.raises(TypeError, match=r"^mixup_enabled needs a transform of this package .*got Lambda"):
        Z.MixCollate(v2.Lambda(lambda batch: batch)).mixup_enabled = False
    with pytest.raises(TypeError, match=r"^mixup_enabled must be a bool, got 0 of type int"):
        Z.MixUpCollate(num_classes=3).mixup_enabled = 0  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"^mixup_enabled must be a bool, got 'no' of type str"):
        Z.MixUp(num_classes=3).mixup_enabled = "no"  # type: ignore[assignment]


def test_a_shared_switch_reads_as_a_bool() -> None:
    """In shared memory the switch is a 0-dim tensor; read, it is the bool ``mixup_enabled`` says."""
    collate = Z.MixUpCollate(num_classes=3)
    collate.mixup_enabled = False
    assert collate.transform.mixup_enabled is False and collate.mixup_enabled is False
    collate.transform.mixup_enabled = True
    assert collate.transform.mixup_enabled is True and collate.mixup_enabled is True


@given(layout=sample_layouts(), cls=st.sampled_from(COLLATE_CLASSES), seed=seeds())
def test_any_sample_layout_collates_to_the_batch_the_transform_mixes(
    cls: type, layout: SampleLayout, seed: int
) -> None:
    """Whatever a sample holds beside its image, mask and label (file names, ids, scores, nested
    records, tensors, in any order of a dict's keys): the collate gives what the method gives on
    the batch collated by hand, the masks mixed with the images' weights, the rest as collated."""
    g = torch.Generator().manual_seed(seed)
    images, masks = torch.rand(4, 3, 6, 6, generator=g), torch.randint(0, 3, (4, 6, 6), generator=g)
    images = (images * 255).to(layout.dtype) if layout.dtype == torch.uint8 else images
    labels = [int(c) for c in torch.randint(0, 3, (4,), generator=g)]
    samples = [layout.sample(i, images[i], masks[i], labels[i]) for i in range(4)]
    by_hand = {key: default_collate([_item(s, layout, key) for s in samples]) for key in layout.order}
    by_hand["image"] = tv_tensors.Image(images) if layout.typed_image else images
    by_hand["mask"] = tv_tensors.Mask(masks)
    batch = by_hand if layout.form == "dict" else [by_hand[key] for key in layout.order]
    torch.manual_seed(seed)
    expected = cls.transform_class(num_classes=3)(batch)
    torch.manual_seed(seed)
    got = cls(num_classes=3)(samples)
    collated = default_collate(samples)
    for key in layout.order:
        have = _item(got, layout, key)
        if key in ("image", "mask", "label"):
            want = _item(expected, layout, key)
            assert type(have) is type(want), key
            torch.testing.assert_close(have, want)
        else:  # passed through as collated
            want = _item(collated, layout, key)
            assert type(have) is type(want) and str(have) == str(want), key


def _item(sample: object, layout: SampleLayout, key: str) -> object:
    """The item ``key`` of a sample or batch in ``layout``."""
    return sample[key] if layout.form == "dict" else sample[layout.order.index(key)]  # type: ignore[index]
