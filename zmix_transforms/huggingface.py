"""Hugging Face ``Trainer`` with mixing: mixed training batches, soft-target loss, unmixed evaluation.

Needs ``transformers`` (the ``hf`` extra). Two things go wrong when a mixing collate is simply
passed as ``Trainer(data_collator=...)``: the ``*ForImageClassification`` models read float labels
as multi-label targets and switch to a sigmoid (BCE) loss, and the one collator also mixes the
evaluation batches. [`MixTrainer`][zmix_transforms.huggingface.MixTrainer] fixes both: its
training batches go through ``train_collator``, evaluation and prediction through the plain
``data_collator``, and the loss is [`soft_target_loss`][zmix_transforms.huggingface.soft_target_loss]
(softmax cross-entropy on soft labels or class indices), computed outside the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers import Trainer

__all__ = ["MixTrainer", "soft_target_loss"]


def soft_target_loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
    """Softmax cross-entropy of a model's logits against soft labels (N, K) or class indices (N,).

    The ``Trainer``'s ``compute_loss_func``: ``outputs`` is the model's output (its ``logits``), and
    with gradient accumulation ``num_items_in_batch`` counts the label values of the accumulated
    batches (K a sample for soft labels), so that the loss is their mean over samples.

    Args:
        outputs: The model's output, with ``logits`` (N, K) (a ``ModelOutput``, a dict, or a tuple
            whose first item they are).
        labels: Float soft labels (N, K) or integer class indices (N,) (-100 ignored, as torch's).
        num_items_in_batch: The Trainer's count of label values over the accumulated batches, or None.

    Returns:
        The loss, a scalar; 0 for a batch whose labels are all ignored (torch's mean is NaN there).

    Examples:
        >>> loss = soft_target_loss({"logits": torch.zeros(2, 4)}, torch.tensor([0, 3]))
        >>> round(float(loss), 4)
        1.3863
    """
    if isinstance(outputs, dict) or hasattr(outputs, "logits"):
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
    else:
        logits = outputs[0]
    soft = labels.is_floating_point()
    per_sample = torch.nn.functional.cross_entropy(
        logits, labels.to(logits.dtype) if soft else labels.long(), reduction="none"
    )
    if num_items_in_batch is None:
        counted = per_sample.numel() if soft else int(labels.ne(-100).sum())
        return per_sample.sum() / max(counted, 1)
    samples = num_items_in_batch / labels.shape[1] if soft else num_items_in_batch
    return per_sample.sum() / samples


class MixTrainer(Trainer):
    """A ``transformers.Trainer`` that mixes training batches only, and trains on soft labels.

    Args:
        *args: The ``Trainer``'s arguments (``model``, ``args``, ...).
        train_collator: The collate function of the training batches, e.g.
            ``ZetaMixupCollate(num_classes=...)`` or ``MixCollate(transform)`` over dict samples
            (``{"pixel_values": ..., "labels": ...}``).
        compute_loss_func: The loss, computed outside the model, which then never sees the float
            labels (default [`soft_target_loss`][zmix_transforms.huggingface.soft_target_loss]).
        **kwargs: The ``Trainer``'s keyword arguments; ``data_collator`` collates the evaluation
            and prediction batches, unmixed (default: the Trainer's own).

    Examples:
        >>> from zmix_transforms import ZetaMixupCollate
        >>> trainer = MixTrainer(model=model, args=args, train_dataset=train, eval_dataset=test,
        ...                      train_collator=ZetaMixupCollate(num_classes=10))  # doctest: +SKIP
    """

    def __init__(
        self,
        *args: Any,
        train_collator: Callable[[list[Any]], Any],
        compute_loss_func: Callable[..., torch.Tensor] | None = soft_target_loss,
        **kwargs: Any,
    ) -> None:
        if not callable(train_collator):
            raise TypeError(
                f"train_collator must be a callable collate function, got {type(train_collator).__name__}"
            )
        super().__init__(*args, **{**kwargs, "compute_loss_func": compute_loss_func})
        self.train_collator = train_collator

    def get_train_dataloader(self) -> Any:
        """The training loader, collated (and mixed) by ``train_collator``."""
        plain = self.data_collator
        self.data_collator = self.train_collator
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = plain
