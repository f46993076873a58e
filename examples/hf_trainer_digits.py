"""Hugging Face ``Trainer`` with mixing: a small ViT on scikit-learn's digits, through ``MixTrainer``.

``MixTrainer(..., train_collator=ZetaMixupCollate(num_classes=10))`` mixes the training batches
only (evaluation goes through the plain ``data_collator``), and trains on the soft labels with
softmax cross-entropy computed outside the model (``soft_target_loss``), so that
``ViTForImageClassification`` does not read the float labels as multi-label targets. The samples
are dicts, as a Hugging Face image pipeline gives them: ``{"pixel_values": ..., "labels": ...}``.

Run ``python examples/hf_trainer_digits.py`` (600 steps, a minute or two on 2 CPU cores) or
``--quick`` (200 steps). Needs the ``hf`` extra (``pip install "zmix_transforms[hf]"``).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from train_digits import NUM_CLASSES, load_split
from transformers import TrainingArguments, ViTConfig, ViTForImageClassification

from zmix_transforms import ZetaMixupCollate
from zmix_transforms.huggingface import MixTrainer


class DictDigits(Dataset):
    """The digits as Hugging Face image samples: ``{"pixel_values": (1, 8, 8), "labels": int}``."""

    def __init__(self, split: Any) -> None:
        self.images, self.labels = split.tensors

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"pixel_values": self.images[i], "labels": int(self.labels[i])}


def accuracy(prediction: Any) -> dict[str, float]:
    """``compute_metrics``: the share of evaluation samples whose top logit is their class."""
    logits, labels = prediction.predictions, prediction.label_ids
    return {"accuracy": float((np.argmax(logits, axis=1) == labels).mean())}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 steps (for CI)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results here (results.md)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    train, test = (DictDigits(split) for split in load_split())
    config = ViTConfig(
        image_size=8,
        patch_size=2,
        num_channels=1,
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=96,
        num_labels=NUM_CLASSES,
    )
    model = ViTForImageClassification(config)
    with tempfile.TemporaryDirectory() as out:
        training = TrainingArguments(
            output_dir=out,
            max_steps=200 if args.quick else 600,
            per_device_train_batch_size=32,
            per_device_eval_batch_size=128,
            learning_rate=2e-3,
            report_to=[],
            use_cpu=True,
            save_strategy="no",
            logging_strategy="no",
            dataloader_num_workers=0,
            seed=0,
        )
        trainer = MixTrainer(
            model=model,
            args=training,
            train_dataset=train,
            eval_dataset=test,
            train_collator=ZetaMixupCollate(num_classes=NUM_CLASSES),  # training batches only
            compute_metrics=accuracy,
        )
        trainer.train()
        metrics = trainer.evaluate()
    result = {
        "eval_loss": metrics["eval_loss"],
        "accuracy": metrics["eval_accuracy"],
        "problem_type": model.config.problem_type,  # never switched to multi-label (BCE)
    }
    line = f"test accuracy {result['accuracy']:.3f}, test loss {result['eval_loss']:.3f}"
    print(line)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text(line + "\n")
    return result


if __name__ == "__main__":
    main()
