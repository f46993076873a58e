"""Every code block of the migration page runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

PAGE = Path(__file__).resolve().parent.parent / "docs" / "migration.md"
BLOCKS = dict(re.findall(r"<!-- migration: (\w+) -->\n```python\n(.*?)```", PAGE.read_text(), re.DOTALL))


def test_the_page_has_its_blocks() -> None:
    assert set(BLOCKS) == {"torchvision", "timm", "timm_train", "monai", "zeta", "keras"}


@pytest.mark.parametrize("name", sorted(BLOCKS))
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras with torch
def test_block_runs_as_written(name: str) -> None:
    if name == "keras":  # the block picks the torch backend before Keras is imported: so here
        os.environ.setdefault("KERAS_BACKEND", "torch")  # (else the import looks for TensorFlow)
        pytest.importorskip("keras")
    namespace: dict[str, object] = {}
    exec(compile(BLOCKS[name], f"migration.md ({name})", "exec"), namespace)
    if name == "torchvision":
        images, labels = namespace["images"], namespace["labels"]
        before_images, before_labels = next(iter(namespace["before"]))  # torchvision's recipe ran too
        assert before_images.shape == images.shape and before_labels.shape == labels.shape
        assert images.dtype == torch.float32 and images.shape == (8, 3, 32, 32)
        zeta_images, _ = next(iter(namespace["zeta"]))
        assert zeta_images.dtype == torch.uint8
        torch.testing.assert_close(labels.sum(1), torch.ones(8))
    elif name == "timm":
        targets = namespace["targets"]
        assert targets.shape == (8, 1000)
        torch.testing.assert_close(targets.sum(1), torch.ones(8))
        assert float(targets.min()) >= 0.1 / 1000 - 1e-7  # label smoothing spreads 0.1 over the classes
        odd_targets = namespace["odd_targets"]
        assert odd_targets.shape == (7, 1000) and namespace["per_sample"].transforms[0].mode == "elem"
        torch.testing.assert_close(odd_targets.sum(1), torch.ones(7))
    elif name == "timm_train":  # the last epoch is off: targets one-hot and smoothed, as timm's
        assert namespace["mixup_fn"].mixup_enabled is False
        targets = namespace["targets"]
        assert sorted(set(targets.flatten().tolist())) == pytest.approx([0.01, 0.91])
    elif name == "keras":
        losses = namespace["history"].history["loss"]
        assert len(losses) == 3 and losses[-1] < losses[0]
    elif name == "monai":
        assert namespace["images"].shape == (4, 1, 16, 32, 32) and namespace["soft"].shape == (4, 2)
    else:
        weights = namespace["weights"]
        assert weights.shape == (16, 16) and torch.equal(weights.argmax(1), torch.arange(16))
        torch.testing.assert_close(namespace["y_mixed"].sum(1), torch.ones(16))
