"""The README's usage example runs as written, and the examples' quick runs return sane numbers."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import torch

from tests.figures import assert_drawn

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
    transforms = re.search(
        r"<!-- transforms: a test runs this block after the one above -->\n```python\n(.*?)```",
        text,
        re.DOTALL,
    )
    assert transforms is not None, "the README lost its transforms block"
    exec(compile(transforms.group(1), "README.md", "exec"), namespace)  # in the same session
    images, labels = namespace["images"], namespace["labels"]
    assert images.dtype == torch.uint8 and labels.shape == (16, 10)
    torch.testing.assert_close(labels.sum(1), torch.ones(16))


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
    assert_drawn(tmp_path / "curves.png")


def test_moons_quick_run(tmp_path: Path) -> None:
    result = _load_example("moons_2d").main(["--quick", "--out", str(tmp_path)])
    results = result["results"]
    assert list(results) == ["original", "mixup (α=1)"] + [f"ζ-mixup (γ={g:g})" for g in (2.0, 2.4, 2.8, 4.0)]
    assert results["original"]["nn_distance"] < 1e-4 and results["original"]["wrongly_labelled"] == 0.0
    for numbers in list(results.values())[1:]:
        assert 0.0 < numbers["nn_distance"] < 0.5  # the crescents span about 3 units
        assert 0.0 <= numbers["wrongly_labelled"] <= 1.0
    # the figure's point: with γ = 2.8 far fewer outputs are labelled against where they lie
    assert results["ζ-mixup (γ=2.8)"]["wrongly_labelled"] < results["mixup (α=1)"]["wrongly_labelled"]
    assert_drawn(result["figure"])


def test_helix_quick_run(tmp_path: Path) -> None:
    result = _load_example("helix_3d").main(["--quick", "--out", str(tmp_path)])
    table, k = result["table"], result["ks"][-1]
    assert set(table) == {"original", "mixup α=1", "ζ-mixup γ=2.8"}
    assert 0.7 <= table["original"][f"id_k{k}"] <= 1.5  # a curve is 1-dimensional
    assert table["original"]["distance"] < 1e-3
    for name in ("mixup α=1", "ζ-mixup γ=2.8"):
        estimate = table[name][f"id_k{k}"]
        assert estimate > 1.0 and estimate < 3.5  # mixed points spread into the 3-D space around it
        assert 0.0 < table[name]["distance"] < 1.0  # inside the unit-radius cylinder around the axis
    assert len(result["by_batch"]) == 2
    assert_drawn(result["figure"])


def test_gallery_quick_run(tmp_path: Path) -> None:
    outputs = _load_example("gallery").main(["--quick", "--out", str(tmp_path)])["outputs"]
    originals, _ = outputs["original"]
    assert originals.dtype == torch.uint8 and originals.shape == (8, 3, 112, 112)
    for images, soft in outputs.values():
        assert images.dtype == torch.uint8 and images.shape == originals.shape
        assert soft.shape == (8, 8)
        torch.testing.assert_close(soft.sum(1), torch.ones(8))
    assert_drawn(tmp_path / "gallery.png")


def test_method_figures_quick_run(tmp_path: Path) -> None:
    result = _load_example("method_figures").main(["--quick", "--out", str(tmp_path)])
    own = result["zeta"]["own_weight"]
    assert own[2.8][-1] > 0.5 and own[1.73][-1] > 0.5 and own[1.0][-1] < 0.5
    for lams in result["mixup"]["lambdas"].values():
        assert ((lams >= 0) & (lams <= 1)).all()
    for kept in result["cutmix"]["kept"].values():
        assert ((kept >= 0) & (kept <= 1)).all()
    modes = result["modes"]["weights"]
    assert modes["batch"].diagonal().unique().numel() == 1  # one λ
    assert modes["elem"].diagonal().unique().numel() == 8  # one λ per sample
    assert torch.equal(modes["pair"], modes["pair"].T)  # each pair mixes both ways alike
    for kept in result["fmix"]["kept"].values():  # a mask keeps λ of the pixels, to half a pixel
        assert ((kept >= 0) & (kept <= 1)).all()
    pasted = result["resizemix"]["pasted"]  # τ ~ U(0.1, 0.8): a patch of τ² of the image
    assert pasted.min() >= 0.1**2 * 0.9 and pasted.max() <= 0.8**2 * 1.02
    for path in result["figures"]:
        assert_drawn(path)


def test_ddp_digits_quick_run(tmp_path: Path, monkeypatch) -> None:
    """Two spawned gloo ranks train with per-rank and across-rank mixing; the picture is a global W."""
    monkeypatch.syspath_prepend(str(ROOT / "examples"))  # spawned ranks import the example by name
    monkeypatch.delenv("RANK", raising=False)
    module = importlib.import_module("ddp_digits")
    result = module.main(["--quick", "--out", str(tmp_path)])
    for mode in module.MODES:
        assert result["results"][mode]["accuracy"] > 0.5, mode
    weights = result["weights"]
    assert weights.shape == (16, 16)
    torch.testing.assert_close(weights.sum(1), torch.ones(16, dtype=weights.dtype))
    assert torch.equal(weights.argmax(1), torch.arange(16))  # ζ-mixup: each sample ranks first in its row
    assert (weights[:8, 8:] > 0).all()  # rank 0's outputs take from rank 1's inputs
    assert_drawn(tmp_path / "global_weights.png")
    assert "across ranks" in (tmp_path / "ddp_digits.md").read_text()


def test_volumes_3d_quick_run(tmp_path: Path) -> None:
    result = _load_example("volumes_3d").main(["--quick", "--out", str(tmp_path)])
    for metrics in result["results"].values():
        assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["dice"] <= 1
    ours = result["comparison"]["ours"]
    assert ours and all(pasted == weight for pasted, weight in ours)  # labels: the exact voxel fraction
    if "MONAI" in result["comparison"]:  # the optional extra: its label weights miss the pasted voxels
        gaps = [abs(p - w) for p, w in result["comparison"]["MONAI"]]
        assert sum(gaps) / len(gaps) > 0.05
    for path in result["figures"]:
        assert_drawn(path)
