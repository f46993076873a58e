"""ResizeMix (Qin et al., 2020): paste the whole partner, shrunk, at a random place.

The whole method: its draw (``resizemix_regions``, a pure function of the generator) and its
transform and collate, built on the pair methods' base, which gives it labels, smoothing, ``p``,
modes, volumes, masks, integer dtypes, per-rank draws and mixing across ranks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from typing_extensions import Unpack

from ._checks import check_generator, check_minmax, check_size, check_sizes, check_spatial_sizes
from ._regions import Region
from .collate import MethodCollate
from .functional._draws import cycle_partners_unchecked, draw_device, to_device
from .functional._kernels import paste_resampled, resized_partners, resized_sources, takes_masked_paste
from .transforms import MixOptions, _batch_device_and_size, _PairMix

__all__ = ["ResizeMix", "ResizeMixCollate", "resizemix_regions"]


def resizemix_regions(
    count: int,
    spatial: tuple[int, ...],
    scale: tuple[float, float] = (0.1, 0.8),
    generator: torch.Generator | None = None,
) -> list[Region]:
    """``count`` regions, each the image's shape scaled by τ ~ U(scale), at a uniformly random place.

    Each side is ``max(1, round(τ · side))``, so a region keeps the image's aspect ratio and lies
    inside it; the partner is resized to it. Drawn on the CPU (or the generator's device).

    Args:
        count: How many regions (one per batch, or per sample).
        spatial: The image's sizes, e.g. (H, W) or (D, H, W).
        scale: τ's range ``(lo, hi)``, fractions of the sides (``lo = hi``: one τ; the paper's (0.1, 0.8)).
        generator: The random source (default: the global RNG).

    Returns:
        A list of [`F.Region`][zmix_transforms.functional.Region].

    Raises:
        ValueError: If ``count`` or a size is < 1, or ``scale`` is not ``(lo, hi)``, 0 ≤ lo ≤ hi ≤ 1.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> resizemix_regions(1, (10, 20), generator=torch.Generator().manual_seed(0))[0].size > 0
        True
    """
    count, spatial = check_size("count", count), check_sizes("spatial", spatial)
    check_generator(generator)
    return _regions(count, spatial, check_minmax(scale, "scale", fixed=True), generator)


def _regions(
    count: int, spatial: tuple[int, ...], scale: tuple[float, float], generator: torch.Generator | None
) -> list[Region]:
    """``resizemix_regions`` on arguments valid by construction (the transform's)."""
    on = draw_device(generator, torch.device("cpu"))
    taus = torch.empty(count, dtype=torch.float64, device=on).uniform_(*scale, generator=generator)
    corners = torch.rand((count, len(spatial)), dtype=torch.float64, generator=generator, device=on)
    regions = []
    for tau, corner in zip(taus.tolist(), corners.tolist(), strict=True):
        sides = [max(1, round(tau * size)) for size in spatial]
        starts = [int(c * (size - side + 1)) for c, size, side in zip(corner, spatial, sides, strict=True)]
        regions.append(Region(tuple(starts), tuple(s + side for s, side in zip(starts, sides, strict=True))))
    return regions


def _traced_patch(
    spatial: tuple[int, ...],
    scale: tuple[float, float],
    generator: torch.Generator | None,
    device: torch.device,
) -> dict[str, Any]:
    """One patch drawn as ``resizemix_regions`` draws it, as tensors for torch.compile (no shape set)."""
    on = draw_device(generator, device)
    tau = torch.empty((), dtype=torch.float64, device=on).uniform_(*scale, generator=generator).to(device)
    corner = torch.rand(len(spatial), dtype=torch.float64, generator=generator, device=on).to(device)
    sizes = torch.tensor(spatial, device=device)
    sides = (tau * sizes).round().clamp_min(1).long()
    starts = (corner * (sizes - sides + 1)).floor().long()
    lam = 1.0 - sides.prod().double() / math.prod(spatial)
    return {"sources": resized_sources(starts[None], sides[None], spatial), "lam": lam}


class ResizeMix(_PairMix):
    """ResizeMix (Qin et al., 2020): paste a shrunk copy of the whole partner into each sample.

    The partner ``x[π]`` is resized by a factor τ ~ U(0.1, 0.8) of each side (``scale``) and pasted
    at a uniformly random place ([`resizemix_regions`][zmix_transforms.resizemix.resizemix_regions]);
    unlike CutMix, the pasted patch shows the whole partner, so its label is never pasted as
    background. The label weight is the patch's share of the pixels. Partners and modes as in
    [`CutMix`][CutMix]: one patch place and size per batch, per sample (``mode="elem"``) or per
    pair (``mode="pair"``).

    Args:
        scale: τ's range ``(lo, hi)``, fractions of the sides (default (0.1, 0.8), the paper's;
            ``lo = hi``: one τ).
        mode: ``"batch"``, ``"elem"`` or ``"pair"`` (see [`MixUp`][MixUp]).
        **options: The options every method shares (see [`MixOptions`][MixOptions]).

    Raises:
        ValueError: If a parameter is out of range, at construction; if the input is malformed, when
            called.
        TypeError: If an argument or the input has the wrong type.

    Note:
        The partner is resized by nearest-neighbour sampling, so pixels are copied, never blended:
        integer images and class-index masks stay exact (masks get the same patch). Volumes
        (``spatial_dims=3``) get a shrunk cuboid.

    Examples:
        >>> images, labels = ResizeMix(num_classes=10)(torch.rand(8, 3, 32, 32), torch.arange(8))
        >>> bool(torch.allclose(labels.sum(1), torch.ones(8)))
        True
    """

    blends = False

    def __init__(
        self,
        scale: tuple[float, float] = (0.1, 0.8),
        *,
        mode: str = "batch",
        **options: Unpack[MixOptions],
    ) -> None:
        super().__init__(mode=mode, **options)
        self.scale = check_minmax(scale, "scale", fixed=True)

    def draw_params(self, flat_inputs: list[Any], generator: torch.Generator | None) -> dict[str, Any]:
        """Draw the patch region(s) (one, or a list of one per sample), the kept share and the partners."""
        device, batch_size = _batch_device_and_size(flat_inputs)
        spatial = check_spatial_sizes("images", flat_inputs[0], self.spatial_dims)
        pixels = math.prod(spatial)
        if self.mode == "batch" and torch.compiler.is_compiling():  # traced: nothing read to the host
            return {
                **_traced_patch(spatial, self.scale, generator, device),
                "partners": cycle_partners_unchecked(batch_size, generator, device),
            }
        if self.mode == "batch":
            (region,) = _regions(1, spatial, self.scale, generator)
            partners = cycle_partners_unchecked(batch_size, generator, device)
            return {"region": region, "lam": 1.0 - region.size / pixels, "partners": partners}
        drawn = _regions(batch_size, spatial, self.scale, generator)
        partners, leaders, mixed = self._draw_pairing(batch_size, generator, device)
        none = Region((0,) * len(spatial), (0,) * len(spatial))  # an unmixed sample pastes nothing
        picks = zip(leaders.tolist(), mixed.tolist(), strict=True)
        regions = [drawn[lead] if keep else none for lead, keep in picks]
        kept = [1.0 - r.size / pixels for r in regions]
        lam = to_device(torch.tensor(kept, dtype=torch.float64, device="cpu"), device)
        return {"region": regions, "lam": lam, "partners": partners}  # partners on the host: read there

    def mix_images(
        self, inpt: torch.Tensor, params: dict[str, Any], *, inplace: bool = False
    ) -> torch.Tensor:
        """Paste each sample's shrunk partner into its region (masks alike)."""
        partners, regions = params["partners"], params.get("region", ())  # per sample: read on the host
        sources = params.get("sources")  # traced: each pixel's source along each axis, as tensors
        if isinstance(regions, list) and takes_masked_paste(inpt, inplace=inplace, batches=2):
            # a patch a sample, where one masked copy pays: made on the host, moved in one copy
            bounds = torch.tensor([(r.starts, r.sides) for r in regions], device="cpu")
            spatial = inpt.shape[inpt.ndim - bounds.shape[2] :]
            moved = to_device(torch.cat(resized_sources(bounds[:, 0], bounds[:, 1], spatial), 1), inpt.device)
            sources = moved.split(list(spatial), dim=1)
        if sources is not None:  # a constant number of ops
            return paste_resampled(inpt, to_device(partners, inpt.device), sources, inplace=inplace)
        out = inpt if inplace else inpt.clone()
        if isinstance(regions, Region):  # one region for the batch: the batch shrunk, its partners gathered
            whole: tuple[Any, ...] = (..., *regions.slices())
            out[whole] = resized_partners(inpt, regions.sides, to_device(partners, inpt.device))
            return out
        patches = []  # every patch read before any is written (in place, a partner may be overwritten)
        for region, q in zip(regions, partners.tolist(), strict=True):
            patches.append(resized_partners(inpt[q].unsqueeze(0), region.sides)[0] if region.size else None)
        for p, (region, patch) in enumerate(zip(regions, patches, strict=True)):
            if patch is not None:
                index: tuple[Any, ...] = (p, ..., *region.slices())
                out[index] = patch
        return out

    def _repr_items(self) -> list[tuple[str, Any]]:
        items = super()._repr_items()[1:]  # no alpha: ResizeMix draws none
        return [("scale", self.scale), *items] if self.scale != (0.1, 0.8) else items


class ResizeMixCollate(MethodCollate):
    """Collate a list of samples and apply ResizeMix: takes [`ResizeMix`][ResizeMix]'s arguments.

    Examples:
        >>> images, labels = ResizeMixCollate(num_classes=10)([(torch.rand(3, 8, 8), i) for i in range(4)])
        >>> labels.shape
        torch.Size([4, 10])
    """

    transform_class = ResizeMix
