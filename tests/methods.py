"""Every mixing method behind one calling convention, so that one set of property tests covers all.

A method is run as ``run(images, labels, num_classes, param, seed)``. Its draws depend on the shapes
only, never on the values, so running it again with the same seed on identity labels (``eye(N)``,
``num_classes=N``) returns, as labels, the exact weight matrix W it used: ``reveal_weights``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from hypothesis import strategies as st

import zmix_transforms as Z
from tests.strategies import alphas, gammas, lams
from zmix_transforms import functional as F

Run = Callable[[torch.Tensor, torch.Tensor, int, float, int], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Method:
    name: str
    family: str  # "zeta" (dense W), "pair" (mixup) or "cut" (CutMix)
    params: st.SearchStrategy[float]
    run: Run
    functional: bool  # functional methods take any (N, ...) batch (CutMix: (N, ..., H, W))


def _soft(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return labels if labels.is_floating_point() else F.one_hot(labels.long(), num_classes)


def _functional(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> Run:
    def run(images: torch.Tensor, labels: torch.Tensor, k: int, param: float, seed: int):
        return fn(images, _soft(labels, k), param, generator=torch.Generator().manual_seed(seed))

    return run


def _transform(cls: type) -> Run:
    def run(images: torch.Tensor, labels: torch.Tensor, k: int, param: float, seed: int):
        torch.manual_seed(seed)
        return cls(param, num_classes=k)(images, labels)

    return run


def _collate(cls: type) -> Run:
    def run(images: torch.Tensor, labels: torch.Tensor, k: int, param: float, seed: int):
        torch.manual_seed(seed)
        samples = list(zip(images.unbind(0), labels.unbind(0), strict=True))
        return tuple(cls(param, num_classes=k)(samples))

    return run


METHODS = [
    Method("F.zeta_mixup", "zeta", gammas(), _functional(F.zeta_mixup), True),
    Method("F.mixup", "pair", lams(), _functional(F.mixup), True),
    Method("F.cutmix", "cut", lams(), _functional(F.cutmix), True),
    Method("ZetaMixup", "zeta", gammas(), _transform(Z.ZetaMixup), False),
    Method("MixUp", "pair", alphas(), _transform(Z.MixUp), False),
    Method("CutMix", "cut", alphas(), _transform(Z.CutMix), False),
    Method("ZetaMixupCollate", "zeta", gammas(), _collate(Z.ZetaMixupCollate), False),
    Method("MixUpCollate", "pair", alphas(), _collate(Z.MixUpCollate), False),
    Method("CutMixCollate", "cut", alphas(), _collate(Z.CutMixCollate), False),
]
METHOD_IDS = [m.name for m in METHODS]


def reveal_weights(method: Method, images: torch.Tensor, param: float, seed: int) -> torch.Tensor:
    """The (N, N) label weights ``method`` uses on ``images`` with ``seed``, in float64."""
    n = images.shape[0]
    _, weights = method.run(images, torch.eye(n, dtype=torch.float64), n, param, seed)
    return weights


def reveal_sources(method: Method, images: torch.Tensor, param: float, seed: int) -> torch.Tensor:
    """For a copying method (CutMix): the index of the sample each output value was taken from."""
    n = images.shape[0]
    coded = torch.arange(n, dtype=torch.float64).reshape(n, *([1] * (images.ndim - 1))).expand(images.shape)
    mixed, _ = method.run(coded.contiguous(), torch.eye(n, dtype=torch.float64), n, param, seed)
    return mixed.round().long()
