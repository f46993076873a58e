"""Batch mixing transforms for ``torchvision.transforms.v2`` pipelines.

Each transform follows torchvision's ``MixUp``/``CutMix``: ``forward`` finds the image batch and the
labels in whatever structure it was given, checks them, lets `make_params` draw the random
parameters once, then applies them to every image batch (`transform`) and to the labels
(`mix_labels`) with the kernels of `zmix_transforms.functional`.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable
from typing import Any

import numpy as np
import PIL.Image
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform

from . import functional as F
from ._checks import check_finite_positive, check_num_classes, check_same_batch_size

__all__ = ["CutMix", "MixUp", "ZetaMixup"]

LabelsGetter = Callable[[Any], Any]

# tv_tensors that a whole-image mix cannot carry along (KeyPoints is new in torchvision 0.23).
_UNSUPPORTED_TV_TENSORS: tuple[type, ...] = tuple(
    cls
    for cls in (
        getattr(tv_tensors, "BoundingBoxes", None),
        getattr(tv_tensors, "Mask", None),
        getattr(tv_tensors, "KeyPoints", None),
    )
    if cls is not None
)


def _is_pure_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and not isinstance(x, tv_tensors.TVTensor)


def default_labels_getter(sample: Any) -> Any:
    """Find the labels the way torchvision's ``labels_getter="default"`` does.

    A tuple or list gives its second item; a mapping (or a mapping found as that second item) gives the
    value of its key named ``labels``, else of the first key that contains ``label`` (both
    case-insensitive). Unlike torchvision's heuristic, a lone tensor is not taken as the labels: a
    mixing transform called with images alone reports that it found no labels.

    Args:
        sample: The input given to the transform.

    Returns:
        The labels, or ``None`` when there are none to be found.
    """
    if isinstance(sample, (tuple, list)):
        if len(sample) < 2:
            return None
        sample = sample[1]
        if not isinstance(sample, collections.abc.Mapping):
            return sample  # checked by the caller: a tensor is expected
    if isinstance(sample, collections.abc.Mapping):
        keys = [key for key in sample if isinstance(key, str)]
        for key in keys:
            if key.lower() == "labels":
                return sample[key]
        for key in keys:
            if "label" in key.lower():
                return sample[key]
    return None


def _parse_labels_getter(labels_getter: Any) -> LabelsGetter:
    if isinstance(labels_getter, str) and labels_getter == "default":
        return default_labels_getter
    if callable(labels_getter):
        return labels_getter
    raise ValueError(f"labels_getter must be 'default' or a callable, got {labels_getter!r}")


class _BatchMix(Transform):
    """Shared input handling of the batch mixing transforms (not public)."""

    def __init__(self, *, num_classes: int | None = None, labels_getter: Any = "default") -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        self.labels_getter = labels_getter
        self._labels_getter = _parse_labels_getter(labels_getter)

    # -- the three steps a subclass defines ------------------------------------------------------

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw this call's random parameters for the image batches in ``flat_inputs``."""
        raise NotImplementedError

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Mix one image or video batch with the drawn parameters."""
        raise NotImplementedError

    def mix_labels(self, labels: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Mix float (N, K) labels with the drawn parameters."""
        raise NotImplementedError

    # -- input handling ------------------------------------------------------------------------

    def forward(self, *inputs: Any) -> Any:
        """Mix the image batch(es) and the labels found in ``inputs``; pass everything else through.

        Args:
            *inputs: ``(images, labels)``, a tuple or list of them, a dict holding an image batch and
                a label-like key, or ``(images, labels, *extra)``.

        Returns:
            The same structure, with mixed image batches and float (N, K) labels.
        """
        sample = inputs if len(inputs) > 1 else inputs[0]
        flat_inputs, spec = tree_flatten(sample)
        image_positions, label_position, labels = self._parse(sample, flat_inputs)
        images = [flat_inputs[i] for i in image_positions]
        flat_outputs = list(flat_inputs)
        if labels.shape[0] == 1:  # nothing to mix with: return the sample as it is, labels made soft
            params = None
            flat_outputs[label_position] = labels.clone() if labels is flat_inputs[label_position] else labels
        else:
            params = self.make_params(images)
            flat_outputs[label_position] = self.mix_labels(labels, params)
        for position, image in zip(image_positions, images, strict=True):
            mixed = (
                image.as_subclass(torch.Tensor).clone() if params is None else self.transform(image, params)
            )
            flat_outputs[position] = (
                tv_tensors.wrap(mixed, like=image) if isinstance(image, tv_tensors.TVTensor) else mixed
            )
        return tree_unflatten(flat_outputs, spec)

    def _parse(self, sample: Any, flat_inputs: list[Any]) -> tuple[list[int], int, torch.Tensor]:
        """Check the input and return image positions, the label position and float (N, K) labels."""
        name = type(self).__name__
        for item in flat_inputs:
            if isinstance(item, _UNSUPPORTED_TV_TENSORS):
                raise ValueError(
                    f"{name}() does not support {type(item).__name__}: mixing blends whole images, which "
                    f"has no meaning for bounding boxes, masks or keypoints"
                )
        labels = self._labels_getter(sample)
        if labels is None:
            raise ValueError(
                f"{name}() found no labels in the input: expected (images, labels), a dict with a "
                f"'labels'-like key, or a labels_getter that finds them, got {_describe_sample(sample)}"
            )
        if not isinstance(labels, torch.Tensor):
            raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
        label_position = next((i for i, item in enumerate(flat_inputs) if item is labels), None)
        if label_position is None:
            raise ValueError("labels_getter must return a tensor that is part of the input, got a new tensor")

        image_positions = _find_image_batches(flat_inputs, labels, name)
        batch_size = None
        for position in image_positions:
            image = flat_inputs[position]
            min_ndim = 5 if isinstance(image, tv_tensors.Video) else 4
            layout = "(N, T, C, H, W)" if min_ndim == 5 else "(N, C, H, W)"
            if image.dtype == torch.bool or image.is_complex():
                raise TypeError(
                    f"images must hold real numbers (a float or integer dtype), got dtype {image.dtype}"
                )
            if image.ndim < min_ndim:
                raise ValueError(
                    f"{name}() needs a batch of images of shape {layout}, got an unbatched "
                    f"{type(image).__name__} of shape {tuple(image.shape)}; batch the samples first "
                    f"(for example with a DataLoader or the collate classes)"
                )
            if image.shape[0] == 0:
                raise ValueError(
                    f"images must hold at least one sample, got an empty batch of shape {tuple(image.shape)}"
                )
            if batch_size is not None and image.shape[0] != batch_size:
                raise ValueError(
                    f"all image batches must have the same size, got {batch_size} and {image.shape[0]}"
                )
            batch_size = int(image.shape[0])
        assert batch_size is not None
        return image_positions, label_position, _soft_labels(labels, self.num_classes, batch_size)

    def extra_repr(self) -> str:
        """The constructor arguments, as shown by ``repr``."""
        return ", ".join(f"{key}={value!r}" for key, value in self._repr_items())

    def _repr_items(self) -> list[tuple[str, Any]]:
        return [("num_classes", self.num_classes)]


def _find_image_batches(flat_inputs: list[Any], labels: torch.Tensor, name: str) -> list[int]:
    """Positions of the image batches, found by torchvision's rule.

    Every ``tv_tensors.Image`` or ``Video`` is an image batch; without one, the first plain tensor
    that is not the labels is.
    """
    explicit = [
        i for i, item in enumerate(flat_inputs) if isinstance(item, (tv_tensors.Image, tv_tensors.Video))
    ]
    if explicit:
        return explicit
    for i, item in enumerate(flat_inputs):
        if _is_pure_tensor(item) and item is not labels:
            return [i]
    for item in flat_inputs:
        if isinstance(item, (PIL.Image.Image, np.ndarray)):
            raise TypeError(
                f"images must be a batched torch.Tensor or tv_tensors.Image of shape (N, C, H, W), got "
                f"{type(item).__module__}.{type(item).__name__}; convert with v2.PILToTensor() or "
                f"torch.from_numpy and batch the samples first"
            )
    raise ValueError(f"{name}() found no image batch in the input: expected a torch.Tensor beside the labels")


def _soft_labels(labels: torch.Tensor, num_classes: int | None, batch_size: int) -> torch.Tensor:
    """Check the labels against the batch and return them as float (N, K)."""
    if labels.ndim == 1:
        if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
            raise TypeError(
                f"labels of shape (N,) must be integer class indices, got dtype {labels.dtype}; "
                f"give float labels as (N, K)"
            )
        if num_classes is None:
            raise ValueError(
                "num_classes must be given when labels are class indices of shape (N,), got None"
            )
        soft = F.one_hot(labels, num_classes)
    elif labels.ndim == 2:
        if labels.is_complex():
            raise TypeError(f"labels must hold real numbers, got dtype {labels.dtype}")
        if num_classes is not None and labels.shape[1] != num_classes:
            raise ValueError(
                f"labels of shape (N, K) must have K == num_classes = {num_classes}, "
                f"got K = {labels.shape[1]}"
            )
        soft = labels if labels.is_floating_point() else labels.to(torch.float32)
    else:
        raise ValueError(
            f"labels must be class indices of shape (N,) or float labels of shape (N, K), "
            f"got shape {tuple(labels.shape)}"
        )
    check_same_batch_size(soft.shape[0], batch_size)
    return soft


def _describe_sample(sample: Any) -> str:
    if isinstance(sample, torch.Tensor):
        return f"a single tensor of shape {tuple(sample.shape)}"
    if isinstance(sample, collections.abc.Mapping):
        return f"a dict with keys {list(sample)}"
    if isinstance(sample, (tuple, list)):
        return f"a {type(sample).__name__} of {len(sample)} item(s)"
    return type(sample).__name__


def _batch_device_and_size(flat_inputs: list[Any]) -> tuple[torch.device, int]:
    first = flat_inputs[0]
    return first.device, int(first.shape[0])


class ZetaMixup(_BatchMix):
    """ζ-mixup (Abhishek, Brown, Hamarneh, 2023/2024): every output mixes all samples of the batch.

    Output sample ``p`` is ``Σ_i W[p, i] · x_i`` with ``W`` from
    [`F.zeta_weights`][zmix_transforms.functional.zeta_weights]: row ``p`` is the normalized p-series
    ``r^-γ / Σ_k k^-γ`` over a random ranking of the batch in which ``p`` itself has rank 1. Labels are
    mixed with the same ``W``. The whole batch is mixed with one matrix product.

    Args:
        gamma: The exponent γ, a finite number > 0 (default 2.8). Larger values keep each output
            closer to its own input; for γ >= 1.73 the own weight exceeds 0.5 whatever the batch size.
        num_classes: Number of classes, needed when labels are class indices of shape (N,).
        labels_getter: ``"default"`` (the second item of a tuple, or a ``labels``-like key of a dict, as
            in torchvision) or a callable that returns the labels tensor from the input.

    Raises:
        ValueError: If ``gamma`` is not a finite number > 0 or ``num_classes`` < 1, at construction; if
            the input is malformed, when called (see the Note).
        TypeError: If an argument or the input has the wrong type.

    Note:
        Images of shape (N, C, H, W) (plain tensors or ``tv_tensors.Image``) or (N, T, C, H, W)
        (``tv_tensors.Video``) of any float or integer dtype; integer images are mixed in float32 and
        rounded. Labels are class indices of shape (N,) (any int dtype, with ``num_classes``) or float
        labels (N, K); the result's labels are float (N, K). A batch of one sample is returned unmixed.
        Bounding boxes and masks are rejected. Randomness comes from the global torch RNG (of the
        images' device).

    Examples:
        >>> t = ZetaMixup(num_classes=10)
        >>> images, labels = t(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        >>> images.shape, labels.shape
        (torch.Size([8, 3, 32, 32]), torch.Size([8, 10]))
    """

    def __init__(
        self, gamma: float = 2.8, *, num_classes: int | None = None, labels_getter: Any = "default"
    ) -> None:
        super().__init__(num_classes=num_classes, labels_getter=labels_getter)
        self.gamma = check_finite_positive("gamma", gamma)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw the N×N weight matrix (float64; each use casts it to its compute dtype)."""
        device, batch_size = _batch_device_and_size(flat_inputs)
        return {"weights": F.zeta_weights(batch_size, self.gamma, device=device, dtype=torch.float64)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Mix one image batch with the weight matrix."""
        return F.apply_weights(inpt.as_subclass(torch.Tensor), params["weights"])

    def mix_labels(self, labels: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Mix the labels with the same weight matrix (moved to the labels' device if need be)."""
        return F.apply_weights(labels, params["weights"].to(labels.device))

    def _repr_items(self) -> list[tuple[str, Any]]:
        return [("gamma", self.gamma), *super()._repr_items()]


class _PairMix(_BatchMix):
    """A mix of each sample with one partner, λ ~ Beta(α, α) (not public)."""

    def __init__(
        self, alpha: float = 1.0, *, num_classes: int | None = None, labels_getter: Any = "default"
    ) -> None:
        super().__init__(num_classes=num_classes, labels_getter=labels_getter)
        self.alpha = check_finite_positive("alpha", alpha)

    def mix_labels(self, labels: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Mix the labels: weight ``params["lam"]`` on the own label, the rest on the partner's."""
        return F.mix_pairs(labels, params["lam"], params["partners"].to(labels.device))

    def _repr_items(self) -> list[tuple[str, Any]]:
        return [("alpha", self.alpha), *super()._repr_items()]


class MixUp(_PairMix):
    """Mixup (Zhang et al., 2018): ``x' = λ·x + (1 − λ)·x[π]``, labels likewise, λ ~ Beta(α, α).

    One λ per call; the partner π(p) of each sample comes from a uniformly random single cycle through
    the batch ([`F.cycle_partners`][zmix_transforms.functional.cycle_partners]), so no sample is
    paired with itself and the pairing does not depend on the order of the batch.

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0 (default 1.0).
        num_classes: Number of classes, needed when labels are class indices of shape (N,).
        labels_getter: ``"default"`` or a callable that returns the labels from the input.

    Raises:
        ValueError: If ``alpha`` is not a finite number > 0 or ``num_classes`` < 1, at construction; if
            the input is malformed, when called.
        TypeError: If an argument or the input has the wrong type.

    Note:
        Accepts the same inputs as [`ZetaMixup`][ZetaMixup].

    Examples:
        >>> images, labels = MixUp(num_classes=10)(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        >>> bool(torch.allclose(labels.sum(1), torch.ones(8)))
        True
    """

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw λ and the partners."""
        device, batch_size = _batch_device_and_size(flat_inputs)
        return {"lam": F.sample_lambda(self.alpha), "partners": F.cycle_partners(batch_size, device=device)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Mix one image batch with its partners."""
        return F.mix_pairs(inpt.as_subclass(torch.Tensor), params["lam"], params["partners"])


class CutMix(_PairMix):
    """CutMix (Yun et al., 2019): paste a box of each sample's partner into it; labels by pixel area.

    λ ~ Beta(α, α); the box ([`F.cutmix_box`][zmix_transforms.functional.cutmix_box]) has area about
    ``(1 − λ)·H·W`` and a uniformly random centre, clipped to the image. λ is then corrected to the exact
    fraction of pixels each sample keeps, and the labels are weighted by it. Partners come from a
    random single cycle, as in [`MixUp`][MixUp].

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0 (default 1.0).
        num_classes: Number of classes, needed when labels are class indices of shape (N,).
        labels_getter: ``"default"`` or a callable that returns the labels from the input.

    Raises:
        ValueError: If ``alpha`` is not a finite number > 0 or ``num_classes`` < 1, at construction; if
            the input is malformed, when called.
        TypeError: If an argument or the input has the wrong type.

    Note:
        Accepts the same inputs as [`ZetaMixup`][ZetaMixup]; pixels are copied, never blended, so integer
        images stay exact.

    Examples:
        >>> images, labels = CutMix(num_classes=10)(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        >>> images.shape, labels.shape
        (torch.Size([8, 3, 32, 32]), torch.Size([8, 10]))
    """

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw λ, the box and the partners; ``lam`` is the exact kept fraction of pixels."""
        device, batch_size = _batch_device_and_size(flat_inputs)
        height, width = flat_inputs[0].shape[-2:]
        box = F.cutmix_box(height, width, F.sample_lambda(self.alpha))
        return {
            "box": box,
            "lam": 1.0 - box.area / (height * width),
            "partners": F.cycle_partners(batch_size, device=device),
        }

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Paste the box of the partners into one image batch."""
        return F.paste_box(inpt.as_subclass(torch.Tensor), params["box"], params["partners"])
