"""Losses for training on mixed (soft) labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (
    check_dense_logits_and_targets,
    check_finite,
    check_finite_positive,
    check_ignore_index,
    check_logits_and_targets,
    check_same_classes,
)
from .functional._labels import one_hot_masks

__all__ = ["MixupELoss", "SoftDiceLoss", "SoftTargetCrossEntropy"]

_REDUCTIONS = ("mean", "sum", "none")


class SoftTargetCrossEntropy(nn.Module):
    """Cross-entropy of logits against soft targets: ``-Σ_k y_k · log softmax(z)_k`` per sample.

    For float targets this equals ``torch.nn.functional.cross_entropy(logits, targets)`` (which takes
    class probabilities since PyTorch 1.10) and timm's ``SoftTargetCrossEntropy``; integer class
    indices of shape (N,), of any integer dtype, are also accepted, for evaluating on unmixed data.

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
        check_logits_and_targets(logits, targets, "logits", "targets", batch="N", float_kind="float")
        if not targets.is_floating_point() and targets.dtype != torch.int64:
            targets = targets.long()  # torch's cross_entropy takes int64 class indices (and uint8) only
        return F.cross_entropy(logits, targets, reduction=self.reduction)

    def extra_repr(self) -> str:
        """The constructor argument, as shown by ``repr``."""
        return f"reduction={self.reduction!r}"


class MixupELoss(nn.Module):
    """MixupE (Zou et al., UAI 2023): the mixup loss plus an implicit directional-derivative term.

    Following the authors' fast "version 3", per batch:

    * ``L_mix`` = soft-target cross-entropy of the mixed batch;
    * on the clean batch with one-hot targets ``y`` and logits ``f``:
      ``s_i = Σ_k f_ik · (y_ik − softmax(f_i)_k)``;
    * ``term = (1 − λ̄) · (1/B) · Σ_{i: s_i < τ} s_i``, with ``λ̄ = (α + 1) / (2α + 1)``, the mean
      of Beta(α + 1, α);
    * ``loss = (L_mix − η · term) · |L_mix| / |L_mix − η · term|`` (the ratio detached), as the
      authors' code computes it: its value is ``|L_mix| · sign(L_mix − η · term)``, which is
      ``L_mix`` while ``η · term < L_mix`` (the usual case: η is small) and ``−L_mix``, its gradient
      flipped too, when the term is larger; the gradient carries the extra term.

    Args:
        alpha: The α of the mixup that made the mixed batch (sets ``λ̄``), a finite number > 0.
        eta: The weight η of the extra term, a finite number > 0 (default 1e-3; the authors' CIFAR-100
            recipe uses α = 2, η = 1e-3, τ = 1).
        threshold: τ: only samples with ``s_i < τ`` count, any finite number (default 1.0; the
            authors' code defaults to −1).

    Raises:
        ValueError: If ``alpha`` or ``eta`` is not a finite number > 0 or ``threshold`` not finite,
            at construction; if the shapes do not match, when called.
        TypeError: If an input is not a tensor of the right dtype, when called.

    Note:
        Feed it both batches: the collate classes' ``return_originals=True`` returns
        ``(mixed_images, mixed_labels, images, labels)``. The clean forward pass costs one more
        forward pass of the model per step.

    Examples:
        >>> loss_fn = MixupELoss(alpha=2.0)
        >>> mixed_logits, clean_logits = torch.randn(4, 3), torch.randn(4, 3)
        >>> mixed_targets = torch.full((4, 3), 1 / 3)
        >>> loss = loss_fn(mixed_logits, mixed_targets, clean_logits, torch.tensor([0, 1, 2, 0]))
        >>> bool(torch.isclose(loss, SoftTargetCrossEntropy()(mixed_logits, mixed_targets)))
        True
    """

    def __init__(self, alpha: float = 1.0, eta: float = 1e-3, threshold: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_finite_positive("alpha", alpha)
        self.eta = check_finite_positive("eta", eta)
        self.threshold = check_finite("threshold", threshold)
        self._soft_ce = SoftTargetCrossEntropy()

    @property
    def mean_lambda(self) -> float:
        """``λ̄ = (α + 1) / (2α + 1)``, the mean of Beta(α + 1, α)."""
        return (self.alpha + 1.0) / (2.0 * self.alpha + 1.0)

    def directional_term(self, clean_logits: torch.Tensor, clean_targets: torch.Tensor) -> torch.Tensor:
        """``term = (1 − λ̄) · (1/B) · Σ_{i: s_i < τ} s_i`` on the clean batch.

        Args:
            clean_logits: Logits of the unmixed batch, shape (B, K).
            clean_targets: Its class indices (B,) or one-hot targets (B, K).

        Returns:
            The term, a scalar tensor that carries gradients to ``clean_logits``.
        """
        targets = _one_hot_targets(clean_logits, clean_targets)
        s = (clean_logits * (targets - clean_logits.softmax(dim=1))).sum(dim=1)
        kept = torch.where(s < self.threshold, s, torch.zeros_like(s))
        return (1.0 - self.mean_lambda) * kept.sum() / s.shape[0]

    def forward(
        self,
        mixed_logits: torch.Tensor,
        mixed_targets: torch.Tensor,
        clean_logits: torch.Tensor,
        clean_targets: torch.Tensor,
    ) -> torch.Tensor:
        """Compute the loss.

        Args:
            mixed_logits: Logits of the mixed batch, shape (B, K).
            mixed_targets: Its soft targets, shape (B, K).
            clean_logits: Logits of the unmixed batch, shape (B', K).
            clean_targets: Its class indices (B',) or one-hot targets (B', K).

        Returns:
            A scalar whose value is ``|L_mix| · sign(L_mix − η · term)`` (the mixup loss while
            ``η · term < L_mix``) and whose gradient is that of ``L_mix − η · term``, rescaled by
            ``|L_mix| / |L_mix − η · term|``.
        """
        mix_loss = self._soft_ce(mixed_logits, mixed_targets)
        check_same_classes(mixed_logits, clean_logits)
        loss = mix_loss - self.eta * self.directional_term(clean_logits, clean_targets)
        scale = mix_loss.detach().abs() / loss.detach().abs()
        # A loss of exactly 0 has nothing to rescale; keep it finite rather than 0/0.
        scale = torch.where(torch.isfinite(scale), scale, torch.ones_like(scale))
        return loss * scale

    def extra_repr(self) -> str:
        """The constructor arguments, as shown by ``repr``."""
        return f"alpha={self.alpha}, eta={self.eta}, threshold={self.threshold}"


def _one_hot_targets(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    check_logits_and_targets(
        logits, targets, "clean_logits", "clean_targets", batch="B", float_kind="one-hot"
    )
    if targets.is_floating_point():
        return targets.to(logits.dtype)
    return F.one_hot(targets.long(), logits.shape[1]).to(logits.dtype)


class SoftDiceLoss(nn.Module):
    """Dice loss of segmentation logits against soft masks, as mixed masks are.

    Per sample ``n`` and class ``k``, with ``p = softmax(logits)`` over classes, ``t`` the target
    probabilities and ``m = Σ_k t`` each position's target mass, summed over the spatial positions:
    ``dice[n, k] = (2 Σ p·t + ε) / (Σ m·p + Σ t + ε)``; the loss is ``1 − mean_k dice[n, k]``. For
    one-hot targets (``m = 1``) this is the usual (hard-label) soft Dice loss; for mixed masks every
    position counts each class with its mixed weight. A position whose target is all zeros (an
    ignored one, from ``ignore_index``) counts for nothing, predictions included, and a mixed
    position counts with the share of it that was labeled.

    Args:
        smooth: ``ε`` > 0, which keeps a class absent from both prediction and target at Dice 1
            (default 1e-5).
        reduction: ``"mean"`` (over samples, default), ``"sum"`` or ``"none"``.
        ignore_index: For class-index targets, the value of positions to leave out (as
            ``torch.nn.CrossEntropyLoss(ignore_index=...)``); ``None`` (default): every value is a class.

    Raises:
        ValueError: If an argument is out of range, at construction; if the shapes do not match,
            or the logits have no spatial dimension, when called.
        TypeError: If the inputs are not tensors of the right dtypes, when called.

    Examples:
        >>> loss = SoftDiceLoss()
        >>> logits = torch.tensor([[[[9.0, -9.0]], [[-9.0, 9.0]]]])  # (N=1, K=2, H=1, W=2)
        >>> round(float(loss(logits, torch.tensor([[[0, 1]]]))), 4)  # class indices, as predicted
        0.0
    """

    def __init__(
        self, smooth: float = 1e-5, reduction: str = "mean", ignore_index: int | None = None
    ) -> None:
        super().__init__()
        self.smooth = check_finite_positive("smooth", smooth)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self.ignore_index = check_ignore_index(ignore_index)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            logits: Unnormalized scores of shape (N, K, *spatial).
            targets: Soft masks (N, K, *spatial) (probabilities over classes at each position, or
                all zeros where nothing is known) or class-index masks (N, *spatial).

        Returns:
            The loss: a scalar, or shape (N,) for ``reduction="none"``.
        """
        check_dense_logits_and_targets(logits, targets, self.ignore_index)
        probabilities = logits.softmax(dim=1)
        if targets.is_floating_point():
            soft = targets.to(probabilities.dtype)
        else:
            soft = one_hot_masks(
                targets,
                logits.shape[1],
                spatial_dims=logits.ndim - 2,
                dtype=probabilities.dtype,
                ignore_index=self.ignore_index,
            )
        dims = tuple(range(2, logits.ndim))
        overlap = (probabilities * soft).sum(dims)
        # each position's prediction counts with its target's mass: 1, 0 where ignored, or the share
        mass = soft.sum(1, keepdim=True)
        total = (probabilities * mass).sum(dims) + soft.sum(dims)
        loss = 1.0 - ((2.0 * overlap + self.smooth) / (total + self.smooth)).mean(dim=1)
        if self.reduction == "mean":
            return loss.mean()
        return loss.sum() if self.reduction == "sum" else loss

    def extra_repr(self) -> str:
        """The constructor arguments, as shown by ``repr``."""
        extra = "" if self.ignore_index is None else f", ignore_index={self.ignore_index}"
        return f"smooth={self.smooth}, reduction={self.reduction!r}{extra}"
