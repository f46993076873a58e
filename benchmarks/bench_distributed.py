"""What mixing across ranks costs: 2 CPU processes (gloo on 127.0.0.1), local mix against across-ranks mix.

    python benchmarks/bench_distributed.py                 # writes docs/assets/distributed_cost.md
    python benchmarks/bench_distributed.py --quick --out /tmp/bench

Both ranks time the same cases in the same order, round by round; the table gives rank 0's median
times and the median of per-round ratios. The all-gather alone (images and labels) is a floor.
mixup, CutMix and ζ-mixup with ``max_terms`` run twice across ranks: fetching only the rows each
rank's rows are mixed from (the default), and all-gathering every batch (``fetch_rows`` off).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import socket
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import zmix_transforms as Z
from zmix_transforms._backend import routes

ROOT = Path(__file__).resolve().parent.parent
NUM_CLASSES = 10


def _gather(images: torch.Tensor, labels: torch.Tensor) -> None:
    for local in (images, labels):
        received = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(received, local)


def _with_route(fetch: bool, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with routes(fetch_rows=fetch):
            return fn()

    return run


def cases(shape: tuple[int, ...], dtype: torch.dtype) -> dict[str, tuple[Callable[[], Any], str | None]]:
    """Each case: what it runs, and the case its time is divided by (None: no ratio)."""
    images = torch.rand(shape) * 255
    images = images if dtype.is_floating_point else images.round().to(dtype)
    labels = torch.arange(shape[0]) % NUM_CLASSES
    soft = torch.nn.functional.one_hot(labels, NUM_CLASSES).float()
    methods = {
        "ZetaMixup": lambda **kw: Z.ZetaMixup(num_classes=NUM_CLASSES, **kw),
        "ZetaMixup(max_terms=4)": lambda **kw: Z.ZetaMixup(num_classes=NUM_CLASSES, max_terms=4, **kw),
        "MixUp": lambda **kw: Z.MixUp(num_classes=NUM_CLASSES, **kw),
        "CutMix": lambda **kw: Z.CutMix(num_classes=NUM_CLASSES, **kw),
    }
    table: dict[str, tuple[Callable[[], Any], str | None]] = {
        "all-gather of images and labels": (lambda: _gather(images, soft), None)
    }
    for name, make in methods.items():
        own, across = make(), make(across_ranks=True)
        base = f"{name}, own batch"
        table[base] = (lambda own=own: own(images, labels), None)
        if name == "ZetaMixup":  # every row needs the whole global batch: always gathered
            table[f"{name}, across ranks"] = (lambda across=across: across(images, labels), base)
            continue
        for fetch, how in ((True, "fetch the rows needed"), (False, "gather every batch")):
            run = _with_route(fetch, lambda across=across: across(images, labels))
            table[f"{name}, across ranks: {how}"] = (run, base)
    return table


def measure(rank: int, world: int, quick: bool) -> list[str]:
    shapes = (
        [((4, 3, 16, 16), torch.float32)]
        if quick
        else [
            ((8, 3, 224, 224), torch.float32),
            ((8, 3, 224, 224), torch.uint8),
            ((64, 3, 32, 32), torch.float32),
        ]
    )
    rounds, warmup = (3, 1) if quick else (15, 3)
    lines = []
    for shape, dtype in shapes:
        named = cases(shape, dtype)
        for fn, _ in named.values():
            for _ in range(warmup):
                fn()
        times: dict[str, list[float]] = {name: [] for name in named}
        for _ in range(rounds):
            for name, (fn, _) in named.items():  # the same order on both ranks: collectives pair up
                dist.barrier()
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        tag = "uint8" if dtype == torch.uint8 else "float32"
        lines += [
            "",
            f"**{'×'.join(map(str, shape))} {tag} on each of {world} ranks**"
            f" (global batch {shape[0] * world})",
            "",
            "| case | median ms | × the same mix of the rank's own batch |",
            "| --- | --- | --- |",
        ]
        for name, values in times.items():
            base = named[name][1]
            cell = (
                ""
                if base is None
                else f"{statistics.median(a / b for a, b in zip(values, times[base], strict=True)):.2f}"
            )
            lines.append(f"| {name} | {statistics.median(values) * 1e3:.2f} | {cell} |")
    return lines


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rank(rank: int, world: int, port: int, quick: bool, out: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=120),
    )
    try:
        torch.set_num_threads(1)
        lines = measure(rank, world, quick)
        if rank == 0:
            header = [
                f"Measured on {datetime.date.today().isoformat()}: {_cpu()}, "
                f"{world} processes of 1 thread each on one machine, gloo over 127.0.0.1, "
                f"torch {torch.__version__}. `python benchmarks/bench_distributed.py` regenerates it.",
            ]
            path = Path(out) / "distributed_cost.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(header + lines) + "\n")
            print("\n".join(header + lines))
    finally:
        dist.destroy_process_group()


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small shape, few rounds (for CI)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "assets", help="folder for the table")
    args = parser.parse_args(argv)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_rank, args=(2, port, args.quick, str(args.out)), nprocs=2, start_method="spawn")
    return args.out / "distributed_cost.md"


if __name__ == "__main__":
    main()
