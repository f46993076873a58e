"""``DataLoader`` collate functions that collate a list of samples, then mix the batch.

The collate classes own no mixing logic of their own: [`MixCollate`][MixCollate] calls any batch
transform on the collated batch, and [`MethodCollate`][MethodCollate] builds a method from its
arguments; each method's module declares its named collate ([`ZetaMixupCollate`][ZetaMixupCollate],
[`MixUpCollate`][MixUpCollate], [`CutMixCollate`][CutMixCollate], ...), which only names its method.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

import torch
from torch.utils.data import default_collate, get_worker_info
from torchvision import tv_tensors

from ._checks import check_bool, check_sample_list, pil_images_in, sample_shapes
from .functional._inplace import Spare, fresh_batch, lend_spare
from .transforms import _BatchMix, check_call

__all__ = ["MethodCollate", "MixCollate"]

Collate = Callable[[Any], Any]


class MixCollate:
    """Collate a list of samples, then apply a batch transform to the batch.

    Args:
        transform: Any callable that takes the collated batch, such as [`ZetaMixup`][ZetaMixup],
            [`RandomMix`][RandomMix] or ``v2.RandomChoice([...])`` of several mixing transforms.
        collate_fn: Turns the list of samples into a batch; ``None`` means
            ``torch.utils.data.default_collate``.
        return_originals: Also return the unmixed batch: ``(mixed_images, mixed_labels, images,
            labels)`` for ``(images, labels)`` batches (``(mixed, original)`` for other structures),
            so that a training loop can feed both, as [`MixupELoss`][MixupELoss] needs.
        inplace: Mix the collated batch in place, so that no second full-size batch is allocated,
            through the transform's public ``mix(batch, inplace=True)`` (this package's transforms
            and [`RandomMix`][RandomMix] have it; other transforms are called as they are).
            ``None`` (default): in place when ``collate_fn`` is ``default_collate``, which always
            returns a fresh batch, and not with ``return_originals``. Pass ``True`` only with a
            ``collate_fn`` that returns a batch nobody else holds. A small batch, whose new mix is
            no larger than the in-place kernels' buffers, is mixed out of place and the new batch
            returned: the copy back would be a pass over the batch for nothing. The collated batch
            it leaves is kept (one, or one per thread calling at once; never a batch a call
            returned) and takes the next call's mix where it fits, mixup's, and ζ-mixup's unless
            oneDNN's new batch was measured faster than ``torch.mm`` into it (on first use): its
            pages are mapped already, where a new batch's must be faulted in. With more than one
            thread, ζ-mixup's product of a float batch of any size goes that way too (one call,
            where in place it takes three per block of columns): the collate then holds one batch
            more. In a ``DataLoader`` worker (one thread) a batch is mixed where it lies, a small
            one copied back all the same: ``default_collate`` collates into shared memory there,
            and a new batch would be copied into it on its way to the main process.

    Raises:
        TypeError: If ``transform`` or ``collate_fn`` is not callable, at construction; if the batch
            is not a sequence, when called.
        ValueError: If ``inplace=True`` comes with ``return_originals=True``, or the transform mixes
            across ranks (a worker runs outside the process group), at construction; if the batch
            is empty, when called.

    Note:
        The object is picklable when its transform and collate function are, so it works with
        ``num_workers > 0``. Each worker draws from its own torch RNG, which the ``DataLoader`` seeds
        from its base seed: ``torch.manual_seed`` (or ``DataLoader(generator=...)``) before iterating
        makes a whole epoch reproducible. Each worker mixes with its own copy of the transform, made
        when the worker starts; only the ``mixup_enabled`` switch (of this collate, of its transform
        and of the transforms a ``RandomMix`` or ``v2.RandomChoice`` holds) lies in shared memory, so
        that ``collate.mixup_enabled = False`` (timm's ``--mixup-off-epoch``) reaches the workers,
        persistent ones included. Other attributes changed later reach only workers started later
        (``persistent_workers=False`` starts them every epoch).

    Examples:
        >>> from torchvision.transforms import v2
        >>> from zmix_transforms import CutMix, MixUp
        >>> collate = MixCollate(v2.RandomChoice([MixUp(num_classes=3), CutMix(num_classes=3)]))
        >>> images, labels = collate([(torch.rand(3, 8, 8), i % 3) for i in range(4)])
        >>> images.shape, labels.shape
        (torch.Size([4, 3, 8, 8]), torch.Size([4, 3]))
    """

    def __init__(
        self,
        transform: Collate,
        *,
        collate_fn: Collate | None = None,
        return_originals: bool = False,
        inplace: bool | None = None,
    ) -> None:
        if not callable(transform):
            raise TypeError(f"transform must be a callable batch transform, got {type(transform).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"collate_fn must be a callable or None, got {type(collate_fn).__name__}")
        if not isinstance(return_originals, bool):
            raise TypeError(f"return_originals must be a bool, got {type(return_originals).__name__}")
        if inplace is not None and not isinstance(inplace, bool):
            raise TypeError(f"inplace must be a bool or None, got {type(inplace).__name__}")
        if getattr(transform, "across_ranks", False):
            raise ValueError(
                f"transform must not mix across ranks in a collate function, got {transform!r}: collate "
                f"functions run in DataLoader workers, outside the process group; apply it to the "
                f"batches the loader returns, in the training process"
            )
        if inplace and return_originals:
            raise ValueError(
                "inplace=True cannot be combined with return_originals=True: the originals must be kept"
            )
        self.transform = transform
        self.collate_fn: Collate = default_collate if collate_fn is None else collate_fn
        self.return_originals = return_originals
        self.inplace = inplace
        self._spares: list[torch.Tensor] = []  # collated batches no call returned (one a thread)
        for switched in _switched(transform):  # set in this process, read in the workers
            switched._share_switch()

    def __getstate__(self) -> dict[str, Any]:
        """The state, without the spare batch (a ``DataLoader`` worker collates its own)."""
        return {**self.__dict__, "_spares": []}

    @property
    def mixup_enabled(self) -> bool:
        """Whether batches are mixed: timm's switch, as on its ``FastCollateMixup`` (default True).

        The ``mixup_enabled`` of the transform, or of every transform it holds (a ``RandomMix``'s,
        a ``v2.RandomChoice``'s), in shared memory: set here in the training process, it reaches
        the ``DataLoader``'s workers, persistent ones included.
        """
        return all(t.mixup_enabled for t in _switched(self.transform))

    @mixup_enabled.setter
    def mixup_enabled(self, value: bool) -> None:
        value = check_bool("mixup_enabled", value)
        switched = _switched(self.transform)
        if not switched:
            raise TypeError(
                f"mixup_enabled needs a transform of this package (or a RandomMix or v2.RandomChoice "
                f"of them), which has that switch, got {type(self.transform).__name__}"
            )
        for t in switched:
            t.mixup_enabled = value

    @property
    def mixes_in_place(self) -> bool:
        """Whether calls mix the collated batch in place (see ``inplace``)."""
        if self.return_originals or not callable(getattr(self.transform, "mix", None)):
            return False
        return self.inplace if self.inplace is not None else self.collate_fn is default_collate

    def __call__(self, batch: Sequence[Any]) -> Any:
        """Collate ``batch`` (a list of samples) and mix it.

        Args:
            batch: The samples the ``DataLoader`` drew, e.g. ``(image, label)`` pairs.

        Returns:
            The mixed batch, in the structure ``collate_fn`` gives (a list ``[images, labels]`` for
            pairs under ``default_collate``); with ``return_originals``, the unmixed batch after it.
        """
        check_sample_list(batch)
        try:
            collated = self.collate_fn(batch)
        except RuntimeError as error:  # torch.stack's "stack expects each tensor to be equal size"
            shapes = sample_shapes(batch)
            if len(shapes) < 2:
                raise
            raise ValueError(
                f"batch must hold samples of one shape to be collated into a batch, got images of "
                f"shapes {shapes}; resize or crop the samples to one size first (e.g. v2.Resize or "
                f"v2.RandomResizedCrop in the dataset's transform)"
            ) from error
        except TypeError as error:  # default_collate's "found <class 'PIL.Image.Image'>"
            if not pil_images_in(batch[0]):
                raise
            raise TypeError(
                "batch must hold tensors (or arrays or numbers) to be collated, got samples holding PIL "
                "images; convert them in the dataset's transform, e.g. v2.PILToTensor() (uint8 "
                "batches, which are mixed at a quarter of float32's bytes) or v2.Compose([v2.ToImage(), "
                "v2.ToDtype(torch.float32, scale=True)])"
            ) from error
        collated = _keep_tv_tensor_types(collated, batch[0])
        if self.mixes_in_place:  # the batch is ours alone: overwrite it rather than allocate another
            return self._mix_in_place(collated)
        mixed = self.transform(collated)  # out of place: ``collated`` is left as it was
        if not self.return_originals:
            return mixed
        if isinstance(collated, (tuple, list)) and isinstance(mixed, (tuple, list)):
            return (*mixed, *collated)
        return mixed, collated

    def _mix_in_place(self, collated: Any) -> Any:
        """Mix ``collated`` over itself; a small batch's new mix goes into the spare batch, if one fits.

        A batch whose new mix fits the in-place kernels' buffers is mixed out of place and the new
        one returned, not in a ``DataLoader`` worker: its collated batch lies in shared memory, and a
        new one would be copied there. The collated batch such a mix leaves is kept as the spare:
        the next call's mix is written into it (pages mapped already), never into a returned batch.
        """
        in_worker = get_worker_info() is not None
        images = _images_of(collated)
        try:  # pop: a call (a thread's, too) takes the spare for itself
            spare = Spare(self._spares.pop(), keeps=images)
        except IndexError:
            spare = Spare(None, keeps=images)  # kept as the next call's, once its mix goes elsewhere
        with contextlib.nullcontext() if in_worker else fresh_batch(), lend_spare(spare):
            mixed = self.transform.mix(collated, inplace=True)  # type: ignore[attr-defined]
        out = _images_of(mixed)
        if images is not None and out is not None and out.data_ptr() != images.data_ptr():
            self._spares.append(images)  # the mix went elsewhere: the collated batch is free
        elif spare.batch is not None and not spare.taken:
            self._spares.append(spare.batch)
        return mixed

    def __repr__(self) -> str:
        collate_name = getattr(self.collate_fn, "__name__", repr(self.collate_fn))
        extra = ", return_originals=True" if self.return_originals else ""
        return f"{type(self).__name__}(transform={self.transform!r}, collate_fn={collate_name}{extra})"


def _images_of(batch: Any) -> torch.Tensor | None:
    """The image batch of an ``[images, labels, ...]`` batch, or None.

    A plain tensor, or the plain data of a ``tv_tensors.Image`` or ``Video`` batch (what the
    kernels mix and a spare must fit); not a subclass that carries metadata of its own (MONAI's
    ``MetaTensor``), nor a dict's.
    """
    if isinstance(batch, (list, tuple)) and batch:
        first = batch[0]
        if type(first) is torch.Tensor:
            return first
        if type(first) in (tv_tensors.Image, tv_tensors.Video):
            return first.as_subclass(torch.Tensor)
    return None


def _switched(transform: Any) -> list[Any]:
    """The transforms with a ``mixup_enabled`` switch: ``transform``, or those it holds.

    ``RandomMix``, ``v2.RandomChoice`` and ``v2.Compose`` hold theirs in ``transforms``.
    """
    if callable(getattr(transform, "_share_switch", None)):
        return [transform]
    inner = getattr(transform, "transforms", None)
    if not isinstance(inner, (list, tuple, torch.nn.ModuleList)):
        return []
    return [t for held in inner for t in _switched(held)]


_PLAIN = (torch.Tensor, int, float, str)
_TYPED = (tv_tensors.Image, tv_tensors.Video, tv_tensors.Mask)


def _keep_tv_tensor_types(collated: Any, sample: Any) -> Any:
    """Give each collated tensor the tv_tensor type of the samples' item it was stacked from.

    ``default_collate`` stacks ``tv_tensors.Video`` (or ``Image``, ``Mask``) samples into plain
    tensors; the transforms need the type to tell a video batch from a plain 5-D tensor, and a mask
    batch from another tensor passed through. The batch is walked beside the sample, node by node,
    so that an item which collates to several leaves (a file name to a list of names) does not
    shift the others.
    """
    if type(sample) in (tuple, list) and all(type(item) in _PLAIN for item in sample):
        return collated  # the common sample, (tensor, int), told at a glance
    return _retyped(collated, sample)


def _retyped(collated: Any, sample: Any) -> Any:
    """``collated`` with its plain tensors stacked from a tv_tensor item of ``sample`` wrapped like it.

    ``collated`` itself where nothing changes, and where its structure is not the sample's (a
    ``collate_fn`` of its own): containers are rebuilt only around a changed item.
    """
    if type(sample) in _TYPED:
        plain = isinstance(collated, torch.Tensor) and not isinstance(collated, tv_tensors.TVTensor)
        return tv_tensors.wrap(collated, like=sample) if plain else collated  # a MONAI MetaTensor too
    if isinstance(sample, Mapping) and isinstance(collated, MutableMapping):
        changed = {
            key: item
            for key in sample
            if key in collated and (item := _retyped(collated[key], sample[key])) is not collated[key]
        }
        if not changed:
            return collated
        rebuilt = copy.copy(collated)  # the same mapping type: an OrderedDict stays one
        rebuilt.update(changed)
        return rebuilt
    sequences = isinstance(sample, (tuple, list)) and isinstance(collated, (tuple, list))
    if sequences and len(sample) == len(collated):  # default_collate makes a list of a tuple sample
        items = [_retyped(out, item) for out, item in zip(collated, sample, strict=True)]
        if all(new is old for new, old in zip(items, collated, strict=True)):
            return collated
        return type(collated)(*items) if hasattr(collated, "_fields") else type(collated)(items)
    return collated


class MethodCollate(MixCollate):
    """Collate a list of samples, then mix the batch with a method built from the same arguments.

    The one collate every method shares: a subclass names its method in ``transform_class``, and
    takes that method's arguments (its own parameters and the shared
    [`MixOptions`][MixOptions]) besides [`MixCollate`][MixCollate]'s ``collate_fn``,
    ``return_originals`` and ``inplace``. ``MixCollate(ZetaMixup(...))`` is the same thing.

    Args:
        *args: The method's positional parameters (``gamma``, ``alpha``).
        collate_fn: Turns the list of samples into a batch; ``None`` means ``default_collate``.
        return_originals: Also return the unmixed batch (see [`MixCollate`][MixCollate]).
        inplace: Mix the collated batch in place (see [`MixCollate`][MixCollate]).
        **kwargs: The method's keyword parameters and options.

    Raises:
        ValueError: If a parameter is out of range.
        TypeError: If an argument has the wrong type, or the method takes no such argument, or the
            class names no ``transform_class`` (``MethodCollate`` itself).
    """

    transform_class: type[_BatchMix]

    def __init__(
        self,
        *args: Any,
        collate_fn: Collate | None = None,
        return_originals: bool = False,
        inplace: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if getattr(type(self), "transform_class", None) is None:
            raise TypeError(
                f"{type(self).__name__} has no method to build: a subclass names it in transform_class "
                f"(as ZetaMixupCollate does); to collate with a transform, use MixCollate(transform)"
            )
        check_call(
            self.transform_class,
            args,
            kwargs,
            name=type(self).__name__,
            also=("collate_fn", "return_originals", "inplace"),
        )
        transform = self.transform_class(*args, **kwargs)
        super().__init__(transform, collate_fn=collate_fn, return_originals=return_originals, inplace=inplace)
