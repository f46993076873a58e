"""Arbitrary inputs at every public callable: a valid mix, or a ValueError/TypeError naming an argument.

Tensors of every dtype (unsigned, bool and complex included), 0 to 5 dimensions, empty sizes,
permuted, sliced and expanded (stride-0) memory, one argument on the meta device (standing in for
another device) or the whole call on it, masks of every kind (class indices, soft, bool, complex,
out of range), ``RandomMix.from_timm`` with timm's arguments, and parameter values of every kind
(NaN, infinities, negatives, strings, None).
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils._pytree import tree_flatten
from torchvision import tv_tensors

import zmix_transforms as Z
from tests.methods import MODE_CLASSES, TRANSFORM_CLASSES, VARIANTS
from zmix_transforms import functional as F

DTYPES = (
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
    torch.bool,
    torch.complex64,
)

# What an error message starts with: an argument's name and "must", or the transform's name and
# what it needs or found.
_NAMES = (
    r"images|labels|x|weights|partners|lam|indices|values|box|box\.\w+|batch|batch_size|height|width|"
    r"gamma|alpha|max_terms|num_classes|label_smoothing|p|generator|dtype|mixed_logits|clean_logits|"
    r"logits|targets|clean_targets|transforms|transforms\[\d+\]|class-index \w+|float targets|"
    r"one-hot clean_targets|labels and images|indices and values|all image batches|a Mask batch|inplace|mode|"
    r"region|region\[\d+\]|masks|mixup_alpha|cutmix_alpha|cutmix_minmax|prob|switch_prob|correct_lam|"
    r"multi_label|mixup_alpha or cutmix_alpha"
)
_OURS = re.compile(
    rf"^(({_NAMES})( of shape \([^)]*\))? (must|needs)|\w+\(\) (needs|found|does not support)|"
    r"ζ-mixup's random keys|one-hot labels of shape|the \d+×\d+ weight matrix)"
)


@st.composite
def tensors(draw: st.DrawFn, *, min_ndim: int = 0, max_ndim: int = 5) -> torch.Tensor:
    """A tensor of any dtype and shape, with contiguous, permuted, sliced or expanded memory."""
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.lists(st.integers(0, 5), min_size=min_ndim, max_size=max_ndim))
    base = torch.randn(shape, dtype=torch.float64) * draw(st.sampled_from([1.0, 100.0, 1e6]))
    if dtype.is_complex or dtype.is_floating_point:
        x = base.to(dtype)
    elif dtype == torch.bool:
        x = base > 0
    else:
        info = torch.iinfo(dtype)
        x = base.clamp(info.min, min(info.max, 2**53)).to(dtype)
    layout = draw(st.sampled_from(["contiguous", "permuted", "sliced", "expanded"]))
    if layout == "permuted" and x.ndim >= 2:
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    elif layout == "sliced" and x.ndim >= 1 and x.shape[-1] >= 2:
        x = torch.cat([x, x], dim=-1)[..., ::2]
    elif layout == "expanded" and x.ndim >= 1 and x.shape[0] >= 1:
        x = x[:1].expand(x.shape)
    return x


def values() -> st.SearchStrategy[Any]:
    """Parameter values of every kind."""
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-5, 40),
        st.sampled_from([None, "2.8", True, [0.5, 0.5], 0.0, 1.0, 2.8, math.nan, -1]),
    )


def labels_for(n: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        tensors(max_ndim=3),
        st.just(torch.arange(max(n, 0)) % 3),
        st.just(torch.eye(max(n, 1))[: max(n, 0), :3]),
        st.sampled_from([[0, 1], None, "labels"]),
    )


def _maybe_meta(draw: st.DrawFn, value: Any) -> Any:
    if isinstance(value, torch.Tensor) and draw(st.integers(0, 9)) == 0:
        return value.to("meta")
    return value


REAL_DTYPES = DTYPES[:12]


@st.composite
def calls(draw: st.DrawFn, name: str) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """A call of the public callable ``name``: well-formed arguments, of which any may be replaced.

    Each argument is kept well-formed or replaced by an arbitrary value, so that draws reach both
    the checks (one bad argument among good ones) and the mixing code (all good).
    """

    def either(good: Any, bad: st.SearchStrategy[Any]) -> Any:
        return _maybe_meta(draw, draw(bad)) if draw(st.integers(0, 3)) == 0 else good

    n = draw(st.integers(1, 6))
    side = st.integers(1, 6)
    shape = (n, draw(st.integers(1, 3)), draw(side), draw(side))
    images = draw(tensors(min_ndim=1)) if draw(st.integers(0, 3)) == 0 else _image_batch(draw, shape)
    n = images.shape[0] if images.ndim else 0
    size = max(n, 1)
    labels = either(torch.eye(size)[:n, :3] if draw(st.booleans()) else torch.arange(n) % 3, labels_for(n))
    lam = either(draw(st.floats(0, 1)), values())
    positive = either(draw(st.floats(0.1, 5)), values())
    partners = either(torch.arange(n).roll(1), _partners(n))
    inplace = draw(st.booleans())
    if name in ("zeta_mixup", "mixup", "cutmix"):
        return getattr(F, name), (images, labels, positive if name == "zeta_mixup" else lam), {}
    if name == "apply_weights":
        weights = either(F.zeta_weights(size, dtype=torch.float64)[:n, :n], tensors(max_ndim=3))
        return F.apply_weights, (images, weights), {"inplace": inplace}
    if name == "apply_terms":
        indices, weights = F.zeta_terms(size, max_terms=2)
        terms = (either(indices[:n], tensors(max_ndim=3)), either(weights[:n], tensors(max_ndim=3)))
        return F.apply_terms, (images, *terms), {"inplace": inplace}
    if name in ("mix_pairs", "paste_box"):
        first = lam if name == "mix_pairs" else either(F.Box(0, 0, 1, 1), values())
        return getattr(F, name), (images, first, partners), {"inplace": inplace}
    if name == "paste_region":  # one region per sample (timm's "elem" mode), or anything else
        corner = F.Region((0, 0), (1, 1))
        regions = either([corner] * n, st.one_of(values(), st.lists(st.sampled_from([corner, None]))))
        return F.paste_region, (images, regions, partners), {"inplace": inplace}
    batch_size = either(n, st.one_of(st.integers(-2, 40), values()))
    if name in ("zeta_weights", "zeta_terms", "zeta_series"):
        return getattr(F, name), (batch_size, positive), {}
    if name in ("cycle_partners", "pair_partners"):
        return getattr(F, name), (batch_size,), {}
    if name == "sample_lambdas":
        return F.sample_lambdas, (positive, batch_size), {}
    if name == "one_hot":
        return F.one_hot, (either(torch.arange(n) % 3, labels_for(n)), either(3, values())), {}
    if name == "smooth_labels":
        return F.smooth_labels, (either(torch.eye(3)[:2], labels_for(n)), lam), {}
    if name == "cutmix_box":
        return F.cutmix_box, (either(shape[2], values()), either(shape[3], values()), lam), {}
    num_classes = either(3, values())
    if draw(st.integers(0, 4)) == 0 and isinstance(labels, torch.Tensor):  # the whole call on meta
        images, labels = images.to("meta"), labels.to("meta")
    mode = either(draw(st.sampled_from(["batch", "elem", "pair"])), values())
    if name == "from_timm":
        timm_options = {
            "mixup_alpha": either(draw(st.sampled_from([0.0, 0.8])), values()),
            "cutmix_alpha": either(draw(st.sampled_from([0.0, 1.0])), values()),
            "cutmix_minmax": either(None, st.one_of(values(), st.tuples(values(), values()))),
            "prob": either(draw(st.floats(0, 1)), values()),
            "switch_prob": either(draw(st.floats(0, 1)), values()),
            "mode": mode,
            "correct_lam": either(True, values()),
            "label_smoothing": either(0.1, values()),
            "num_classes": num_classes,
            "multi_label": either(False, values()),
        }

        def from_timm_and_call(images: Any, labels: Any) -> Any:
            return Z.RandomMix.from_timm(**timm_options)(images, labels)

        return from_timm_and_call, (images, labels), {}
    options = {"num_classes": num_classes}
    if name.split()[0] in MODE_NAMES:  # timm's modes
        options["mode"] = mode
    if name.endswith("masks"):
        method = name.split()[0]
        options["spatial_dims"] = 2
        mask = either(_mask_batch(draw, images), st.one_of(tensors(min_ndim=1), values()))
        mask = tv_tensors.Mask(mask) if isinstance(mask, torch.Tensor) else mask
        sample = {"image": images, "mask": mask}
        if draw(st.booleans()):
            sample["label"] = labels

        def mix_masks(sample: dict[str, Any]) -> Any:
            return getattr(Z, method)(**options)(sample)

        return mix_masks, (sample,), {}

    def construct_and_call(images: Any, labels: Any) -> Any:
        return getattr(Z, name)(**options)(images, labels)

    return construct_and_call, (images, labels), {}


def _mask_batch(draw: st.DrawFn, images: torch.Tensor) -> torch.Tensor:
    """A mask batch for ``images``: class indices (N, H, W) or (N, 1, H, W), or soft (N, K, H, W)."""
    n, spatial = (images.shape[0], tuple(images.shape[-2:])) if images.ndim >= 3 else (1, (1, 1))
    kind = draw(st.sampled_from(["indices", "indices N1", "soft", "bool", "out of range"]))
    if kind == "soft":
        mask = torch.softmax(torch.randn(n, 3, *spatial), 1)
    else:
        top = 5 if kind == "out of range" else 3
        mask = torch.randint(0, top, (n, *spatial), dtype=draw(st.sampled_from([torch.int64, torch.uint8])))
        mask = mask.unsqueeze(1) if kind == "indices N1" else mask
        mask = mask > 0 if kind == "bool" else mask
    return mask.to(images.device)


def _image_batch(draw: st.DrawFn, shape: tuple[int, ...]) -> torch.Tensor:
    dtype = draw(st.sampled_from(REAL_DTYPES))
    base = torch.rand(shape, dtype=torch.float64) * 255
    return base.to(dtype)


def _partners(n: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        tensors(max_ndim=2),
        st.lists(st.integers(-2, n + 2), min_size=n, max_size=n).map(
            lambda v: torch.tensor(v, dtype=torch.int64)
        ),
    )


FUNCTIONAL = [
    "zeta_mixup",
    "mixup",
    "cutmix",
    "apply_weights",
    "apply_terms",
    "mix_pairs",
    "paste_box",
    "zeta_weights",
    "zeta_terms",
    "cycle_partners",
    "pair_partners",
    "paste_region",
    "sample_lambdas",
    "zeta_series",
    "one_hot",
    "smooth_labels",
    "cutmix_box",
]
TRANSFORMS = [cls.__name__ for cls in TRANSFORM_CLASSES] + ["from_timm"]
MASKED = [f"{cls.__name__} masks" for cls in TRANSFORM_CLASSES]
MODE_NAMES = [cls.__name__ for cls in MODE_CLASSES]
FAMILIES = {variant.cls.__name__: variant.family for variant in VARIANTS}


def _check_result(name: str, args: tuple[Any, ...], result: Any) -> None:
    """What every successful call promises: the input's shape and dtype, finite convex mixes."""
    if name in MASKED:
        sample = args[0]
        images, mask = result["image"], result["mask"]
        assert images.shape == sample["image"].shape and images.device == sample["image"].device
        if not isinstance(sample["mask"], tv_tensors.Mask):  # not a mask: passed through as it is
            # a container is rebuilt around the same leaves (torch's pytree, as torchvision's v2)
            (leaves, spec), (given_leaves, given_spec) = tree_flatten(mask), tree_flatten(sample["mask"])
            assert spec == given_spec and all(a is b for a, b in zip(leaves, given_leaves, strict=True))
            return
        assert isinstance(mask, tv_tensors.Mask) and mask.shape[0] == images.shape[0]
        assert mask.device == images.device
        if getattr(Z, name.split()[0]).blends:  # soft masks (N, K, H, W) that sum to 1 per pixel
            assert mask.is_floating_point() and mask.ndim == 4
            if mask.device.type == "cpu" and mask.numel():
                torch.testing.assert_close(mask.sum(1), torch.ones_like(mask.sum(1)), atol=1e-3, rtol=0)
    elif name in ("zeta_mixup", "mixup", "cutmix", *TRANSFORMS):
        images = args[0]
        out, soft = result
        assert out.shape == images.shape and out.dtype == images.dtype and out.device == images.device
        assert soft.is_floating_point() and soft.shape[0] == images.shape[0]
        finite = images.device.type == "cpu" and (
            not images.is_floating_point() or torch.isfinite(images).all()
        )
        if finite and images.dtype not in (torch.bool, torch.complex64) and images.numel():
            # a convex mix stays within each pixel's range over the batch (ResizeMix: the batch's
            # range): exactly, for integers
            # (any rounding of a convex combination of integers lies between them: no wrapping)
            if images.is_floating_point():
                flat, mixed = images.double().reshape(len(images), -1), out.double().reshape(len(images), -1)
                tol = 1e-2 * max(1.0, float(flat.abs().max()))
            else:
                # int64 (torch has no min for uint16...uint64; values here stay below 2^53, so a
                # wrapped uint64 would read negative)
                flat, mixed = images.long().reshape(len(images), -1), out.long().reshape(len(images), -1)
                tol = 0
            if FAMILIES.get(name) == "resize":  # nearest-neighbour copies from other places: any pixel's
                low, high = flat.min(), flat.max()
            else:
                low, high = flat.min(0).values, flat.max(0).values
            assert (mixed >= low - tol).all() and (mixed <= high + tol).all()
        if soft.device.type == "cpu":
            assert torch.isfinite(soft).all()
    elif name in ("apply_weights", "apply_terms", "mix_pairs", "paste_box", "paste_region"):
        assert isinstance(result, torch.Tensor) and result.dtype == args[0].dtype
        assert result.shape[1:] == args[0].shape[1:]


@pytest.mark.parametrize("name", FUNCTIONAL + TRANSFORMS + MASKED)
def test_any_input_is_mixed_or_refused_naming_an_argument(name: str) -> None:
    @given(call=calls(name))
    def run(call: tuple[Any, tuple[Any, ...], dict[str, Any]]) -> None:
        fn, args, kwargs = call
        try:
            result = fn(*args, **kwargs)
        except (ValueError, TypeError) as error:
            assert _OURS.match(str(error)), f"{type(error).__name__} not naming an argument: {error}"
            return
        _check_result(name, args, result)

    run()
