"""Batch mixing transforms for ``torchvision.transforms.v2`` pipelines.

Each transform follows torchvision's ``MixUp``/``CutMix``: ``mix`` (``forward``) finds the image
batch, masks and labels in whatever structure it was given and checks them once, ``draw_params``
draws the random parameters once, then ``mix_images`` applies them to every image batch and mask
and ``mix_labels`` to the labels, with the kernels of `zmix_transforms.functional`. The options
every method shares are declared once, in [`MixOptions`][MixOptions], and handled by the base.
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import PIL.Image
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform
from typing_extensions import Unpack

from . import _distributed
from . import functional as F
from ._checks import (
    InputTypeError,
    check_bool,
    check_finite_positive,
    check_image_batches,
    check_mask_batch,
    check_max_terms,
    check_meta_alike,
    check_minmax,
    check_mode,
    check_nonnegative,
    check_num_classes,
    check_probabilities,
    check_probability,
    check_region_inside,
    check_regions,
    check_same_batch_size,
    check_spatial_dims,
    check_spatial_sizes,
    describe_sample,
)
from .functional._draws import (
    cutmix_region_unchecked,
    cycle_partners_unchecked,
    draw_device,
    sample_lambda_unchecked,
)
from .functional._dtypes import EIGHT_BITS, round_to_steps
from .functional._kernels import (
    apply_terms_unchecked,
    apply_weights_unchecked,
    mix_pairs_unchecked,
    paste_region_unchecked,
)
from .functional._labels import one_hot_rows

__all__ = ["CutMix", "MixOptions", "MixUp", "RandomMix", "ZetaCutMix", "ZetaMixup"]

LabelsGetter = Callable[[Any], Any]

# tv_tensors that a mix cannot carry along (KeyPoints is new in torchvision 0.23). Masks are mixed
# by every method: blended as soft masks, or by CutMix with the boxes pasted into them.
_BOXES_AND_POINTS: tuple[type, ...] = tuple(
    cls
    for cls in (getattr(tv_tensors, "BoundingBoxes", None), getattr(tv_tensors, "KeyPoints", None))
    if cls is not None
)


class MixOptions(TypedDict, total=False):
    """The keyword options every mixing transform and collate takes, declared once.

    A method's class lists only its own parameters (``gamma``, ``alpha``, ``max_terms``, ``minmax``,
    ``mode``) and passes these on, by keyword, to the base that handles them alike for every method.

    Attributes:
        num_classes: Number of classes, needed when labels are class indices of shape (N,) (and to
            one-hot class-index masks).
        labels_getter: ``"default"`` (the second item of a tuple, or a ``labels``-like key of a dict,
            as in torchvision) or a callable that returns the labels tensor from the input.
        label_smoothing: ``s`` in [0, 1], applied to the labels before mixing (as timm does): one-hot
            rows become ``1 − s + s/K`` on the true class and ``s/K`` elsewhere; float labels become
            ``(1 − s)·y + s/K`` (with ``multi_label``, ``(1 − s)·y + s/2``).
        multi_label: Labels are dense multi-label targets (N, K), one independent 0/1 target per
            class (for ``BCEWithLogitsLoss``), as timm's ``Mixup(multi_label=True)``: smoothing pulls
            each towards 0.5, and class indices are refused (default False).
        p: Probability of mixing a batch at all (default 1); an unmixed batch still gets float (N, K)
            labels. In "elem" and "pair" modes, drawn per sample or pair.
        per_rank: Under torch.distributed with several ranks, draw independently on each rank even
            when every rank was seeded alike (default True); ``False`` draws the same on every rank
            that shares a seed (for ranks that see the same batch). No effect outside a group.
        across_ranks: Mix across ranks: each rank returns its own rows of the global batch (every
            rank's batch, in rank order) mixed with one global draw, with labels over the whole of
            it (default False). Needs an initialized process group; every rank must call with the
            same method and options, which are checked before any data moves.
        process_group: The group for ``across_ranks`` (default: the default group).
        rank_timeout: With ``across_ranks``, how long (seconds) a rank waits for every other rank to
            join a call before raising ``TimeoutError`` naming the missing ranks (default 30; raise it
            if a rank may lag by longer, e.g. while saving a checkpoint); ``None`` waits as long as
            the process group's store does (its timeout, 30 minutes by default).
        spatial_dims: 2 for image batches (N, C, H, W) (and ``tv_tensors.Video`` batches), 3 for
            volume batches (N, C, D, H, W): CT, MRI. A 5-D plain tensor is refused unless this says
            it is a volume batch (default 2).

    Examples:
        >>> options: MixOptions = {"num_classes": 10, "label_smoothing": 0.1, "p": 0.8}
        >>> MixUp(0.2, **options)
        MixUp(alpha=0.2, num_classes=10, label_smoothing=0.1, p=0.8)
    """

    num_classes: int | None
    labels_getter: Any
    label_smoothing: float
    multi_label: bool
    p: float
    per_rank: bool
    across_ranks: bool
    process_group: Any
    rank_timeout: float | None
    spatial_dims: int


def check_call(
    cls: type,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str | None = None,
    also: tuple[str, ...] = (),
) -> None:
    """Raise ``TypeError`` naming ``cls`` (or ``name``) and its keywords for a call it cannot take.

    Python's own errors name the private base whose ``__init__`` receives the options (or say only
    how many positional arguments there were); a call in another library's argument order (timm's,
    torchvision's ``RandomMixup(num_classes, p, alpha)``) deserves the public name and its keywords.
    """
    parameters = list(inspect.signature(cls).parameters.values())
    positional = [q.name for q in parameters if q.kind is q.POSITIONAL_OR_KEYWORD]
    keywords = [q.name for q in parameters if q.kind is q.KEYWORD_ONLY] + list(also)
    if any(q.kind is q.VAR_KEYWORD for q in parameters):
        keywords += list(MixOptions.__annotations__)
    name = name or cls.__name__
    if len(args) > len(positional):
        given = ", ".join(repr(a) for a in args)
        raise TypeError(
            f"{name}() takes at most {len(positional)} positional "
            f"argument{'' if len(positional) == 1 else 's'} ({', '.join(positional)}), "
            f"got {len(args)}: ({given}); pass the others by keyword: {', '.join(keywords)}"
        )
    for key in kwargs:
        if key not in positional and key not in keywords:
            close = difflib.get_close_matches(key, positional + keywords, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(
                f"{name}() got an unexpected keyword argument {key!r}{hint}; its keywords are "
                f"{', '.join(positional + keywords)}"
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


@dataclass
class _Batch:
    """Where a checked input keeps its parts (positions in the flattened input)."""

    image_positions: list[int]
    mask_positions: list[int]
    label_position: int | None  # None when masks are the only targets (segmentation)
    labels: torch.Tensor | None  # float (N, K), smoothed
    batch_size: int


class _PerRankDraws(Transform):
    """Per-rank draws under torch.distributed (``per_rank``), for the transforms that draw (not public)."""

    per_rank: bool
    _pickled_world: _distributed.World | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle, recording this process's rank for DataLoader workers spawned outside the group."""
        state = dict(super().__getstate__())
        state["_pickled_world"] = _distributed.world(self._pickled_world)
        return state

    def _rank_generator(self) -> torch.Generator | None:
        """This call's generator: per-rank under torch.distributed (``per_rank``), else the global RNG."""
        if not self.per_rank:
            return None
        return _distributed.rank_generator(_distributed.world(self._pickled_world))


class _BatchMix(_PerRankDraws):
    """Shared input handling of the batch mixing transforms (not public).

    Its ``__init__`` declares the defaults of [`MixOptions`][MixOptions]; a method's ``__init__``
    takes its own parameters and ``**options``, and passes the options on.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """Check the call against the public class's signature before ``__init__`` runs."""
        check_call(cls, args, kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        labels_getter: Any = "default",
        label_smoothing: float = 0.0,
        multi_label: bool = False,
        p: float = 1.0,
        per_rank: bool = True,
        across_ranks: bool = False,
        process_group: Any = None,
        rank_timeout: float | None = 30.0,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        self.spatial_dims = check_spatial_dims(spatial_dims)
        self.num_classes = check_num_classes(num_classes)
        self.labels_getter = labels_getter
        self._labels_getter = _parse_labels_getter(labels_getter)
        self.label_smoothing = check_probability("label_smoothing", label_smoothing)
        self.multi_label = check_bool("multi_label", multi_label)
        self.mixup_enabled = True  # timm's switch (its train script's --mixup-off-epoch sets it False)
        self.p = check_probability("p", p)
        self.per_rank = check_bool("per_rank", per_rank)
        self.across_ranks = check_bool("across_ranks", across_ranks)
        self.process_group = process_group
        self.rank_timeout = (
            None if rank_timeout is None else check_finite_positive("rank_timeout", rank_timeout)
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickle as ``_PerRankDraws`` does, without the process group (it does not cross processes)."""
        state = super().__getstate__()
        state["process_group"] = None
        return state

    # -- the steps a subclass defines ------------------------------------------------------------

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw this call's random parameters for the image batches in ``flat_inputs``.

        torchvision's hook: from the global torch RNG, or per rank under torch.distributed.
        """
        return self.draw_params(flat_inputs, self._rank_generator())

    def draw_params(self, flat_inputs: list[Any], generator: torch.Generator | None) -> dict[str, Any]:
        """Draw the random parameters for the image batches in ``flat_inputs`` from ``generator``."""
        raise NotImplementedError

    def rows_params(
        self, params: dict[str, Any], rows: torch.Tensor
    ) -> tuple[dict[str, Any], torch.Tensor | None]:
        """The parameters that mix only the samples ``rows`` of the batch ``params`` were drawn for.

        Returns ``(params, select)``: mixing ``batch[select]`` (the whole batch when ``select`` is
        None) with the returned parameters gives the mixed ``rows`` first, exactly as mixing the
        whole batch would. ``across_ranks`` uses it to mix each rank's rows of the global batch.
        """
        raise NotImplementedError

    def mix_images(
        self, inpt: torch.Tensor, params: dict[str, Any], *, inplace: bool = False
    ) -> torch.Tensor:
        """Mix one image or video batch with the drawn parameters (overwriting it when ``inplace``).

        ``params`` are what ``draw_params`` returned for this batch: they are valid by construction
        and not checked again (the input is checked once, by ``mix``).
        """
        raise NotImplementedError

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Mix one image or video batch with the drawn parameters (torchvision's hook; out of place)."""
        return self.mix_images(inpt, params)

    def mix_labels(self, labels: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Mix float (N, K) labels with the drawn parameters."""
        raise NotImplementedError

    #: Whether the method blends pixels (mixup, ζ-mixup: masks are mixed as soft masks) or copies
    #: each pixel whole from one sample (CutMix and the other cutting methods: masks get the same
    #: copy, and class indices stay indices).
    blends: bool = True

    def mix_masks(self, mask: torch.Tensor, params: dict[str, Any], *, inplace: bool = False) -> torch.Tensor:
        """Mix a segmentation mask batch with the images' draws.

        A blending method mixes them as soft masks (N, K, *spatial): class-index masks (N, *spatial)
        or (N, 1, *spatial) become one-hot (with ``num_classes``), float masks (N, K, *spatial) are
        mixed as they are. A copying method copies their pixels as the images' (any dtype).
        """
        if not self.blends:
            return self.mix_images(mask, params, inplace=inplace)
        soft = _soft_masks(mask, self.num_classes, self.spatial_dims)
        return self.mix_images(soft, params, inplace=inplace and soft is mask)

    def unmixed_masks(self, mask: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
        """A mask batch of a batch that is not mixed, in the form ``mix_masks`` gives it.

        The output's form must not depend on the draw: for a blending method class-index masks
        become one-hot soft masks here too (checked against ``num_classes`` alike); a new tensor
        unless ``inplace``.
        """
        soft = _soft_masks(mask, self.num_classes, self.spatial_dims) if self.blends else mask
        return soft if soft is not mask else _kept(mask, inplace=inplace)

    # -- input handling ------------------------------------------------------------------------

    def forward(self, *inputs: Any) -> Any:
        """Mix the image batch(es) and the labels found in ``inputs``; pass everything else through.

        Args:
            *inputs: ``(images, labels)``, a tuple or list of them, a dict holding an image batch and
                a label-like key, or ``(images, labels, *extra)``.

        Returns:
            The same structure, with mixed image batches and float (N, K) labels.
        """
        return self.mix(*inputs)

    def mix(self, *inputs: Any, inplace: bool = False) -> Any:
        """Mix the inputs as ``forward`` does; with ``inplace=True``, overwrite their image batches.

        The collate classes call this with ``inplace=True`` on the batch they have just collated, so
        that no second full-size batch is allocated. Labels are always returned as a new tensor.

        Args:
            *inputs: As for ``forward``.
            inplace: Write the mixed images (and masks) into the input tensors and return them.
                Only for tensors nobody else holds: not for inputs that require grad.

        Returns:
            The same structure as ``forward`` returns.
        """
        sample = inputs if len(inputs) > 1 else inputs[0]
        if self.across_ranks:
            return _distributed.mix_across_ranks(self, sample)
        pair = _plain_pair(sample)
        if pair is not None and self._labels_getter is default_labels_getter:
            mixed = self._mix_plain_pair(*pair, inplace=inplace)
            return mixed if isinstance(sample, tuple) else list(mixed)
        flat_inputs, spec = tree_flatten(sample)
        batch = self._parse(sample, flat_inputs)
        images = [flat_inputs[i] for i in batch.image_positions]
        parts = {"images": images[0]} | {f"images[{k}]": x for k, x in enumerate(images[1:], start=1)}
        if batch.label_position is not None:
            parts["labels"] = flat_inputs[batch.label_position]
        parts |= {f"masks[{k}]" if k else "masks": flat_inputs[i] for k, i in enumerate(batch.mask_positions)}
        params = None
        if not check_meta_alike(parts):  # a meta batch is returned unmixed: shapes and form alone
            generator = self._rank_generator()
            if self._should_mix(batch.batch_size, generator):
                params = self.draw_params(images, generator)
        flat_outputs = list(flat_inputs)
        if batch.label_position is not None:
            assert batch.labels is not None
            if params is not None:
                flat_outputs[batch.label_position] = self.mix_labels(batch.labels, params)
            elif batch.labels is flat_inputs[batch.label_position]:  # never hand back the input itself
                flat_outputs[batch.label_position] = batch.labels.clone()
            else:
                flat_outputs[batch.label_position] = batch.labels
        for position in batch.image_positions:
            flat_outputs[position] = _rewrap(flat_inputs[position], params, self.mix_images, inplace)
        for position in batch.mask_positions:  # unmixed, in the same form as a mixed batch's masks
            flat_outputs[position] = _rewrap(
                flat_inputs[position], params, self.mix_masks, inplace, unmixed=self.unmixed_masks
            )
        return tree_unflatten(flat_outputs, spec)

    def _mix_plain_pair(
        self, images: torch.Tensor, labels: torch.Tensor, *, inplace: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``mix`` for the common input, two plain tensors ``(images, labels)``.

        The same checks, draws and results, without flattening the input into a tree.
        """
        batch_size = check_image_batches([images], type(self).__name__, self.spatial_dims)
        soft = _soft_labels(labels, self.num_classes, batch_size, self.label_smoothing, self.multi_label)
        meta = check_meta_alike({"images": images, "labels": labels})
        generator = None if meta else self._rank_generator()
        if meta or not self._should_mix(batch_size, generator):
            return (images if inplace else images.clone()), (soft.clone() if soft is labels else soft)
        params = self.draw_params([images], generator)
        return self.mix_images(images, params, inplace=inplace), self.mix_labels(soft, params)

    def _should_mix(self, batch_size: int, generator: torch.Generator | None) -> bool:
        """A batch of one is never mixed, nor any with ``mixup_enabled`` off; else with probability ``p``."""
        if batch_size == 1 or self.p == 0.0 or not self.mixup_enabled:
            return False
        return self.p == 1.0 or bool(torch.rand((), generator=generator) < self.p)

    def _parse(self, sample: Any, flat_inputs: list[Any]) -> _Batch:
        """Check the input and find its image batches, masks and labels."""
        name = type(self).__name__
        for item in flat_inputs:
            if isinstance(item, _BOXES_AND_POINTS):
                raise ValueError(
                    f"{name}() does not support {type(item).__name__}: mixing blends whole images, which "
                    f"has no meaning for bounding boxes or keypoints"
                )
        mask_positions = [i for i, item in enumerate(flat_inputs) if isinstance(item, tv_tensors.Mask)]
        labels = self._labels_getter(sample)
        if mask_positions and (labels is None or isinstance(labels, tv_tensors.Mask)):
            labels = None  # segmentation: the masks are the targets
        elif labels is None:
            raise ValueError(
                f"{name}() found no labels in the input: expected (images, labels), a dict with a "
                f"'labels'-like key, or a labels_getter that finds them, got {describe_sample(sample)}"
            )
        elif not isinstance(labels, torch.Tensor):
            raise InputTypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
        label_position = None
        if labels is not None:
            label_position = next((i for i, item in enumerate(flat_inputs) if item is labels), None)
            if label_position is None:
                raise ValueError(
                    "labels_getter must return a tensor that is part of the input, got a new tensor"
                )

        image_positions = _find_image_batches(flat_inputs, labels, name)
        batch_size = check_image_batches([flat_inputs[i] for i in image_positions], name, self.spatial_dims)
        reference = flat_inputs[image_positions[0]]
        for position in mask_positions:
            check_mask_batch(flat_inputs[position], reference, batch_size, self.spatial_dims)
        soft = None
        if labels is not None:
            soft = _soft_labels(labels, self.num_classes, batch_size, self.label_smoothing, self.multi_label)
        return _Batch(image_positions, mask_positions, label_position, soft, batch_size)

    def extra_repr(self) -> str:
        """The constructor arguments, as shown by ``repr``."""
        return ", ".join(f"{key}={value!r}" for key, value in self._repr_items())

    def _repr_items(self) -> list[tuple[str, Any]]:
        items: list[tuple[str, Any]] = [("num_classes", self.num_classes)]
        if self.label_smoothing:
            items.append(("label_smoothing", self.label_smoothing))
        if self.multi_label:
            items.append(("multi_label", True))
        if self.p != 1.0:
            items.append(("p", self.p))
        if not self.per_rank:
            items.append(("per_rank", False))
        if self.across_ranks:
            items.append(("across_ranks", True))
        return items


def _plain_pair(sample: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(images, labels)`` when ``sample`` is exactly two plain tensors (a tuple or list), else None."""
    if isinstance(sample, (tuple, list)) and len(sample) == 2:
        images, labels = sample
        if type(images) is torch.Tensor and type(labels) is torch.Tensor:
            return images, labels
    return None


def _kept(x: torch.Tensor, *, inplace: bool) -> torch.Tensor:
    """A batch that is not mixed: itself when ``inplace``, else a copy (never the input handed back)."""
    return x if inplace else x.clone()


def _rewrap(
    inpt: torch.Tensor,
    params: dict[str, Any] | None,
    apply: Callable[..., torch.Tensor],
    inplace: bool,
    unmixed: Callable[..., torch.Tensor] = _kept,
) -> Any:
    """Apply ``apply`` (``unmixed`` when not mixing) and keep the tv_tensor type of ``inpt``."""
    # tv_tensors come back as plain tensors from ops and are wrapped again below; other subclasses
    # (MONAI's MetaTensor) carry their own metadata through the ops
    plain = inpt.as_subclass(torch.Tensor) if isinstance(inpt, tv_tensors.TVTensor) else inpt
    out = apply(plain, params, inplace=inplace) if params is not None else unmixed(plain, inplace=inplace)
    return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out


def _find_image_batches(flat_inputs: list[Any], labels: torch.Tensor | None, name: str) -> list[int]:
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
            raise InputTypeError(
                f"images must be a batched torch.Tensor or tv_tensors.Image of shape (N, C, H, W), got "
                f"{type(item).__module__}.{type(item).__name__}; convert with v2.PILToTensor() or "
                f"torch.from_numpy and batch the samples first"
            )
    raise ValueError(f"{name}() found no image batch in the input: expected a torch.Tensor beside the labels")


def _soft_labels(
    labels: torch.Tensor,
    num_classes: int | None,
    batch_size: int,
    label_smoothing: float,
    multi_label: bool = False,
) -> torch.Tensor:
    """Check the labels against the batch and return them as float (N, K), smoothed.

    Integer labels of shape (N,), or (N, 1) as a dataset that returns ``tensor([c])`` collates to,
    are class indices, never numbers to mix. (N, K) labels with K >= 2 are one-hot, soft or
    multi-hot rows (float, or integer and bool 0/1 indicators, mixed as floats).
    """
    if labels.is_complex():
        raise TypeError(f"labels must hold real numbers, got dtype {labels.dtype}")
    integer = not labels.is_floating_point() and labels.dtype != torch.bool
    if integer and labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if multi_label and labels.ndim != 2:
        raise ValueError(
            f"labels must be dense multi-label targets of shape (N, K) with multi_label=True (as timm's "
            f"Mixup), got shape {tuple(labels.shape)}"
        )
    if labels.ndim == 1:
        if not integer:
            raise TypeError(
                f"labels of shape (N,) must be integer class indices, got dtype {labels.dtype}; "
                f"give float labels as (N, K)"
            )
        if num_classes is None:
            raise ValueError(
                "num_classes must be given when labels are class indices of shape (N,) or (N, 1), got None"
            )
        soft = one_hot_rows(labels, num_classes, torch.float32)
    elif labels.ndim == 2:
        if num_classes is not None and labels.shape[1] != num_classes:
            raise ValueError(
                f"labels of shape (N, K) must have K == num_classes = {num_classes}, "
                f"got K = {labels.shape[1]}"
            )
        soft = labels if labels.is_floating_point() else labels.to(torch.float32)
    else:
        raise ValueError(
            f"labels must be class indices of shape (N,) or (N, 1), or float labels of shape (N, K), "
            f"got shape {tuple(labels.shape)}"
        )
    check_same_batch_size(soft.shape[0], batch_size)
    if not label_smoothing:
        return soft
    if multi_label:  # each class an independent 0/1 target, smoothed towards 0.5 (timm's)
        return soft * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return F.smooth_labels(soft, label_smoothing)


def _soft_masks(mask: torch.Tensor, num_classes: int | None, spatial_dims: int) -> torch.Tensor:
    """A mask batch as float soft masks (N, K, *spatial): class indices one-hot, floats as they are."""
    if mask.is_floating_point():
        if mask.ndim != spatial_dims + 2:
            raise ValueError(
                f"a float Mask batch must hold soft masks of shape (N, K, *spatial) with {spatial_dims} "
                f"spatial dimensions, got shape {tuple(mask.shape)}"
            )
        return mask
    if num_classes is None:
        raise ValueError(
            "num_classes must be given to mix class-index masks (they become soft masks of num_classes "
            "channels), got None"
        )
    return F.one_hot_masks(mask, num_classes, spatial_dims=spatial_dims)


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
        max_terms: For large batches: each row keeps its ``k`` largest weights (the sample itself and
            ``k − 1`` random partners), renormalized, so the cost is ``k·N·D`` instead of ``N²·D``.
            The dropped weight is at most
            [`F.zeta_dropped_mass`][zmix_transforms.functional.zeta_dropped_mass] (0.3 % for k = 16,
            γ = 2.8). ``None`` (default) is exact.
        **options: The options every method shares, by keyword (see [`MixOptions`][MixOptions]):
            ``num_classes``, ``labels_getter``, ``label_smoothing``, ``multi_label``, ``p``,
            ``per_rank``, ``across_ranks``, ``process_group``, ``rank_timeout``, ``spatial_dims``.

    Raises:
        ValueError: If a parameter is out of range, at construction; if the input is malformed, when
            called (see the Note).
        TypeError: If an argument or the input has the wrong type.

    Note:
        Images of shape (N, C, H, W) (plain tensors or ``tv_tensors.Image``), (N, T, C, H, W)
        (``tv_tensors.Video``) or, with ``spatial_dims=3``, (N, C, D, H, W), of any float or integer
        dtype; integer images are mixed in float (exactly, for every integer dtype) and rounded.
        Labels are class indices of shape (N,) (any int dtype, with ``num_classes``) or float labels
        (N, K); the result's labels are float (N, K). ``tv_tensors.Mask`` batches are mixed with the
        images' weights as soft masks (N, K, *spatial). A batch of one sample is returned unmixed, and
        a batch on the meta device comes back unmixed, in the form a mixed one has. Bounding boxes
        and keypoints are rejected. Randomness comes from the global torch RNG (of the images'
        device), per rank under torch.distributed.

    Examples:
        >>> t = ZetaMixup(num_classes=10)
        >>> images, labels = t(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        >>> images.shape, labels.shape
        (torch.Size([8, 3, 32, 32]), torch.Size([8, 10]))
    """

    def __init__(
        self,
        gamma: float = 2.8,
        *,
        max_terms: int | None = None,
        **options: Unpack[MixOptions],
    ) -> None:
        super().__init__(**options)
        self.gamma = check_finite_positive("gamma", gamma)
        self.max_terms = None if max_terms is None else check_max_terms(max_terms)

    def draw_params(self, flat_inputs: list[Any], generator: torch.Generator | None) -> dict[str, Any]:
        """Draw the weights (float64; each use casts them to its compute dtype).

        Exact ζ-mixup draws the dense N×N ``weights``; with ``max_terms`` below the batch size, the
        compact ``indices`` and ``values`` of [`F.zeta_terms`][zmix_transforms.functional.zeta_terms].
        """
        device, batch_size = _batch_device_and_size(flat_inputs)
        if self.max_terms is not None and self.max_terms < batch_size:
            indices, values = F.zeta_terms(
                batch_size,
                self.gamma,
                max_terms=self.max_terms,
                generator=generator,
                device=device,
                dtype=torch.float64,
            )
            return {"indices": indices, "values": values}
        weights = F.zeta_weights(
            batch_size, self.gamma, generator=generator, device=device, dtype=torch.float64
        )
        return {"weights": weights}

    def rows_params(
        self, params: dict[str, Any], rows: torch.Tensor
    ) -> tuple[dict[str, Any], torch.Tensor | None]:
        """The weights' ``rows``: over the whole batch, or with ``max_terms`` over the rows they use."""
        if "indices" not in params:
            return {key: value[rows.to(value.device)] for key, value in params.items()}, None
        indices = params["indices"][rows.to(params["indices"].device)]
        select = indices.unique()  # sorted: the rows these rows are mixed from
        local = torch.searchsorted(select, indices)
        return {"indices": local, "values": params["values"][rows.to(params["values"].device)]}, select

    def mix_images(
        self, inpt: torch.Tensor, params: dict[str, Any], *, inplace: bool = False
    ) -> torch.Tensor:
        """Mix one image batch with the weights."""
        if "indices" in params:
            return apply_terms_unchecked(inpt, params["indices"], params["values"], inplace=inplace)
        return apply_weights_unchecked(inpt, params["weights"], inplace=inplace)

    def mix_labels(self, labels: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Mix the labels with the same weights (moved to the labels' device if need be)."""
        if "indices" in params:
            return apply_terms_unchecked(
                labels, params["indices"].to(labels.device), params["values"].to(labels.device)
            )
        return apply_weights_unchecked(labels, params["weights"].to(labels.device))

    def _repr_items(self) -> list[tuple[str, Any]]:
        items = [("gamma", self.gamma), *super()._repr_items()]
        return [items[0], ("max_terms", self.max_terms), *items[1:]] if self.max_terms is not None else items


class _PairMix(_BatchMix):
    """A mix of each sample with one partner, λ ~ Beta(α, α), in timm's three modes (not public)."""

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        mode: str = "batch",
        **options: Unpack[MixOptions],
    ) -> None:
        super().__init__(**options)
        self.alpha = check_finite_positive("alpha", alpha)
        self.mode = check_mode(mode)

    def _should_mix(self, batch_size: int, generator: torch.Generator | None) -> bool:
        """Per batch in "batch" mode; in "elem" and "pair" modes ``p`` is drawn per sample or pair."""
        if self.mode == "batch":
            return super()._should_mix(batch_size, generator)
        return batch_size > 1 and self.p > 0.0 and self.mixup_enabled

    def _draw_pairing(
        self, batch_size: int, generator: torch.Generator | None, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The "elem"/"pair" modes' partners, who draws for whom and who is mixed at all.

        Returns ``(partners, leaders, mixed)``: sample ``p`` takes the draws (λ, box) of sample
        ``leaders[p]`` (itself in "elem" mode, the first of its pair in "pair" mode), and is mixed
        when ``mixed[p]`` (drawn with probability ``p`` per sample or pair).
        """
        if self.mode == "elem":
            partners = cycle_partners_unchecked(batch_size, generator, device)
            leaders = torch.arange(batch_size, device=device)
        else:
            partners = F.pair_partners(batch_size, generator=generator, device=device)
            # a pair's first member (a 3-cycle's, for an odd batch): the least of p, π(p), π(π(p))
            samples = torch.arange(batch_size, device=device)
            leaders = torch.minimum(torch.minimum(samples, partners), partners[partners])
        mixed = torch.ones(batch_size, dtype=torch.bool, device=device)
        if self.p < 1.0:
            draws = torch.rand(batch_size, generator=generator, device=draw_device(generator, device))
            mixed = (draws < self.p).to(device)[leaders]
        return partners, leaders, mixed

    def mix_labels(self, labels: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Mix the labels: weight ``params["lam"]`` on the own label, the rest on the partner's."""
        lam = params["lam"]
        if isinstance(lam, torch.Tensor):
            lam = lam.to(labels.device)
        return mix_pairs_unchecked(labels, lam, params["partners"].to(labels.device))

    def rows_params(
        self, params: dict[str, Any], rows: torch.Tensor
    ) -> tuple[dict[str, Any], torch.Tensor | None]:
        """A batch of the ``rows`` and their partners, each row paired with its partner."""
        return _pair_rows_params(params, rows)

    def _repr_items(self) -> list[tuple[str, Any]]:
        mode = [("mode", self.mode)] if self.mode != "batch" else []
        return [("alpha", self.alpha), *mode, *super()._repr_items()]


class MixUp(_PairMix):
    """Mixup (Zhang et al., 2018): ``x' = λ·x + (1 − λ)·x[π]``, labels likewise, λ ~ Beta(α, α).

    One λ per call; the partner π(p) of each sample comes from a uniformly random single cycle
    through the batch ([`F.cycle_partners`][zmix_transforms.functional.cycle_partners]), so no sample
    is paired with itself and the pairing does not depend on the order of the batch. timm's other two
    modes: ``mode="elem"``, one λ per sample (the Keras MixupGenerator's way), and ``mode="pair"``,
    a random pairing ([`F.pair_partners`][zmix_transforms.functional.pair_partners]) in which both
    samples of a pair share one λ (``x'_a = λ·x_a + (1 − λ)·x_b``, ``x'_b = λ·x_b + (1 − λ)·x_a``).

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0 (default 1.0).
        mode: ``"batch"`` (one λ per call), ``"elem"`` (one λ per sample) or ``"pair"`` (one λ per
            pair of a random pairing), as timm's ``Mixup(mode=...)``; in "elem" and "pair" modes ``p``
            is drawn per sample or pair, as timm does.
        **options: The options every method shares, by keyword (see [`MixOptions`][MixOptions]):
            ``num_classes``, ``labels_getter``, ``label_smoothing``, ``multi_label``, ``p``,
            ``per_rank``, ``across_ranks``, ``process_group``, ``rank_timeout``, ``spatial_dims``.

    Raises:
        ValueError: If a parameter is out of range, at construction; if the input is malformed, when
            called.
        TypeError: If an argument or the input has the wrong type.

    Note:
        Accepts the same inputs as [`ZetaMixup`][ZetaMixup]. For uint8 and int8 image batches λ is
        rounded to the nearest multiple of 1/256 (at most 1/512 from the draw), and images and labels
        share the rounded λ: the mix is then exact in integers, ``(a·x + (256 − a)·x[π] + 128) // 256``
        for ``λ = a/256``, and runs in int16 instead of float32.

    Examples:
        >>> images, labels = MixUp(num_classes=10)(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        >>> bool(torch.allclose(labels.sum(1), torch.ones(8)))
        True
    """

    def draw_params(self, flat_inputs: list[Any], generator: torch.Generator | None) -> dict[str, Any]:
        """Draw λ (one, or one per sample in "elem" and "pair" modes) and the partners.

        In "elem" and "pair" modes ``lam`` is a float64 tensor (N,): 1 for a sample left unmixed. For
        uint8 or int8 image batches λ is rounded to the nearest multiple of 1/256, which mixes them
        exactly in integers (images and labels share the rounded λ).
        """
        device, batch_size = _batch_device_and_size(flat_inputs)
        eight_bit = any(images.dtype in EIGHT_BITS for images in flat_inputs)
        if self.mode == "batch":
            lam = sample_lambda_unchecked(self.alpha, generator)
            return {
                "lam": round_to_steps(lam) if eight_bit else lam,
                "partners": cycle_partners_unchecked(batch_size, generator, device),
            }
        lams = F.sample_lambdas(self.alpha, batch_size, generator=generator, device=device)
        partners, leaders, mixed = self._draw_pairing(batch_size, generator, device)
        kept = torch.where(mixed, lams[leaders], 1.0)
        return {"lam": round_to_steps(kept) if eight_bit else kept, "partners": partners}

    def mix_images(
        self, inpt: torch.Tensor, params: dict[str, Any], *, inplace: bool = False
    ) -> torch.Tensor:
        """Mix one image batch with its partners."""
        return mix_pairs_unchecked(inpt, params["lam"], params["partners"], inplace=inplace)


def _draw_cutmix(
    alpha: float,
    flat_inputs: list[Any],
    generator: torch.Generator | None,
    spatial_dims: int,
    minmax: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """CutMix's draws: the region (box or cuboid), the exact kept fraction ``lam`` and the partners.

    The region's sides come from λ ~ Beta(α, α), or, with ``minmax``, uniformly as fractions of the
    image's sides (no λ drawn).
    """
    device, batch_size = _batch_device_and_size(flat_inputs)
    spatial = check_spatial_sizes("images", flat_inputs[0], spatial_dims)
    if minmax is None:
        region = cutmix_region_unchecked(spatial, sample_lambda_unchecked(alpha, generator), generator)
    else:
        region = F.cutmix_region_minmax(spatial, minmax, generator=generator)
    return {
        "region": region,
        "lam": 1.0 - region.size / math.prod(spatial),
        "partners": cycle_partners_unchecked(batch_size, generator, device),
    }


def _pair_rows_params(params: dict[str, Any], rows: torch.Tensor) -> tuple[dict[str, Any], torch.Tensor]:
    """Parameters for the batch ``rows`` + their partners, in which row ``i`` is paired with ``n + i``."""
    n = rows.shape[0]
    partners = params["partners"].to(rows.device)
    select = torch.cat([rows, partners[rows]])
    local = {**params, "partners": torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(rows.device)}
    total = partners.shape[0]
    for key, value in params.items():  # a draw per sample (a tensor or list of one per sample): theirs
        if key == "partners":
            continue
        if isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == total:
            local[key] = value[select.to(value.device)]
        elif isinstance(value, list) and len(value) == total:
            local[key] = [value[i] for i in select.tolist()]
    return local, select


class CutMix(_PairMix):
    """CutMix (Yun et al., 2019): paste a box of each sample's partner into it; labels by pixel area.

    λ ~ Beta(α, α); the box ([`F.cutmix_box`][zmix_transforms.functional.cutmix_box]) has area about
    ``(1 − λ)·H·W`` and a uniformly random centre, clipped to the image. λ is then corrected to the exact
    fraction of pixels each sample keeps, and the labels are weighted by it. Partners come from a
    random single cycle, as in [`MixUp`][MixUp]. With ``mode="elem"`` every sample draws its own λ and
    box; with ``mode="pair"`` both samples of each pair of a random pairing swap the same box (timm's
    modes).

    Segmentation batches work too: every ``tv_tensors.Mask`` in the input gets the same box pasted, so
    images and masks stay aligned. With masks and no class labels (e.g. ``CutMix()(images, masks)``
    with ``masks`` a ``tv_tensors.Mask``), the masks are the targets and nothing is one-hot encoded.

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0 (default 1.0).
        minmax: timm's ``cutmix_minmax``: ``(lo, hi)``, draw each side of the box uniformly between
            ``lo`` and ``hi`` times the image's side instead of from λ
            ([`F.cutmix_region_minmax`][zmix_transforms.functional.cutmix_region_minmax]).
        mode: ``"batch"`` (one box per call), ``"elem"`` (one box per sample) or ``"pair"`` (one box
            per pair of a random pairing), as timm's ``Mixup(mode=...)``; in "elem" and "pair" modes
            ``p`` is drawn per sample or pair, as timm does.
        **options: The options every method shares, by keyword (see [`MixOptions`][MixOptions]):
            ``num_classes``, ``labels_getter``, ``label_smoothing``, ``multi_label``, ``p``,
            ``per_rank``, ``across_ranks``, ``process_group``, ``rank_timeout``, ``spatial_dims``.

    Raises:
        ValueError: If a parameter is out of range, at construction; if the input is malformed, when
            called.
        TypeError: If an argument or the input has the wrong type.

    Note:
        Accepts the same inputs as [`ZetaMixup`][ZetaMixup], and masks; pixels are copied, never
        blended, so integer images and masks stay exact. In "elem" and "pair" modes the boxes are
        drawn on the CPU and pasted one sample at a time; on an accelerator, reading the pairing
        back to place them is one device sync per call.

    Examples:
        >>> images, labels = CutMix(num_classes=10)(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        >>> images.shape, labels.shape
        (torch.Size([8, 3, 32, 32]), torch.Size([8, 10]))
    """

    blends = False

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        minmax: tuple[float, float] | None = None,
        mode: str = "batch",
        **options: Unpack[MixOptions],
    ) -> None:
        super().__init__(
            alpha,
            mode=mode,
            **options,
        )
        self.minmax = None if minmax is None else check_minmax(minmax)

    def draw_params(self, flat_inputs: list[Any], generator: torch.Generator | None) -> dict[str, Any]:
        """Draw λ, the box and the partners; ``lam`` is the exact kept fraction of pixels.

        With ``minmax``, the box's sides are drawn as fractions of the image's (no λ is drawn). In
        "elem" and "pair" modes ``region`` is a list of one region per sample (empty for a sample left
        unmixed) and ``lam`` a float64 tensor (N,) of the exact kept fractions.
        """
        if self.mode == "batch":
            return _draw_cutmix(self.alpha, flat_inputs, generator, self.spatial_dims, self.minmax)
        device, batch_size = _batch_device_and_size(flat_inputs)
        spatial = check_spatial_sizes("images", flat_inputs[0], self.spatial_dims)
        minmax = self.minmax
        lams = None if minmax else F.sample_lambdas(self.alpha, batch_size, generator=generator).tolist()
        partners, leaders, mixed = self._draw_pairing(batch_size, generator, device)
        empty = F.Region((0,) * len(spatial), (0,) * len(spatial))
        drawn = {}
        for p in sorted(set(leaders[mixed].tolist())):  # one region for each mixed sample or pair
            drawn[p] = (
                cutmix_region_unchecked(spatial, lams[p], generator)
                if lams is not None
                else F.cutmix_region_minmax(spatial, minmax, generator=generator)  # type: ignore[arg-type]
            )
        regions = [drawn.get(p, empty) for p in leaders.tolist()]
        kept = [1.0 - region.size / math.prod(spatial) for region in regions]
        return {
            "region": regions,
            "lam": torch.tensor(kept, dtype=torch.float64, device=device),
            "partners": partners,
        }

    def _repr_items(self) -> list[tuple[str, Any]]:
        items = super()._repr_items()
        return [*items[:1], ("minmax", self.minmax), *items[1:]] if self.minmax is not None else items

    def mix_images(
        self, inpt: torch.Tensor, params: dict[str, Any], *, inplace: bool = False
    ) -> torch.Tensor:
        """Paste the box of the partners into one image batch."""
        return _paste_drawn_region(inpt, params, inplace=inplace)


def _paste_drawn_region(x: torch.Tensor, params: dict[str, Any], *, inplace: bool) -> torch.Tensor:
    """Paste the drawn region(s) of the partners into ``x``: an image batch, or a mask batch.

    The partners are drawn for the batch; the region is checked against ``x``, whose spatial sizes
    may differ from the batch it was drawn for (a second image batch, a mask).
    """
    region = params["region"]
    if isinstance(region, F.Region):
        check_region_inside("region", region, tuple(x.shape[-len(region.starts) :]))
    else:
        region = check_regions(region, x)
    return paste_region_unchecked(x, region, params["partners"].to(x.device), inplace=inplace)


class ZetaCutMix(_BatchMix):
    """CutMix on top of ζ-mixup (the ζ-mixup paper's "CutMix + ζ-mixup"), with exact label weights.

    The batch is first mixed by ζ-mixup (weights ``W``), then each ζ-mixed sample gets a box of its
    partner's ζ-mixed sample pasted in, as [`CutMix`][CutMix] does. With ``λ'`` the exact kept pixel
    fraction and ``P`` the pairing, the labels are ``(λ'·I + (1 − λ')·P) · W · y``: every label row is
    still a convex combination, weighted by what each input contributes.

    Args:
        gamma: The ζ-mixup exponent γ, a finite number > 0 (default 2.8).
        alpha: CutMix's Beta concentration, a finite number > 0 (default 1.0).
        **options: The options every method shares, by keyword (see [`MixOptions`][MixOptions]):
            ``num_classes``, ``labels_getter``, ``label_smoothing``, ``multi_label``, ``p``,
            ``per_rank``, ``across_ranks``, ``process_group``, ``rank_timeout``, ``spatial_dims``.

    Raises:
        ValueError: If a parameter is out of range, at construction; if the input is malformed, when
            called.
        TypeError: If an argument or the input has the wrong type.

    Note:
        Accepts the same inputs as [`ZetaMixup`][ZetaMixup]; ``v2.Compose([ZetaMixup(...), CutMix(...)])``
        gives the same distribution of outputs, with labels weighted the same way.

    Examples:
        >>> images, labels = ZetaCutMix(num_classes=10)(torch.rand(8, 3, 16, 16), torch.arange(8))
        >>> bool(torch.allclose(labels.sum(1), torch.ones(8)))
        True
    """

    def __init__(
        self,
        gamma: float = 2.8,
        alpha: float = 1.0,
        **options: Unpack[MixOptions],
    ) -> None:
        super().__init__(**options)
        self.gamma = check_finite_positive("gamma", gamma)
        self.alpha = check_finite_positive("alpha", alpha)

    def draw_params(self, flat_inputs: list[Any], generator: torch.Generator | None) -> dict[str, Any]:
        """Draw ζ-mixup's weights, then CutMix's box, kept fraction and partners."""
        device, batch_size = _batch_device_and_size(flat_inputs)
        weights = F.zeta_weights(
            batch_size, self.gamma, generator=generator, device=device, dtype=torch.float64
        )
        return {"weights": weights, **_draw_cutmix(self.alpha, flat_inputs, generator, self.spatial_dims)}

    def rows_params(
        self, params: dict[str, Any], rows: torch.Tensor
    ) -> tuple[dict[str, Any], torch.Tensor | None]:
        """The ζ-mixup rows of the ``rows`` and their partners, over the whole batch, then paired."""
        local, select = _pair_rows_params(params, rows)
        local["weights"] = params["weights"][select.to(params["weights"].device)]
        return local, None

    def mix_images(
        self, inpt: torch.Tensor, params: dict[str, Any], *, inplace: bool = False
    ) -> torch.Tensor:
        """ζ-mix one image batch, then paste the partners' boxes (into the ζ-mixed batch itself)."""
        zeta = apply_weights_unchecked(inpt, params["weights"], inplace=inplace)
        return _paste_drawn_region(zeta, params, inplace=True)

    def mix_labels(self, labels: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """ζ-mix the labels, then weight each with its partner's by the kept pixel fraction."""
        zeta = apply_weights_unchecked(labels, params["weights"].to(labels.device))
        return mix_pairs_unchecked(zeta, params["lam"], params["partners"].to(labels.device))

    def _repr_items(self) -> list[tuple[str, Any]]:
        return [("gamma", self.gamma), ("alpha", self.alpha), *super()._repr_items()]


class RandomMix(_PerRankDraws):
    """Apply one of several batch transforms, picked at random on each call (timm's ``switch_prob``).

    Args:
        transforms: The batch transforms to pick from, e.g. ``[MixUp(...), CutMix(...)]``; any
            callables that take the batch.
        p: Relative probabilities of the transforms, non-negative with a positive sum (normalized
            here); ``None`` picks uniformly.
        per_rank: Pick independently on each rank under torch.distributed (see
            [`ZetaMixup`][ZetaMixup]).

    Raises:
        ValueError: If ``transforms`` is empty, or ``p`` has the wrong length, a negative or
            non-finite entry, or sums to 0.
        TypeError: If an entry of ``transforms`` is not callable.

    Note:
        The pick uses the global torch RNG, so ``torch.manual_seed`` and ``DataLoader`` worker seeding
        make it reproducible. It is picklable when its transforms are, so
        ``MixCollate(RandomMix([...]))`` works with ``num_workers > 0``.

    Examples:
        >>> mix = RandomMix([MixUp(num_classes=3), CutMix(num_classes=3)], p=[0.8, 0.2])
        >>> images, labels = mix(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
        >>> labels.shape
        torch.Size([4, 3])
    """

    def __init__(
        self,
        transforms: Sequence[Callable[..., Any]],
        p: Sequence[float] | None = None,
        *,
        per_rank: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(transforms, (str, bytes)) or not isinstance(transforms, collections.abc.Sequence):
            raise TypeError(f"transforms must be a sequence of callables, got {type(transforms).__name__}")
        if len(transforms) == 0:
            raise ValueError("transforms must hold at least one transform, got an empty sequence")
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"transforms[{i}] must be callable, got {type(t).__name__}")
        for i, t in enumerate(transforms):
            if getattr(t, "across_ranks", False):
                raise ValueError(
                    f"transforms[{i}] must not mix across ranks inside RandomMix (each rank would pick on "
                    f"its own, and the ranks' gathers would not match), got {t!r}; pick the transform in "
                    f"the training loop from a seed that every rank shares"
                )
        self.transforms = list(transforms)
        self.per_rank = check_bool("per_rank", per_rank)
        if p is None:
            probabilities = [1.0 / len(transforms)] * len(transforms)
        else:
            probabilities = check_probabilities(p, len(transforms))
            if len(probabilities) != len(transforms):
                raise ValueError(
                    f"p must have one entry per transform ({len(transforms)}), got {len(probabilities)}"
                )
            if any(not np.isfinite(v) or v < 0 for v in probabilities) or sum(probabilities) <= 0:
                raise ValueError(f"p must hold finite numbers >= 0 with a positive sum, got {list(p)}")
            total = sum(probabilities)
            probabilities = [v / total for v in probabilities]
        self.p = probabilities

    def forward(self, *inputs: Any) -> Any:
        """Apply one transform, picked with probabilities ``p``, to the inputs.

        Args:
            *inputs: Whatever the transforms take.

        Returns:
            The picked transform's output.
        """
        return self.mix(*inputs)

    def mix(self, *inputs: Any, inplace: bool = False) -> Any:
        """Apply one transform, picked with probabilities ``p``; ``inplace`` as in ``ZetaMixup.mix``.

        Args:
            *inputs: Whatever the transforms take.
            inplace: Passed on to the picked transform's ``mix`` (transforms without one are called
                as they are, out of place).

        Returns:
            The picked transform's output.
        """
        pick = torch.multinomial(
            torch.tensor(self.p, dtype=torch.float64), 1, generator=self._rank_generator()
        )
        transform = self.transforms[int(pick)]
        mix = getattr(transform, "mix", None)
        return mix(*inputs, inplace=inplace) if callable(mix) else transform(*inputs)

    @classmethod
    def from_timm(
        cls,
        mixup_alpha: float = 1.0,
        cutmix_alpha: float = 0.0,
        cutmix_minmax: tuple[float, float] | None = None,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        mode: str = "batch",
        correct_lam: bool = True,
        label_smoothing: float = 0.1,
        num_classes: int = 1000,
        multi_label: bool = False,
    ) -> RandomMix:
        """The mixing timm's ``Mixup`` (or ``FastCollateMixup``) does, from the same arguments.

        ``MixUp(mixup_alpha)`` and ``CutMix(cutmix_alpha, minmax=cutmix_minmax)``, each with ``p=prob``
        and ``label_smoothing``, picked with ``switch_prob`` when both alphas are > 0 (as timm does;
        ``cutmix_minmax`` turns CutMix on, with alpha 1). Use it as a transform or in
        ``MixCollate``; timm's train script's ``Mixup(**mixup_args)`` becomes
        ``RandomMix.from_timm(**mixup_args)``, and its ``mixup_fn.mixup_enabled = False`` (the
        ``--mixup-off-epoch``) turns mixing off as in timm: images pass unmixed, labels are still
        one-hot and smoothed.

        Args:
            mixup_alpha: mixup's α, a finite number >= 0; 0 turns mixup off.
            cutmix_alpha: CutMix's α, a finite number >= 0; 0 turns CutMix off (unless
                ``cutmix_minmax`` is given).
            cutmix_minmax: CutMix box sides as fractions ``(lo, hi)`` of the image's.
            prob: Probability of mixing a batch, in [0, 1].
            switch_prob: Probability of CutMix rather than mixup when both are on, in [0, 1].
            mode: ``"batch"`` (one λ and box per batch), ``"elem"`` (one per sample) or ``"pair"``
                (one per pair of samples); ``prob`` then applies per batch, sample or pair.
            correct_lam: Must be True: labels are always weighted by the exact pasted fraction.
            label_smoothing: Smoothing of the labels before mixing, as timm's.
            num_classes: Number of classes.
            multi_label: Dense multi-label targets (N, K), smoothed towards 0.5, as timm's (see
                [`MixOptions`][MixOptions]).

        Returns:
            A [`RandomMix`][RandomMix] of the transforms that are on.

        Raises:
            ValueError: If both methods are off, for ``correct_lam=False``, an unknown ``mode``, or a
                value out of range, naming timm's argument.
            TypeError: If an argument has the wrong type, naming timm's argument.

        Note:
            Differences from timm: partners come from a random single cycle ("pair" mode: a random
            pairing) instead of the flipped batch, so odd batch sizes work and the pairing does not
            follow the loader's order; the input is not overwritten. In "elem" and "pair" modes with
            both methods on, timm picks mixup or CutMix per sample (pair); here one pick is made
            per batch, so each sample has the same chance of each method as in timm but the
            samples of a batch share the method.

        Examples:
            >>> mix = RandomMix.from_timm(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=10)
            >>> images, labels = mix(torch.rand(6, 3, 16, 16), torch.arange(6))
            >>> labels.shape
            torch.Size([6, 10])
        """
        mixup_alpha = check_nonnegative("mixup_alpha", mixup_alpha)
        cutmix_alpha = check_nonnegative("cutmix_alpha", cutmix_alpha)
        minmax = None if cutmix_minmax is None else check_minmax(cutmix_minmax, "cutmix_minmax")
        switch_prob = check_probability("switch_prob", switch_prob)
        if not check_bool("correct_lam", correct_lam):
            raise ValueError(
                "correct_lam must be True, got False: labels are always weighted by the exact fraction "
                "of pixels CutMix keeps"
            )
        cutmix_on = minmax is not None or cutmix_alpha > 0
        options: dict[str, Any] = {
            "mode": check_mode(mode),
            "num_classes": num_classes,
            "label_smoothing": label_smoothing,
            "multi_label": multi_label,
            "p": check_probability("prob", prob),
        }
        transforms: list[Callable[..., Any]] = []
        weights: list[float] = []
        if mixup_alpha > 0:
            transforms.append(MixUp(mixup_alpha, **options))
            weights.append(1.0 - switch_prob if cutmix_on else 1.0)
        if cutmix_on:
            alpha = 1.0 if minmax is not None else cutmix_alpha
            transforms.append(CutMix(alpha, minmax=minmax, **options))
            weights.append(switch_prob if mixup_alpha > 0 else 1.0)
        if not transforms:
            raise ValueError(
                f"mixup_alpha or cutmix_alpha must be > 0 (or cutmix_minmax given), got "
                f"mixup_alpha={mixup_alpha}, cutmix_alpha={cutmix_alpha}"
            )
        return cls(transforms, p=weights)

    @property
    def mixup_enabled(self) -> bool:
        """Timm's switch: ``False`` passes images unmixed (labels one-hot and smoothed), as timm's.

        Set on every transform of this ``RandomMix`` that has it; timm's train script sets it at
        ``--mixup-off-epoch``.
        """
        return all(getattr(t, "mixup_enabled", True) for t in self.transforms)

    @mixup_enabled.setter
    def mixup_enabled(self, value: bool) -> None:
        value = check_bool("mixup_enabled", value)
        for t in self.transforms:
            if hasattr(t, "mixup_enabled"):
                t.mixup_enabled = value

    def extra_repr(self) -> str:
        """The transforms and their probabilities, as shown by ``repr``."""
        return f"transforms={self.transforms!r}, p={[round(v, 6) for v in self.p]}"
