"""Time zmix_transforms' mixing against torchvision, timm, a plain ζ-mixup reference and floors.

All cases of one batch shape run in one process, alternating round by round; a time is the median
over rounds, and a target ratio is the median over rounds of the per-round ratio of two cases.

    python benchmarks/bench_mixing.py                  # writes docs/benchmarks.md and its bar chart
    python benchmarks/bench_mixing.py --quick --out /tmp/bench    # small and fast (CI)
    python benchmarks/bench_mixing.py --device cuda    # on a GPU: the transforms on CUDA, synchronized

``timm`` is optional (``pip install -e ".[bench]"``); without it its cases are left out.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torchvision
from torch.utils.data import default_collate
from torchvision.transforms import v2

import zmix_transforms as Z
from zmix_transforms import _backend
from zmix_transforms import functional as F

try:
    import timm
    from timm.data import FastCollateMixup, Mixup
except ImportError:  # optional
    timm = None

NUM_CLASSES = 10
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Case:
    """One timed callable."""

    name: str
    group: str  # "ours", "anchor" or "floor"
    fn: Callable[[], Any]
    note: str = ""


@dataclass
class Measurement:
    """Times of every case of one batch shape, round by round."""

    shape: tuple[int, ...]
    device: str
    cases: list[Case]
    times: dict[str, list[float]] = field(default_factory=dict)

    def median_ms(self, name: str) -> float:
        """Median time of a case in milliseconds."""
        return statistics.median(self.times[name]) * 1e3

    def ratio(self, numerator: str, denominator: str) -> float:
        """Median over rounds of the per-round time ratio."""
        return statistics.median(
            a / b for a, b in zip(self.times[numerator], self.times[denominator], strict=True)
        )

    def ratio_of_sum(self, numerators: Sequence[str], denominator: str) -> float:
        """Median over rounds of the per-round ratio of the summed ``numerators`` to ``denominator``."""
        sums = [sum(times) for times in zip(*(self.times[name] for name in numerators), strict=True)]
        return statistics.median(a / b for a, b in zip(sums, self.times[denominator], strict=True))


def paper_style_zeta_mixup(images: torch.Tensor, labels: torch.Tensor, gamma: float = 2.8) -> tuple[Any, Any]:
    """ζ-mixup as the paper's code does it.

    Per call: ranks by argsort of random numbers, the normalized p-series, and one einsum for the
    images and one product for the labels.
    """
    n = images.shape[0]
    keys = torch.rand(n, n, device=images.device)
    keys.fill_diagonal_(-1.0)
    ranks = keys.argsort(dim=1).argsort(dim=1) + 1
    weights = ranks.to(torch.float32).pow(-gamma)
    weights /= weights.sum(dim=1, keepdim=True)
    mixed = torch.einsum("ij,j...->i...", weights, images.to(torch.float32))
    return mixed, weights @ labels


def build_cases(shape: tuple[int, ...], dtype: torch.dtype, device: str) -> list[Case]:
    """The cases for one batch shape and dtype; names carry the dtype."""
    n = shape[0]
    tag = "f32" if dtype == torch.float32 else "u8"
    g = torch.Generator().manual_seed(0)
    base = torch.rand(shape, generator=g)
    images = (base if dtype == torch.float32 else (base * 255).round().to(torch.uint8)).to(device)
    labels = (torch.arange(n) % NUM_CLASSES).to(device)
    one_hot = F.one_hot(labels, NUM_CLASSES)
    weights = F.zeta_weights(n, device=device)
    cpu = device == "cpu"
    samples = [(images[i].cpu().clone(), int(labels[i])) for i in range(n)] if cpu else []
    np_samples = [(s.numpy(), t) for s, t in samples]
    is_float = dtype == torch.float32
    # every transform and collate function is built once, as a training script builds it
    mixup, cutmix = Z.MixUp(num_classes=NUM_CLASSES), Z.CutMix(num_classes=NUM_CLASSES)
    zeta = Z.ZetaMixup(num_classes=NUM_CLASSES)
    others = [method(num_classes=NUM_CLASSES) for method in (Z.ZetaCutMix, Z.FMix, Z.ResizeMix)]
    v2_mixup, v2_cutmix = v2.MixUp(num_classes=NUM_CLASSES), v2.CutMix(num_classes=NUM_CLASSES)
    cases = [
        Case(f"copy of the batch [{tag}]", "floor", lambda: images.clone()),
        Case(f"MixUp [{tag}]", "ours", lambda: mixup(images, labels)),
        Case(f"CutMix [{tag}]", "ours", lambda: cutmix(images, labels)),
        Case(f"ZetaMixup [{tag}]", "ours", lambda: zeta(images, labels)),
        # the other methods, for their cost beside these (no anchor does what they do)
        *[Case(f"{type(t).__name__} [{tag}]", "ours", partial(t, images, labels)) for t in others],
    ]
    if is_float:
        product_buffer = torch.empty(n, images[0].numel(), device=device)  # no allocation: arithmetic alone
        cases += [
            Case(
                f"N×N matrix product [{tag}]",
                "floor",
                lambda: (weights @ images.reshape(n, -1)).reshape(shape),
            ),
            Case(
                f"N×N matrix product into a buffer [{tag}]",
                "floor",
                lambda: torch.mm(weights, images.reshape(n, -1), out=product_buffer),
            ),
            Case(f"torchvision v2.MixUp [{tag}]", "anchor", lambda: v2_mixup(images, labels)),
            Case(f"torchvision v2.CutMix [{tag}]", "anchor", lambda: v2_cutmix(images, labels)),
            Case(f"paper-style ζ-mixup [{tag}]", "anchor", lambda: paper_style_zeta_mixup(images, one_hot)),
        ]
        if timm is not None and n % 2 == 0:
            timm_mixup = Mixup(mixup_alpha=1.0, cutmix_alpha=0.0, mode="batch", num_classes=NUM_CLASSES)
            timm_cutmix = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, mode="batch", num_classes=NUM_CLASSES)
            cases += [
                Case(f"timm Mixup, mixup [{tag}]", "anchor", lambda: timm_mixup(images, labels), "in place"),
                Case(
                    f"timm Mixup, CutMix [{tag}]", "anchor", lambda: timm_cutmix(images, labels), "in place"
                ),
            ]
    if cpu:
        zeta_collate = Z.ZetaMixupCollate(num_classes=NUM_CLASSES)
        mixup_collate = Z.MixUpCollate(num_classes=NUM_CLASSES)
        cutmix_collate = Z.CutMixCollate(num_classes=NUM_CLASSES)
        cases += [
            Case(f"ZetaMixupCollate [{tag}]", "ours", lambda: zeta_collate(samples)),
            Case(f"MixUpCollate [{tag}]", "ours", lambda: mixup_collate(samples)),
            Case(f"CutMixCollate [{tag}]", "ours", lambda: cutmix_collate(samples)),
            Case(f"default_collate [{tag}]", "floor", lambda: default_collate(samples)),
        ]
        if is_float:
            cases += [
                Case(
                    f"recipe: v2.MixUp(default_collate) [{tag}]",
                    "anchor",
                    lambda: v2_mixup(*default_collate(samples)),
                ),
                Case(
                    f"recipe: v2.CutMix(default_collate) [{tag}]",
                    "anchor",
                    lambda: v2_cutmix(*default_collate(samples)),
                ),
            ]
        elif timm is not None and n % 2 == 0:
            fast_mixup = FastCollateMixup(
                mixup_alpha=1.0, cutmix_alpha=0.0, mode="batch", num_classes=NUM_CLASSES
            )
            fast_cutmix = FastCollateMixup(
                mixup_alpha=0.0, cutmix_alpha=1.0, mode="batch", num_classes=NUM_CLASSES
            )
            cases += [
                Case(f"timm FastCollateMixup, mixup [{tag}]", "anchor", lambda: fast_mixup(np_samples)),
                Case(f"timm FastCollateMixup, CutMix [{tag}]", "anchor", lambda: fast_cutmix(np_samples)),
            ]
    return cases


def build_large_batch_cases(shape: tuple[int, ...]) -> list[Case]:
    """Exact ζ-mixup against ``max_terms`` on a large batch (cost N²·D against k·N·D)."""
    n = shape[0]
    images = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % NUM_CLASSES
    weights = F.zeta_weights(n)
    cases = [
        Case("copy of the batch", "floor", lambda: images.clone()),
        Case("N×N matrix product", "floor", lambda: (weights @ images.reshape(n, -1)).reshape(shape)),
        Case("ZetaMixup (exact)", "ours", partial(Z.ZetaMixup(num_classes=NUM_CLASSES), images, labels)),
        Case("F.zeta_weights", "ours", lambda: F.zeta_weights(n)),
    ]
    for k in (8, 16, 32):
        if k < n:
            zeta = Z.ZetaMixup(max_terms=k, num_classes=NUM_CLASSES)
            cases.append(Case(f"ZetaMixup(max_terms={k})", "ours", lambda zeta=zeta: zeta(images, labels)))
    return cases


def _data(shape: tuple[int, ...], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, list[Any]]:
    images = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    if dtype == torch.uint8:
        images = (images * 255).round().to(torch.uint8)
    labels = torch.arange(shape[0]) % NUM_CLASSES
    return images, labels, [(images[i].clone(), int(labels[i])) for i in range(shape[0])]


# (route, what it speeds up, shape, dtype): each fast path where it runs
FAST_PATH_CASES = [
    ("numpy_argsort", "ZetaMixup", (128, 3, 32, 32), torch.float32),
    ("numpy_argsort", "ZetaMixup", (512, 3, 32, 32), torch.float32),
    ("numpy_draws", "F.cycle_partners ×100", (8, 3, 32, 32), torch.float32),
    ("numpy_draws", "F.cycle_partners ×100", (128, 3, 32, 32), torch.float32),
    ("inplace_kernels", "ZetaMixupCollate", (64, 3, 224, 224), torch.uint8),
    ("inplace_kernels", "MixUpCollate", (64, 3, 224, 224), torch.float32),
    ("inplace_kernels", "MixUpCollate", (64, 3, 224, 224), torch.uint8),
    ("inplace_kernels", "CutMixCollate", (64, 3, 224, 224), torch.float32),
    ("narrow_blocks", "ZetaMixup", (64, 3, 224, 224), torch.uint8),
    ("per_sample_lerp", "MixUp", (64, 3, 224, 224), torch.uint8),
    ("integer_steps", "MixUp", (128, 3, 32, 32), torch.uint8),
    ("integer_steps", "MixUp", (64, 3, 224, 224), torch.uint8),
    ("integer_steps", "MixUpCollate", (128, 3, 32, 32), torch.uint8),
    ("integer_steps", "MixUpCollate", (64, 3, 224, 224), torch.uint8),
    ("int16_casts", "F.mix_pairs", (128, 3, 32, 32), torch.uint8),
    ("int16_casts", "F.mix_pairs", (64, 3, 224, 224), torch.uint8),
    ("int16_casts", "ZetaMixup", (128, 3, 32, 32), torch.uint8),
    ("int16_casts", "ZetaMixup", (64, 3, 224, 224), torch.uint8),
    ("int16_casts", "ZetaMixupCollate", (64, 3, 224, 224), torch.uint8),
    ("spare_batches", "MixUpCollate", (128, 3, 32, 32), torch.float32),
    ("spare_batches", "ZetaMixupCollate", (128, 3, 32, 32), torch.float32),
    ("spare_batches", "ZetaMixupCollate", (64, 3, 224, 224), torch.float32),  # one product, not blocks
    ("onednn_products", "ZetaMixup", (128, 3, 32, 32), torch.float32),
    ("onednn_products", "ZetaMixup", (512, 3, 32, 32), torch.float32),
    ("onednn_products", "ZetaMixupCollate", (128, 3, 32, 32), torch.float32),
    ("onednn_products", "ZetaMixup", (64, 3, 224, 224), torch.float32),
    ("onednn_products", "ZetaMixupCollate", (64, 3, 224, 224), torch.float32),
    ("onednn_products", "ZetaMixupCollate", (64, 3, 224, 224), torch.uint8),
    ("selection_masks", "FMix", (64, 3, 224, 224), torch.float32),
    ("selection_masks", "FMix mode=elem", (128, 3, 32, 32), torch.float32),
    ("selection_masks", "FMix mode=elem", (128, 3, 64, 64), torch.float32),
    ("selection_masks", "FMix mode=elem", (64, 3, 224, 224), torch.float32),
    ("bitwise_where", "FMix", (128, 3, 32, 32), torch.float32),
    ("bitwise_where", "FMix", (64, 3, 224, 224), torch.float32),
    ("bitwise_where", "FMix", (64, 3, 224, 224), torch.uint8),
    ("bitwise_where", "FMixCollate", (64, 3, 224, 224), torch.uint8),
    ("masked_regions", "CutMix mode=elem", (128, 3, 32, 32), torch.float32),
    ("masked_regions", "CutMixCollate mode=elem", (128, 3, 32, 32), torch.uint8),
    ("masked_regions", "ResizeMix mode=elem", (128, 3, 32, 32), torch.float32),
]


def fast_path_rows(quick: bool) -> list[tuple[str, str, float, float, float]]:
    """Each fast path on and off, side by side: (route, case, ms on, ms off, speed-up off/on)."""
    rows = []
    for route, name, shape, dtype in FAST_PATH_CASES:
        if quick:
            shape = (min(shape[0], 16), shape[1], 16, 16)
        images, labels, samples = _data(shape, dtype)
        run: Callable[[], Any]
        if name == "F.mix_pairs":  # the functional API with a λ that is no multiple of 1/256
            run = partial(F.mix_pairs, images, 0.3, F.cycle_partners(shape[0]))
        elif name == "F.cycle_partners ×100":  # a draw of microseconds, timed a hundred at a time

            def run(n: int = shape[0]) -> Any:
                return [F.cycle_partners(n) for _ in range(100)]

        else:  # a transform or collate, "mode=elem" for one draw per sample
            method, _, mode = name.partition(" mode=")
            target = getattr(Z, method)(num_classes=NUM_CLASSES, **({"mode": mode} if mode else {}))
            run = partial(target, samples) if method.endswith("Collate") else partial(target, images, labels)

        def off(run: Callable[[], Any] = run, route: str = route) -> Any:
            with _backend.routes(**{route: False}):
                return run()

        cases = [Case("on", "ours", run), Case("off", "ours", off)]
        r, w = (3, 1) if quick else ((31, 3) if shape[-1] <= 32 else (11, 2))
        times = measure(cases, r, w, "cpu")
        m = Measurement(shape, "cpu", cases, times)
        tag = "u8" if dtype == torch.uint8 else "f32"
        rows.append(
            (
                route,
                f"{name}, {'×'.join(map(str, shape))} {tag}",
                m.median_ms("on"),
                m.median_ms("off"),
                m.ratio("off", "on"),
            )
        )
        print(f"fast path {route}: {rows[-1][1]} ×{rows[-1][4]:.2f}", file=sys.stderr)
    return rows


def measure(cases: Sequence[Case], rounds: int, warmup: int, device: str) -> dict[str, list[float]]:
    """Run every case once per round, in a new order each round, and time each run.

    A case finds the caches and the heap as the case before it left them: at 128×3×32², the same
    ``MixUpCollate(inplace=False)`` (freed memory held) took 0.17–0.18 ms a call after one case, 0.30 ms
    after another (AMD EPYC), so a fixed order favours the cases it happens to place well. The
    orders are drawn from a fixed seed, the same in every run.
    """
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for case in cases:
        for _ in range(warmup):
            case.fn()
    sync()
    times: dict[str, list[float]] = {case.name: [] for case in cases}
    orders = random.Random(0)
    for _ in range(rounds):
        for case in orders.sample(list(cases), len(cases)):
            start = time.perf_counter()
            case.fn()
            sync()
            times[case.name].append(time.perf_counter() - start)
    return times


SMALL, LARGE, BIG_BATCH = "small", "large", "big batch"  # 128×3×32², 64×3×224², 512×3×32²
COPY, COLLATE = "copy of the batch [f32]", "default_collate [f32]"
PRODUCT, PRODUCT_IN_PLACE = "N×N matrix product [f32]", "N×N matrix product into a buffer [f32]"


@dataclass(frozen=True)
class Target:
    """``numerator ≤ limit × denominator`` (median of per-round ratios) at one batch shape.

    ``floor``: cases whose summed time is work the target's case cannot skip (a new batch for an
    out-of-place transform, the collation for a collate class, the matrix product for ζ-mixup);
    their per-round sum over the denominator shows how far below the limit any code could go.
    """

    what: str
    shape: str
    numerator: str
    denominator: str
    limit: float
    floor: tuple[str, ...] = ()


#: The head of a table of targets (``benchmarks/ranges.py`` finds the tables by it).
TARGETS_HEAD = ["| target | measured | met | floor |", "| --- | --- | --- | --- |"]

TARGETS = [
    Target(
        "MixUp ≤ 0.6× torchvision v2.MixUp", LARGE, "MixUp [f32]", "torchvision v2.MixUp [f32]", 0.6, (COPY,)
    ),
    Target(
        "CutMix ≤ 0.67× torchvision v2.CutMix",
        LARGE,
        "CutMix [f32]",
        "torchvision v2.CutMix [f32]",
        0.67,
        (COPY,),
    ),
    Target("ZetaMixup ≤ 1.3× one N×N matrix product", LARGE, "ZetaMixup [f32]", PRODUCT, 1.3, (PRODUCT,)),
    Target(
        "ZetaMixup ≤ 1.0× torchvision v2.MixUp",
        LARGE,
        "ZetaMixup [f32]",
        "torchvision v2.MixUp [f32]",
        1.0,
        (PRODUCT,),
    ),
    *[
        Target(
            f"{ours} ≤ 1.0× timm's in-place Mixup ({size})",
            shape,
            f"{ours} [f32]",
            f"timm Mixup, {mode} [f32]",
            1.0,
            (COPY,),
        )
        for shape, size in ((SMALL, "128×3×32²"), (LARGE, "64×3×224²"))
        for ours, mode in (("MixUp", "mixup"), ("CutMix", "CutMix"))
    ],
    *[
        Target(
            f"{ours} ≤ {limit}× the {recipe} recipe ({size})",
            shape,
            f"{ours} [f32]",
            f"recipe: {recipe}(default_collate) [f32]",
            limit,
            (COLLATE, PRODUCT_IN_PLACE) if ours == "ZetaMixupCollate" else (COLLATE,),
        )
        for shape, size, collates in (
            (
                LARGE,
                "64×3×224²",
                (
                    ("MixUpCollate", "v2.MixUp", 0.5),
                    ("CutMixCollate", "v2.CutMix", 0.55),
                    ("ZetaMixupCollate", "v2.MixUp", 1.0),
                ),
            ),
            (
                SMALL,
                "128×3×32²",
                (
                    ("MixUpCollate", "v2.MixUp", 0.75),
                    ("CutMixCollate", "v2.CutMix", 0.75),
                    ("ZetaMixupCollate", "v2.MixUp", 1.0),
                ),
            ),
        )
        for ours, recipe, limit in collates
    ],
    Target(
        "MixUpCollate uint8 ≤ 0.4× its float32 time",
        LARGE,
        "MixUpCollate [u8]",
        "MixUpCollate [f32]",
        0.4,
        ("default_collate [u8]",),
    ),
    Target(
        "CutMixCollate uint8 ≤ 0.5× its float32 time",
        LARGE,
        "CutMixCollate [u8]",
        "CutMixCollate [f32]",
        0.5,
        ("default_collate [u8]",),
    ),
    Target(
        "ZetaMixupCollate uint8 ≤ 0.4× its float32 time",
        LARGE,
        "ZetaMixupCollate [u8]",
        "ZetaMixupCollate [f32]",
        0.4,
        ("default_collate [u8]", PRODUCT_IN_PLACE),
    ),
    Target(
        "MixUp uint8 ≤ 4× a copy of the uint8 batch",
        LARGE,
        "MixUp [u8]",
        "copy of the batch [u8]",
        4.0,
        ("copy of the batch [u8]",),
    ),
    Target(
        "drawing W (F.zeta_weights) ≤ 0.5× its N×N product (N = 512)",
        BIG_BATCH,
        "F.zeta_weights",
        "N×N matrix product",
        0.5,
    ),
]


def graph_breaks() -> list[tuple[str, str]]:
    """Graph breaks under torch.compile (dynamo's explain) for ours and the anchors."""
    x, y = torch.rand(8, 3, 16, 16), torch.arange(8) % 3
    soft = F.one_hot(y, 3)
    candidates: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = [
        ("zmix_transforms F.zeta_mixup", F.zeta_mixup, (x, soft, 2.8)),
        ("zmix_transforms F.mixup", F.mixup, (x, soft, 0.3)),
        ("zmix_transforms F.cutmix", F.cutmix, (x, soft, 0.3)),
        *[
            (f"zmix_transforms {cls.__name__}", cls(num_classes=3), (x, y))
            for cls in (Z.MixUp, Z.CutMix, Z.ZetaMixup, Z.ZetaCutMix, Z.FMix, Z.ResizeMix)
        ],
        ("torchvision v2.MixUp", v2.MixUp(num_classes=3), (x, y)),
        ("torchvision v2.CutMix", v2.CutMix(num_classes=3), (x, y)),
    ]
    if timm is not None:
        candidates.append(
            ("timm Mixup (mixup)", Mixup(mixup_alpha=1.0, cutmix_alpha=0.0, num_classes=3), (x.clone(), y))
        )
        candidates.append(
            ("timm Mixup (CutMix)", Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=3), (x.clone(), y))
        )
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn, args in candidates:
            torch._dynamo.reset()
            explanation = torch._dynamo.explain(fn)(*args)
            rows.append((name, str(explanation.graph_break_count)))
    torch._dynamo.reset()
    return rows


def top_level_ops(fn: Callable[[], Any]) -> int:
    """The ATen operations one call dispatches from Python (its own, not those inside other ops)."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    ops = [e for e in prof.events() if e.name.startswith("aten::")]
    return sum(1 for e in ops if e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))


#: The per-call cases' anchors: timm's ``Mixup`` as mixup and as CutMix, and what every call does at
#: least (a pairing's lerp and one-hot labels), timed beside the calls.
TIMM_MIXUP, TIMM_CUTMIX, BARE_CALL = "timm Mixup (mixup)", "timm Mixup (CutMix)", "a bare lerp + one-hot"
#: The per-call targets (a call at 8×3×8×8 on one thread): (target, call, its anchor, limit).
PER_CALL_TARGETS = [
    ("MixUp ≤ 1.0× timm's mixup, a call (8×3×8²)", "MixUp", TIMM_MIXUP, 1.0),
    ("CutMix ≤ 1.0× timm's CutMix, a call (8×3×8²)", "CutMix", TIMM_CUTMIX, 1.0),
    ("ZetaMixup ≤ 1.5× timm's mixup, a call (8×3×8²)", "ZetaMixup", TIMM_MIXUP, 1.5),
]
#: The most top-level ATen operations a call may dispatch on a 16×3×32×32 float batch.
OPS_LIMITS = {"MixUp": 10, "CutMix": 12, "ZetaMixup": 14}


@dataclass
class PerCall:
    """A call's top-level ATen ops (16×3×32²) and its µs a call at 8×3×8×8, round by round."""

    ops: dict[str, int]
    times: dict[str, list[float]]

    def ratio(self, name: str, anchor: str) -> float:
        """The median of per-round ratios of ``name``'s time to ``anchor``'s."""
        return statistics.median(t / a for t, a in zip(self.times[name], self.times[anchor], strict=True))

    @property
    def anchor(self) -> str:
        """What the rows' ratios are to: timm's mixup, or the bare call without timm."""
        return TIMM_MIXUP if TIMM_MIXUP in self.times else BARE_CALL

    def rows(self) -> list[tuple[str, int, float, float]]:
        """(call, ATen ops, median µs, ratio to ``anchor``)."""
        return [
            (name, self.ops[name], statistics.median(self.times[name]), self.ratio(name, self.anchor))
            for name in self.times
        ]

    def target_rows(self) -> list[str]:
        """The per-call targets as rows of a targets table (none without timm); floor: the bare call."""
        rows = []
        for what, name, anchor, limit in PER_CALL_TARGETS:
            if anchor in self.times:
                value, floor = self.ratio(name, anchor), self.ratio(BARE_CALL, anchor)
                met = "yes" if value <= limit else "**no**"
                rows.append(f"| {what} | {value:.2f}× | {met} | {floor:.2f}× |")
        return rows


def per_call_section(per_call: PerCall) -> list[str]:
    """The page's "Per call" section: each call's ops and time, then the per-call targets."""
    timm_cut = TIMM_CUTMIX in per_call.times
    anchor = "timm's mixup" if per_call.anchor == TIMM_MIXUP else BARE_CALL
    head = f"| call | ATen ops (16×3×32²) | µs a call (8×3×8²) | × {anchor} |" + (
        " × timm's CutMix |" if timm_cut else ""
    )
    lines = [
        "## Per call",
        "",
        "What a call costs beyond its memory traffic: the ATen operations it dispatches on a",
        "16×3×32×32 float batch (each one a kernel launch on a GPU; a limit in brackets), and the time",
        "of a call on a tiny 8×3×8×8 batch on one thread, where almost all of it is Python and",
        "dispatch. A ratio is the median of per-round ratios to its column's anchor (timm's `Mixup`",
        "overwrites a copy of the batch here).",
        "",
        head,
        "| --- " * head.count(" |") + "|",
    ]
    for name, ops, us, ratio in per_call.rows():
        limit = f" (≤ {OPS_LIMITS[name]})" if name in OPS_LIMITS else ""
        cut = f" {per_call.ratio(name, TIMM_CUTMIX):.2f}× |" if timm_cut else ""
        lines.append(f"| {name} | {ops}{limit} | {us:.0f} | {ratio:.2f}× |{cut}")
    targets = per_call.target_rows()
    if targets:
        lines += [
            "",
            "Per-call targets: each method against its timm counterpart, a call at 8×3×8×8 on one",
            "thread; the floor is the bare lerp + one-hot over the same anchor.",
            "",
            *TARGETS_HEAD,
            *targets,
        ]
    return [*lines, ""]


def measure_per_call(quick: bool) -> PerCall:
    """Per call: top-level ATen ops at 16×3×32², and µs a call at 8×3×8×8 on one thread (overhead).

    Ours beside timm's ``Mixup`` (mixup and CutMix; it overwrites a copy) and a bare lerp + one-hot,
    alternating round by round in one process.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ops_x, ops_y = torch.rand(16, 3, 32, 32), torch.randint(0, 10, (16,))
        x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 10, (8,))
        calls: dict[str, Callable[[torch.Tensor, torch.Tensor], Any]] = {
            "MixUp": Z.MixUp(num_classes=10),
            "CutMix": Z.CutMix(num_classes=10),
            "ZetaMixup": Z.ZetaMixup(num_classes=10),
            "FMix": Z.FMix(num_classes=10),
            "ResizeMix": Z.ResizeMix(num_classes=10),
            BARE_CALL: lambda a, b: (
                torch.lerp(a.roll(1, 0), a, 0.3),
                torch.nn.functional.one_hot(b, 10).float(),
            ),
        }
        if timm is not None:
            mixup = Mixup(mixup_alpha=1.0, cutmix_alpha=0.0, label_smoothing=0.0, num_classes=10)
            cutmix = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0, num_classes=10)
            calls[TIMM_MIXUP] = lambda a, b: mixup(a.clone(), b)
            calls[TIMM_CUTMIX] = lambda a, b: cutmix(a.clone(), b)
        ops = {name: top_level_ops(lambda f=fn: f(ops_x, ops_y)) for name, fn in calls.items()}
        reps, rounds = (50, 3) if quick else (400, 15)
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, fn in calls.items():
                start = time.perf_counter()
                for _ in range(reps):
                    fn(x, y)
                times[name].append((time.perf_counter() - start) / reps * 1e6)
    finally:
        torch.set_num_threads(threads)
    return PerCall(ops, times)


# glibc's mallopt settings (malloc.h: M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3, M_MMAP_MAX -4)
MALLOC_MODES = {
    "held": ({-1: 1 << 30, -4: 0}, "freed memory kept for the next allocation"),
    "fresh": ({-3: 1 << 16}, "blocks of 64 KiB and more mapped anew on every allocation"),
}


def set_malloc(mode: str) -> str:
    """Make every allocation of a batch find memory in one state: kept (``held``) or new (``fresh``).

    With glibc's defaults (``mode="defaults"``), the top of the heap goes back to the OS once
    enough of it is free, and blocks above a threshold that moves as blocks are freed (at most
    32 MiB) are mapped anew on every allocation, unless the heap has that much free; memory the
    OS got back must have its pages faulted in again when next written (about 0.3–0.4 ms for a
    1.5 MiB batch and 9 ms for a 38.5 MiB one on an AMD EPYC, 2 threads). Which case pays that
    depends on the allocations and frees before it, so it changed from run to run: the same
    commit measured ``MixUp`` at 128×3×32² at 0.09 ms in one process and 0.41 ms in the next.

    ``held`` never gives memory back and never maps a block of its own: after the warm-up every
    allocation reuses faulted-in heap, so a time measures the code. ``fresh`` maps every block
    of 64 KiB or more anew, as a ``DataLoader`` worker's batch in new shared memory is: a time
    includes faulting in each new batch, so a case that allocates less gains.

    Args:
        mode: ``"held"``, ``"fresh"`` or ``"defaults"``.

    Returns:
        How ``malloc`` is set, for the page.
    """
    if platform.libc_ver()[0] != "glibc":
        return "the platform's malloc"
    if mode == "defaults":
        return "glibc malloc, defaults"
    settings, words = MALLOC_MODES[mode]
    libc = ctypes.CDLL(None)
    if not all(libc.mallopt(option, value) == 1 for option, value in settings.items()):
        raise RuntimeError(f"glibc's mallopt refused the settings of malloc mode {mode!r}")
    return f"glibc malloc, {mode}: {words}"


def target_rows(by_shape: dict[str, Measurement]) -> list[str]:
    """The targets table's rows for the measured shapes (a target of another shape is left out)."""
    rows = []
    for target in TARGETS:
        m = by_shape.get(target.shape)
        if m is not None and target.numerator in m.times and target.denominator in m.times:
            value = m.ratio(target.numerator, target.denominator)
            floor = "—"
            if target.floor and all(name in m.times for name in target.floor):
                floor = f"{m.ratio_of_sum(target.floor, target.denominator):.2f}×"
            met = "yes" if value <= target.limit else "**no**"
            rows.append(f"| {target.what} | {value:.2f}× | {met} | {floor} |")
    return rows


def held_target_rows(args: argparse.Namespace) -> list[str]:
    """The target rows of a second process that measures the batch shapes with ``--malloc held``."""
    with tempfile.TemporaryDirectory() as folder:
        rows = Path(folder) / "targets.json"
        command = [sys.executable, __file__, "--malloc", "held", "--threads", str(args.threads)]
        command += ["--targets-json", str(rows)] + (["--quick"] if args.quick else [])
        subprocess.run(command, check=True, timeout=1800)
        return json.loads(rows.read_text())


def machine(allocator: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    isa = [name for name in ("avx2", "avx512f", "avx512_bf16", "amx_tile", "asimd", "sve") if name in flags]
    capability = torch.backends.cpu.get_cpu_capability()
    cpu += f" ({', '.join(isa) or 'instruction sets unknown'}; torch CPU capability {capability})"
    on = [name for name, enabled in _backend.ROUTES.items() if enabled]
    cpu += f"; fast paths on: {', '.join(on)}"
    versions = f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    versions += f", timm {timm.__version__}" if timm is not None else ", timm not installed"
    threads = f"{torch.get_num_threads()} threads"
    return f"{cpu}; {threads}; {allocator}; Python {platform.python_version()}; {versions}"


def case_table(measurement: Measurement, dtype_tag: str) -> list[str]:
    copy = f"copy of the batch [{dtype_tag}]"
    lines = ["| case | kind | median ms | × copy of the batch |", "| --- | --- | --- | --- |"]
    for case in measurement.cases:
        if not case.name.endswith(f"[{dtype_tag}]"):
            continue
        note = f" ({case.note})" if case.note else ""
        label = case.name.removesuffix(f" [{dtype_tag}]") + note
        ratio = measurement.ratio(case.name, copy)
        lines.append(f"| {label} | {case.group} | {measurement.median_ms(case.name):.3f} | {ratio:.2f} |")
    return lines


def large_batch_table(measurement: Measurement) -> list[str]:
    exact = "ZetaMixup (exact)"
    lines = ["| case | median ms | × exact ZetaMixup |", "| --- | --- | --- |"]
    for case in measurement.cases:
        ratio = measurement.ratio(case.name, exact)
        lines.append(f"| {case.name} | {measurement.median_ms(case.name):.2f} | {ratio:.2f} |")
    return lines


def dropped_mass_table() -> list[str]:
    lines = ["| γ | k = 8 | k = 16 | k = 32 |", "| --- | --- | --- | --- |"]
    for gamma in (2.4, 2.8, 4.0):
        cells = [f"{F.zeta_dropped_mass(k, gamma):.2e}" for k in (8, 16, 32)]
        lines.append(f"| {gamma} | " + " | ".join(cells) + " |")
    return lines


def report(
    measurements: list[Measurement],
    large: Measurement,
    breaks: list[tuple[str, str]],
    fast_paths: list[tuple[str, str, float, float, float]],
    chart: Path,
    quick: bool,
    per_call: PerCall,
    allocator: str,
    held_targets: list[str] | None = None,
    commit: str | None = None,
) -> str:
    """The page's text.

    ``allocator`` says how malloc was set, ``held_targets`` are the target rows measured with freed
    memory held (if any), and ``commit`` names what was measured (default: the checkout, now).
    """
    main_shape = measurements[-1]
    today = datetime.date.today().isoformat()
    lines = [
        "# Benchmarks",
        "",
        f"Measured on {today} at commit {commit or _commit()}: {machine(allocator)}.",
        "Regenerate with `python benchmarks/bench_mixing.py` (needs the `bench` extra for timm).",
        "Every number of a batch shape comes from one process, each case once a round, in a new order",
        "each round (drawn from a fixed seed); a time is the median over rounds, a ratio the median of",
        "per-round ratios. Every transform and collate function (ours and the anchors) is built once and",
        "then called, as a training script does. With glibc, `malloc` maps every block of 64 KiB or more",
        "anew (`--malloc fresh`), so each new batch has its pages faulted in, as a `DataLoader` worker's",
        "batch in new shared memory does; with its defaults, which cases pay that changes from run to",
        "run. A second table gives the targets with freed memory kept for reuse (`--malloc held`).",
        "",
    ]
    if quick:
        lines += ["*Quick run: small batches and few rounds, to check the script, not to quote.*", ""]
    shape = "×".join(map(str, main_shape.shape))
    by_shape = {SMALL: measurements[0], LARGE: measurements[-1], BIG_BATCH: large}
    lines += [
        f"## Targets ({main_shape.device})",
        "",
        *TARGETS_HEAD,
    ]
    lines += target_rows(by_shape)
    lines += [
        "",
        "*Floor*: the same ratio for work the case cannot skip, summed round by round: a new batch",
        "(a copy) for the out-of-place transforms, the collation for the collate classes, and the",
        "N×N product for ζ-mixup (into a buffer for the collates, which mix in place). A limit",
        "near or below its floor cannot be met on this machine by any code.",
        "",
    ]
    if held_targets:
        lines += [
            "With freed memory held instead (`--malloc held`, measured in a second process): no case",
            "faults in new pages after the warm-up, so a time is the arithmetic and the passes over memory.",
            "",
            *TARGETS_HEAD,
            *held_targets,
            "",
        ]
    for m in measurements:
        for tag, name in (("f32", "float32"), ("u8", "uint8")):
            lines += [f"## {'×'.join(map(str, m.shape))}, {name}, {m.device}", "", *case_table(m, tag), ""]
    lines += [
        f"## Large batches: `max_terms` ({'×'.join(map(str, large.shape))}, float32)",
        "",
        "Exact ζ-mixup costs N²·D; `ZetaMixup(max_terms=k)` keeps each row's k largest weights,",
        "renormalized, for k·N·D.",
        "",
        *large_batch_table(large),
        "",
        "Each row's dropped weight is at most `zmix_transforms.functional.zeta_dropped_mass(k, γ)`,",
        "Σ_{r>k} r^-γ / ζ(γ), the limit for N → ∞ of Σ_{k<r≤N} r^-γ / Σ_{r≤N} r^-γ:",
        "",
        *dropped_mass_table(),
        "",
        "## Fast paths, each on and off",
        "",
        "Each fast path of `zmix_transforms._backend.ROUTES`, timed on and off side by side (off: the",
        "plain formula it replaces), where it runs. A path that is not at least 1.2× faster where its",
        "work dominates is narrowed or removed (the repository's dev/performance-log.md lists both,",
        "and the exceptions).",
        "`F.mix_pairs` rows call the functional API with λ = 0.3 (no multiple of 1/256: through float32).",
        "",
        "| route | case | on, ms | off, ms | speed-up |",
        "| --- | --- | --- | --- | --- |",
        *[
            f"| `{r}` | {case} | {on:.2f} | {off:.2f} | {gain:.2f}× |"
            for r, case, on, off, gain in fast_paths
        ],
        "",
        *per_call_section(per_call),
        "## Graph breaks under `torch.compile`",
        "",
        "Counted with `torch._dynamo.explain` (our functional API and transforms with `generator=None`;",
        "an explicit `torch.Generator` cannot be traced by torch 2.14 or 2.15 and breaks the graph).",
        "",
        "| function | graph breaks |",
        "| --- | --- |",
        *[f"| {name} | {count} |" for name, count in breaks],
        "",
        "## Notes",
        "",
        "- The transforms (ours and torchvision's) return new tensors and leave their input as it was;",
        "  timm's `Mixup` overwrites its input batch in place.",
        "- The collate classes own the batch they collate, so they mix it in place: no second",
        "  full-size batch (a test bounds their peak allocation).",
        "- torchvision's and timm's transforms do not take uint8 batches; timm's `FastCollateMixup`",
        "  is its uint8 collate path.",
        "- A float32 batch of 64×3×224×224 is 38.5 MB, above glibc's 32 MB mmap threshold: every fresh",
        "  batch-sized tensor then costs page faults, which is most of a copy's time here.",
        "- The `N×N matrix product` floor is torch's `@`, as a user would write it; ZetaMixup makes",
        "  the same product (through blocks for uint8, in place for the collates).",
        "- On a shared 2-core machine the ratios move by a few hundredths from run to run (more when",
        "  a neighbour is busy). The uint8 ζ-mixup collate is bound by its float32 matrix product",
        "  (uint8 shrinks the copies, not the arithmetic).",
        "",
        f"![Median times, {shape}]({chart.name})",
        "",
    ]
    return "\n".join(lines)


def plot(measurement: Measurement, path: Path) -> None:
    names = [case.name for case in measurement.cases]
    medians = [measurement.median_ms(name) for name in names]
    colours = {"ours": "#3b6fb6", "anchor": "#d08c2b", "floor": "#8a8a8a"}
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(names) + 1.2))
    ax.barh(names, medians, color=[colours[case.group] for case in measurement.cases])
    ax.invert_yaxis()
    ax.set_xlabel("median time (ms), lower is better")
    ax.set_title(
        f"{'×'.join(map(str, measurement.shape))}, {measurement.device}: ours (blue), anchors, floors"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batches, few rounds (for CI)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--malloc",
        choices=["held", "fresh", "defaults"],
        default="fresh",
        help="glibc's malloc: every block mapped anew, freed memory kept, or its defaults (see set_malloc)",
    )
    parser.add_argument("--targets-json", type=Path, help=argparse.SUPPRESS)  # held_target_rows' child
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs", help="folder for benchmarks.md and the chart"
    )
    args = parser.parse_args(argv)
    commit = _commit()  # the tree measured, before the chart and the page are written into it
    torch.set_num_threads(args.threads)
    allocator = set_malloc(args.malloc)
    shapes = [(16, 3, 16, 16), (8, 3, 32, 32)] if args.quick else [(128, 3, 32, 32), (64, 3, 224, 224)]
    rounds = {True: (3, 1), False: None}[args.quick]
    measurements = []
    for shape in shapes:
        cases = build_cases(shape, torch.float32, args.device) + build_cases(shape, torch.uint8, args.device)
        r, w = rounds or ((51, 5) if shape[-1] <= 32 else (15, 2))
        measurement = Measurement(shape, args.device, cases)
        measurement.times = measure(cases, r, w, args.device)
        measurements.append(measurement)
        print(f"measured {'×'.join(map(str, shape))}: {len(cases)} cases × {r} rounds", file=sys.stderr)
    if args.targets_json:
        rows = target_rows({SMALL: measurements[0], LARGE: measurements[-1]})
        args.targets_json.write_text(json.dumps(rows))
        return {"measurements": measurements}
    args.out.mkdir(parents=True, exist_ok=True)
    page = args.out / "benchmarks.md"
    previous = page.read_text() if page.exists() else ""
    if args.device != "cpu":  # the GPU's tables replace the CUDA section of the page
        section = cuda_section(measurements, torch.cuda.get_device_name(args.device), commit)
        text = merge_cuda_section(previous or "# Benchmarks\n", section)
        page.write_text(text)
        print(section)
        return {"measurements": measurements, "page": page}
    large_shape = (64, 3, 16, 16) if args.quick else (512, 3, 32, 32)
    large_cases = build_large_batch_cases(large_shape)
    large = Measurement(large_shape, args.device, large_cases)
    large.times = measure(large_cases, *(rounds or (11, 2)), args.device)
    breaks = graph_breaks()
    fast_paths = fast_path_rows(args.quick)
    per_call = measure_per_call(args.quick)
    held_targets = held_target_rows(args) if args.malloc == "fresh" else None
    chart = args.out / "assets" / "benchmarks.png"
    chart.parent.mkdir(parents=True, exist_ok=True)
    plot(measurements[-1], chart)
    text = report(
        measurements, large, breaks, fast_paths, chart, args.quick, per_call, allocator, held_targets, commit
    ).replace(f"]({chart.name})", f"](assets/{chart.name})")
    text = merge_cuda_section(text, existing_cuda_section(previous) or CUDA_PLACEHOLDER)
    page.write_text(text)
    print(text)
    return {
        "measurements": measurements,
        "large": large,
        "page": page,
        "chart": chart,
        "breaks": breaks,
        "fast_paths": fast_paths,
        "per_call": per_call.rows(),
        "per_call_targets": per_call.target_rows(),
    }


CUDA_START, CUDA_END = "<!-- cuda: written by --device cuda -->", "<!-- end of cuda -->"
CUDA_PLACEHOLDER = (
    "## CUDA\n\nNot measured on a GPU yet. On a machine with one,\n"
    "`python benchmarks/bench_mixing.py --device cuda` replaces this section (the CPU\n"
    "tables above stay).\n"
)


def _commit() -> str:
    """The checkout's commit (with ``+changes`` when the tree differs from it), or ``unknown``.

    ``ZMIX_BENCH_COMMIT``, when set, names it instead: for a copy of the tree without its git
    history, as ``dev/gpu_check.sh`` runs on a GPU machine.
    """
    if os.environ.get("ZMIX_BENCH_COMMIT"):
        return os.environ["ZMIX_BENCH_COMMIT"]

    def git(*args: str) -> str:
        root = Path(__file__).resolve().parent.parent
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=10
        )
        return done.stdout.strip()

    try:
        head, dirty = (
            git("rev-parse", "--short", "HEAD"),
            git("status", "--porcelain", "--untracked-files=no"),
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def cuda_section(measurements: list[Measurement], device_name: str, commit: str | None = None) -> str:
    """The CUDA tables: the transforms and anchors on the GPU, synchronized timing."""
    when = datetime.date.today().isoformat()
    lines = [f"## CUDA ({device_name}, measured {when} at commit {commit or _commit()})", ""]
    for m in measurements:
        for tag, name in (("f32", "float32"), ("u8", "uint8")):
            lines += [f"### {'×'.join(map(str, m.shape))}, {name}", "", *case_table(m, tag), ""]
    return "\n".join(lines)


def existing_cuda_section(text: str) -> str | None:
    """The measured CUDA section of a page, if it has one."""
    if CUDA_START not in text or CUDA_END not in text:
        return None
    section = text.split(CUDA_START, 1)[1].split(CUDA_END, 1)[0].strip("\n") + "\n"
    return None if section == CUDA_PLACEHOLDER else section


def merge_cuda_section(text: str, section: str) -> str:
    """``text`` with its CUDA section (between the markers) replaced by ``section``, or appended."""
    block = f"{CUDA_START}\n{section.rstrip()}\n{CUDA_END}\n"
    if CUDA_START in text and CUDA_END in text:
        head, rest = text.split(CUDA_START, 1)
        return head + block + rest.split(CUDA_END, 1)[1].lstrip("\n")
    return text.rstrip("\n") + "\n\n" + block


if __name__ == "__main__":
    main()
