"""Methods: draw and apply in one call, for images and labels alike."""

from __future__ import annotations

import math

import torch

from .._checks import (
    check_batch_tensor,
    check_lam,
    check_same_device,
    check_soft_labels,
    check_spatial_dims,
    check_spatial_sizes,
)
from ._draws import cutmix_mask_traceable, cutmix_region, cycle_partners, zeta_weights
from ._dtypes import compute_dtype, restore_dtype
from ._kernels import apply_weights_unchecked, keeps_type, mix_pairs, paste_region

__all__ = ["cutmix", "mixup", "zeta_mixup"]


@keeps_type
def zeta_mixup(
    images: torch.Tensor,
    labels: torch.Tensor,
    gamma: float = 2.8,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ζ-mixup: mix every sample with all samples of the batch, weighted by a random p-series.

    ``W = zeta_weights(N, gamma)``; ``images' = W @ images`` and ``labels' = W @ labels``.

    Args:
        images: A batch of shape (N, ...) of any float or integer dtype: feature vectors, 2-D points,
            images, videos or volumes. The result keeps the dtype (see [`apply_weights`][apply_weights]).
        labels: Float labels of shape (N, K) (one-hot, soft or multi-hot; see [`one_hot`][one_hot]).
        gamma: The exponent γ, a finite number > 0 (default 2.8).
        generator: Source of randomness; the global torch RNG of the images' device when ``None``.

    Returns:
        ``(images, labels)``: new tensors of the input shapes.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the shapes do not match, a batch is empty, or ``gamma`` is out of range.

    Note:
        Traces under ``torch.compile(fullgraph=True)`` without a graph break when ``generator`` is
        ``None`` (torch 2.14 and 2.15 cannot trace a ``torch.Generator`` argument and break the
        graph there).

    Examples:
        >>> x, y = torch.rand(8, 3, 4, 4), one_hot(torch.arange(8) % 2, 2)
        >>> xm, ym = zeta_mixup(x, y, generator=torch.Generator().manual_seed(0))
        >>> xm.shape, bool(torch.allclose(ym.sum(1), torch.ones(8)))
        (torch.Size([8, 3, 4, 4]), True)
    """
    n = check_batch_tensor("images", images, min_ndim=1, layout="(N, ...)")
    check_soft_labels(labels, n)
    check_same_device("labels", labels, images.device, "images")
    # float64 weights: each use casts them to its own compute dtype, so label sums stay exact.
    weights = zeta_weights(n, gamma, generator=generator, device=images.device, dtype=torch.float64)
    return apply_weights_unchecked(images, weights), apply_weights_unchecked(labels, weights)  # checked above


@keeps_type
def mixup(
    images: torch.Tensor,
    labels: torch.Tensor,
    lam: float | torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup: ``x' = λ·x + (1 − λ)·x[π]`` for a random single-cycle pairing π, same for the labels.

    Args:
        images: A batch of shape (N, ...) of any float or integer dtype.
        labels: Float labels of shape (N, K).
        lam: The weight of each sample's own value, in [0, 1] (e.g. from [`sample_lambda`][sample_lambda]),
            or one weight per sample as a float tensor of shape (N,) (from
            [`sample_lambdas`][sample_lambdas]).
        generator: Source of randomness for the pairing; the global torch RNG when ``None``.

    Returns:
        ``(images, labels)``: new tensors of the input shapes.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the shapes do not match, a batch is empty, or ``lam`` is outside [0, 1].

    Note:
        Traces under ``torch.compile(fullgraph=True)`` without a graph break when ``generator`` is
        ``None`` (torch 2.14 and 2.15 cannot trace a ``torch.Generator`` argument and break the
        graph there).

    Examples:
        >>> x, y = torch.rand(4, 2), one_hot(torch.tensor([0, 1, 0, 1]), 2)
        >>> xm, ym = mixup(x, y, 0.7, generator=torch.Generator().manual_seed(0))
        >>> bool((ym.max(1).values >= 0.7).all())
        True
    """
    n = check_batch_tensor("images", images, min_ndim=1, layout="(N, ...)")
    check_soft_labels(labels, n)
    check_same_device("labels", labels, images.device, "images")
    if not isinstance(lam, torch.Tensor):
        lam = check_lam(lam)
    partners = cycle_partners(n, generator=generator, device=images.device)
    return mix_pairs(images, lam, partners), mix_pairs(labels, lam, partners)


@keeps_type
def cutmix(
    images: torch.Tensor,
    labels: torch.Tensor,
    lam: float,
    *,
    generator: torch.Generator | None = None,
    spatial_dims: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix: paste a random box of each sample's partner into it; weight labels by pixel fractions.

    The box ([`cutmix_region`][cutmix_region]; a cuboid for volumes) holds about ``(1 − λ)`` of the
    pixels; after clipping to the image, the label weight of the sample itself is the exact fraction
    of its pixels (voxels) kept, ``1 − region.size / (H·W)`` (``/ (D·H·W)``).

    Args:
        images: A batch of shape (N, ..., H, W) (or (N, ..., D, H, W) with ``spatial_dims=3``) of
            any dtype.
        labels: Float labels of shape (N, K).
        lam: The fraction of each image to keep before clipping, in [0, 1].
        generator: Source of randomness for the box and the pairing; the global torch RNG when ``None``.
        spatial_dims: 2 (a box over the last two dimensions) or 3 (a cuboid over the last three).

    Returns:
        ``(images, labels)``: new tensors of the input shapes.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the shapes do not match, a batch is empty, or ``lam`` is outside [0, 1].

    Note:
        Under ``torch.compile`` the box stays a tensor and is pasted with ``torch.where``, so the
        function traces without a graph break (with ``generator=None``: torch 2.14 and 2.15 cannot
        trace a ``torch.Generator`` argument, and break the graph there).

    Examples:
        >>> x, y = torch.rand(4, 3, 8, 8), one_hot(torch.tensor([0, 1, 2, 3]), 4)
        >>> xm, ym = cutmix(x, y, 0.5, generator=torch.Generator().manual_seed(0))
        >>> xm.shape, bool(torch.allclose(ym.sum(1), torch.ones(4)))
        (torch.Size([4, 3, 8, 8]), True)
    """
    spatial_dims = check_spatial_dims(spatial_dims)
    n = check_batch_tensor(
        "images",
        images,
        min_ndim=spatial_dims + 1,
        layout="(N, ..., H, W)" if spatial_dims == 2 else "(N, ..., D, H, W)",
    )
    check_soft_labels(labels, n)
    check_same_device("labels", labels, images.device, "images")
    lam = check_lam(lam)
    if torch.compiler.is_compiling():
        return _cutmix_traceable(images, labels, lam, generator, spatial_dims)
    spatial = check_spatial_sizes("images", images, spatial_dims)
    region = cutmix_region(spatial, lam, generator=generator)
    partners = cycle_partners(n, generator=generator, device=images.device)
    kept = 1.0 - region.size / math.prod(spatial)
    return paste_region(images, region, partners), mix_pairs(labels, kept, partners)


def _cutmix_traceable(
    images: torch.Tensor,
    labels: torch.Tensor,
    lam: float,
    generator: torch.Generator | None,
    spatial_dims: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix with the region kept as tensors, for ``torch.compile``: no ``.item()``, no graph break.

    The same draws as [`cutmix_region`][cutmix_region] (the centre dimension by dimension, then the
    partners); the region is pasted with ``torch.where`` over a mask instead of slicing by ints.
    """
    n, spatial = images.shape[0], tuple(images.shape[-spatial_dims:])
    device = images.device
    inside, pasted = cutmix_mask_traceable(spatial, lam, generator, device)
    partners = cycle_partners(n, generator=generator, device=device)
    mixed = torch.where(inside, images.index_select(0, partners), images)
    dtype = compute_dtype(labels.dtype)
    kept = 1.0 - pasted.to(dtype) / math.prod(spatial)
    soft = labels.to(dtype)
    return mixed, restore_dtype(soft.index_select(0, partners).lerp_(soft, kept), labels.dtype)
