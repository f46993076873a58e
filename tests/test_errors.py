"""Every bad input gets a ValueError or TypeError naming the argument, the expectation and the value."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import PIL.Image
import pytest
import torch
from torchvision import tv_tensors

import zmix_transforms as Z
from tests.methods import BLENDING_CLASSES, COLLATE_CLASSES, TRANSFORM_CLASSES, positional_parameters
from zmix_transforms import functional as F

TRANSFORMS = TRANSFORM_CLASSES
COLLATES = COLLATE_CLASSES
ALL_CLASSES = TRANSFORMS + COLLATES
# the methods whose first parameter is a number > 0 (γ, α); ResizeMix's is a range, tested below
NUMBER_FIRST = [cls for cls in ALL_CLASSES if positional_parameters(cls)[0] in ("gamma", "alpha")]


# -- parameters, checked at construction ------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_a_call_in_another_librarys_argument_order_names_the_class_and_its_keywords(cls: type) -> None:
    """torchvision's reference ``RandomMixup(num_classes, p, alpha)``, renamed to ours."""
    positional = ", ".join(positional_parameters(cls))
    count = len(positional_parameters(cls))
    noun = "argument" if count == 1 else "arguments"
    with pytest.raises(
        TypeError,
        match=rf"^{cls.__name__}\(\) takes at most {count} positional {noun} \({positional}\), got "
        rf"{count + 2}: \(10, .*\); pass the others by keyword: .*num_classes, labels_getter, "
        rf"label_smoothing, multi_label, p, per_rank",
    ):
        cls(10, *[0.5] * (count + 1))
    with pytest.raises(
        TypeError,
        match=rf"^{cls.__name__}\(\) got an unexpected keyword argument 'num_clases' \(did you mean "
        rf"'num_classes'\?\); its keywords are {positional}, ",
    ):
        cls(num_clases=10)


def test_the_shared_options_are_keywords_only_of_a_class_that_takes_them() -> None:
    """``check_call`` lists the shared options (``MixOptions``) among a class's keywords only where
    its signature takes ``**options``: a class without refuses them by name."""
    from zmix_transforms.transforms import check_call

    class Fixed:
        def __init__(self, gamma: float = 1.0) -> None:
            self.gamma = gamma

    with pytest.raises(
        TypeError, match=r"^Fixed\(\) got an unexpected keyword argument 'p'; its keywords are gamma$"
    ):
        check_call(Fixed, (), {"p": 0.5})
    check_call(Z.ZetaMixup, (), {"p": 0.5})  # a method takes them


@pytest.mark.parametrize("cls", NUMBER_FIRST)
@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf, -math.inf])
def test_bad_parameter_value(cls: type, value: float) -> None:
    name = positional_parameters(cls)[0]
    with pytest.raises(ValueError, match=rf"^{name} must be a finite number > 0, got {value}"):
        cls(value)


@pytest.mark.parametrize("cls", NUMBER_FIRST)
@pytest.mark.parametrize("value", ["2.8", None, True, [1.0]])
def test_bad_parameter_type(cls: type, value: object) -> None:
    name = positional_parameters(cls)[0]
    with pytest.raises(TypeError, match=rf"^{name} must be a finite number > 0, got .* of type"):
        cls(value)


@pytest.mark.parametrize("cls", [Z.ResizeMix, Z.ResizeMixCollate])
def test_bad_resizemix_scale(cls: type) -> None:
    for value in ((0.8, 0.1), (0.0, 1.5), (-0.1, 0.5)):
        with pytest.raises(
            ValueError, match=r"^scale must be a pair \(lo, hi\) of fractions with 0 <= lo <= hi <= 1"
        ):
            cls(value)
    for value in (0.5, "0.1, 0.8", (0.1, "0.8")):
        with pytest.raises(TypeError, match=r"^scale must be a pair \(lo, hi\) of fractions"):
            cls(value)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_bad_num_classes(cls: type) -> None:
    with pytest.raises(ValueError, match=r"^num_classes must be an int >= 1, got 0"):
        cls(num_classes=0)
    with pytest.raises(TypeError, match=r"^num_classes must be an int >= 1 or None, got 2.5 of type float"):
        cls(num_classes=2.5)


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_bad_labels_getter(cls: type) -> None:
    with pytest.raises(ValueError, match=r"^labels_getter must be 'default' or a callable, got 'labels'"):
        cls(labels_getter="labels")


def test_mix_collate_arguments() -> None:
    with pytest.raises(TypeError, match=r"^transform must be a callable batch transform, got int"):
        Z.MixCollate(3)
    with pytest.raises(TypeError, match=r"^collate_fn must be a callable or None, got str"):
        Z.MixCollate(Z.MixUp(num_classes=2), collate_fn="stack")
    with pytest.raises(
        TypeError, match=r"^MethodCollate has no method to build: .* use MixCollate\(transform\)$"
    ):
        Z.MethodCollate(Z.MixUp(num_classes=2))


# -- inputs, checked when called ------------------------------------------------------------------


def _images(n: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8)


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_index_labels_need_num_classes(cls: type) -> None:
    with pytest.raises(
        ValueError, match=r"num_classes must be given when labels are class indices .* got None"
    ):
        cls()(_images(), torch.tensor([0, 1, 2, 3]))


@pytest.mark.parametrize("cls", TRANSFORMS)
@pytest.mark.parametrize("bad", [-1, 10])
def test_labels_out_of_range(cls: type, bad: int) -> None:
    labels = torch.tensor([0, 1, bad, 3])
    with pytest.raises(
        ValueError, match=r"labels must be class indices in \[0, num_classes\) = \[0, 10\), got values"
    ):
        cls(num_classes=10)(_images(), labels)


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_a_batch_of_one_is_checked_too(cls: type) -> None:
    with pytest.raises(ValueError, match=r"= \[0, 10\), got values from 11 to 11"):
        cls(num_classes=10)(_images(1), torch.tensor([11]))
    with pytest.raises(ValueError, match=r"num_classes must be given"):
        cls()(_images(1), torch.tensor([0]))


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_batch_sizes_differ(cls: type) -> None:
    with pytest.raises(
        ValueError, match=r"labels and images must have the same batch size, got 3 labels for 4 images"
    ):
        cls(num_classes=10)(_images(4), torch.tensor([0, 1, 2]))


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_soft_labels_with_wrong_num_classes(cls: type) -> None:
    with pytest.raises(ValueError, match=r"must have K == num_classes = 10, got K = 5"):
        cls(num_classes=10)(_images(), torch.full((4, 5), 0.2))


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_labels_of_bad_shape_or_dtype(cls: type) -> None:
    with pytest.raises(
        ValueError,
        match=r"labels must be class indices of shape \(N,\) or \(N, 1\), or float labels of shape",
    ):
        cls(num_classes=2)(_images(), torch.zeros(4, 2, 1))
    with pytest.raises(  # a dense map under the 'label' key (MONAI's segmentation dicts): what to do
        ValueError,
        match=r"^labels must be class indices of shape \(N,\) or \(N, 1\), or float labels of shape \(N, K\), "
        r"got shape \(4, 1, 8, 8\); a segmentation mask goes in as a tv_tensors.Mask \(under a 'label' key "
        r"too\), mixed with the images' weights$",
    ):
        cls(num_classes=2)({"image": _images(), "label": torch.zeros(4, 1, 8, 8, dtype=torch.long)})
    with pytest.raises(
        TypeError, match=r"labels of shape \(N,\) must be integer class indices, got dtype torch.float32"
    ):
        cls(num_classes=2)(_images(), torch.zeros(4))
    with pytest.raises(TypeError, match=r"^labels must be a torch.Tensor, got list"):
        cls(num_classes=2)(_images(), [0, 1, 0, 1])
    for shape in ((4,), (4, 2)):
        with pytest.raises(TypeError, match=r"^labels must hold real numbers, got dtype torch.complex64$"):
            cls(num_classes=2)(_images(), torch.zeros(shape, dtype=torch.complex64))


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_unbatched_image(cls: type) -> None:
    with pytest.raises(
        ValueError, match=r"needs a batch of images of shape \(N, C, H, W\), got an unbatched Tensor"
    ):
        cls(num_classes=3)(torch.rand(3, 8, 8), torch.tensor([0, 1, 2]))
    with pytest.raises(  # a single row of values (one flat image, or features): the same advice
        ValueError,
        match=r"needs a batch of images of shape \(N, C, H, W\), got an unbatched Tensor of shape \(3,\)",
    ):
        cls(num_classes=3)(torch.rand(3), torch.tensor([0, 1, 2]))
    with pytest.raises(  # a batch of feature vectors (N, D): where to mix it
        ValueError,
        match=r"^\w+\(\) needs a batch of images of shape \(N, C, H, W\), got an unbatched Tensor of shape "
        r"\(4, 16\); batch the samples first \(for example with a DataLoader or the collate classes\), or "
        r"mix batches of other shapes \(feature vectors, sequences\) with zmix_transforms.functional$",
    ):
        cls(num_classes=3)(torch.rand(4, 16), torch.tensor([0, 1, 2, 0]))
    with pytest.raises(
        ValueError, match=r"shape \(N, T, C, H, W\), got an unbatched Video of shape \(2, 3, 8, 8\)"
    ):
        cls(num_classes=3)(tv_tensors.Video(torch.rand(2, 3, 8, 8)), torch.tensor([0, 1]))


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_empty_batch(cls: type) -> None:
    with pytest.raises(ValueError, match=r"images must hold at least one sample, got an empty batch"):
        cls(num_classes=3)(torch.rand(0, 3, 8, 8), torch.zeros(0, dtype=torch.int64))


@pytest.mark.parametrize("cls", COLLATES)
def test_empty_batch_in_collate(cls: type) -> None:
    with pytest.raises(ValueError, match=r"^batch must hold at least one sample, got an empty batch"):
        cls(num_classes=3)([])
    with pytest.raises(TypeError, match=r"^batch must be a sequence of samples, got int"):
        cls(num_classes=3)(5)


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_no_labels_found(cls: type) -> None:
    with pytest.raises(ValueError, match=r"found no labels in the input: .* got a single tensor of shape"):
        cls(num_classes=3)(_images())
    with pytest.raises(
        ValueError, match=r"found no labels in the input: .* got a dict with keys \['image'\]"
    ):
        cls(num_classes=3)({"image": _images()})
    with pytest.raises(ValueError, match=r"found no labels in the input: .* got a list of 1 item\(s\)$"):
        cls(num_classes=3)([_images()])
    with pytest.raises(ValueError, match=r"found no labels in the input: .* got int$"):
        cls(num_classes=3)(5)
    masks = torch.zeros(4, 5, 5, dtype=torch.int64)  # a Mask that default_collate made a plain tensor
    with pytest.raises(
        ValueError,
        match=r"got a dict with keys \['image', 'mask'\]; a segmentation mask goes in as a tv_tensors.Mask$",
    ):
        cls(num_classes=3)({"image": _images(), "mask": masks})
    with pytest.raises(ValueError, match=r"labels_getter must return a tensor that is part of the input"):
        cls(num_classes=3, labels_getter=lambda sample: torch.zeros(4, dtype=torch.int64))(
            _images(), torch.zeros(4)
        )


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_no_image_found(cls: type) -> None:
    with pytest.raises(ValueError, match=r"found no image batch in the input"):
        cls(num_classes=3)({"label": torch.tensor([0, 1])})


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_non_tensor_image_batch(cls: type) -> None:
    labels = torch.tensor([0, 1])
    with pytest.raises(TypeError, match=r"images must be a batched torch.Tensor .* got numpy.ndarray"):
        cls(num_classes=3)(np.zeros((2, 3, 8, 8), dtype=np.float32), labels)
    pil = PIL.Image.new("RGB", (8, 8))
    with pytest.raises(TypeError, match=r"images must be a batched torch.Tensor .* got PIL.Image.Image"):
        cls(num_classes=3)([pil, pil], labels)
    with pytest.raises(
        TypeError, match=r"images must hold real numbers \(a float or integer dtype\), got dtype torch.bool"
    ):
        cls(num_classes=3)(torch.zeros(2, 3, 8, 8, dtype=torch.bool), labels)


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_boxes_are_rejected(cls: type) -> None:
    images, labels = _images(2), torch.tensor([0, 1])
    boxes = tv_tensors.BoundingBoxes(torch.zeros(2, 4), format="XYXY", canvas_size=(8, 8))
    with pytest.raises(
        ValueError,
        match=r"^\w+\(\) does not support BoundingBoxes: it mixes the pixels of several images, which has no "
        r"meaning for bounding boxes or keypoints$",
    ):
        cls(num_classes=3)(images, labels, boxes)


@pytest.mark.parametrize("cls", BLENDING_CLASSES)
def test_blending_methods_need_num_classes_for_class_index_masks(cls: type) -> None:
    mask = tv_tensors.Mask(torch.zeros(2, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"^num_classes must be given to mix class-index masks"):
        cls()(tv_tensors.Image(_images(2)), mask)


def test_cutmix_checks_mask_shapes() -> None:
    mask = tv_tensors.Mask(torch.zeros(2, 7, 8, dtype=torch.uint8))
    with pytest.raises(
        ValueError,
        match=r"a Mask batch must have shape \(N, H, W\) .* \(N = 2, H×W = \(8, 8\)\), got shape \(2, 7, 8\)",
    ):
        Z.CutMix()(tv_tensors.Image(_images(2)), mask)


# -- the functional API ------------------------------------------------------------------------------


def test_functional_argument_errors() -> None:
    x, y = torch.rand(4, 3, 8, 8), torch.eye(4)
    with pytest.raises(ValueError, match=r"^batch_size must be an int >= 1, got 0"):
        F.zeta_weights(0)
    with pytest.raises(TypeError, match=r"^batch_size must be an int >= 1, got 2.0 of type float"):
        F.zeta_weights(2.0)
    with pytest.raises(ValueError, match=r"^gamma must be a finite number > 0, got nan"):
        F.zeta_mixup(x, y, math.nan)
    with pytest.raises(ValueError, match=r"^lam must be a number in \[0, 1\], got 1.5"):
        F.mixup(x, y, 1.5)
    with pytest.raises(ValueError, match=r"^lam must be a number in \[0, 1\], got nan"):
        F.cutmix(x, y, math.nan)
    with pytest.raises(ValueError, match=r"^alpha must be a finite number > 0, got -1.0"):
        F.sample_lambda(-1.0)
    with pytest.raises(TypeError, match=r"^generator must be a torch.Generator or None, got int"):
        F.mixup(x, y, 0.5, generator=0)
    with pytest.raises(TypeError, match=r"^labels must be a float tensor of shape \(N, K\) \(use .*one_hot"):
        F.zeta_mixup(x, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(
        ValueError, match=r"^labels and images must have the same batch size, got 3 labels for 4"
    ):
        F.mixup(x, torch.eye(3), 0.5)
    with pytest.raises(
        ValueError, match=r"^images must be a batch of shape \(N, \.\.\., H, W\) with at least 3"
    ):
        F.cutmix(torch.rand(4, 8), y, 0.5)
    with pytest.raises(
        TypeError, match=r"^images must be a torch.Tensor batch of shape \(N, \.\.\.\), got list"
    ):
        F.zeta_mixup([1.0, 2.0], y)
    with pytest.raises(ValueError, match=r"^images must hold at least one sample, got an empty batch"):
        F.zeta_mixup(torch.rand(0, 3), torch.zeros(0, 2))


def test_kernel_argument_errors() -> None:
    x = torch.rand(4, 3, 8, 8)
    with pytest.raises(
        ValueError, match=r"^weights must have shape \(M, N\) with N = 4 .* got shape \(4, 3\)"
    ):
        F.apply_weights(x, torch.rand(4, 3))
    with pytest.raises(
        TypeError, match=r"^weights must be a float torch.Tensor of shape \(M, N\), got a tensor of dtype"
    ):
        F.apply_weights(x, torch.eye(4, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"^partners must be an int64 torch.Tensor of shape \(N,\)"):
        F.mix_pairs(x, 0.5, torch.tensor([1, 2, 3, 0], dtype=torch.int32))
    with pytest.raises(
        ValueError, match=r"^partners must have shape \(N,\) = \(4,\), matching the batch, got shape"
    ):
        F.mix_pairs(x, 0.5, torch.tensor([1, 0]))
    with pytest.raises(ValueError, match=r"^box must lie inside the 8×8 image"):
        F.paste_box(x, F.Box(0, 0, 9, 4), torch.tensor([1, 2, 3, 0]))
    # a box is checked on any batch with (H, W), (N, H, W) included; x itself, a list here, by the
    # region's checks (mutation seed 62: box checks from four dimensions, or of any x, passed)
    with pytest.raises(ValueError, match=r"^box must lie inside the 8×8 image"):
        F.paste_box(x[:, 0], F.Box(0, 0, 9, 4), torch.tensor([1, 2, 3, 0]))
    with pytest.raises(
        TypeError, match=r"^x must be a torch.Tensor batch of shape \(N, \.\.\., \*spatial\), got list$"
    ):
        F.paste_box(x.tolist(), F.Box(0, 0, 2, 2), torch.tensor([1, 2, 3, 0]))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^box must be a Box \(x1, y1, x2, y2\), got"):
        F.paste_box(x, [0, 0, 2, 2], torch.tensor([1, 2, 3, 0]))
    with pytest.raises(
        TypeError, match=r"^box must hold four ints \(x1, y1, x2, y2\), got Box\(x1=1.5, y1=0, x2=2, y2=2\)$"
    ):
        F.paste_box(x, F.Box(1.5, 0, 2, 2), torch.tensor([1, 2, 3, 0]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^height must be an int >= 1, got 0"):
        F.cutmix_box(0, 4, 0.5)


def test_the_methods_draw_functions_check_their_arguments() -> None:
    """FMix's and ResizeMix's public draws refuse what would give wrong masks or regions silently
    (a share above 1, a negative decay, a scale above 1) or fail deep inside torch."""
    from zmix_transforms.fmix import fmix_masks
    from zmix_transforms.resizemix import resizemix_regions

    half = torch.tensor([0.5], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^lams must hold shares in \[0, 1\], got values from 0.5 to 1.5$"):
        fmix_masks(torch.tensor([0.5, 1.5]), (8, 8), 3.0)
    with pytest.raises(ValueError, match=r"^lams must hold shares in \[0, 1\], got values from nan to nan$"):
        fmix_masks(torch.tensor([math.nan]), (8, 8), 3.0)
    with pytest.raises(
        ValueError, match=r"^lams must be a float tensor of shape \(L,\) with L >= 1, got shape \(1, 1\)$"
    ):
        fmix_masks(half.reshape(1, 1), (8, 8), 3.0)
    with pytest.raises(
        ValueError, match=r"^lams must be a float tensor of shape \(L,\) with L >= 1, got shape \(0,\)$"
    ):
        fmix_masks(half[:0], (8, 8), 3.0)
    with pytest.raises(TypeError, match=r"^lams must be a float tensor of shape \(L,\), got list$"):
        fmix_masks([0.5], (8, 8), 3.0)
    with pytest.raises(ValueError, match=r"^decay must be a finite number > 0, got -1.0$"):
        fmix_masks(half, (8, 8), -1.0)
    with pytest.raises(ValueError, match=r"^spatial must be an int >= 1, got 0$"):
        fmix_masks(half, (8, 0), 3.0)
    with pytest.raises(
        TypeError, match=r"^spatial must be a tuple of spatial sizes such as \(H, W\) .* got 8$"
    ):
        fmix_masks(half, 8, 3.0)
    with pytest.raises(TypeError, match=r"^generator must be a torch.Generator or None, got int$"):
        fmix_masks(half, (8, 8), 3.0, 0)
    with pytest.raises(ValueError, match=r"^count must be an int >= 1, got 0$"):
        resizemix_regions(0, (8, 8))
    with pytest.raises(TypeError, match=r"^count must be an int >= 1, got 2.5 of type float$"):
        resizemix_regions(2.5, (8, 8))
    with pytest.raises(ValueError, match=r"^spatial must be an int >= 1, got 0$"):
        resizemix_regions(2, (8, 0))
    with pytest.raises(
        ValueError,
        match=r"^scale must be a pair \(lo, hi\) of fractions with 0 <= lo <= hi <= 1, got \(0.5, 1.5\)$",
    ):
        resizemix_regions(2, (8, 8), (0.5, 1.5))
    with pytest.raises(TypeError, match=r"^scale must be a pair \(lo, hi\) .* got 0.5$"):
        resizemix_regions(2, (8, 8), 0.5)
    with pytest.raises(TypeError, match=r"^generator must be a torch.Generator or None, got int$"):
        resizemix_regions(2, (8, 8), generator=1)


def test_one_hot_errors() -> None:
    with pytest.raises(
        TypeError, match=r"^labels must be integer class indices \(any int dtype\), got dtype torch.float32"
    ):
        F.one_hot(torch.zeros(3), 2)
    with pytest.raises(ValueError, match=r"^class-index labels must have shape \(N,\), got shape \(3, 1\)"):
        F.one_hot(torch.zeros(3, 1, dtype=torch.int64), 2)
    with pytest.raises(
        ValueError,
        match=r"^labels must be class indices in \[0, num_classes\) = \[0, 2\), got values from 0 to 2",
    ):
        F.one_hot(torch.tensor([0, 2]), 2)
    with pytest.raises(TypeError, match=r"^dtype must be a float dtype, got torch.int64"):
        F.one_hot(torch.tensor([0, 1]), 2, dtype=torch.int64)
    with pytest.raises(TypeError, match=r"^num_classes must be an int >= 1, got None"):
        F.one_hot(torch.tensor([0, 1]), None)
    with pytest.raises(TypeError, match=r"^labels must be a torch.Tensor of class indices, got list$"):
        F.one_hot([0, 1], 2)


def test_one_hot_masks_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"^class-index masks must have shape \(N, \*spatial\) or \(N, 1, \*spatial\) with 2 spatial "
        r"dimensions, got shape \(2, 3, 4, 4\)",
    ):
        F.one_hot_masks(torch.zeros(2, 3, 4, 4, dtype=torch.int64), 3)


@pytest.mark.parametrize("cls", [cls for cls in BLENDING_CLASSES if cls in TRANSFORMS])
def test_a_float_mask_batch_must_hold_soft_masks(cls: type) -> None:
    """A blending method mixes a float ``tv_tensors.Mask`` as soft masks (N, K, *spatial) and refuses a
    float (N, H, W) one (the copying methods copy any mask as it is)."""
    with pytest.raises(
        ValueError,
        match=r"^a float Mask batch must hold soft masks of shape \(N, K, \*spatial\) with 2 spatial "
        r"dimensions, got shape \(2, 4, 4\)",
    ):
        cls(num_classes=3)(torch.rand(2, 3, 4, 4), torch.tensor([0, 1]), tv_tensors.Mask(torch.rand(2, 4, 4)))


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_image_batches_of_one_call_must_have_one_size(cls: type) -> None:
    images = (tv_tensors.Image(torch.rand(2, 3, 4, 4)), tv_tensors.Image(torch.rand(3, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"^all image batches must have the same size, got 2 and 3$"):
        cls(num_classes=3)(*images, torch.tensor([0, 1]))


@pytest.mark.parametrize("function", [F.mixup, F.cutmix, F.zeta_mixup], ids=lambda f: f.__name__)
def test_the_functional_api_takes_soft_labels_of_shape_n_k(function: Callable[..., Any]) -> None:
    images = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"^labels must have shape \(N, K\), got shape \(2, 3, 1\)$"):
        function(images, torch.rand(2, 3, 1), 0.5)
    with pytest.raises(TypeError, match=r"^labels must be a float torch.Tensor of shape \(N, K\), got list$"):
        function(images, [0.5, 0.5], 0.5)


def test_loss_errors() -> None:
    with pytest.raises(ValueError, match=r"^reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"):
        Z.SoftTargetCrossEntropy("avg")
    loss = Z.SoftTargetCrossEntropy()
    with pytest.raises(
        ValueError, match=r"^float targets must have the shape of logits \(2, 3\), got \(2, 4\)"
    ):
        loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(
        TypeError,
        match=r"^logits must be a float torch.Tensor of shape \(N, K\), got a tensor of dtype torch.int64",
    ):
        loss(torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"^class-index targets must have shape \(N,\) = \(2,\), got \(3,\)"):
        loss(torch.zeros(2, 3), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"^logits must have shape \(N, K\), got shape \(3,\)$"):
        loss(torch.zeros(3), torch.zeros(3))
    for spatial in [(5,), (4, 4)]:  # per-pixel logits of one spatial dimension get the hint too
        shape = (2, 3, *spatial)
        with pytest.raises(
            ValueError,
            match=rf"^logits must have shape \(N, K\), got shape {re.escape(str(shape))}; for per-pixel "
            r"logits \(N, K, \*spatial\) use torch.nn.functional.cross_entropy, which takes soft masks as "
            r"class probabilities, or SoftDiceLoss$",
        ):
            loss(torch.zeros(shape), torch.full(shape, 1 / 3))
    with pytest.raises(TypeError, match=r"^targets must be a torch.Tensor, got list$"):
        loss(torch.zeros(2, 3), [0, 1])


def test_soft_dice_loss_errors() -> None:
    with pytest.raises(ValueError, match=r"^reduction must be one of \('mean', 'sum', 'none'\), got 'avg'$"):
        Z.SoftDiceLoss(reduction="avg")
    loss, logits = Z.SoftDiceLoss(), torch.zeros(2, 3, 4, 4)
    with pytest.raises(
        TypeError,
        match=r"^targets must be soft masks \(N, K, \*spatial\) or class-index masks \(N, \*spatial\), got a "
        r"tensor of dtype torch.bool and shape \(2, 4, 4\)$",
    ):
        loss(logits, torch.zeros(2, 4, 4, dtype=torch.bool))
    with pytest.raises(
        ValueError,
        match=r"^class-index targets must have shape \(N, \*spatial\) = \(2, 4, 4\), got \(2, 5, 4\)$",
    ):
        loss(logits, torch.zeros(2, 5, 4, dtype=torch.int64))
