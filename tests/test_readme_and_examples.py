"""The README's usage example runs as written, and the examples' quick runs return sane numbers."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import torch

ROOT = Path(__file__).resolve().parent.parent


def _load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_readme_usage_block_runs_as_written() -> None:
    text = (ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- usage: a test runs this block as written -->\n```python\n(.*?)```", text, re.DOTALL
    )
    assert match is not None, "the README lost its usage block"
    code = match.group(1)
    assert len(code.strip().splitlines()) <= 11
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    images, labels, loss = namespace["images"], namespace["labels"], namespace["loss"]
    assert images.dtype == torch.uint8 and images.shape == (16, 3, 32, 32)
    assert labels.shape == (16, 10)
    torch.testing.assert_close(labels.sum(1), torch.ones(16))
    assert torch.isfinite(loss) and loss.ndim == 0


def test_train_digits_quick_run(tmp_path: Path) -> None:
    module = _load_example("train_digits")
    result = module.main(["--quick", "--out", str(tmp_path), "--no-progress"])
    table = result["table"]
    assert set(table) == set(module.make_collates())
    for metrics in table.values():
        accuracy, nll, ece = (metrics[m][0] for m in ("accuracy", "nll", "ece"))
        assert 0.5 < accuracy <= 1.0  # 3 epochs on digits: far above the 0.1 of guessing
        assert 0.0 < nll < 2.3  # below the NLL of a uniform prediction, log(10)
        assert 0.0 <= ece <= 1.0
    for run in result["runs"]:
        assert len(run.history) == 3
    rows = [line for line in (tmp_path / "results.md").read_text().splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0][2:] for row in rows[2:]] == list(table)  # header, rule, one row a method
    assert (tmp_path / "curves.png").stat().st_size > 10_000
