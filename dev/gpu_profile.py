"""Where a call's time goes on a GPU: host time per call, kernels launched, and the top ops.

Run by ``dev/gpu_check.sh`` on a GPU machine; prints, for each method and timm's ``Mixup`` at
16×3×32² and 128×3×32² float32:

* host ms a call without a sync (Python and dispatch: what bounds a small batch on a GPU),
* ms a call with a sync after each (host and device together),
* CUDA kernels launched a call (from ``torch.profiler``),

then the profiler's table of ops for each call (sorted by host time), so a session without a GPU
can see which ops a call could drop.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial

import torch
from torch.profiler import ProfilerActivity, profile

import zmix_transforms as Z

try:
    from timm.data import Mixup
except ImportError:  # pragma: no cover - timm is in the GPU machine's image
    Mixup = None


def calls(images: torch.Tensor, labels: torch.Tensor) -> dict[str, Callable[[], object]]:
    """Each method's transform, and timm's in-place ``Mixup`` on a copy."""
    out: dict[str, Callable[[], object]] = {}
    for cls in (Z.MixUp, Z.CutMix, Z.ZetaMixup, Z.ZetaCutMix, Z.FMix, Z.ResizeMix):
        transform = cls(num_classes=10)
        out[cls.__name__] = lambda t=transform: t(images, labels)
    if Mixup is not None:
        for name, kw in (
            ("mixup", {"mixup_alpha": 1.0, "cutmix_alpha": 0.0}),
            ("CutMix", {"mixup_alpha": 0.0, "cutmix_alpha": 1.0}),
        ):
            m = Mixup(**kw, mode="batch", num_classes=10)
            out[f"timm Mixup ({name})"] = lambda m=m: m(images.clone(), labels)
    out["copy of the batch"] = images.clone
    return out


def per_call_ms(fn: Callable[[], object], n: int, sync: bool) -> float:
    """Median of five timings of ``n`` calls, in ms a call."""
    times = []
    for _ in range(5):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(n):
            fn()
            if sync:
                torch.cuda.synchronize()
        if not sync:
            elapsed_host = time.perf_counter() - start
            torch.cuda.synchronize()
            times.append(elapsed_host / n * 1e3)
        else:
            times.append((time.perf_counter() - start) / n * 1e3)
    return sorted(times)[2]


def host_against_device_draws(images: torch.Tensor, labels: torch.Tensor) -> None:
    """Host ms a call (no sync), pairings and λs drawn on the host against on the device.

    The device's run patches ``host_draw_device`` to ``draw_device`` (where they were drawn before).
    Three alternations in one process, each the median of five timings of 50 calls; min–max shown.
    """
    from zmix_transforms import transforms
    from zmix_transforms.functional import _draws

    makers = {
        "MixUp": Z.MixUp,
        "MixUp elem": lambda **kw: Z.MixUp(mode="elem", **kw),
        "CutMix": Z.CutMix,
        "ZetaMixup": Z.ZetaMixup,
        "ZetaCutMix": Z.ZetaCutMix,
        "ResizeMix": Z.ResizeMix,
    }
    host = _draws.host_draw_device
    print("\n| call | host draws: host ms | device draws: host ms | device ÷ host |")
    print("| --- | --- | --- | --- |")
    for name, make in makers.items():
        transform = make(num_classes=10)
        times: dict[str, list[float]] = {"host": [], "device": []}
        for _ in range(3):
            for where in ("host", "device"):
                patched = host if where == "host" else _draws.draw_device
                _draws.host_draw_device = transforms.host_draw_device = patched
                for _ in range(5):
                    transform(images, labels)
                times[where].append(per_call_ms(partial(transform, images, labels), 50, False))
        _draws.host_draw_device = transforms.host_draw_device = host
        h, d = times["host"], times["device"]
        ratio = [b / a for a, b in zip(h, d, strict=True)]
        print(
            f"| {name} | {min(h):.3f}–{max(h):.3f} | {min(d):.3f}–{max(d):.3f} "
            f"| {min(ratio):.2f}–{max(ratio):.2f}× |"
        )


def main() -> None:
    """Print the per-call table at both shapes, then each call's op table at 16×3×32²."""
    tables = []
    for shape in ((16, 3, 32, 32), (128, 3, 32, 32)):
        images = torch.rand(shape, device="cuda")
        labels = torch.randint(0, 10, (shape[0],), device="cuda")
        print(f"\n## {'×'.join(map(str, shape))} float32 on {torch.cuda.get_device_name()}\n")
        print("| call | host ms (no sync) | ms with sync | CUDA kernels a call |")
        print("| --- | --- | --- | --- |")
        for name, fn in calls(images, labels).items():
            for _ in range(10):
                fn()
            host, synced = per_call_ms(fn, 50, False), per_call_ms(fn, 50, True)
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                for _ in range(10):
                    fn()
                torch.cuda.synchronize()
            events = prof.key_averages()
            kernels = sum(e.count for e in events if e.device_type == torch.autograd.DeviceType.CUDA) / 10
            print(f"| {name} | {host:.3f} | {synced:.3f} | {kernels:.1f} |")
            if shape[0] == 16:
                tables.append(
                    f"\n### {name}, 16×3×32² (10 calls)\n\n"
                    + events.table(sort_by="cpu_time_total", row_limit=18)
                )
        host_against_device_draws(images, labels)
        sys.stdout.flush()
    print("\n".join(tables))


if __name__ == "__main__":
    main()
