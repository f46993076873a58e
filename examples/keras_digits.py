"""Keras 3 (torch backend) trained on a ``DataLoader`` whose ``collate_fn`` mixes: the MixupGenerator's place.

Users of the Keras ``MixupGenerator(x, y, batch_size=32, alpha=0.2, shuffle=True)()`` get the same
thing from ``DataLoader(ds, batch_size=32, shuffle=True, collate_fn=MixUpCollate(0.2, mode="elem",
num_classes=K))`` (one λ per sample, as the generator draws), which Keras 3 with the torch backend
takes as it is: ``model.fit(loader)``. This script trains a small Keras CNN on scikit-learn's digits
without mixing, with that mixup and with ζ-mixup, and prints (and writes) test accuracy and NLL.

Run ``python examples/keras_digits.py`` (2 seeds of 15 epochs, under a minute on 2 CPU cores) or
``--quick`` (1 seed, 2 epochs). Needs the ``keras`` extra (``pip install "zmix_transforms[keras]"``).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is imported

import argparse
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import torch
from torch.utils.data import DataLoader, default_collate
from train_digits import NUM_CLASSES, load_split

import zmix_transforms as Z
from zmix_transforms import functional as F


def one_hot_collate(samples: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The unmixed batch with one-hot labels, for ``categorical_crossentropy`` (training and testing)."""
    images, labels = default_collate(samples)
    return images, F.one_hot(labels, NUM_CLASSES)


def make_collates() -> dict[str, Callable[[list[Any]], Any]]:
    """The methods compared, a collate function each; the MixupGenerator's mixing is the second."""
    return {
        "none": one_hot_collate,
        "mixup, a λ per sample (α=0.2)": Z.MixUpCollate(0.2, mode="elem", num_classes=NUM_CLASSES),
        "ζ-mixup (γ=2.8)": Z.ZetaMixupCollate(2.8, num_classes=NUM_CLASSES),
    }


def make_model() -> keras.Model:
    """A small channels-first CNN for (1, 8, 8) digits, as the batches come from PyTorch."""
    return keras.Sequential(
        [
            keras.Input((1, 8, 8)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", data_format="channels_first"),
            keras.layers.MaxPooling2D(2, data_format="channels_first"),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )


def train(collate: Callable[[list[Any]], Any], seed: int, epochs: int) -> dict[str, float]:
    """Fit one Keras model on the mixed loader; return its test accuracy and NLL."""
    keras.utils.set_random_seed(seed)  # Python, NumPy and the torch RNG the collate draws from
    train_set, test_set = load_split()
    loader = DataLoader(train_set, batch_size=32, shuffle=True, collate_fn=collate)
    test_loader = DataLoader(test_set, batch_size=256, collate_fn=one_hot_collate)
    model = make_model()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(loader, epochs=epochs, verbose=0, shuffle=False)  # the DataLoader shuffles
    nll, accuracy = model.evaluate(test_loader, verbose=0)
    return {"accuracy": float(accuracy), "nll": float(nll)}


def table(results: dict[str, list[dict[str, float]]]) -> str:
    """A Markdown table of mean ± std over seeds."""

    def cell(values: list[float], scale: float, digits: int) -> str:
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values) * scale:.{digits}f} ± {spread * scale:.{digits}f}"

    lines = ["| method | test accuracy (%) | test NLL |", "| --- | --- | --- |"]
    for name, runs in results.items():
        accuracy = cell([r["accuracy"] for r in runs], 100, 1)
        lines.append(f"| {name} | {accuracy} | {cell([r['nll'] for r in runs], 1, 3)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, list[dict[str, float]]]:
    """Train every method over the seeds; print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 epochs")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("out/keras_digits"))
    args = parser.parse_args(argv)
    seeds, epochs = (1, 2) if args.quick else (args.seeds, args.epochs)
    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}: {seeds} seed(s) × {epochs} epochs")
    results = {
        name: [train(collate, seed, epochs) for seed in range(seeds)]
        for name, collate in make_collates().items()
    }
    text = table(results)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "keras_digits.md").write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
