"""CutMix on top of ζ-mixup (the ζ-mixup paper's "CutMix + ζ-mixup"): the transform and its collate."""

from __future__ import annotations

from typing import Any

import torch
from typing_extensions import Unpack

from ._checks import (
    check_finite_positive,
)
from .collate import MethodCollate
from .cutmix import _draw_cutmix, _paste_drawn_region
from .functional._kernels import (
    apply_weights_unchecked,
    mix_pairs_unchecked,
)
from .transforms import MixOptions, _batch_device_and_size, _BatchMix, _pair_rows_params
from .zeta_mixup import _weights_in, dense_weights

__all__ = ["ZetaCutMix", "ZetaCutMixCollate"]


class ZetaCutMix(_BatchMix):
    """CutMix on top of ζ-mixup (the ζ-mixup paper's "CutMix + ζ-mixup"), with exact label weights.

    The batch is first mixed by ζ-mixup (weights ``W``), then each ζ-mixed sample gets a box of its
    partner's ζ-mixed sample pasted in, as [`CutMix`][CutMix] does. With ``λ'`` the exact kept pixel
    fraction and ``P`` the pairing, the labels are ``(λ'·I + (1 − λ')·P) · W · y``: every label row is
    still a convex combination, weighted by what each input contributes.

    Args:
        gamma: The ζ-mixup exponent γ, a finite number > 0 (default 2.8).
        alpha: CutMix's Beta concentration, a finite number > 0 (default 1.0).
        **options: The options every method shares, by keyword (see [`MixOptions`][MixOptions]).

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
        weights = dense_weights(flat_inputs, batch_size, self.gamma, generator, device)
        return {**weights, **_draw_cutmix(self.alpha, flat_inputs, generator, self.spatial_dims)}

    def rows_params(
        self, params: dict[str, Any], rows: torch.Tensor
    ) -> tuple[dict[str, Any], torch.Tensor | None]:
        """The ζ-mixup rows of the ``rows`` and their partners, over the whole batch, then paired.

        Each weight matrix's rows are selected as every per-sample draw is (``_pair_rows_params``).
        """
        return _pair_rows_params(params, rows)[0], None

    def mix_images(
        self, inpt: torch.Tensor, params: dict[str, Any], *, inplace: bool = False
    ) -> torch.Tensor:
        """ζ-mix one image batch, then paste the partners' boxes (into the ζ-mixed batch itself)."""
        zeta = apply_weights_unchecked(inpt, _weights_in(params, inpt), inplace=inplace)
        # pasted into the ζ-mixed batch itself, unless autograd needs its values (features)
        return _paste_drawn_region(zeta, params, inplace=not zeta.requires_grad or inplace)

    def mix_labels(self, labels: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """ζ-mix the labels, then weight each with its partner's by the kept pixel fraction."""
        zeta = apply_weights_unchecked(labels, _weights_in(params, labels))
        return mix_pairs_unchecked(zeta, params["lam"], params["partners"].to(labels.device))

    def _repr_items(self) -> list[tuple[str, Any]]:
        return [("gamma", self.gamma), ("alpha", self.alpha), *super()._repr_items()]


class ZetaCutMixCollate(MethodCollate):
    """Collate samples and apply CutMix on top of ζ-mixup: takes [`ZetaCutMix`][ZetaCutMix]'s arguments.

    Besides ``collate_fn``, ``return_originals`` and ``inplace`` (see [`MethodCollate`][MethodCollate]).

    Examples:
        >>> images, labels = ZetaCutMixCollate(num_classes=10)([(torch.rand(3, 8, 8), i) for i in range(4)])
        >>> labels.shape
        torch.Size([4, 10])
    """

    transform_class = ZetaCutMix
