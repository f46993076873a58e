"""Hypothesis strategies for mixing tests: batches, shapes, dtypes, label kinds and parameters."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torchvision import tv_tensors

FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
INT_DTYPES = (torch.uint8, torch.int16, torch.int32)
IMAGE_DTYPES = FLOAT_DTYPES + INT_DTYPES
LABEL_INDEX_DTYPES = (torch.int64, torch.int32, torch.int16, torch.uint8)
LABEL_KINDS = ("index", "one_hot", "soft", "multi_hot")


@dataclass(frozen=True)
class MixBatch:
    """A generated batch: images (any dtype), labels of one kind, and the class count."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    label_kind: str

    @property
    def batch_size(self) -> int:
        return int(self.images.shape[0])

    def soft_labels(self) -> torch.Tensor:
        """The labels as float (N, K), as every method sees them."""
        if self.label_kind == "index":
            return torch.nn.functional.one_hot(self.labels.long(), self.num_classes).to(torch.float32)
        return self.labels


@st.composite
def batch_sizes(draw: st.DrawFn, min_size: int = 1, max_size: int = 64) -> int:
    """Batch sizes, with the edge cases 1 and 2 drawn often."""
    return draw(
        st.one_of(st.sampled_from([1, 2]), st.integers(min_size, max_size)).filter(lambda n: n >= min_size)
    )


@st.composite
def image_shapes(draw: st.DrawFn, batch_size: int, kind: str = "image") -> tuple[int, ...]:
    """Shapes of a batch: ``image`` (N, C, H, W), ``video`` (N, T, C, H, W), ``volume`` (N, C, D, H, W),
    ``any`` (N, ...)."""
    side = st.integers(1, 12)
    if kind == "volume":
        depth = st.integers(1, 6)
        return (batch_size, draw(st.integers(1, 2)), draw(depth), draw(depth), draw(side))
    if kind == "image":
        return (batch_size, draw(st.integers(1, 3)), draw(side), draw(side))
    if kind == "video":
        return (batch_size, draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(side), draw(side))
    trailing = draw(st.lists(st.integers(1, 6), min_size=0, max_size=3))
    return (batch_size, *trailing)


@st.composite
def image_dtypes(draw: st.DrawFn) -> torch.dtype:
    """Every image dtype the methods take: float32/64, float16, bfloat16 and integer types."""
    return draw(st.sampled_from(IMAGE_DTYPES))


def make_images(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Random images of a shape and dtype: floats in [-1, 1] (scaled by 10), integers in [0, 255]."""
    g = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return ((torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * 10).to(dtype)
    return torch.randint(0, 256, shape, generator=g, dtype=torch.int64).to(dtype)


@st.composite
def labels_for(draw: st.DrawFn, batch_size: int) -> tuple[torch.Tensor, int, str]:
    """Labels of one kind for a batch: class indices (any int dtype), one-hot, soft or multi-hot floats."""
    kind = draw(st.sampled_from(LABEL_KINDS))
    num_classes = draw(st.integers(1, 12))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    if kind == "index":
        dtype = draw(st.sampled_from(LABEL_INDEX_DTYPES))
        return torch.randint(0, num_classes, (batch_size,), generator=g).to(dtype), num_classes, kind
    float_dtype = draw(st.sampled_from((torch.float32, torch.float64)))
    if kind == "one_hot":
        idx = torch.randint(0, num_classes, (batch_size,), generator=g)
        labels = torch.nn.functional.one_hot(idx, num_classes).to(float_dtype)
    elif kind == "soft":
        labels = torch.distributions.Dirichlet(torch.ones(num_classes)).sample((batch_size,)).to(float_dtype)
    else:  # multi-hot: rows need not sum to 1
        labels = (torch.rand(batch_size, num_classes, generator=g) < 0.4).to(float_dtype)
    return labels, num_classes, kind


@st.composite
def mix_batches(draw: st.DrawFn, kind: str = "image", min_batch: int = 1, max_batch: int = 64) -> MixBatch:
    """A whole batch: images of a drawn shape and dtype with labels of a drawn kind."""
    n = draw(batch_sizes(min_batch, max_batch))
    shape = draw(image_shapes(n, kind))
    images = make_images(shape, draw(image_dtypes()), draw(st.integers(0, 2**31 - 1)))
    if kind == "video":  # a 5-D batch is a video batch only when it says so
        images = tv_tensors.Video(images)
    labels, num_classes, label_kind = draw(labels_for(n))
    return MixBatch(images, labels, num_classes, label_kind)


@st.composite
def gammas(draw: st.DrawFn) -> float:
    """ζ-mixup exponents, including the paper's 2.8 and the 1.73 threshold."""
    return draw(st.one_of(st.sampled_from([2.8, 1.73, 0.5]), st.floats(0.1, 8.0)))


@st.composite
def alphas(draw: st.DrawFn) -> float:
    """Beta concentrations, from very peaked (0.05) to near-constant (20)."""
    return draw(st.one_of(st.sampled_from([1.0, 0.2, 0.05]), st.floats(0.05, 20.0)))


@st.composite
def scales(draw: st.DrawFn) -> tuple[float, float]:
    """ResizeMix's τ ranges ``(lo, hi)``, the paper's (0.1, 0.8) and the whole (0, 1] included."""
    if draw(st.booleans()):
        return draw(st.sampled_from([(0.1, 0.8), (0.0, 1.0), (0.5, 0.6)]))
    low = draw(st.floats(0.0, 0.9))
    return low, draw(st.floats(low + 0.05, 1.0))


@st.composite
def lams(draw: st.DrawFn) -> float:
    """Mixing weights in [0, 1], the ends included."""
    return draw(st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0)))


@st.composite
def seeds(draw: st.DrawFn) -> int:
    """Seeds for torch generators."""
    return draw(st.integers(0, 2**31 - 1))


@st.composite
def permutations(draw: st.DrawFn, max_size: int = 24) -> torch.Tensor:
    """Permutations of ``0..N-1`` as int64 tensors: several cycles, fixed points, the identity."""
    n = draw(batch_sizes(max_size=max_size))
    return torch.tensor(draw(st.permutations(range(n))), dtype=torch.int64)


#: The extra items a dataset's sample may hold beside its image, mask and label, and what one
#: sample's value is: a file name, an id, a score, a nested record, an auxiliary tensor.
SAMPLE_EXTRAS = ("name", "id", "score", "meta", "aux")


@dataclass(frozen=True)
class SampleLayout:
    """How a dataset's samples are laid out: a dict (keys in ``order``) or a tuple/named tuple
    ``(image, [mask,] label, *extras)``, with or without a ``tv_tensors.Mask``."""

    form: str
    order: tuple[str, ...]
    mask: bool
    typed_image: bool
    dtype: torch.dtype  # the images' (float32, or uint8 as PILToTensor gives them)

    def sample(self, index: int, image: torch.Tensor, mask: torch.Tensor, label: int) -> object:
        """Sample ``index``: its image, mask and label among the extras, in this layout."""
        values = {
            "image": tv_tensors.Image(image) if self.typed_image else image,
            "mask": tv_tensors.Mask(mask),
            "label": label,
            "name": f"case_{index}.png",
            "id": index,
            "score": index / 10,
            "meta": {"site": "A" if index % 2 else "B", "slice": index},
            "aux": torch.full((2,), float(index)),
        }
        return (
            {key: values[key] for key in self.order}
            if self.form == "dict"
            else tuple(values[key] for key in self.order)
        )


@st.composite
def sample_layouts(draw: st.DrawFn) -> SampleLayout:
    """A sample layout: a dict in any key order (a mask, a label or both), or a tuple with the
    image first, then the mask (if any), the label and the extras, as torchvision's convention."""
    form = draw(st.sampled_from(["dict", "tuple"]))
    extras = draw(st.lists(st.sampled_from(SAMPLE_EXTRAS), unique=True, max_size=len(SAMPLE_EXTRAS)))
    mask = draw(st.booleans())
    if form == "dict":
        targets = ["mask", "label"] if mask and draw(st.booleans()) else ["mask"] if mask else ["label"]
        order = tuple(draw(st.permutations(["image", *targets, *extras])))
    else:
        order = ("image", *(["mask"] if mask else []), "label", *extras)
    return SampleLayout(
        form, order, mask, draw(st.booleans()), draw(st.sampled_from([torch.float32, torch.uint8]))
    )
