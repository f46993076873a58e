"""The base of the batch mixing transforms for ``torchvision.transforms.v2`` pipelines.

Each method is one module of the package (``mixup`` is the shortest) that declares its own
parameters, its draw and its kernels on ``_BatchMix`` (or ``_PairMix``, for a mix of each sample
with one partner), and its collate on ``MethodCollate``.
Each transform follows torchvision's ``MixUp``/``CutMix``: ``mix`` (``forward``) finds the image
batch, masks and labels in whatever structure it was given and checks them once, ``draw_params``
draws the random parameters once, then ``mix_images`` applies them to every image batch and mask
and ``mix_labels`` to the labels, with the kernels of `zmix_transforms.functional`. The options
every method shares are declared once, in [`MixOptions`][MixOptions], and handled by the base.
``docs/adding-a-method.md`` walks through a whole method written on it.
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
from collections.abc import Callable
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
    check_ignore_index,
    check_image_batches,
    check_mask_batch,
    check_meta_alike,
    check_mode,
    check_num_classes,
    check_probability,
    check_same_batch_size,
    check_spatial_dims,
    describe_sample,
)
from .functional._draws import (
    cycle_partners_unchecked,
    draw_device,
    host_draw_device,
    to_device,
)
from .functional._kernels import (
    mix_pairs_unchecked,
)
from .functional._labels import one_hot_rows

__all__ = ["MixOptions"]

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
            as in torchvision; in ``(images, masks, labels)``, the third) or a callable that returns
            the labels tensor from the input.
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
        ignore_index: The value that marks unlabeled positions in class-index ``tv_tensors.Mask``
            batches (VOC's and Cityscapes' 255), as ``torch.nn.CrossEntropyLoss(ignore_index=...)``.
            The blending methods give those positions all-zero rows in their soft masks, so a
            position weighs in a soft-target loss with the share of its sources that were labeled
            (nothing where none was); the copying methods copy it as it is (default None: every mask
            value is a class).

    Examples:
        >>> from zmix_transforms import MixUp
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
    ignore_index: int | None


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


def _is_labels_like(x: Any) -> bool:
    """A plain tensor of labels' shape: (N,), (N, 1) or (N, K)."""
    return _is_pure_tensor(x) and x.ndim in (1, 2)


def default_labels_getter(sample: Any) -> Any:
    """Find the labels the way torchvision's ``labels_getter="default"`` does.

    A tuple or list gives its second item; a mapping (or a mapping found as that second item) gives the
    value of its key named ``labels``, else of its key named ``label`` (where torchvision would take
    an earlier ``label_names``), else of the first key that contains ``label`` (all
    case-insensitive). Unlike torchvision's heuristic, a lone tensor is not taken as the labels: a
    mixing transform called with images alone reports that it found no labels. And where the second
    item is a ``Mask``, a third item that is a plain tensor of labels' shape ((N,), (N, 1) or
    (N, K)) is the labels: ``(images, masks, labels)`` mixes both targets (torchvision's transforms
    take no masks; nothing there to follow).

    Args:
        sample: The input given to the transform.

    Returns:
        The labels, or ``None`` when there are none to be found.
    """
    if isinstance(sample, (tuple, list)):
        if len(sample) < 2:
            return None
        if isinstance(sample[1], tv_tensors.Mask) and len(sample) > 2 and _is_labels_like(sample[2]):
            return sample[2]  # (images, masks, labels)
        sample = sample[1]
        if not isinstance(sample, collections.abc.Mapping):
            return sample  # checked by the caller: a tensor is expected
    if isinstance(sample, collections.abc.Mapping):
        keys = [key for key in sample if isinstance(key, str)]
        for name in ("labels", "label"):
            for key in keys:
                if key.lower() == name:
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


class _InitSignature:
    """A class's signature, its ``__init__``'s without ``self``, for ``inspect.signature`` (not public).

    ``_BatchMix`` checks each call in ``__new__``. Python 3.10's ``inspect.signature`` takes an
    inherited ``__new__`` before an inherited ``__init__`` (3.11 and later take the nearer one), so
    without this a method that inherits its ``__init__`` (``MixUp``) read as ``(*args, **kwargs)``
    there, and ``check_call`` refused its parameters. Read on the class only: an instance reads
    as any Module does.
    """

    def __get__(self, instance: object, owner: type[Any]) -> inspect.Signature:
        if instance is not None:
            raise AttributeError("__signature__")
        init = inspect.signature(owner.__init__)
        return init.replace(parameters=list(init.parameters.values())[1:])


class _BatchMix(_PerRankDraws):
    """Shared input handling of the batch mixing transforms (not public).

    Its ``__init__`` declares the defaults of [`MixOptions`][MixOptions]; a method's ``__init__``
    takes its own parameters and ``**options``, and passes the options on.
    """

    __signature__ = _InitSignature()

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
        ignore_index: int | None = None,
    ) -> None:
        super().__init__()
        self.spatial_dims = check_spatial_dims(spatial_dims)
        self.ignore_index = check_ignore_index(ignore_index)
        self.num_classes = check_num_classes(num_classes)
        self.labels_getter = labels_getter
        self._labels_getter = _parse_labels_getter(labels_getter)
        self.label_smoothing = check_probability("label_smoothing", label_smoothing)
        self.multi_label = check_bool("multi_label", multi_label)
        self._enabled: bool | torch.Tensor = True  # mixup_enabled: a bool, or a shared flag (below)
        self.p = check_probability("p", p)
        self.per_rank = check_bool("per_rank", per_rank)
        self.across_ranks = check_bool("across_ranks", across_ranks)
        self.process_group = process_group
        self.rank_timeout = (
            None if rank_timeout is None else check_finite_positive("rank_timeout", rank_timeout)
        )

    @property
    def mixup_enabled(self) -> bool:
        """Whether batches are mixed: timm's switch (default True).

        ``False`` mixes no batch, whatever ``p``, as timm's train script sets it at
        ``--mixup-off-epoch``.

        In a collate function the switch lies in shared memory (see [`MixCollate`][MixCollate]), so
        that setting it in the training process reaches the ``DataLoader``'s workers, persistent
        ones included.
        """
        enabled = self._enabled
        return enabled if type(enabled) is bool else bool(enabled)

    @mixup_enabled.setter
    def mixup_enabled(self, value: bool) -> None:
        value = check_bool("mixup_enabled", value)
        if type(self._enabled) is bool:
            self._enabled = value
        else:
            self._enabled.fill_(value)

    def _share_switch(self) -> None:
        """Keep ``mixup_enabled`` in shared memory.

        Every process this transform is copied into (forked or pickled) then reads the value the
        training process last set.
        """
        if type(self._enabled) is bool:
            with torch.inference_mode(False):  # set outside inference mode too
                self._enabled = torch.tensor(self._enabled, device="cpu").share_memory_()

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
        soft = _soft_masks(mask, self.num_classes, self.spatial_dims, self.ignore_index)
        return self.mix_images(soft, params, inplace=inplace and soft is mask)

    def unmixed_masks(self, mask: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
        """A mask batch of a batch that is not mixed, in the form ``mix_masks`` gives it.

        The output's form must not depend on the draw: for a blending method class-index masks
        become one-hot soft masks here too (checked against ``num_classes`` alike); a new tensor
        unless ``inplace``.
        """
        if not self.blends:
            return _kept(mask, inplace=inplace)
        soft = _soft_masks(mask, self.num_classes, self.spatial_dims, self.ignore_index)
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
        if len(inputs) == 2 and not self.across_ranks:  # the usual call, t(images, labels), at once
            images, labels = inputs
            plain = type(images) is torch.Tensor and type(labels) is torch.Tensor
            if plain and self._labels_getter is default_labels_getter:
                return self._mix_plain_pair(images, labels, inplace=False)
        return self.mix(*inputs)

    def mix(self, *inputs: Any, inplace: bool = False) -> Any:
        """Mix the inputs as ``forward`` does; with ``inplace=True``, overwrite their image batches.

        The collate classes call this with ``inplace=True`` on the batch they have just collated, so
        that no second full-size batch is allocated (outside a ``DataLoader`` worker a new mix may
        go into a batch the collate keeps instead; see ``MixCollate``'s ``inplace``). Labels are
        always returned as a new tensor.

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
        params = None
        if not self._meta_batch(flat_inputs, batch):  # a meta batch is returned unmixed: shapes and form
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

    @staticmethod
    def _meta_batch(flat_inputs: list[Any], batch: _Batch) -> bool:
        """Whether the batch's tensors all lie on the meta device (raise if only some do)."""
        labels = [] if batch.label_position is None else [batch.label_position]
        if not any(flat_inputs[i].is_meta for i in (*batch.image_positions, *labels, *batch.mask_positions)):
            return False
        images = [flat_inputs[i] for i in batch.image_positions]
        parts = {"images": images[0]} | {f"images[{k}]": x for k, x in enumerate(images[1:], start=1)}
        if batch.label_position is not None:
            parts["labels"] = flat_inputs[batch.label_position]
        parts |= {f"masks[{k}]" if k else "masks": flat_inputs[i] for k, i in enumerate(batch.mask_positions)}
        return check_meta_alike(parts)

    def _mix_plain_pair(
        self, images: torch.Tensor, labels: torch.Tensor, *, inplace: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``mix`` for the common input, two plain tensors ``(images, labels)``.

        The same checks, draws and results, without flattening the input into a tree.
        """
        if images.ndim == self.spatial_dims + 2 and images.shape[0] and images.dtype in _MIXED_DTYPES:
            batch_size = images.shape[0]  # what the checks below accept, known at a glance
        else:
            batch_size = check_image_batches([images], type(self).__name__, self.spatial_dims)
        soft = _soft_labels(labels, self.num_classes, batch_size, self.label_smoothing, self.multi_label)
        meta = (images.is_meta or labels.is_meta) and check_meta_alike({"images": images, "labels": labels})
        generator = None if meta else self._rank_generator()
        compiling = not meta and not inplace and torch.compiler.is_compiling()
        if compiling and 0.0 < self.p < 1.0 and self._may_mix(batch_size):
            # the draw of p kept a tensor and both outcomes computed: traced, never read to the host
            on = draw_device(generator, images.device)
            chosen = torch.rand((), generator=generator, dtype=torch.float32, device=on) < self.p
            params = self.draw_params([images], generator)
            mixed, mixed_labels = self.mix_images(images, params), self.mix_labels(soft, params)
            return torch.where(chosen, mixed, images), torch.where(chosen, mixed_labels, soft)
        if meta or not self._should_mix(batch_size, generator):
            return (images if inplace else images.clone()), (soft.clone() if soft is labels else soft)
        params = self.draw_params([images], generator)
        return self.mix_images(images, params, inplace=inplace), self.mix_labels(soft, params)

    def _may_mix(self, batch_size: int) -> bool:
        """Whether a batch may be mixed at all: more than one sample, and ``mixup_enabled``."""
        return batch_size > 1 and self.mixup_enabled

    def _should_mix(self, batch_size: int, generator: torch.Generator | None) -> bool:
        """A batch of one is never mixed, nor any with ``mixup_enabled`` off; else with probability ``p``.

        ``p = 1`` (the default) is decided at a glance; otherwise ``_batch_coin`` decides.
        """
        if self.p == 0.0 or not self._may_mix(batch_size):
            return False
        return self.p == 1.0 or self._batch_coin(generator)

    def _batch_coin(self, generator: torch.Generator | None) -> bool:
        """The coin of ``p`` for the whole batch: mix it with probability ``p``."""
        # float32 whatever the default dtype: the same coins from the same seed
        coin = torch.rand((), generator=generator, dtype=torch.float32, device=draw_device(generator, None))
        return bool(coin < self.p)

    def _parse(self, sample: Any, flat_inputs: list[Any]) -> _Batch:
        """Check the input and find its image batches, masks and labels."""
        name = type(self).__name__
        for item in flat_inputs:
            if isinstance(item, _BOXES_AND_POINTS):
                raise ValueError(
                    f"{name}() does not support {type(item).__name__}: it mixes the pixels of several "
                    f"images, which has no meaning for bounding boxes or keypoints"
                )
        mask_positions = [i for i, item in enumerate(flat_inputs) if isinstance(item, tv_tensors.Mask)]
        labels = self._labels_getter(sample)
        if mask_positions and (labels is None or isinstance(labels, tv_tensors.Mask)):
            labels = None  # segmentation: the masks are the targets
        elif labels is None:
            tensors = sum(isinstance(item, torch.Tensor) for item in flat_inputs)
            hint = "; a segmentation mask goes in as a tv_tensors.Mask" if tensors > 1 else ""
            raise ValueError(
                f"{name}() found no labels in the input: expected (images, labels), a dict with a "
                f"'labels'-like key, or a labels_getter that finds them, got {describe_sample(sample)}"
                f"{hint}"
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

        image_positions = _find_image_batches(flat_inputs, labels, name, sample)
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
        if self.rank_timeout != 30.0:
            items.append(("rank_timeout", self.rank_timeout))
        if self.spatial_dims != 2:
            items.append(("spatial_dims", self.spatial_dims))
        if self.ignore_index is not None:
            items.append(("ignore_index", self.ignore_index))
        return items


#: The image dtypes every method mixes (``check_image_batches`` refuses bool and complex ones).
_MIXED_DTYPES = frozenset(
    {torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8, torch.int8, torch.int16}
    | {torch.int32, torch.int64, torch.uint16, torch.uint32, torch.uint64}
)


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


#: The keys (case-insensitive) under which a dict's plain tensor is its image batch: torchvision's,
#: MONAI's and Hugging Face's names.
_IMAGE_KEYS = frozenset({"image", "images", "img", "imgs", "pixel_values"})


def _find_image_batches(
    flat_inputs: list[Any], labels: torch.Tensor | None, name: str, sample: Any
) -> list[int]:
    """Positions of the image batches, found by torchvision's rule, and by a dict's key.

    Every ``tv_tensors.Image`` or ``Video`` is an image batch; without one, the plain tensor under
    a dict's key named like images (``"image"``, ``"images"``, ``"img"``, ``"imgs"``,
    ``"pixel_values"``, any case), else the first plain tensor that is not the labels: so a tensor
    listed before the images in a dict (an id, a weight) is not mixed in their place.
    """
    explicit = [
        i for i, item in enumerate(flat_inputs) if isinstance(item, (tv_tensors.Image, tv_tensors.Video))
    ]
    if explicit:
        return explicit
    if isinstance(sample, collections.abc.Mapping):
        for key, value in sample.items():
            named = isinstance(key, str) and key.lower() in _IMAGE_KEYS
            if named and _is_pure_tensor(value) and value is not labels:  # a top-level value: a leaf
                return [next(i for i, item in enumerate(flat_inputs) if item is value)]
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
    multi_label: bool,
) -> torch.Tensor:
    """Check the labels against the batch and return them as float (N, K), smoothed.

    Integer labels of shape (N,), or (N, 1) as a dataset that returns ``tensor([c])`` collates to,
    are class indices, never numbers to mix. (N, K) labels with K >= 2 are one-hot, soft or
    multi-hot rows (float, or integer and bool 0/1 indicators, mixed as floats).
    """
    if labels.ndim == 1 and labels.dtype == torch.int64 and num_classes is not None and not multi_label:
        # the usual labels, class indices: what the checks below would find, at once
        soft = one_hot_rows(labels, num_classes, torch.float32)
        if soft.shape[0] != batch_size:
            check_same_batch_size(soft.shape[0], batch_size)
        return F.smooth_labels(soft, label_smoothing) if label_smoothing else soft
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
            f"got shape {tuple(labels.shape)}; a segmentation mask goes in as a tv_tensors.Mask "
            f"(under a 'label' key too), mixed with the images' weights"
        )
    check_same_batch_size(soft.shape[0], batch_size)
    if not label_smoothing:
        return soft
    if multi_label:  # each class an independent 0/1 target, smoothed towards 0.5 (timm's)
        return soft * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return F.smooth_labels(soft, label_smoothing)


def _soft_masks(
    mask: torch.Tensor, num_classes: int | None, spatial_dims: int, ignore_index: int | None
) -> torch.Tensor:
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
    return F.one_hot_masks(mask, num_classes, spatial_dims=spatial_dims, ignore_index=ignore_index)


def _batch_device_and_size(flat_inputs: list[Any]) -> tuple[torch.device, int]:
    first = flat_inputs[0]
    return first.device, int(first.shape[0])


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

    def _batch_coin(self, generator: torch.Generator | None) -> bool:
        """Per batch in "batch" mode; in "elem" and "pair" modes ``p`` is drawn per sample or pair."""
        return super()._batch_coin(generator) if self.mode == "batch" else True

    def _draw_pairing(
        self, batch_size: int, generator: torch.Generator | None, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The "elem"/"pair" modes' partners, who draws for whom and who is mixed at all.

        Returns ``(partners, leaders, mixed)``: sample ``p`` takes the draws (λ, box) of sample
        ``leaders[p]`` (itself in "elem" mode, the first of its pair in "pair" mode), and is mixed
        when ``mixed[p]`` (drawn with probability ``p`` per sample or pair). All three are on the
        host (see ``host_draw_device``; the batch's device under ``torch.compile``, the generator's
        when one is given), where a method reads them for free; ``to_device`` moves what it mixes with.
        """
        on = host_draw_device(generator, device)
        if self.mode == "elem":
            partners = cycle_partners_unchecked(batch_size, generator, on)
            leaders = torch.arange(batch_size, device=on)
        else:
            partners = F.pair_partners(batch_size, generator=generator, device=on)
            # a pair's first member (a 3-cycle's, for an odd batch): the least of p, π(p), π(π(p))
            samples = torch.arange(batch_size, device=on)
            leaders = torch.minimum(torch.minimum(samples, partners), partners[partners])
        mixed = torch.ones(batch_size, dtype=torch.bool, device=on)
        if self.p < 1.0:
            coins = torch.rand(batch_size, generator=generator, dtype=torch.float32, device=on)
            mixed = (coins < self.p)[leaders]
        return partners, leaders, mixed

    def mix_labels(self, labels: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Mix the labels: weight ``params["lam"]`` on the own label, the rest on the partner's."""
        lam = params["lam"]
        if isinstance(lam, torch.Tensor):
            lam = to_device(lam, labels.device)
        return mix_pairs_unchecked(labels, lam, to_device(params["partners"], labels.device))

    def rows_params(
        self, params: dict[str, Any], rows: torch.Tensor
    ) -> tuple[dict[str, Any], torch.Tensor | None]:
        """A batch of the ``rows`` and their partners, each row paired with its partner."""
        return _pair_rows_params(params, rows)

    def _repr_items(self) -> list[tuple[str, Any]]:
        mode = [("mode", self.mode)] if self.mode != "batch" else []
        return [("alpha", self.alpha), *mode, *super()._repr_items()]


def _pair_rows_params(params: dict[str, Any], rows: torch.Tensor) -> tuple[dict[str, Any], torch.Tensor]:
    """Parameters for the batch ``rows`` + their partners, in which row ``i`` is paired with ``n + i``."""
    n = rows.shape[0]
    partners = params["partners"].to(rows.device)
    select = torch.cat([rows, partners[rows]])
    local = {**params, "partners": torch.arange(n, 3 * n, device=rows.device) % (2 * n)}
    total = partners.shape[0]
    for key, value in params.items():  # a draw per sample (a tensor or list of one per sample): theirs
        if key == "partners":
            continue
        if isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == total:
            local[key] = value[select.to(value.device)]
        elif isinstance(value, list) and len(value) == total:
            local[key] = [value[i] for i in select.tolist()]
    return local, select
