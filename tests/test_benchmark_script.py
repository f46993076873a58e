"""The benchmark script runs end to end (quick mode) and writes its page; no timing is asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_its_page(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_mixing", ROOT / "benchmarks" / "bench_mixing.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    result = module.main(["--quick", "--out", str(tmp_path)])
    page = (tmp_path / "benchmarks.md").read_text()
    for heading in ("## Targets", "## Large batches", "## Graph breaks", "float32", "uint8"):
        assert heading in page
    for measurement in result["measurements"]:
        for case in measurement.cases:
            times = measurement.times[case.name]
            assert len(times) == 3 and all(t > 0 for t in times)
    assert dict(result["breaks"])["zmix_transforms F.cutmix"] == "0"
    assert (tmp_path / "assets" / "benchmarks.png").stat().st_size > 10_000
