"""Train the digits CNN with DistributedDataParallel on 2 CPU ranks, mixing per rank or across ranks.

Run it under ``torchrun --nproc_per_node 2 examples/ddp_digits.py`` (backend gloo), or as
``python examples/ddp_digits.py``, which starts the 2 ranks itself on 127.0.0.1. Each rank sees 8
samples a step (what a GPU holds of high-resolution or 3-D images), and two ways of mixing are
compared:

* ``ZetaMixupCollate`` in the ``DataLoader``: each rank mixes its own 8 samples, with its own draws
  (ranks seeded alike draw differently);
* ``ZetaMixup(across_ranks=True)`` after the loader: each rank's 8 outputs mix all 16 samples of the
  step (one all-gather), from one global draw.

The script writes a table of test accuracy and NLL, and a picture of one step's global weight matrix
with each rank's rows. ``--quick`` runs 1 epoch of each.
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_digits import NUM_CLASSES, evaluate, load_split, make_model

import zmix_transforms as Z

BATCH_PER_RANK = 8
MODES = ("per rank (ZetaMixupCollate)", "across ranks (ZetaMixup)")


def train(mode: str, epochs: int, rank: int, world: int) -> dict[str, float]:
    """Train one model with ``mode``; every rank returns rank 0's test metrics."""
    torch.manual_seed(0)  # every rank alike, as training scripts do
    train_set, test_set = load_split()
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=0)
    per_rank = mode.startswith("per rank")
    loader = DataLoader(
        train_set,
        batch_size=BATCH_PER_RANK,
        sampler=sampler,
        collate_fn=Z.ZetaMixupCollate(num_classes=NUM_CLASSES) if per_rank else None,
        drop_last=True,
    )
    across = Z.ZetaMixup(num_classes=NUM_CLASSES, across_ranks=True)
    model = DistributedDataParallel(make_model())
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        model.train()
        for images, labels in loader:
            if not per_rank:
                images, labels = across(images, labels)
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    metrics = evaluate(model.module, test_set)
    shared = torch.tensor([metrics["accuracy"], metrics["nll"]], dtype=torch.float64)
    dist.broadcast(shared, src=0)
    return {"accuracy": float(shared[0]), "nll": float(shared[1])}


def global_weights(rank: int, world: int) -> torch.Tensor:
    """One step's global weight matrix: identity labels over the global batch reveal each rank's rows."""
    torch.manual_seed(1 + rank)
    total = BATCH_PER_RANK * world
    images = torch.rand(BATCH_PER_RANK, 1, 8, 8)
    own = torch.arange(rank * BATCH_PER_RANK, (rank + 1) * BATCH_PER_RANK)
    eye = torch.nn.functional.one_hot(own, total).double()
    _, rows = Z.ZetaMixup(across_ranks=True)(images, eye)
    gathered = [torch.empty_like(rows) for _ in range(world)]
    dist.all_gather(gathered, rows)
    return torch.cat(gathered)


def plot_weights(weights: torch.Tensor, world: int, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    image = ax.imshow(weights.numpy() ** 0.5, cmap="magma")
    for boundary in range(1, world):
        ax.axhline(boundary * BATCH_PER_RANK - 0.5, color="white", lw=1.5)
        ax.axvline(boundary * BATCH_PER_RANK - 0.5, color="white", lw=0.6, ls=":")
    centres = [(rank + 0.5) * BATCH_PER_RANK - 0.5 for rank in range(world)]
    ax.set_yticks(centres, [f"rank {rank}'s\noutputs" for rank in range(world)])
    ax.set_xticks(centres, [f"rank {rank}'s inputs" for rank in range(world)])
    ax.set_title("ζ-mixup across ranks: one global W;\neach rank computes its own rows")
    fig.colorbar(image, ax=ax, fraction=0.046, label="√W")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(rank: int, world: int, epochs: int, out: str, results_file: str | None = None) -> dict[str, Any]:
    torch.set_num_threads(1)
    results = {mode: train(mode, epochs, rank, world) for mode in MODES}
    weights = global_weights(rank, world)
    if rank == 0:
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        plot_weights(weights, world, out_dir / "global_weights.png")
        lines = [
            f"| mixing, {world} ranks × {BATCH_PER_RANK} samples | test accuracy | test NLL |",
            "| --- | --- | --- |",
            *[f"| {mode} | {r['accuracy']:.3f} | {r['nll']:.3f} |" for mode, r in results.items()],
        ]
        (out_dir / "ddp_digits.md").write_text("\n".join(lines) + "\n")
        if results_file is not None:  # for the process that started the ranks
            torch.save({"results": results, "weights": weights}, results_file)
        print("\n".join(lines))
    return {"results": results, "weights": weights}


def _spawned(rank: int, world: int, port: int, epochs: int, out: str, results_file: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=120),
    )
    try:
        run(rank, world, epochs, out, results_file)
    finally:
        dist.destroy_process_group()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch of each mode (for CI)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per mode (default 8, quick 1)")
    parser.add_argument("--out", type=Path, default=Path("out/ddp_digits"), help="output folder")
    args = parser.parse_args(argv)
    epochs = args.epochs or (1 if args.quick else 8)
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # under torchrun
        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))
        try:
            return run(dist.get_rank(), dist.get_world_size(), epochs, str(args.out))
        finally:
            dist.destroy_process_group()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        results_file = str(Path(scratch) / "results.pt")
        mp.start_processes(
            _spawned, args=(2, port, epochs, str(args.out), results_file), nprocs=2, start_method="spawn"
        )
        return torch.load(results_file, weights_only=False)


if __name__ == "__main__":
    main()
