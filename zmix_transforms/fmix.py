"""FMix (Harris et al., 2020): mix with a binary mask thresholded from low-frequency Fourier noise.

The whole method: its draw (``fmix_masks``, a pure function of the generator) and its transform
and collate, built on the pair methods' base, which gives it labels, smoothing, ``p``, modes,
volumes, masks, integer dtypes, per-rank draws and mixing across ranks.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
from typing_extensions import Unpack

from ._checks import check_finite_positive, check_generator, check_shares, check_sizes, check_spatial_sizes
from .collate import MethodCollate
from .functional._draws import (
    cycle_partners_unchecked,
    draw_device,
    host_draw_device,
    sample_lambda_unchecked,
    sample_lambdas_unchecked,
    to_device,
    top_share_masks,
    traceable_lambda,
)
from .functional._kernels import where_into
from .transforms import MixOptions, _batch_device_and_size, _PairMix

__all__ = ["FMix", "FMixCollate", "fmix_masks"]


def fmix_masks(
    lams: torch.Tensor, spatial: tuple[int, ...], decay: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Binary masks (L, *spatial): in mask ``l``, the top ``lams[l]`` share of a low-frequency noise.

    The noise is a random spectrum (complex Gaussian) scaled by ``1 / f^decay`` (``f`` the
    frequency's magnitude, at least one over the largest side) and brought back to space; its
    ``round(λ·P)`` largest of ``P`` values are ``True`` (the pixels a sample keeps), so a mask's mean
    is λ to within ``1/(2P)``. Drawn on the generator's device in float32 (ATen draws float64 normals
    one at a time: 6× slower), in any number of dims.

    Args:
        lams: Kept shares in [0, 1], shape (L,).
        spatial: The mask's sizes, e.g. (H, W) or (D, H, W).
        decay: δ > 0: larger values give smoother, blobbier masks (the paper's default 3).
        generator: The random source (default: the global RNG).

    Returns:
        A bool tensor (L, *spatial).

    Raises:
        ValueError: If a share is outside [0, 1], ``lams`` is empty or not 1-D, a size is < 1 or δ ≤ 0.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> masks = fmix_masks(torch.tensor([0.25]), (8, 8), 3.0, torch.Generator().manual_seed(0))
        >>> masks.shape, int(masks.sum())
        (torch.Size([1, 8, 8]), 16)
    """
    lams, spatial = check_shares("lams", lams), check_sizes("spatial", spatial)
    check_generator(generator)
    return _masks(lams, spatial, check_finite_positive("decay", decay), generator)


def _masks(
    lams: torch.Tensor, spatial: tuple[int, ...], decay: float, generator: torch.Generator | None
) -> torch.Tensor:
    """``fmix_masks`` on arguments valid by construction (the transform's: checked once a call)."""
    device = lams.device
    # made once per size, decay and device (nine ATen calls a draw saved), but not while traced
    scale = (_scale if torch.compiler.is_compiling() else _cached_scale)(spatial, decay, device)
    parts = torch.randn((2, len(lams), *scale.shape), generator=generator, dtype=torch.float32, device=device)
    spectrum = torch.complex(parts[0], parts[1]) * scale
    noise = torch.fft.irfftn(spectrum, s=spatial, dim=tuple(range(1, len(spatial) + 1)))
    kept = (lams.to(torch.float64) * math.prod(spatial)).round().long()
    return top_share_masks(noise.reshape(len(lams), -1), kept).reshape(len(lams), *spatial)


def _scale(spatial: tuple[int, ...], decay: float, device: torch.device) -> torch.Tensor:
    """``1 / f^decay`` over the rFFT's frequencies (``f`` ≥ 1 / max side) over its maximum: no δ overflows."""
    axes = [torch.fft.fftfreq(size, device=device, dtype=torch.float64) for size in spatial[:-1]]
    axes.append(torch.fft.rfftfreq(spatial[-1], device=device, dtype=torch.float64))
    frequency = torch.stack(torch.meshgrid(*axes, indexing="ij")).square().sum(0).sqrt()
    return (frequency * max(spatial)).clamp_min(1.0).pow(-decay).to(torch.float32)


_cached_scale = functools.lru_cache(maxsize=16)(_scale)  # only read


#: Masks of at most this many pixels in all (one 64² mask, four 32² ones) are drawn on the host for
#: a batch on another device: 50–70 µs on an AMD EPYC's CPU, where a GPU's draw launches 13 kernels.
_HOST_MASK_PIXELS = 4096


class FMix(_PairMix):
    """FMix (Harris et al., 2020): keep a random low-frequency mask's pixels, the rest from a partner.

    λ ~ Beta(α, α); the mask holds the top λ share of a low-frequency Fourier noise
    ([`fmix_masks`][zmix_transforms.fmix.fmix_masks], decay δ), so its regions are blobs of any
    shape, unlike CutMix's box. ``x' = M ⊙ x + (1 − M) ⊙ x[π]``; the label weight is the mask's
    mean, the exact share of pixels kept. Partners and modes as in [`CutMix`][CutMix]: one mask per
    batch, per sample (``mode="elem"``) or per pair (``mode="pair"``, both samples swap it).

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0 (default 1.0).
        decay: The noise's decay δ, a finite number > 0 (default 3.0, the paper's).
        mode: ``"batch"``, ``"elem"`` or ``"pair"`` (see [`MixUp`][MixUp]).
        **options: The options every method shares (see [`MixOptions`][MixOptions]).

    Raises:
        ValueError: If a parameter is out of range, at construction; if the input is malformed, when
            called.
        TypeError: If an argument or the input has the wrong type.

    Note:
        Pixels are copied, never blended, so integer images and class-index masks stay exact
        (masks get the same mask as the images). Volumes (``spatial_dims=3``) get a 3-D noise.

    Examples:
        >>> images, labels = FMix(num_classes=10)(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        >>> bool(torch.allclose(labels.sum(1), torch.ones(8)))
        True
    """

    blends = False

    def __init__(
        self, alpha: float = 1.0, *, decay: float = 3.0, mode: str = "batch", **options: Unpack[MixOptions]
    ) -> None:
        super().__init__(alpha, mode=mode, **options)
        self.decay = check_finite_positive("decay", decay)

    def draw_params(self, flat_inputs: list[Any], generator: torch.Generator | None) -> dict[str, Any]:
        """Draw the mask(s) (bool, (1 or N, *spatial)), the exact kept share ``lam`` and the partners."""
        device, batch_size = _batch_device_and_size(flat_inputs)
        spatial = check_spatial_sizes("images", flat_inputs[0], self.spatial_dims)
        pixels, drawn = math.prod(spatial), None
        # small masks on the host, moved in one copy: on a GPU their draw is a dozen kernel launches
        small = pixels * (1 if self.mode == "batch" else batch_size) <= _HOST_MASK_PIXELS
        on = (host_draw_device if small else draw_device)(generator, device)
        if self.mode == "batch":
            if torch.compiler.is_compiling():  # λ then stays a tensor: traced, never read
                lam = traceable_lambda(self.alpha, generator, on).reshape(1)
            else:
                drawn = sample_lambda_unchecked(self.alpha, generator)
                lam = torch.full((1,), drawn, dtype=torch.float64, device=on)  # a fill, not a copy
            partners, pick = cycle_partners_unchecked(batch_size, generator, device), None
        else:
            lam = sample_lambdas_unchecked(self.alpha, batch_size, generator, on)
            partners, leaders, mixed = self._draw_pairing(batch_size, generator, device)
            lam = torch.where(to_device(mixed, on), lam[pick := to_device(leaders, on)], 1.0)  # from the host
        masks = _masks(lam, spatial, self.decay, generator)
        share: float | torch.Tensor
        if drawn is not None:  # the share fmix_masks sets, from the host's λ: nothing read back (no sync)
            share = round(drawn * pixels) / pixels
        else:  # the same on the device: per sample, or one traced under torch.compile
            kept = (lam.to(torch.float64) * pixels).round() / pixels
            share = kept[0] if pick is None else to_device(kept[pick], device)
        masks = masks if pick is None else masks[pick]  # a pair shares its leader's mask
        return {"mask": to_device(masks, device), "lam": share, "partners": to_device(partners, device)}

    def mix_images(
        self, inpt: torch.Tensor, params: dict[str, Any], *, inplace: bool = False
    ) -> torch.Tensor:
        """Keep ``inpt`` where the mask is set, the partner's pixels elsewhere (masks alike)."""
        mask = to_device(params["mask"], inpt.device)
        view = mask.reshape(mask.shape[0], *[1] * (inpt.ndim - mask.ndim), *mask.shape[1:])
        partners = inpt.index_select(0, to_device(params["partners"], inpt.device))  # read before any write
        if torch.is_grad_enabled() and inpt.requires_grad and not inplace:  # features: differentiable
            return torch.where(view, inpt, partners)
        if inplace:
            out = inpt
        elif partners.stride() == inpt.stride():  # the gather's buffer, overwritten: no second batch
            out = partners
        else:
            out = torch.empty_like(inpt)  # in the input's dense layout
        return where_into(view, inpt, partners, out=out)

    def _repr_items(self) -> list[tuple[str, Any]]:
        items = super()._repr_items()
        return [items[0], ("decay", self.decay), *items[1:]] if self.decay != 3.0 else items


class FMixCollate(MethodCollate):
    """Collate a list of samples and apply FMix to the batch: takes [`FMix`][FMix]'s arguments.

    Examples:
        >>> images, labels = FMixCollate(num_classes=10)([(torch.rand(3, 8, 8), i) for i in range(4)])
        >>> labels.shape
        torch.Size([4, 10])
    """

    transform_class = FMix
