"""Labels: class indices to one-hot rows, and label smoothing."""

from __future__ import annotations

import functools
from typing import Any

import torch

from .._checks import (
    allocation,
    check_ignore_index,
    check_num_classes,
    check_probability,
    describe,
    integer_range,
    positions_of,
)

__all__ = ["one_hot", "one_hot_masks", "smooth_labels"]


def one_hot(
    labels: torch.Tensor,
    num_classes: int,
    *,
    dtype: torch.dtype | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Turn class indices into one-hot rows, optionally smoothed.

    Args:
        labels: Integer class indices of shape (N,), any integer dtype, each in ``[0, num_classes)``.
        num_classes: The number of classes ``K`` >= 1.
        dtype: Float dtype of the result (default float32).
        label_smoothing: ``s`` in [0, 1]: the true class gets ``1 − s + s/K``, every other class
            ``s/K`` (as timm and ``torch.nn.CrossEntropyLoss(label_smoothing=s)`` do).

    Returns:
        A float tensor of shape (N, K) on ``labels``' device; each row sums to 1.

    Raises:
        TypeError: If ``labels`` is not an integer tensor, or ``dtype`` is not a float dtype.
        ValueError: If ``labels`` is not 1-D or holds a value outside ``[0, num_classes)``.

    Note:
        The range is checked on CPU tensors. On an accelerator it is left to the device-side assertion
        of ``scatter`` (as ``torch.nn.functional.one_hot`` does on CUDA), so that no CPU sync is forced.

    Examples:
        >>> one_hot(torch.tensor([2, 0]), 3)
        tensor([[0., 0., 1.],
                [1., 0., 0.]])
    """
    classes, dtype = _one_hot_options(num_classes, dtype)
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of class indices, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be integer class indices (any int dtype), got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"class-index labels must have shape (N,), got shape {tuple(labels.shape)}")
    return smooth_labels(one_hot_rows(labels, classes, dtype), label_smoothing)


def _one_hot_options(num_classes: Any, dtype: torch.dtype | None) -> tuple[int, torch.dtype]:
    """``num_classes`` checked, and the float ``dtype`` of one-hot rows (default float32)."""
    classes = check_num_classes(num_classes, allow_none=False)
    assert classes is not None  # allow_none=False
    dtype = dtype or torch.float32
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a float dtype, got {dtype}")
    return classes, dtype


def one_hot_rows(
    labels: torch.Tensor, classes: int, dtype: torch.dtype, name: str = "labels", hint: str = ""
) -> torch.Tensor:
    """[`one_hot`][zmix_transforms.functional.one_hot] of 1-D integer ``labels``, unsmoothed.

    The values are checked against ``classes`` here (on the CPU), their errors naming ``name`` and
    ending with ``hint``; their type and shape, by the caller (``one_hot``, or the transforms, which
    check their labels once).
    """
    n = labels.shape[0]
    indices = labels if labels.dtype == torch.int64 else labels.long()
    try:
        if classes <= _IDENTITY_MAX_CLASSES and not torch.compiler.is_compiling():
            # fast path: the rows of a cached identity, one gather that checks its indices on the CPU
            # (1.4 µs against one_hot's 4.1 at N = 8, K = 10, AMD EPYC: no min/max pass, no cast)
            return _identity(classes, dtype, labels.device).index_select(0, indices)
        if labels.device.type != "cpu":  # unchecked on an accelerator (a check would wait for it)
            out = torch.zeros(n, classes, dtype=dtype, device=labels.device)
            return out.scatter_(1, indices.unsqueeze(1), 1.0)
        # torch's one_hot checks the values on the CPU, in the same pass
        return torch.nn.functional.one_hot(indices, classes).to(dtype)
    except (RuntimeError, IndexError) as error:  # a failed allocation is named; a value out of range, below
        with allocation(lambda: f"one-hot labels of shape ({n}, {classes}) for num_classes={classes}"):
            if n == 0 or (not isinstance(error, IndexError) and "Class values" not in str(error)):
                raise
    low, high = integer_range(labels)
    raise ValueError(
        f"{name} must be class indices in [0, num_classes) = [0, {classes}), got values from {low} to {high}"
        f"{hint}"
    )


#: One-hot rows are gathered from a cached K×K identity up to this K (4 MiB in float32 for 1024).
_IDENTITY_MAX_CLASSES = 1024


@functools.lru_cache(maxsize=8)
def _identity(classes: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The K×K identity in ``dtype`` on ``device``, made once (only ever read: rows are gathered)."""
    return torch.eye(classes, dtype=dtype, device=device)


def smooth_labels(labels: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Blend float labels with the uniform distribution: ``(1 − s) · y + s / K``.

    For one-hot rows this is timm's label smoothing: ``1 − s + s/K`` on the true class, ``s/K``
    elsewhere. Rows that sum to 1 keep summing to 1.

    Args:
        labels: Float labels of shape (N, K).
        label_smoothing: ``s`` in [0, 1]; 0 returns ``labels`` itself.

    Returns:
        The smoothed labels (a new tensor unless ``s`` is 0).

    Raises:
        ValueError: If ``label_smoothing`` is outside [0, 1], or ``labels`` has no class (K = 0) to
            smooth over.
        TypeError: If ``labels`` is not a float tensor or ``label_smoothing`` is not a number.

    Examples:
        >>> smooth_labels(torch.tensor([[0.0, 1.0]]), 0.2)
        tensor([[0.1000, 0.9000]])
    """
    s = check_probability("label_smoothing", label_smoothing)
    if not isinstance(labels, torch.Tensor) or not labels.is_floating_point() or labels.ndim != 2:
        raise TypeError(f"labels must be a float torch.Tensor of shape (N, K), got {describe(labels)}")
    if s == 0.0:
        return labels
    if labels.shape[1] == 0:  # s/K has no meaning without a class (the fuzz found the division by 0)
        shape = tuple(labels.shape)
        raise ValueError(f"labels must have at least one class to smooth over, got shape {shape}")
    return labels.mul(1.0 - s).add_(s / labels.shape[1])


def one_hot_masks(
    masks: torch.Tensor,
    num_classes: int,
    *,
    spatial_dims: int = 2,
    dtype: torch.dtype | None = None,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Turn class-index segmentation masks into one-hot soft masks, classes on dimension 1.

    Args:
        masks: Integer class indices of shape (N, *spatial) or (N, 1, *spatial), each in
            ``[0, num_classes)`` or equal to ``ignore_index``; ``spatial`` is (H, W) or (D, H, W).
        num_classes: The number of classes ``K`` >= 1.
        spatial_dims: 2 for images, 3 for volumes.
        dtype: Float dtype of the result (default float32).
        ignore_index: The value that marks positions without a class (VOC's and Cityscapes' 255), as
            ``torch.nn.CrossEntropyLoss(ignore_index=...)`` takes it: those positions get all-zero
            rows, so they weigh nothing in a soft-target loss. ``None`` (default): every value is a
            class.

    Returns:
        A float tensor of shape (N, K, *spatial) whose values at each position sum to 1 (0 at an
        ignored position), as ``torch.nn.functional.cross_entropy`` takes for probabilities over
        classes.

    Raises:
        TypeError: If ``masks`` is not an integer tensor, or ``ignore_index`` is not an int or None.
        ValueError: If the shape does not fit or a value is outside ``[0, num_classes)`` and is not
            ``ignore_index``.

    Examples:
        >>> one_hot_masks(torch.tensor([[[0, 2]]]), 3).shape
        torch.Size([1, 3, 1, 2])
        >>> one_hot_masks(torch.tensor([[[1, 255]]]), 2, ignore_index=255).sum(1)  # per position
        tensor([[[1., 0.]]])
    """
    if (
        not isinstance(masks, torch.Tensor)
        or masks.is_floating_point()
        or masks.is_complex()
        or masks.dtype == torch.bool
    ):
        raise TypeError(f"masks must be an integer tensor of class indices, got {describe(masks)}")
    if masks.ndim == spatial_dims + 2 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.ndim != spatial_dims + 1:
        raise ValueError(
            f"class-index masks must have shape (N, *spatial) or (N, 1, *spatial) with {spatial_dims} "
            f"spatial dimensions, got shape {tuple(masks.shape)}"
        )
    classes, dtype = _one_hot_options(num_classes, dtype)
    ignore_index = check_ignore_index(ignore_index)
    labeled, ignored, name = masks, None, "masks"
    hint = "; if a value marks unlabeled positions (VOC's 255), pass it as ignore_index"
    if ignore_index is not None:
        ignored = positions_of(masks, ignore_index)
        labeled = masks.masked_fill(ignored, 0)
        name, hint = f"masks (besides ignore_index = {ignore_index})", ""
    flat = one_hot_rows(labeled.reshape(-1), classes, dtype, name=name, hint=hint)  # (N·positions, K)
    if ignored is not None:
        flat.masked_fill_(ignored.reshape(-1, 1), 0)  # an ignored position's row: no class at all
    return flat.reshape(*masks.shape, classes).movedim(-1, 1).contiguous()
