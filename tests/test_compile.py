"""The functional API traces under torch.compile(fullgraph=True): no graph break.

``aot_eager`` traces through dynamo and AOTAutograd without generating C++, which is all that
fullgraph needs to prove; the compiled results are then checked like the eager ones.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import zmix_transforms as Z
from tests.methods import PRODUCT_CLASSES, VARIANTS, Variant
from zmix_transforms import functional as F

FUNCTIONS = [(F.zeta_mixup, 2.8), (F.mixup, 0.3), (F.cutmix, 0.4)]


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> None:
    torch._dynamo.reset()


@pytest.mark.parametrize(("fn", "param"), FUNCTIONS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_fullgraph_compile_gives_a_valid_mix(fn, param) -> None:
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    n = 12
    x = torch.rand(n, 3, 10, 9, dtype=torch.float64)
    out, weights = compiled(x, torch.eye(n, dtype=torch.float64), param)  # identity labels reveal W
    assert out.shape == x.shape and weights.shape == (n, n)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(n, dtype=torch.float64))
    if fn is F.cutmix:
        own = weights.diagonal()
        partners = (weights - torch.diag(own)).argmax(1)
        from_partner = (out != x).any(1)  # (n, H, W): pixels taken from the partner
        assert torch.equal(out, torch.where(from_partner[:, None], x[partners], x))
        torch.testing.assert_close(1 - from_partner.double().mean((1, 2)), own, rtol=0, atol=1e-12)
        assert torch.equal(from_partner, from_partner[:1].expand_as(from_partner)), "one box for the batch"
    else:
        torch.testing.assert_close(out.reshape(n, -1), weights @ x.reshape(n, -1))


@pytest.mark.parametrize(("fn", "param"), FUNCTIONS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_no_graph_break(fn, param) -> None:
    x, y = torch.rand(8, 3, 16, 16), F.one_hot(torch.arange(8) % 3, 3)
    explanation = torch._dynamo.explain(fn)(x, y, param)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_large_batches_compile_without_the_onednn_path(dtype: torch.dtype) -> None:
    """Batches whose eager product goes through oneDNN (and uint8's blocked kernel) trace in one graph."""
    x = (torch.rand(64, 3, 32, 32) * 255).to(dtype)
    y = F.one_hot(torch.arange(64) % 3, 3)
    explanation = torch._dynamo.explain(F.zeta_mixup)(x, y, 2.8)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(F.zeta_mixup, fullgraph=True, backend="aot_eager")
    out, weights = compiled(x, torch.eye(64), 2.8)
    expected = weights.double() @ x.double().reshape(64, -1)
    assert (out.double().reshape(64, -1) - expected).abs().max() <= (
        1e-3 if dtype == torch.float32 else 0.501
    )


@pytest.mark.parametrize("lam", [95 / 256, torch.full((16,), 37 / 256)], ids=["one", "per-sample"])
def test_eight_bit_mixup_in_steps_compiles_to_the_eager_values(lam: float | torch.Tensor) -> None:
    """uint8 with λ in steps of 1/256 traces in one graph and gives the exact int16/float32 values."""
    x = (torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(6)) * 255).to(torch.uint8)
    y = torch.eye(16)
    explanation = torch._dynamo.explain(F.mixup)(x, y, lam)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(F.mixup, fullgraph=True, backend="aot_eager")
    out, weights = compiled(x, y, lam)
    partners = (weights - torch.diag(weights.diagonal())).argmax(1)
    own = torch.as_tensor(lam).expand(16).double().reshape(16, 1, 1, 1)
    expected = ((own * x.double() + (1 - own) * x.double()[partners]) + 0.5).floor().to(torch.uint8)
    assert torch.equal(out, expected)


def test_compiling_a_transform_warns_of_none_of_its_code() -> None:
    """A training step compiled with a transform inside it (graph breaks allowed) gets no warning
    about this package's code (Dynamo warned of tracing through a cache of the λ draw)."""
    seen = getattr(torch._dynamo.utils, "warn_once_cache", None)  # Dynamo warns once per process
    if seen is not None:
        seen.clear()
    step = torch.compile(lambda x, y: Z.MixUp(num_classes=3)(x, y), backend="aot_eager")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images, labels = step(torch.rand(8, 3, 8, 8), torch.arange(8) % 3)
    assert images.shape == (8, 3, 8, 8) and labels.shape == (8, 3)
    ours = {f"{path.name}:" for path in Path(Z.__file__).parent.rglob("*.py")} | {"zmix_transforms"}
    about_us = [str(w.message) for w in caught if any(name in str(w.message) for name in ours)]
    assert not about_us, about_us


# -- the transforms inside a compiled training step -------------------------------------------------

# still breaking the graph, as the Performance page says: a shape or a branch taken from a draw
STILL_BREAKING = {"ZetaMixup-max_terms=3", "CutMix-minmax=(0.2, 0.7)", "ResizeMix-mode=pair"}
TRACED = [variant for variant in VARIANTS if variant.id not in STILL_BREAKING]


@pytest.mark.parametrize("variant", TRACED, ids=[variant.id for variant in TRACED])
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_a_training_step_with_the_transform_traces_in_one_graph(variant: Variant, dtype: torch.dtype) -> None:
    """The draws stay tensors under compile (λ, CutMix's box as a mask, ``p``'s coin): no graph break,
    which is what ``mode="reduce-overhead"`` needs to capture the step in a CUDA graph."""
    transform = variant.make(num_classes=5)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 5))

    def step(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        mixed, soft = transform(images, labels)
        return torch.nn.functional.cross_entropy(model(mixed.float()), soft)

    images = (torch.rand(8, 3, 8, 8) * 255).to(dtype)
    explanation = torch._dynamo.explain(step)(images, torch.arange(8) % 5)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize("variant", TRACED, ids=[variant.id for variant in TRACED])
@pytest.mark.parametrize("dynamic", [None, True], ids=["recompiled", "dynamic"])
def test_a_compiled_transform_takes_batches_of_other_sizes(variant: Variant, dynamic: bool | None) -> None:
    """A loader's last batch is smaller: torch.compile then traces again with a symbolic batch size
    (``dynamic=True``: from the first call, α and γ symbolic too), still in one graph. Dynamo's
    trace is what refused ζ-mixup's keys (a factory given ``generator=None``) and, with
    ``dynamic=True``, a check of α in every per-sample mode: ``backend="eager"`` runs only that."""
    transform = variant.make(num_classes=5)
    compiled = torch.compile(transform, fullgraph=True, dynamic=dynamic, backend="eager")
    for n in (8, 5, 3):
        images, soft = compiled(torch.rand(n, 3, 8, 8), torch.arange(n) % 5)
        assert images.shape == (n, 3, 8, 8)
        torch.testing.assert_close(soft.sum(1), torch.ones(n))


@pytest.mark.parametrize("cls", PRODUCT_CLASSES)
def test_the_products_ask_whether_autocast_exists_outside_the_trace(
    cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch 2.11's Dynamo cannot trace ``torch.amp.is_autocast_available`` (seen on a GPU machine:
    ζ-mixup's step failed ``fullgraph=True``). Made untraceable here as it is there, the step still
    traces in one graph: the products ask it while tracing and keep the answer as a constant."""
    untraceable = torch._dynamo.disable(torch.amp.is_autocast_available)
    monkeypatch.setattr(torch.amp, "is_autocast_available", untraceable)
    transform = cls(num_classes=5)

    def step(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return transform(images, labels)[0]

    explanation = torch._dynamo.explain(step)(torch.rand(8, 3, 8, 8), torch.arange(8) % 5)
    assert explanation.graph_break_count == 0, explanation.break_reasons


BREAKING = [variant for variant in VARIANTS if variant.id in STILL_BREAKING]


@pytest.mark.parametrize("variant", BREAKING, ids=[variant.id for variant in BREAKING])
def test_the_known_breaks_still_break(variant: Variant) -> None:
    """The list of breaks (and the Performance page's) shrinks when one is mended: this fails then."""
    assert len(BREAKING) == len(STILL_BREAKING), "every known break names a variant"
    transform = variant.make(num_classes=5)
    explanation = torch._dynamo.explain(lambda x, y: transform(x, y))(
        torch.rand(8, 3, 8, 8), torch.arange(8) % 5
    )
    assert explanation.graph_break_count > 0


@pytest.mark.parametrize("kind", ["Image", "Mask"])
def test_torchvisions_tensor_subclasses_still_break(kind: str) -> None:
    """tv_tensors inputs break the graph (the Dynamo of torch 2.14 and 2.15 cannot compare their
    attributes, which breaks torchvision's own v2.MixUp too), as the Performance page says; plain
    tensors trace."""
    from torchvision import tv_tensors

    transform = Z.MixUp(num_classes=5)
    images, labels = torch.rand(8, 3, 8, 8), torch.arange(8) % 5
    masks = tv_tensors.Mask(torch.randint(0, 5, (8, 8, 8)))
    inputs = (tv_tensors.Image(images), labels) if kind == "Image" else (images, labels, masks)
    explanation = torch._dynamo.explain(lambda *sample: transform(*sample))(*inputs)
    assert explanation.graph_break_count > 0


# the methods whose compiled mixes the test below reads back (ZetaCutMix: both mixes at once)
COMPILED = [variant for variant in TRACED if variant.plain and variant.family != "zetacut"]


@pytest.mark.parametrize("variant", COMPILED, ids=[variant.id for variant in COMPILED])
@pytest.mark.parametrize("dtype", [torch.float64, torch.uint8])
def test_compiled_transforms_mix_images_and_labels_alike(variant: Variant, dtype: torch.dtype) -> None:
    """Compiled with fullgraph: identity labels reveal the weights, and the images are mixed by them
    (uint8: λ in steps of 1/256, rounded exactly; CutMix and FMix: each pixel from the sample or its
    partner, in the share the labels give it; "pair": both samples of a pair swap the same box;
    ResizeMix: the partner shrunk into a box, exactly as eager ResizeMix shrinks it)."""
    n = 6
    step = torch.compile(variant.make(num_classes=n), fullgraph=True, backend="aot_eager")
    x = torch.rand(n, 3, 10, 9, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    if dtype == torch.uint8:
        x = (x * 255).round().to(dtype)
    for _ in range(3):
        out, weights = step(x, torch.arange(n))
        weights = weights.double()
        assert out.dtype == dtype and out.shape == x.shape and (weights >= 0).all()
        torch.testing.assert_close(weights.sum(1), torch.ones(n, dtype=torch.float64))
        own = weights.diagonal()
        partners = (weights - torch.diag(own)).argmax(1)
        if variant.family == "resize":  # the whole partner shrunk into a box: nearest-neighbour, exactly
            box = (out != x).any(1).any(0).nonzero()
            (top, left), (bottom, right) = box.min(0).values.tolist(), (box.max(0).values + 1).tolist()
            rows = torch.arange(bottom - top) * x.shape[-2] // (bottom - top)
            columns = torch.arange(right - left) * x.shape[-1] // (right - left)
            expected = x.clone()
            expected[..., top:bottom, left:right] = x[partners][..., rows, :][..., columns]
            assert torch.equal(out, expected)
            share = (bottom - top) * (right - left) / (x.shape[-2] * x.shape[-1])
            torch.testing.assert_close(
                own, torch.full((n,), 1 - share, dtype=torch.float64), rtol=0, atol=1e-7
            )
        elif variant.family == "cut":
            from_partner = (out != x).any(1)
            assert torch.equal(out, torch.where(from_partner[:, None], x[partners], x))
            # the labels are float32: the kept share rounded to float32
            torch.testing.assert_close(1 - from_partner.double().mean((1, 2)), own, rtol=0, atol=1e-7)
            if variant.mode != "elem":  # one box or mask for the batch, or a pair's
                took = own < 1  # a sample whose box is empty reveals no partner (argmax of zeros)
                assert torch.equal(from_partner[took], from_partner[partners[took]])
        elif (
            variant.family == "pair" and dtype == torch.uint8
        ):  # (a·x + (256 − a)·x[π] + 128) // 256, λ = a/256
            assert torch.equal(own * 256, (own * 256).round()), "λ in steps of 1/256"
            lam = own.reshape(n, 1, 1, 1)  # (the partner's λ in "elem" mode: ``1 − weights[p, π(p)]``)
            assert torch.equal(
                out, (lam * x.double() + (1 - lam) * x.double()[partners] + 0.5).floor().to(dtype)
            )
        else:  # uint8 ζ-mixup rounds a float32 product; float64 images are mixed by the weights the
            # float32 labels hold rounded to float32
            expected = weights @ x.double().reshape(n, -1)
            error = (out.double().reshape(n, -1) - expected).abs().max()
            assert error <= (0.501 if dtype == torch.uint8 else 1e-6), error


def test_compiled_p_mixes_some_calls_and_leaves_others_as_they_were() -> None:
    """``p`` under compile: a tensor coin picks the mix or the batch itself, labels alike."""
    torch.manual_seed(0)
    step = torch.compile(Z.MixUp(num_classes=4, p=0.5), fullgraph=True, backend="aot_eager")
    x, y = torch.rand(4, 3, 5, 5), torch.arange(4)
    outcomes = set()
    for _ in range(40):
        out, soft = step(x, y)
        mixed = not torch.equal(soft, torch.eye(4))
        assert torch.equal(out, x) != mixed or torch.allclose(out, x), "images and labels pick alike"
        outcomes.add(mixed)
    assert outcomes == {False, True}


@pytest.mark.parametrize(("fn", "param"), FUNCTIONS, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("kind", ["Image", "Video"])
def test_a_functional_call_on_a_tv_tensor_compiles_with_breaks_and_keeps_its_type(
    fn, param, kind: str
) -> None:
    """Graph breaks allowed (the default), the functional API takes a tv_tensor batch under
    ``torch.compile`` as it does eagerly: the mix comes back in its type (``F.cutmix`` failed in
    AOTAutograd before its batch was mixed as plain data)."""
    from torchvision import tv_tensors

    shape = (6, 2, 3, 8, 8) if kind == "Video" else (6, 3, 8, 8)
    images = getattr(tv_tensors, kind)(torch.rand(shape, generator=torch.Generator().manual_seed(2)))
    labels = torch.eye(6)  # identity labels: the weights themselves
    mixed, soft = torch.compile(fn, backend="aot_eager")(images, labels, param)
    assert type(mixed) is type(images) and mixed.shape == images.shape
    torch.testing.assert_close(soft.sum(1), torch.ones(6))
    if fn is F.cutmix:  # every value copied from the sample or the one partner of its row
        plain, out = images.as_subclass(torch.Tensor), mixed.as_subclass(torch.Tensor)
        partners = (soft - torch.diag(soft.diagonal())).argmax(1)
        assert torch.equal(out, torch.where(out == plain, plain, plain[partners]))
