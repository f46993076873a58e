"""Losses for training on mixed (soft) labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SoftTargetCrossEntropy"]

_REDUCTIONS = ("mean", "sum", "none")


class SoftTargetCrossEntropy(nn.Module):
    """Cross-entropy of logits against soft targets: ``-Σ_k y_k · log softmax(z)_k`` per sample.

    For float targets this equals ``torch.nn.functional.cross_entropy(logits, targets)`` (which takes
    class probabilities since PyTorch 1.10) and timm's ``SoftTargetCrossEntropy``; integer class
    indices of shape (N,) are also accepted, for evaluating on unmixed data.

    Args:
        reduction: ``"mean"`` (over samples, default), ``"sum"`` or ``"none"``.

    Raises:
        ValueError: If ``reduction`` is not one of the three, at construction; if the shapes do not
            match, when called.
        TypeError: If the inputs are not tensors of the right dtypes, when called.

    Examples:
        >>> loss = SoftTargetCrossEntropy()
        >>> logits, targets = torch.zeros(2, 4), torch.full((2, 4), 0.25)
        >>> round(float(loss(logits, targets)), 4)
        1.3863
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            logits: Unnormalized scores of shape (N, K).
            targets: Float targets of shape (N, K) (rows summing to 1 for a proper distribution) or
                integer class indices of shape (N,).

        Returns:
            The loss: a scalar, or shape (N,) for ``reduction="none"``.
        """
        if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
            raise TypeError(f"logits must be a float torch.Tensor of shape (N, K), got {_describe(logits)}")
        if not isinstance(targets, torch.Tensor):
            raise TypeError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
        if logits.ndim != 2:
            raise ValueError(f"logits must have shape (N, K), got shape {tuple(logits.shape)}")
        if targets.is_floating_point():
            if targets.shape != logits.shape:
                raise ValueError(
                    f"float targets must have the shape of logits {tuple(logits.shape)}, "
                    f"got {tuple(targets.shape)}"
                )
        elif targets.shape != logits.shape[:1]:
            raise ValueError(
                f"class-index targets must have shape (N,) = ({logits.shape[0]},), got {tuple(targets.shape)}"
            )
        return F.cross_entropy(logits, targets, reduction=self.reduction)

    def extra_repr(self) -> str:
        """The constructor argument, as shown by ``repr``."""
        return f"reduction={self.reduction!r}"


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of dtype {value.dtype} and shape {tuple(value.shape)}"
    return type(value).__name__
