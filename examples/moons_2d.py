"""Half-moons in 2-D: what mixup and ζ-mixup make of two interleaving crescents.

512 points of two classes (scikit-learn's generated half-moons) are mixed in shuffled batches of 32
with ``zmix_transforms.functional``, which takes any (N, ...) batch, 2-D points included: mixup with
λ ~ Beta(α, α) per batch, and ζ-mixup for γ in (2.0, 2.4, 2.8, 4.0). Each output point is drawn
coloured by its soft label. mixup fills the gap between the crescents with points whose labels are
close to 50/50 and often name the wrong class for where they lie; ζ-mixup keeps its outputs near the
data, each dominated by its own sample's label.

Two numbers per method measure it: the mean distance of the outputs to the nearest original point,
and the fraction of outputs whose majority label differs from the class of the nearest original
point ("wrongly labelled"). Run ``python examples/moons_2d.py`` (``--quick``: a smaller figure).
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
from sklearn.datasets import make_moons

from zmix_transforms import functional as F

GAMMAS = (2.0, 2.4, 2.8, 4.0)


def make_data(n: int = 512, noise: float = 0.08, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half-moons: float32 points (n, 2) and int64 classes (n,)."""
    points, labels = make_moons(n_samples=n, noise=noise, random_state=seed)
    return torch.tensor(points, dtype=torch.float32), torch.tensor(labels, dtype=torch.int64)


def mix_all(
    points: torch.Tensor, labels: torch.Tensor, method: str, param: float, batch_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One shuffled epoch, every point mixed once: ``"mixup"`` with α = param, or ``"zeta"`` with γ."""
    g = torch.Generator().manual_seed(seed)
    soft = F.one_hot(labels, int(labels.max()) + 1)
    order = torch.randperm(len(points), generator=g)
    mixed, mixed_labels = [], []
    for batch in order.split(batch_size):
        if method == "mixup":
            out = F.mixup(points[batch], soft[batch], F.sample_lambda(param, generator=g), generator=g)
        else:
            out = F.zeta_mixup(points[batch], soft[batch], param, generator=g)
        mixed.append(out[0])
        mixed_labels.append(out[1])
    return torch.cat(mixed), torch.cat(mixed_labels)


def measure(
    points: torch.Tensor, labels: torch.Tensor, mixed: torch.Tensor, soft: torch.Tensor
) -> dict[str, float]:
    """Mean distance to the nearest original point, and the share of outputs labelled against it."""
    nearest = torch.cdist(mixed, points).min(dim=1)
    wrong = soft.argmax(dim=1) != labels[nearest.indices]
    return {"nn_distance": float(nearest.values.mean()), "wrongly_labelled": float(wrong.float().mean())}


def plot(panels: list[tuple[str, torch.Tensor, torch.Tensor]], path: Path, dpi: int) -> None:
    """One scatter panel per method, coloured by P(class 1)."""
    rows = 2
    cols = -(-len(panels) // rows)
    fig, grid = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.1 * rows), sharex=True, sharey=True)
    axes = grid.ravel()
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, pts, class1) in zip(axes, panels, strict=False):
        scatter = ax.scatter(
            pts[:, 0], pts[:, 1], c=class1, cmap="coolwarm", vmin=0, vmax=1, s=5, linewidths=0
        )
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    fig.colorbar(scatter, ax=axes, fraction=0.012, pad=0.01, shrink=0.9, label="P(class 1)")
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Make the figure; return the numbers per method and the figure's path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller figure (for CI)")
    parser.add_argument("--alpha", type=float, default=1.0, help="mixup's α")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("out/moons_2d"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    points, labels = make_data()
    panels = [("original", points, labels.float())]
    results = {"original": measure(points, labels, points, F.one_hot(labels, 2))}
    methods = [(f"mixup (α={args.alpha:g})", "mixup", args.alpha)]
    methods += [(f"ζ-mixup (γ={g:g})", "zeta", g) for g in GAMMAS]
    for name, method, param in methods:
        mixed, soft = mix_all(points, labels, method, param, args.batch_size, seed=1)
        results[name] = measure(points, labels, mixed, soft)
        panels.append((name, mixed, soft[:, 1]))
    path = args.out / "moons_2d.png"
    plot(panels, path, dpi=60 if args.quick else 130)
    lines = ["| points | mean distance to the nearest original | wrongly labelled |", "| --- | --- | --- |"]
    for name, numbers in results.items():
        lines.append(f"| {name} | {numbers['nn_distance']:.4f} | {numbers['wrongly_labelled']:.1%} |")
    table = "\n".join(lines) + "\n"
    (args.out / "moons_2d.md").write_text(table)
    print(table)
    print(f"wrote {path} and {args.out / 'moons_2d.md'}")
    return {"results": results, "figure": path}


if __name__ == "__main__":
    main()
