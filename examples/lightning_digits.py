"""Lightning with mixing on training batches only: in the training loader's collate, or after transfer.

Two recipes, each a small CNN on scikit-learn's digits:

- ``"collate"``: the training ``DataLoader`` gets ``collate_fn=ZetaMixupCollate(num_classes=10)``,
  the validation loader none: mixed in the workers, in place.
- ``"on_after_batch_transfer"``: the batch is mixed on the device, in the hook, but only while
  ``self.trainer.training``: Lightning calls the hook for validation batches too.

Both train on soft labels with ``torch.nn.functional.cross_entropy`` (which takes them) and
validate on unmixed batches with class indices. Run ``python examples/lightning_digits.py`` (10
epochs) or ``--quick`` (2). Needs the ``lightning`` extra (``pip install "zmix_transforms[lightning]"``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader
from train_digits import NUM_CLASSES, load_split, make_model

from zmix_transforms import ZetaMixup, ZetaMixupCollate

RECIPES = ("collate", "on_after_batch_transfer")


class Digits(L.LightningModule):
    """A classifier that mixes its training batches in the hook (``mix``) or gets them mixed."""

    def __init__(self, mix: ZetaMixup | None = None) -> None:
        super().__init__()
        self.model, self.mix = make_model(), mix
        self.seen: dict[str, set[str]] = {"train": set(), "val": set()}  # the label kinds each step got
        self.correct = self.total = 0

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Mix a training batch on its device (Lightning calls this for validation batches too)."""
        if self.mix is not None and self.trainer.training:  # not for validation batches
            batch = self.mix(batch)
        return batch

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Cross-entropy on the soft labels (torch's takes them)."""
        images, labels = batch
        self.seen["train"].add("soft" if labels.is_floating_point() else "classes")
        return torch.nn.functional.cross_entropy(self.model(images), labels)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Count the correct predictions of an unmixed batch of class indices."""
        images, labels = batch
        self.seen["val"].add("soft" if labels.is_floating_point() else "classes")
        self.correct += int((self.model(images).argmax(1) == labels).sum())
        self.total += len(labels)

    def on_validation_epoch_start(self) -> None:
        """Start counting afresh."""
        self.correct = self.total = 0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam, lr 1e-3."""
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def run(recipe: str, epochs: int) -> dict[str, Any]:
    """Train and validate with one recipe; return the validation accuracy and what each step saw."""
    torch.manual_seed(0)
    train, test = load_split()
    in_collate = recipe == "collate"
    module = Digits(mix=None if in_collate else ZetaMixup(num_classes=NUM_CLASSES))
    collate = ZetaMixupCollate(num_classes=NUM_CLASSES) if in_collate else None
    train_loader = DataLoader(train, batch_size=64, shuffle=True, collate_fn=collate)
    val_loader = DataLoader(test, batch_size=256)  # unmixed, class indices
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train_loader, val_loader)
    return {"accuracy": module.correct / module.total, "seen": module.seen}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs (for CI)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results here (results.md)")
    args = parser.parse_args(argv)
    results = {recipe: run(recipe, 2 if args.quick else 10) for recipe in RECIPES}
    lines = [
        f"{recipe}: validation accuracy {result['accuracy']:.3f}, labels seen {result['seen']}"
        for recipe, result in results.items()
    ]
    print("\n".join(lines))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text("\n".join(lines) + "\n")
    return results


if __name__ == "__main__":
    main()
