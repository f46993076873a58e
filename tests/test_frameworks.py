"""Hugging Face ``Trainer`` and Lightning: mixed training batches, unmixed evaluation, the expected losses.

Each part skips cleanly without its package (the ``hf`` and ``lightning`` extras).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import default_collate

import zmix_transforms as Z

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(EXAMPLES))  # the examples import train_digits by name
    return importlib.import_module(name)


# -- Hugging Face ------------------------------------------------------------------------------------


def test_soft_target_loss_is_the_mean_cross_entropy_under_gradient_accumulation() -> None:
    pytest.importorskip("transformers")
    from zmix_transforms.huggingface import soft_target_loss

    logits, classes = torch.randn(6, 4), torch.tensor([0, 3, 1, 1, 2, 0])
    soft = torch.nn.functional.one_hot(classes, 4).float() * 0.7 + 0.3 / 4
    for labels in (classes, soft):
        expected = torch.nn.functional.cross_entropy(logits, labels)
        torch.testing.assert_close(soft_target_loss({"logits": logits}, labels), expected)
        # two accumulated batches of 6: the Trainer counts 12 label values (48 for soft labels)
        counted = 12 * (4 if labels.is_floating_point() else 1)
        half = soft_target_loss((logits,), labels, num_items_in_batch=torch.tensor(counted))
        torch.testing.assert_close(half, expected / 2)
    one = torch.tensor([-100, -100, 2, -100, -100, -100])  # one label counted: the mean is its loss
    torch.testing.assert_close(
        soft_target_loss({"logits": logits}, one), torch.nn.functional.cross_entropy(logits, one)
    )
    none = torch.full((6,), -100)  # none counted: 0, where torch's mean divides 0 by 0 (NaN)
    assert torch.nn.functional.cross_entropy(logits, none).isnan()
    assert soft_target_loss({"logits": logits}, none).item() == 0.0
    ignored = torch.tensor([0, -100, 1, 1, 2, 0])  # torch's ignore_index: not counted
    for dtype in (torch.int64, torch.int32, torch.int16):  # torch's cross_entropy takes int64 only
        torch.testing.assert_close(
            soft_target_loss({"logits": logits}, ignored.to(dtype)),
            torch.nn.functional.cross_entropy(logits, ignored),
        )


def test_mix_trainer_mixes_training_batches_only_and_keeps_single_label_loss(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    example = _example("hf_trainer_digits", monkeypatch)
    from transformers import Trainer, TrainingArguments

    from zmix_transforms.huggingface import MixTrainer

    seen: dict[str, list[torch.Tensor]] = {"train": [], "eval": []}

    def spy(name: str, collate: Any) -> Any:
        def collated(samples: list[Any]) -> Any:
            batch = collate(samples)
            seen[name].append(batch["labels"])
            return batch

        return collated

    train, test = (example.DictDigits(split) for split in example.load_split())
    torch.manual_seed(0)
    model = example.ViTForImageClassification(
        example.ViTConfig(
            image_size=8,
            patch_size=4,
            num_channels=1,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            num_labels=10,
        )
    )
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        dataloader_num_workers=0,
    )
    trainer = MixTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=test,
        data_collator=spy("eval", default_collate),
        train_collator=spy("train", Z.ZetaMixupCollate(num_classes=10)),
    )
    trainer.train()
    metrics = trainer.evaluate()
    assert seen["train"] and all(labels.shape == (16, 10) for labels in seen["train"])  # mixed, soft
    assert seen["eval"] and all(labels.dtype == torch.int64 and labels.ndim == 1 for labels in seen["eval"])
    assert model.config.problem_type != "multi_label_classification"
    # the evaluation loss is the plain cross-entropy of the unmixed test set
    model.eval()
    with torch.no_grad():
        batch = default_collate([test[i] for i in range(len(test))])
        expected = torch.nn.functional.cross_entropy(
            model(pixel_values=batch["pixel_values"]).logits, batch["labels"]
        )
    assert metrics["eval_loss"] == pytest.approx(float(expected), rel=1e-4)
    # what MixTrainer avoids: a mixing collate passed to the plain Trainer mixes the evaluation
    # batches too, and the model switches to multi-label (BCE) on the float labels
    plain_model = example.ViTForImageClassification(
        model.config.__class__(**{**model.config.to_dict(), "problem_type": None})
    )
    plain = Trainer(
        model=plain_model,
        args=args,
        train_dataset=train,
        eval_dataset=test,
        data_collator=Z.ZetaMixupCollate(num_classes=10),
    )
    plain.train()
    assert plain_model.config.problem_type == "multi_label_classification"


def test_hf_trainer_example_quick_run(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    result = _example("hf_trainer_digits", monkeypatch).main(["--quick"])
    assert result["accuracy"] > 0.3 and result["problem_type"] != "multi_label_classification"


def test_mix_trainer_needs_a_train_collator() -> None:
    pytest.importorskip("transformers")
    from zmix_transforms.huggingface import MixTrainer

    with pytest.raises(TypeError, match=r"^train_collator must be a callable collate function, got int"):
        MixTrainer(train_collator=3)


# -- Lightning ----------------------------------------------------------------------------------------


def test_lightning_recipes_mix_training_batches_only(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("lightning")
    results = _example("lightning_digits", monkeypatch).main(["--quick"])
    for recipe, result in results.items():
        assert result["seen"] == {"train": {"soft"}, "val": {"classes"}}, recipe
        assert result["accuracy"] > 0.5, recipe
