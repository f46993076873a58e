"""``DataLoader`` collate functions that collate a list of samples, then mix the batch.

The collate classes own no mixing logic of their own: [`MixCollate`][MixCollate] calls any batch
transform on the collated batch, and [`ZetaMixupCollate`][ZetaMixupCollate],
[`MixUpCollate`][MixUpCollate] and [`CutMixCollate`][CutMixCollate] are [`MixCollate`][MixCollate]
with [`ZetaMixup`][ZetaMixup], [`MixUp`][MixUp] or [`CutMix`][CutMix].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch.utils.data import default_collate

from .transforms import CutMix, MixUp, ZetaMixup

__all__ = ["CutMixCollate", "MixCollate", "MixUpCollate", "ZetaMixupCollate"]


class MixCollate:
    """Collate a list of samples, then apply a batch transform to the batch.

    Args:
        transform: Any callable that takes the collated batch, such as [`ZetaMixup`][ZetaMixup]
            or ``v2.RandomChoice([...])`` of several mixing transforms.
        collate_fn: Turns the list of samples into a batch; ``None`` means
            ``torch.utils.data.default_collate``.

    Raises:
        TypeError: If ``transform`` or ``collate_fn`` is not callable, at construction; if the batch
            is not a sequence, when called.
        ValueError: If the batch is empty, when called.

    Note:
        The object is picklable when its transform and collate function are, so it works with
        ``num_workers > 0``. Each worker draws from its own torch RNG, which the ``DataLoader`` seeds
        from its base seed: ``torch.manual_seed`` (or ``DataLoader(generator=...)``) before iterating
        makes a whole epoch reproducible.

    Examples:
        >>> from torchvision.transforms import v2
        >>> from zmix_transforms import CutMix, MixUp
        >>> collate = MixCollate(v2.RandomChoice([MixUp(num_classes=3), CutMix(num_classes=3)]))
        >>> images, labels = collate([(torch.rand(3, 8, 8), i % 3) for i in range(4)])
        >>> images.shape, labels.shape
        (torch.Size([4, 3, 8, 8]), torch.Size([4, 3]))
    """

    def __init__(
        self, transform: Callable[[Any], Any], *, collate_fn: Callable[[Any], Any] | None = None
    ) -> None:
        if not callable(transform):
            raise TypeError(f"transform must be a callable batch transform, got {type(transform).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"collate_fn must be a callable or None, got {type(collate_fn).__name__}")
        self.transform = transform
        self.collate_fn = default_collate if collate_fn is None else collate_fn

    def __call__(self, batch: Sequence[Any]) -> Any:
        """Collate ``batch`` (a list of samples) and mix it.

        Args:
            batch: The samples the ``DataLoader`` drew, e.g. ``(image, label)`` pairs.

        Returns:
            The mixed batch, in the structure ``collate_fn`` gives (a list ``[images, labels]`` for
            pairs under ``default_collate``).
        """
        if not isinstance(batch, Sequence):
            raise TypeError(f"batch must be a sequence of samples, got {type(batch).__name__}")
        if len(batch) == 0:
            raise ValueError("batch must hold at least one sample, got an empty batch")
        return self.transform(self.collate_fn(batch))

    def __repr__(self) -> str:
        collate_name = getattr(self.collate_fn, "__name__", repr(self.collate_fn))
        return f"{type(self).__name__}(transform={self.transform!r}, collate_fn={collate_name})"


class ZetaMixupCollate(MixCollate):
    """Collate a list of samples and apply ζ-mixup to the batch (see [`ZetaMixup`][ZetaMixup]).

    Args:
        gamma: The exponent γ, a finite number > 0 (default 2.8).
        num_classes: Number of classes, needed when labels are class indices.
        collate_fn: Turns the list of samples into a batch; ``None`` means ``default_collate``.

    Raises:
        ValueError: If ``gamma`` or ``num_classes`` is out of range.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> collate = ZetaMixupCollate(num_classes=10)
        >>> images, labels = collate([(torch.rand(3, 8, 8), i) for i in range(4)])
        >>> labels.shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        gamma: float = 2.8,
        *,
        num_classes: int | None = None,
        collate_fn: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(ZetaMixup(gamma, num_classes=num_classes), collate_fn=collate_fn)


class MixUpCollate(MixCollate):
    """Collate a list of samples and apply mixup to the batch (see [`MixUp`][MixUp]).

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0 (default 1.0).
        num_classes: Number of classes, needed when labels are class indices.
        collate_fn: Turns the list of samples into a batch; ``None`` means ``default_collate``.

    Raises:
        ValueError: If ``alpha`` or ``num_classes`` is out of range.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> images, labels = MixUpCollate(num_classes=10)([(torch.rand(3, 8, 8), i) for i in range(4)])
        >>> labels.shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        num_classes: int | None = None,
        collate_fn: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(MixUp(alpha, num_classes=num_classes), collate_fn=collate_fn)


class CutMixCollate(MixCollate):
    """Collate a list of samples and apply CutMix to the batch (see [`CutMix`][CutMix]).

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0 (default 1.0).
        num_classes: Number of classes, needed when labels are class indices.
        collate_fn: Turns the list of samples into a batch; ``None`` means ``default_collate``.

    Raises:
        ValueError: If ``alpha`` or ``num_classes`` is out of range.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> images, labels = CutMixCollate(num_classes=10)([(torch.rand(3, 8, 8), i) for i in range(4)])
        >>> labels.shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        num_classes: int | None = None,
        collate_fn: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(CutMix(alpha, num_classes=num_classes), collate_fn=collate_fn)
