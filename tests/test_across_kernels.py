"""What the README promises between CPU kernels: copies and integer arithmetic exact, blends bounded.

The same calls run in a second process on ATen's portable kernels (``ATEN_CPU_CAPABILITY=default``:
no SIMD, so no fused multiply-add) and are compared with this process's (the CPU's own vector
kernels, unless this process runs on the portable ones too). Pixels that are copied (CutMix, FMix,
ResizeMix), MixUp's int16 route for uint8 batches (the transform's λ is in steps of 1/256), and
the integer draws (pairings, ζ-mixup's
rankings) must be equal bit for bit; float blends (one ``lerp`` a value) agree within
``6·u·max(|x|, |x[π]|)``, and the float draws (λ, the p-series) within a few units in the last place.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.methods import PRODUCT_CLASSES, TRANSFORM_CLASSES
from zmix_transforms import functional as F

ROOT = Path(__file__).resolve().parent.parent
#: The methods that copy pixels or blend pairs (every one but ζ-mixup's products): exact on uint8.
ELEMENTWISE_CLASSES = [cls for cls in TRANSFORM_CLASSES if cls not in PRODUCT_CLASSES]


def compute(path: str) -> None:
    """The calls compared, saved to ``path`` (run in both processes)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 20, 24, generator=g) * 4 - 2
    u8 = torch.randint(0, 256, (16, 3, 20, 24), generator=g, dtype=torch.uint8)
    partners = F.cycle_partners(16, generator=torch.Generator().manual_seed(1))
    lams = F.sample_lambdas(0.7, 16, generator=torch.Generator().manual_seed(2))
    results = {
        "partners": partners,
        "rankings": F.zeta_weights(12, generator=torch.Generator().manual_seed(3)).argsort(1),
        "lams": lams,
        "series": torch.cat(
            [F.zeta_series(n, gamma, dtype=torch.float64) for n in (8, 100) for gamma in (1.1, 2.8)]
        ),
        "lerp f32": torch.stack([F.mix_pairs(x, lam, partners) for lam in (0.3, 0.77, 0.123456789)]),
        "lerp f64": F.mix_pairs(x.double(), lams, partners),
        "uint8 in steps": F.mix_pairs(u8, 77 / 256, partners),
    }
    for cls in ELEMENTWISE_CLASSES:
        torch.manual_seed(4)  # smoothed labels: blended values, not only 0 and 1
        results[cls.__name__], results[f"{cls.__name__} labels"] = cls(num_classes=5, label_smoothing=0.1)(
            u8, torch.arange(16) % 5
        )
    results["x"], results["partner of x"] = x, x[partners]
    torch.save(results, path)


def test_copies_and_integers_are_exact_and_blends_bounded_between_kernels(tmp_path: Path) -> None:
    here, portable = tmp_path / "here.pt", tmp_path / "portable.pt"
    compute(str(here))
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    code = f"from tests.test_across_kernels import compute; compute({str(portable)!r})"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=300)
    a, b = torch.load(here), torch.load(portable)
    for name in ("partners", "rankings", "uint8 in steps", *(cls.__name__ for cls in ELEMENTWISE_CLASSES)):
        assert torch.equal(a[name], b[name]), name
    scale = torch.maximum(a["x"].abs(), a["partner of x"].abs())
    for name in ("lerp f32", "lerp f64"):
        u = torch.finfo(a[name].dtype).eps / 2
        assert ((a[name] - b[name]).abs() <= 6 * u * scale.to(a[name].dtype)).all(), name
    for name in ("lams", "series"):
        u = torch.finfo(a[name].dtype).eps / 2
        assert ((a[name] - b[name]).abs() <= 8 * u * a[name].abs()).all(), name
    for name in (f"{cls.__name__} labels" for cls in ELEMENTWISE_CLASSES):  # in [0, 1]
        assert ((a[name] - b[name]).abs() <= 6 * torch.finfo(a[name].dtype).eps / 2).all(), name
