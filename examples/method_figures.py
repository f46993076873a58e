"""Pictures of what each method's parameter does, for the method pages of the documentation.

- ``zeta_gamma.png``: ζ-mixup's weights by rank for several γ, and each sample's own weight as the
  batch grows (above 1/2 for γ >= 1.73).
- ``mixup_alpha.png``: the distribution of mixup's λ ~ Beta(α, α) for several α.
- ``cutmix_alpha.png``: CutMix boxes on a 32×32 image and the distribution of the exact kept pixel
  fraction, for several α.
- ``modes.png``: timm's three modes on a batch of 8: mixup's weight matrix W and CutMix's mixed
  batch (each sample in its own colour) for ``mode="batch"``, ``"elem"`` and ``"pair"``.
- ``fmix_decay.png``: FMix masks for several decays δ, and the kept share against the drawn λ.
- ``resizemix.png``: ResizeMix on coloured samples (each partner shrunk whole into a sample), and
  the distribution of the pasted share.

Run ``python examples/method_figures.py`` (``--quick``: fewer draws, smaller figures).
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

import zmix_transforms as Z
from zmix_transforms import functional as F

GAMMAS = (1.0, 1.73, 2.8, 4.0)
ALPHAS = (0.2, 1.0, 4.0)


def zeta_figure(path: Path, dpi: int) -> dict[str, Any]:
    """Weights by rank (N = 16) and the own weight against N, for each γ."""
    fig, (by_rank, by_size) = plt.subplots(1, 2, figsize=(9, 3.4))
    ranks = torch.arange(1, 17)
    sizes = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    own: dict[float, list[float]] = {}
    for gamma in GAMMAS:
        by_rank.plot(
            ranks, F.zeta_series(16, gamma, dtype=torch.float64), marker="o", ms=3, label=f"γ = {gamma:g}"
        )
        own[gamma] = [float(F.zeta_series(n, gamma, dtype=torch.float64)[0]) for n in sizes]
        by_size.plot(sizes, own[gamma], marker="o", ms=3, label=f"γ = {gamma:g}")
    by_rank.set(yscale="log", xlabel="rank r in the row", ylabel="weight", title="ζ-mixup weights, N = 16")
    by_size.axhline(0.5, color="grey", lw=0.8, ls="--")
    by_size.set(
        xscale="log", xlabel="batch size N", ylabel="own weight (rank 1)", title="each output's own weight"
    )
    by_rank.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return {"own_weight": own, "sizes": sizes}


def mixup_figure(path: Path, draws: int, dpi: int) -> dict[str, Any]:
    """Histograms of λ ~ Beta(α, α)."""
    g = torch.Generator().manual_seed(0)
    fig, axes = plt.subplots(1, len(ALPHAS), figsize=(3.2 * len(ALPHAS), 2.6), sharey=False)
    lams: dict[float, torch.Tensor] = {}
    for ax, alpha in zip(axes, ALPHAS, strict=True):
        lams[alpha] = F.sample_lambdas(alpha, draws, generator=g)
        ax.hist(lams[alpha].numpy(), bins=40, range=(0, 1), color="#3b6fb6")
        ax.set(title=f"mixup λ, α = {alpha:g}", xlabel="λ (weight of the sample itself)")
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return {"lambdas": lams}


def cutmix_figure(path: Path, draws: int, dpi: int) -> dict[str, Any]:
    """Example boxes and the kept pixel fraction after clipping, for each α."""
    g = torch.Generator().manual_seed(0)
    fig, axes = plt.subplots(2, len(ALPHAS), figsize=(3.2 * len(ALPHAS), 5.2))
    kept: dict[float, torch.Tensor] = {}
    for col, alpha in enumerate(ALPHAS):
        canvas = torch.zeros(32, 32)
        fractions = []
        for i in range(draws):
            box = F.cutmix_box(32, 32, F.sample_lambda(alpha, generator=g), generator=g)
            fractions.append(1 - box.area / 1024)
            if i < 6:
                canvas[box.y1 : box.y2, box.x1 : box.x2] += 1
        kept[alpha] = torch.tensor(fractions)
        axes[0, col].imshow(canvas.numpy(), cmap="Blues", vmin=0, vmax=3)
        axes[0, col].set(title=f"CutMix boxes, α = {alpha:g}", xticks=[], yticks=[])
        axes[1, col].hist(kept[alpha].numpy(), bins=40, range=(0, 1), color="#d08c2b")
        axes[1, col].set(xlabel="kept pixel fraction λ' (label weight)")
        axes[1, col].set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return {"kept": kept}


MODES = ("batch", "elem", "pair")


def modes_figure(path: Path, dpi: int) -> dict[str, Any]:
    """For each mode, mixup's W (identity labels reveal it) and a CutMix batch of coloured samples."""
    n = 8
    fig, axes = plt.subplots(2, len(MODES), figsize=(3.3 * len(MODES), 5.6))
    weights: dict[str, torch.Tensor] = {}
    colours = plt.get_cmap("tab10")(range(n))[:, :3]
    for col, mode in enumerate(MODES):
        torch.manual_seed(3)
        _, w = Z.MixUp(1.0, mode=mode)(torch.rand(n, 1, 4, 4), torch.eye(n, dtype=torch.float64))
        weights[mode] = w
        axes[0, col].imshow(w.numpy(), cmap="Blues", vmin=0, vmax=1)
        axes[0, col].set(title=f'mixup, mode="{mode}": W', xticks=[], yticks=[])
        torch.manual_seed(5)
        coded = torch.arange(n, dtype=torch.float64).reshape(n, 1, 1, 1).expand(n, 1, 24, 24).contiguous()
        mixed, _ = Z.CutMix(1.0, mode=mode)(coded, torch.eye(n, dtype=torch.float64))
        tiles = torch.tensor(colours)[mixed[:, 0].long()]  # (N, 24, 24, 3)
        strip = torch.cat(
            [torch.nn.functional.pad(t.permute(2, 0, 1), (1, 1, 1, 1), value=1.0) for t in tiles], 2
        )
        grid = torch.cat(strip.chunk(2, dim=2), dim=1)  # two rows of four samples
        axes[1, col].imshow(grid.permute(1, 2, 0).numpy())
        axes[1, col].set(title=f'CutMix, mode="{mode}"', xticks=[], yticks=[])
    fig.suptitle("one draw per batch, per sample, or per pair (each sample's own colour)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return {"weights": weights}


DECAYS = (1.0, 3.0, 5.0)


def fmix_figure(path: Path, draws: int, dpi: int) -> dict[str, Any]:
    """Masks of one λ for each decay δ (top), and the exact kept share of many draws (bottom)."""
    from zmix_transforms.fmix import fmix_masks

    g = torch.Generator().manual_seed(0)
    fig, axes = plt.subplots(2, len(DECAYS), figsize=(3.2 * len(DECAYS), 5.2))
    kept: dict[float, torch.Tensor] = {}
    for col, decay in enumerate(DECAYS):
        masks = fmix_masks(torch.full((3,), 0.5), (32, 32), decay, g)
        axes[0, col].imshow(torch.cat(list(masks), 1).numpy(), cmap="Blues_r", vmin=0, vmax=1)
        axes[0, col].set(title=f"FMix masks, λ = 0.5, δ = {decay:g}", xticks=[], yticks=[])
        lams = F.sample_lambdas(1.0, min(draws, 2000), generator=g)
        kept[decay] = fmix_masks(lams, (16, 16), decay, g).flatten(1).double().mean(1)
        axes[1, col].scatter(lams.numpy(), kept[decay].numpy(), s=2, color="#d08c2b")
        axes[1, col].set(xlabel="drawn λ (α = 1)", ylabel="kept share (label weight)")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return {"kept": kept}


def resizemix_figure(path: Path, draws: int, dpi: int) -> dict[str, Any]:
    """A ResizeMix batch of coloured, striped samples (top), and the pasted share of many draws."""
    n = 8
    colours = torch.tensor(plt.get_cmap("tab10")(range(n))[:, :3], dtype=torch.float32)
    stripes = (torch.arange(24) // 4 % 2).float().reshape(1, 24, 1) * 0.35 + 0.65
    images = colours.reshape(n, 3, 1, 1) * stripes.expand(1, 24, 24)  # each sample: its colour, striped
    torch.manual_seed(2)
    mixed, _ = Z.ResizeMix(mode="elem", num_classes=n)(images, torch.arange(n))
    strip = torch.cat([torch.nn.functional.pad(t, (1, 1, 1, 1), value=1.0) for t in mixed], 2)
    fig, axes = plt.subplots(2, 1, figsize=(7.0, 5.2))
    axes[0].imshow(torch.cat(strip.chunk(2, dim=2), dim=1).permute(1, 2, 0).numpy())
    axes[0].set(title='ResizeMix, mode="elem": each partner shrunk whole into a sample', xticks=[], yticks=[])
    from zmix_transforms.resizemix import resizemix_regions

    regions = resizemix_regions(draws, (224, 224), generator=torch.Generator().manual_seed(0))
    pasted = torch.tensor([r.size / 224**2 for r in regions])
    axes[1].hist(pasted.numpy(), bins=40, range=(0, 0.7), color="#d08c2b")
    axes[1].set(xlabel="pasted share 1 − λ (τ ~ U(0.1, 0.8), the partner's label weight)")
    axes[1].set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return {"pasted": pasted}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Draw the six figures; return their numbers and paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer draws, smaller figures (for CI)")
    parser.add_argument("--out", type=Path, default=Path("out/method_figures"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    draws, dpi = (500, 50) if args.quick else (20_000, 110)
    result = {
        "zeta": zeta_figure(args.out / "zeta_gamma.png", dpi),
        "mixup": mixup_figure(args.out / "mixup_alpha.png", draws, dpi),
        "cutmix": cutmix_figure(args.out / "cutmix_alpha.png", draws, dpi),
        "modes": modes_figure(args.out / "modes.png", dpi),
        "fmix": fmix_figure(args.out / "fmix_decay.png", draws, dpi),
        "resizemix": resizemix_figure(args.out / "resizemix.png", draws, dpi),
        "figures": [
            args.out / name
            for name in (
                "zeta_gamma.png",
                "mixup_alpha.png",
                "cutmix_alpha.png",
                "modes.png",
                "fmix_decay.png",
                "resizemix.png",
            )
        ],
    }
    print("wrote " + ", ".join(str(p) for p in result["figures"]))
    return result


if __name__ == "__main__":
    main()
