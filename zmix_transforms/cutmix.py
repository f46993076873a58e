"""CutMix (Yun et al., 2019): its draw, the transform and its collate, on the pair methods' base."""

from __future__ import annotations

import math
from typing import Any

import torch
from typing_extensions import Unpack

from . import functional as F
from ._checks import (
    check_minmax,
    check_region_inside,
    check_spatial_sizes,
)
from .collate import MethodCollate
from .functional._draws import (
    cutmix_draw_unchecked,
    cutmix_mask_traceable,
    cutmix_regions_unchecked,
    cycle_partners_unchecked,
    sample_lambdas_unchecked,
    to_device,
    traceable_lambda,
)
from .functional._kernels import (
    paste_region_unchecked,
)
from .transforms import MixOptions, _batch_device_and_size, _PairMix

__all__ = ["CutMix", "CutMixCollate"]


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
    if minmax is None and torch.compiler.is_compiling():  # the region as a mask: traced, never read
        lam = traceable_lambda(alpha, generator, device)
        inside, pasted = cutmix_mask_traceable(spatial, lam, generator, device)
        return {
            "region": inside.unsqueeze(0),
            "lam": 1.0 - pasted.to(torch.float64) / math.prod(spatial),
            "partners": cycle_partners_unchecked(batch_size, generator, device),
        }
    if minmax is None:
        _, region = cutmix_draw_unchecked(spatial, alpha, generator)
    else:
        region = F.cutmix_region_minmax(spatial, minmax, generator=generator)
    return {
        "region": region,
        "lam": 1.0 - region.size / math.prod(spatial),
        "partners": cycle_partners_unchecked(batch_size, generator, device),
    }


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
        **options: The options every method shares, by keyword (see [`MixOptions`][MixOptions]).

    Raises:
        ValueError: If a parameter is out of range, at construction; if the input is malformed, when
            called.
        TypeError: If an argument or the input has the wrong type.

    Note:
        Accepts the same inputs as [`ZetaMixup`][ZetaMixup], and masks; pixels are copied, never
        blended, so integer images and masks stay exact. In "elem" and "pair" modes the boxes and
        the pairing are drawn on the CPU and the boxes pasted one sample at a time: on an
        accelerator nothing is read back (no sync). Under ``torch.compile`` every box is a mask
        drawn on the batch's device and pasted with ``torch.where``: no sync, no graph break.

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
        if minmax is None and torch.compiler.is_compiling():  # a mask per sample: traced, never read
            each = sample_lambdas_unchecked(self.alpha, batch_size, generator, device)
            partners, leaders, mixed = self._draw_pairing(batch_size, generator, device)
            inside, pasted = cutmix_mask_traceable(spatial, each, generator, device)
            inside, pasted = inside[leaders], pasted[leaders].masked_fill(~mixed, 0)  # a pair's one box
            shape = (batch_size, *([1] * len(spatial)))
            return {
                "region": inside & mixed.reshape(shape),
                "lam": 1.0 - pasted.to(torch.float64) / math.prod(spatial),
                "partners": partners,
            }
        lams = None if minmax else sample_lambdas_unchecked(self.alpha, batch_size, generator, None).tolist()
        partners, leaders, mixed = self._draw_pairing(batch_size, generator, device)
        empty = F.Region((0,) * len(spatial), (0,) * len(spatial))
        drawing = sorted(set(leaders[mixed].tolist()))  # one region for each mixed sample or pair
        if lams is not None:
            boxes = cutmix_regions_unchecked(spatial, [lams[p] for p in drawing], generator)
        else:
            boxes = [F.cutmix_region_minmax(spatial, minmax, generator=generator) for _ in drawing]  # type: ignore[arg-type]
        drawn = dict(zip(drawing, boxes, strict=True))
        regions = [drawn.get(p, empty) for p in leaders.tolist()]
        kept = [1.0 - region.size / math.prod(spatial) for region in regions]
        # the partners stay on the host, where the pasting reads them (moved for the labels alone)
        return {
            "region": regions,
            "lam": to_device(torch.tensor(kept, dtype=torch.float64, device="cpu"), device),
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
    region, partners = params["region"], params["partners"]
    if isinstance(region, torch.Tensor):  # masks (1 or N, *spatial sizes), drawn under torch.compile
        masks = region.reshape(region.shape[0], *([1] * (x.ndim - region.ndim)), *region.shape[1:])
        mixed = torch.where(masks, x.index_select(0, partners.to(x.device)), x)
        return x.copy_(mixed) if inplace else mixed
    for i, each in enumerate([region] if isinstance(region, F.Region) else region):
        # only where it lies: x was checked with the input (a bool mask is pasted like any other)
        check_region_inside(f"region[{i}]", each, tuple(x.shape[-len(each.starts) :]))
    if isinstance(region, F.Region):  # one region, pasted by a gather on x's device
        partners = to_device(partners, x.device)
    return paste_region_unchecked(x, region, partners, inplace=inplace)


class CutMixCollate(MethodCollate):
    """Collate a list of samples and apply CutMix to the batch: takes [`CutMix`][CutMix]'s arguments.

    Besides ``collate_fn``, ``return_originals`` and ``inplace`` (see [`MethodCollate`][MethodCollate]).

    Examples:
        >>> images, labels = CutMixCollate(num_classes=10)([(torch.rand(3, 8, 8), i) for i in range(4)])
        >>> labels.shape
        torch.Size([4, 10])
    """

    transform_class = CutMix
