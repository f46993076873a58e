"""Every mixing method behind one calling convention, so that one set of property tests covers all.

A method is run as ``run(images, labels, num_classes, param, seed)``. Its draws depend on the shapes
only, never on the values, so running it again with the same seed on identity labels (``eye(N)``,
``num_classes=N``) and no label smoothing returns, as labels, the exact weight matrix W it used:
``reveal_weights``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from hypothesis import strategies as st
from torchvision import tv_tensors

import zmix_transforms as Z
from tests.strategies import alphas, gammas, lams, scales
from zmix_transforms import functional as F

Run = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Method:
    name: str
    # "zeta" (dense W), "pair" (mixup), "cut" (CutMix, FMix: each pixel copied from the same place of
    # one sample), "resize" (ResizeMix: copied from another place, the partner shrunk), "zetacut"
    family: str
    params: st.SearchStrategy[float]
    run: Run  # run(images, labels, num_classes, param, seed, *, smoothing=True)
    functional: bool  # functional methods take any (N, ...) batch (CutMix: (N, ..., H, W))
    label_smoothing: float = 0.0
    volumes: bool = False  # takes volume batches (N, C, D, H, W) (spatial_dims=3)
    # pair and cut methods: "batch" (one λ, a single cycle), "elem" (a λ or box per sample, a single
    # cycle) or "pair" (a λ or box per pair of a random pairing)
    mode: str = "batch"
    typical: object = None  # a parameter value to use where a test needs one (default: 1.0)

    @property
    def through_product(self) -> bool:
        """Whether the mix is a matrix product (ζ-mixup): summed in an order a BLAS chooses."""
        return self.family in ("zeta", "zetacut")


def _soft(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return labels if labels.is_floating_point() else F.one_hot(labels.long(), num_classes)


def _functional(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> Run:
    def run(
        images: torch.Tensor, labels: torch.Tensor, k: int, param: float, seed: int, *, smoothing: bool = True
    ):
        return fn(images, _soft(labels, k), param, generator=torch.Generator().manual_seed(seed))

    return run


def _options(options: dict[str, object], smoothing: bool) -> dict[str, object]:
    return options if smoothing else {key: v for key, v in options.items() if key != "label_smoothing"}


def _transform(make: Callable[..., object], **options: object) -> Run:
    def run(
        images: torch.Tensor, labels: torch.Tensor, k: int, param: float, seed: int, *, smoothing: bool = True
    ):
        torch.manual_seed(seed)
        return make(param, num_classes=k, **_options(options, smoothing))(images, labels)

    return run


def _collate(make: Callable[..., object], **options: object) -> Run:
    def run(
        images: torch.Tensor, labels: torch.Tensor, k: int, param: float, seed: int, *, smoothing: bool = True
    ):
        torch.manual_seed(seed)
        items = images.unbind(0)
        if isinstance(images, tv_tensors.TVTensor):  # samples of a Video dataset are Videos
            items = tuple(tv_tensors.wrap(item, like=images) for item in items)
        samples = list(zip(items, labels.unbind(0), strict=True))
        return tuple(make(param, num_classes=k, **_options(options, smoothing))(samples))

    return run


def _zeta_terms(images: torch.Tensor, labels: torch.Tensor, gamma: float, *, generator: torch.Generator):
    """ζ-mixup with 5 terms a row, through the functional kernels."""
    indices, values = F.zeta_terms(
        images.shape[0], gamma, max_terms=5, generator=generator, dtype=torch.float64, device=images.device
    )
    return F.apply_terms(images, indices, values), F.apply_terms(labels, indices, values)


def _zeta_cutmix(gamma: float, **options: object) -> Z.ZetaCutMix:
    return Z.ZetaCutMix(gamma, 1.0, **options)


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
    Method("MixUp(elem)", "pair", alphas(), _transform(Z.MixUp, mode="elem"), False, mode="elem"),
    Method("MixUpCollate(elem)", "pair", alphas(), _collate(Z.MixUpCollate, mode="elem"), False, mode="elem"),
    Method("MixUp(pair)", "pair", alphas(), _transform(Z.MixUp, mode="pair"), False, mode="pair"),
    Method("CutMix(elem)", "cut", alphas(), _transform(Z.CutMix, mode="elem"), False, mode="elem"),
    Method(
        "CutMixCollate(pair)", "cut", alphas(), _collate(Z.CutMixCollate, mode="pair"), False, mode="pair"
    ),
    Method(
        "CutMix(pair, minmax, p=0.5)",
        "cut",
        alphas(),
        _transform(Z.CutMix, mode="pair", minmax=(0.2, 0.7), p=0.5),
        False,
        mode="pair",
    ),
    Method("ZetaCutMix", "zetacut", gammas(), _transform(_zeta_cutmix), False),
    Method("FMix", "cut", alphas(), _transform(Z.FMix), False),
    Method("FMixCollate(elem)", "cut", alphas(), _collate(Z.FMixCollate, mode="elem"), False, mode="elem"),
    Method(
        "FMix(pair, decay=1.5)",
        "cut",
        alphas(),
        _transform(Z.FMix, decay=1.5, mode="pair"),
        False,
        mode="pair",
    ),
    Method("ResizeMix", "resize", scales(), _transform(Z.ResizeMix), False, typical=(0.1, 0.8)),
    Method(
        "ResizeMixCollate(elem)",
        "resize",
        scales(),
        _collate(Z.ResizeMixCollate, mode="elem"),
        False,
        mode="elem",
        typical=(0.1, 0.8),
    ),
    Method(
        "ResizeMix(pair, p=0.5)",
        "resize",
        scales(),
        _transform(Z.ResizeMix, mode="pair", p=0.5),
        False,
        mode="pair",
        typical=(0.1, 0.8),
    ),
    Method("ZetaCutMixCollate", "zetacut", gammas(), _collate(Z.ZetaCutMixCollate), False),
    Method("F.apply_terms(zeta_terms, k=5)", "zeta", gammas(), _functional(_zeta_terms), True),
    Method("ZetaMixup(max_terms=4)", "zeta", gammas(), _transform(Z.ZetaMixup, max_terms=4), False),
    Method(
        "ZetaMixupCollate(max_terms=3)", "zeta", gammas(), _collate(Z.ZetaMixupCollate, max_terms=3), False
    ),
    Method(
        "ZetaMixup(label_smoothing)",
        "zeta",
        gammas(),
        _transform(Z.ZetaMixup, label_smoothing=0.1),
        False,
        0.1,
    ),
    Method("MixUp(label_smoothing)", "pair", alphas(), _transform(Z.MixUp, label_smoothing=0.3), False, 0.3),
    Method(
        "CutMixCollate(label_smoothing)",
        "cut",
        alphas(),
        _collate(Z.CutMixCollate, label_smoothing=0.2),
        False,
        0.2,
    ),
]
VOLUME_METHODS = [
    Method("ZetaMixup(3-D)", "zeta", gammas(), _transform(Z.ZetaMixup, spatial_dims=3), False, volumes=True),
    Method("MixUp(3-D)", "pair", alphas(), _transform(Z.MixUp, spatial_dims=3), False, volumes=True),
    Method("CutMix(3-D)", "cut", alphas(), _transform(Z.CutMix, spatial_dims=3), False, volumes=True),
    Method(
        "ZetaCutMix(3-D)", "zetacut", gammas(), _transform(_zeta_cutmix, spatial_dims=3), False, volumes=True
    ),
    Method(
        "CutMixCollate(3-D)", "cut", alphas(), _collate(Z.CutMixCollate, spatial_dims=3), False, volumes=True
    ),
    Method(
        "ZetaMixupCollate(3-D, max_terms=3)",
        "zeta",
        gammas(),
        _collate(Z.ZetaMixupCollate, spatial_dims=3, max_terms=3),
        False,
        volumes=True,
    ),
    Method(
        "F.cutmix(3-D)", "cut", lams(), _functional(partial(F.cutmix, spatial_dims=3)), False, volumes=True
    ),
    Method("FMix(3-D)", "cut", alphas(), _transform(Z.FMix, spatial_dims=3), False, volumes=True),
    Method(
        "ResizeMix(3-D, elem)",
        "resize",
        scales(),
        _transform(Z.ResizeMix, spatial_dims=3, mode="elem"),
        False,
        volumes=True,
        mode="elem",
        typical=(0.1, 0.8),
    ),
    Method(
        "CutMix(3-D, elem)",
        "cut",
        alphas(),
        _transform(Z.CutMix, spatial_dims=3, mode="elem"),
        False,
        volumes=True,
        mode="elem",
    ),
]
METHODS += VOLUME_METHODS
METHOD_IDS = [m.name for m in METHODS]


def reveal_weights(method: Method, images: torch.Tensor, param: float, seed: int) -> torch.Tensor:
    """The (N, N) label weights ``method`` uses on ``images`` with ``seed``, in float64."""
    n = images.shape[0]
    _, weights = method.run(images, torch.eye(n, dtype=torch.float64), n, param, seed, smoothing=False)
    return weights


def reveal_sources(method: Method, images: torch.Tensor, param: float, seed: int) -> torch.Tensor:
    """For a copying method (CutMix): the index of the sample each output value was taken from."""
    return reveal_origins(method, images, param, seed) // images[0].numel()


def reveal_origins(method: Method, images: torch.Tensor, param: float, seed: int) -> torch.Tensor:
    """For a copying method (CutMix, ResizeMix): where each output value was taken from.

    Every input value is coded by its flat index in the batch (exact in float64), so the mix of the
    coded batch, with the same draws, reads as the index each value was copied from.
    """
    coded = torch.arange(images.numel(), dtype=torch.float64).reshape(images.shape)
    if isinstance(images, tv_tensors.TVTensor):  # a Video batch stays one
        coded = tv_tensors.wrap(coded, like=images)
    n = images.shape[0]
    mixed, _ = method.run(coded, torch.eye(n, dtype=torch.float64), n, param, seed, smoothing=False)
    return mixed.round().long()


# -- the classes: every method's transform and collate, for the tests of options, errors and inputs


@dataclass(frozen=True)
class Variant:
    """A method's transform class with its own parameters or options: what a test builds and runs."""

    cls: type
    options: dict[str, object]
    family: str  # as ``Method.family``

    @property
    def id(self) -> str:
        return self.cls.__name__ + "".join(f"-{key}={value}" for key, value in self.options.items())

    @property
    def mode(self) -> str:
        return str(self.options.get("mode", "batch"))

    @property
    def plain(self) -> bool:
        """Whether ``p`` and label smoothing are at their defaults: the draws and labels are the method's alone."""
        return not {"p", "label_smoothing"} & self.options.keys()

    def make(self, **options: object) -> object:
        return self.cls(**self.options, **options)


#: Every method's transform in its modes and with the options that change its draws or its path: the
#: list the tests of other entry points (compiled graphs, across ranks, CUDA) take their cases from.
VARIANTS = [
    Variant(Z.ZetaMixup, {}, "zeta"),
    Variant(Z.ZetaMixup, {"max_terms": 3}, "zeta"),
    Variant(Z.ZetaMixup, {"p": 0.5}, "zeta"),
    Variant(Z.MixUp, {}, "pair"),
    Variant(Z.MixUp, {"mode": "elem"}, "pair"),
    Variant(Z.MixUp, {"mode": "pair"}, "pair"),
    Variant(Z.MixUp, {"p": 0.5, "label_smoothing": 0.1}, "pair"),
    Variant(Z.CutMix, {}, "cut"),
    Variant(Z.CutMix, {"mode": "elem"}, "cut"),
    Variant(Z.CutMix, {"mode": "pair"}, "cut"),
    Variant(Z.CutMix, {"p": 0.5}, "cut"),
    Variant(Z.CutMix, {"mode": "pair", "p": 0.5}, "cut"),
    Variant(Z.CutMix, {"minmax": (0.2, 0.7)}, "cut"),
    Variant(Z.ZetaCutMix, {}, "zetacut"),
    Variant(Z.FMix, {}, "cut"),
    Variant(Z.FMix, {"mode": "elem"}, "cut"),
    Variant(Z.ResizeMix, {}, "resize"),
    Variant(Z.ResizeMix, {"mode": "pair"}, "resize"),
]
TRANSFORM_CLASSES = list(dict.fromkeys(variant.cls for variant in VARIANTS))
COLLATE_CLASSES = [
    Z.ZetaMixupCollate,
    Z.MixUpCollate,
    Z.CutMixCollate,
    Z.ZetaCutMixCollate,
    Z.FMixCollate,
    Z.ResizeMixCollate,
]


#: The eager transforms that read nothing back from the batch's device (on a GPU: no sync); on a
#: GPU tests/test_cuda.py checks it, on the meta device (any read raises) tests/test_api.py.
NO_SYNC = [
    Z.ZetaMixup,
    Z.MixUp,
    Z.CutMix,
    Z.ZetaCutMix,
    Z.FMix,
    Z.ResizeMix,
    partial(Z.MixUp, mode="elem"),
    partial(Z.MixUp, mode="pair"),
    *(partial(cls, mode=mode) for cls in (Z.CutMix, Z.FMix, Z.ResizeMix) for mode in ("elem", "pair")),
    partial(Z.MixUp, mode="elem", p=0.5),
    partial(Z.CutMix, mode="pair", p=0.5),
]

#: The methods that blend pixels (masks become soft masks), by family, not by the classes' own
#: ``blends``, which these tests check; the methods that copy pixels (masks stay class indices);
#: and those that draw per "elem" or "pair".
BLENDING_CLASSES = list(dict.fromkeys(v.cls for v in VARIANTS if v.family in ("zeta", "pair", "zetacut")))
COPYING_CLASSES = [cls for cls in TRANSFORM_CLASSES if cls not in BLENDING_CLASSES]
#: The methods whose mix is a matrix product (ζ-mixup's weights): their own routes and dtypes.
PRODUCT_CLASSES = list(dict.fromkeys(v.cls for v in VARIANTS if v.family in ("zeta", "zetacut")))
MODE_CLASSES = [cls for cls in TRANSFORM_CLASSES if "mode" in inspect.signature(cls).parameters]


def method_of(cls: type) -> type:
    """The transform class a collate class builds (a transform class itself otherwise)."""
    return getattr(cls, "transform_class", cls)


def positional_parameters(cls: type) -> list[str]:
    """The parameters a method takes by position (``gamma``, ``alpha``, ``scale``), in order."""
    parameters = inspect.signature(method_of(cls)).parameters.values()
    return [q.name for q in parameters if q.kind is q.POSITIONAL_OR_KEYWORD]
