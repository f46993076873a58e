"""mixup (Zhang et al., 2018): the transform and its collate, on the pair methods' base."""

from __future__ import annotations

from typing import Any

import torch

from .collate import MethodCollate
from .functional._draws import (
    cycle_partners_unchecked,
    host_draw_device,
    sample_lambda_unchecked,
    sample_lambdas_unchecked,
    to_device,
    traceable_lambda,
)
from .functional._dtypes import EIGHT_BITS, round_to_steps
from .functional._kernels import (
    mix_pairs_unchecked,
)
from .transforms import _batch_device_and_size, _PairMix

__all__ = ["MixUp", "MixUpCollate"]


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
        **options: The options every method shares, by keyword (see [`MixOptions`][MixOptions]).

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
        eight_bit = any([images.dtype in EIGHT_BITS for images in flat_inputs])
        if self.mode == "batch":
            lam: float | torch.Tensor
            if torch.compiler.is_compiling():  # λ a tensor on the batch's device: traced, never read
                lam = traceable_lambda(self.alpha, generator, device)
            else:
                lam = sample_lambda_unchecked(self.alpha, generator)
            return {
                "lam": round_to_steps(lam) if eight_bit else lam,
                "partners": cycle_partners_unchecked(batch_size, generator, device),
            }
        on = host_draw_device(generator, device)  # drawn and picked on the host, then moved in two copies
        lams = sample_lambdas_unchecked(self.alpha, batch_size, generator, on)
        partners, leaders, mixed = self._draw_pairing(batch_size, generator, device)
        kept = torch.where(mixed, lams[leaders], 1.0)
        kept = round_to_steps(kept) if eight_bit else kept
        return {"lam": to_device(kept, device), "partners": to_device(partners, device)}

    def mix_images(
        self, inpt: torch.Tensor, params: dict[str, Any], *, inplace: bool = False
    ) -> torch.Tensor:
        """Mix one image batch with its partners."""
        return mix_pairs_unchecked(inpt, params["lam"], params["partners"], inplace=inplace)


class MixUpCollate(MethodCollate):
    """Collate a list of samples and apply mixup to the batch: takes [`MixUp`][MixUp]'s arguments.

    Besides ``collate_fn``, ``return_originals`` and ``inplace`` (see [`MethodCollate`][MethodCollate]).

    Examples:
        >>> images, labels = MixUpCollate(num_classes=10)([(torch.rand(3, 8, 8), i) for i in range(4)])
        >>> labels.shape
        torch.Size([4, 10])
    """

    transform_class = MixUp
