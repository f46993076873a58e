"""Keras 3 with the torch backend trains on a mixing DataLoader (skipped without the keras extra)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import zmix_transforms as Z

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras' own
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # Keras was imported with another backend before this module
    pytest.skip(f"needs Keras' torch backend, got {keras.backend.backend()}", allow_module_level=True)


def _data(n: int = 96, k: int = 4) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % k
    images = torch.rand(n, 1, 6, 6, generator=g) * 0.3 + labels.reshape(n, 1, 1, 1) / k  # learnable
    return TensorDataset(images, labels)


def _model(k: int = 4) -> keras.Model:
    model = keras.Sequential(
        [keras.Input((1, 6, 6)), keras.layers.Flatten(), keras.layers.Dense(k, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy")
    return model


@pytest.mark.parametrize(
    "collate",
    [
        Z.MixUpCollate(0.2, mode="elem", num_classes=4),  # the MixupGenerator's mixing
        Z.ZetaMixupCollate(num_classes=4),
        Z.CutMixCollate(num_classes=4),
    ],
    ids=["MixUpCollate(elem)", "ZetaMixupCollate", "CutMixCollate"],
)
def test_model_fit_takes_a_mixing_dataloader(collate: Z.MixCollate) -> None:
    keras.utils.set_random_seed(0)
    loader = DataLoader(_data(), batch_size=16, shuffle=True, collate_fn=collate)
    model = _model()
    history = model.fit(loader, epochs=8, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert len(losses) == 8 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0], "Keras learns from the mixed batches"


def test_keras_loss_on_a_mixed_batch_is_the_soft_target_cross_entropy() -> None:
    """The soft labels reach Keras as they are: its loss is ours on its own predictions."""
    keras.utils.set_random_seed(1)
    images, labels = Z.ZetaMixupCollate(num_classes=4)(list(_data(16)))
    assert labels.shape == (16, 4) and not torch.equal(labels, labels.round())  # soft, not one-hot
    model = _model()
    keras_loss = model.evaluate(images, labels, batch_size=16, verbose=0)
    probabilities = torch.as_tensor(model.predict(images, verbose=0))
    ours = Z.SoftTargetCrossEntropy()(probabilities.log(), labels)
    assert keras_loss == pytest.approx(float(ours), rel=1e-5)
