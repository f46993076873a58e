"""Numbers quoted in the docs match the code that defines them."""

from __future__ import annotations

from pathlib import Path

from zmix_transforms import functional as F

ROOT = Path(__file__).resolve().parent.parent


def test_dropped_mass_table_in_the_performance_log() -> None:
    text = (ROOT / "dev" / "performance-log.md").read_text()
    for gamma in (2.4, 2.8, 4.0):
        cells = " | ".join(f"{F.zeta_dropped_mass(k, gamma):.2e}" for k in (8, 16, 32))
        assert f"| {gamma} | {cells} |" in text
