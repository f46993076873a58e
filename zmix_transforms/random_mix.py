"""``RandomMix``: one of several batch transforms per call (timm's ``switch_prob``), and timm's arguments."""

from __future__ import annotations

import collections.abc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten
from torchvision import tv_tensors

from ._checks import (
    check_bool,
    check_minmax,
    check_mode,
    check_nonnegative,
    check_probabilities,
    check_probability,
)
from .cutmix import CutMix
from .functional._draws import draw_device
from .mixup import MixUp
from .transforms import (
    _PerRankDraws,
    _soft_masks,
)

__all__ = ["RandomMix"]


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
        Segmentation masks come in one form whichever transform is picked: where some transforms
        blend (soft masks) and others copy pixels (class indices stay indices), the copies'
        class-index masks become one-hot soft masks too (with that transform's ``num_classes`` and
        ``ignore_index``), which is what the copy is as a soft mask. torchvision's
        ``v2.RandomChoice`` passes on each transform's form.

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
        generator = self._rank_generator()
        shares = torch.tensor(self.p, dtype=torch.float64, device=draw_device(generator, None))
        pick = torch.multinomial(shares, 1, generator=generator)
        transform = self.transforms[int(pick)]
        mix = getattr(transform, "mix", None)
        out = mix(*inputs, inplace=inplace) if callable(mix) else transform(*inputs)
        if getattr(transform, "blends", None) is False and any(
            getattr(t, "blends", None) for t in self.transforms
        ):
            return _soft_mask_outputs(out, transform)  # the form the blending transforms give
        return out

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


def _soft_mask_outputs(out: Any, transform: Any) -> Any:
    """``out`` with its class-index ``tv_tensors.Mask`` batches one-hot, as ``transform``'s soft masks."""
    flat, spec = tree_flatten(out)
    if not any(isinstance(item, tv_tensors.Mask) and not item.is_floating_point() for item in flat):
        return out
    if transform.num_classes is None:
        raise ValueError(
            f"RandomMix gives the class-index masks of a transform that copies pixels ({transform!r}) as "
            f"soft masks, the form its blending transforms give: that transform needs num_classes, got None"
        )
    flat = [
        tv_tensors.wrap(
            _soft_masks(
                item.as_subclass(torch.Tensor),
                transform.num_classes,
                transform.spatial_dims,
                transform.ignore_index,
            ),
            like=item,
        )
        if isinstance(item, tv_tensors.Mask) and not item.is_floating_point()
        else item
        for item in flat
    ]
    return tree_unflatten(flat, spec)
