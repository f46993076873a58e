"""A gallery: one batch of real photo tiles before and after each mixing method.

Eight 112×112 tiles are cut from the two photos that ship with scikit-learn
(``load_sample_images()``: a Chinese temple and a flower), each tile its own class, and batched as a
uint8 tensor, as ``v2.PILToTensor()`` and ``default_collate`` would give. The batch then goes through
``MixUp``, ``CutMix``, ``FMix``, ``ResizeMix``, ``ZetaMixup`` and ``ZetaCutMix``; under every tile,
its soft label shows which tiles it is made of. Run ``python examples/gallery.py`` (``--quick``: a
smaller figure).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_sample_images

import zmix_transforms as Z

TILE = 112
# (photo, top, left) of each tile: four from each photo
PLACES = [
    (0, 40, 60),
    (0, 150, 300),
    (0, 260, 470),
    (0, 20, 420),
    (1, 100, 130),
    (1, 230, 250),
    (1, 60, 330),
    (1, 280, 500),
]


def make_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """The uint8 tile batch (8, 3, 112, 112) and its classes 0..7."""
    photos = [torch.tensor(image).permute(2, 0, 1) for image in load_sample_images().images]
    tiles = [photos[p][:, top : top + TILE, left : left + TILE] for p, top, left in PLACES]
    return torch.stack(tiles).contiguous(), torch.arange(len(tiles))


def describe(soft: torch.Tensor, terms: int = 3) -> str:
    """The largest entries of a soft label, as 'tile:weight' lines."""
    values, indices = soft.topk(min(terms, soft.numel()))
    return "\n".join(f"t{int(i)}: {float(v):.2f}" for v, i in zip(values, indices, strict=True) if v >= 0.005)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Mix the batch with each method; save the grid; return the outputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller figure (for CI)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("out/gallery"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    images, labels = make_batch()
    n = len(labels)
    methods = {
        "original": None,
        "MixUp (α=1)": Z.MixUp(1.0, num_classes=n),
        "CutMix (α=1)": Z.CutMix(1.0, num_classes=n),
        "FMix (α=1)": Z.FMix(1.0, num_classes=n),
        "ResizeMix": Z.ResizeMix(num_classes=n),
        "ζ-mixup (γ=2.8)": Z.ZetaMixup(2.8, num_classes=n),
        "ζ-mixup + CutMix": Z.ZetaCutMix(2.8, 1.0, num_classes=n),
    }
    outputs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name, transform in methods.items():
        torch.manual_seed(args.seed)
        outputs[name] = (
            (images, Z.functional.one_hot(labels, n)) if transform is None else transform(images, labels)
        )

    fig, axes = plt.subplots(len(methods), n, figsize=(1.55 * n, 2.05 * len(methods)))
    for row, (name, (mixed, soft)) in enumerate(outputs.items()):
        for col in range(n):
            ax = axes[row, col]
            ax.imshow(mixed[col].permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(describe(soft[col]), fontsize=7, linespacing=1.1)
            if col == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.tight_layout()
    path = args.out / "gallery.png"
    fig.savefig(path, dpi=55 if args.quick else 100)
    plt.close(fig)
    print(f"wrote {path}")
    return {"outputs": outputs, "figure": path}


if __name__ == "__main__":
    main()
