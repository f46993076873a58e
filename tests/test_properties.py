"""Properties every mixing method has, checked on generated batches.

(1) convexity: each output value lies within the inputs' range at its position and equals the weights
applied to the inputs; (2) weight rows are non-negative and sum to 1; (3) each label row sums to the
same convex combination of the input row sums; (5) a seed reproduces the result exactly. ζ-mixup's
weight structure (4) is in test_zeta.py.
"""

from __future__ import annotations

import math
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision import tv_tensors

from tests.methods import METHOD_IDS, METHODS, Method, reveal_origins, reveal_weights
from tests.numerics import assert_same_mix
from tests.strategies import MixBatch, make_images, mix_batches, seeds
from zmix_transforms import functional as F

# How far a mixed value may stray from the float64 reference, relative to the batch's largest magnitude.
_REL_TOL = {torch.float64: 1e-12, torch.float32: 2e-6, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def _batches_for(method: Method) -> st.SearchStrategy[MixBatch]:
    if method.volumes:
        return mix_batches(kind="volume", max_batch=12)
    if method.functional and method.family != "cut":
        return st.one_of(mix_batches(kind="image"), mix_batches(kind="any"))
    return st.one_of(mix_batches(kind="image"), mix_batches(kind="video", max_batch=16))


def _given_method(test):  # one hypothesis test per method, each with its own parameter strategy
    def make(method: Method):
        @given(batch=_batches_for(method), param=method.params, seed=seeds())
        def run(batch: MixBatch, param: float, seed: int) -> None:
            test(method, batch, param, seed)

        return run

    @pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
    def wrapper(method: Method) -> None:
        make(method)()

    wrapper.__name__ = test.__name__
    wrapper.__doc__ = test.__doc__
    wrapper.check = test  # the check each example runs, for a test that runs it another way
    return wrapper


def _smoothed(batch: MixBatch, method: Method) -> torch.Tensor:
    """The labels as the method sees them before mixing: float (N, K), smoothed."""
    return F.smooth_labels(batch.soft_labels(), method.label_smoothing)


def _check_weights_normalized(weights: torch.Tensor, n: int) -> None:
    assert weights.shape == (n, n)
    assert weights.dtype == torch.float64
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(n, dtype=torch.float64), rtol=0, atol=1e-12)


@_given_method
def test_mix_is_convex_and_applies_its_weights(
    method: Method, batch: MixBatch, param: float, seed: int
) -> None:
    """Outputs are the weights applied to the inputs, within the inputs' range, labels included."""
    images, labels = batch.images, batch.labels
    images_before, labels_before = images.clone(), labels.clone()
    out_images, out_labels = method.run(images, labels, batch.num_classes, param, seed)

    # Inputs untouched; shapes, dtypes and label format as promised.
    assert torch.equal(images, images_before) and torch.equal(labels, labels_before)
    assert (
        type(out_images) is type(images)  # a plain tensor stays plain, a Video stays a Video
        and out_images.shape == images.shape
        and out_images.dtype == images.dtype
    )
    assert out_labels.shape == (batch.batch_size, batch.num_classes) and out_labels.is_floating_point()
    assert torch.isfinite(out_labels).all()

    weights = reveal_weights(method, images, param, seed)
    n = batch.batch_size
    _check_weights_normalized(weights, n)

    x = images.to(torch.float64).reshape(n, -1)
    out = out_images.to(torch.float64).reshape(n, -1)
    if method.family == "zetacut":
        # Per-pixel weights differ inside and outside the box (exactness: test_options.py); every
        # value still lies within the inputs' range, rounding included.
        tol = _REL_TOL.get(images.dtype, 0.0) * max(float(x.abs().max()), 1.0)
        assert (out >= x.min(0).values - tol).all() and (out <= x.max(0).values + tol).all()
    elif method.family in ("cut", "resize"):
        # Every value is copied whole from the sample itself or from one partner, which gives the
        # label weight: the exact fraction of the pixels taken from it. CutMix and FMix copy it from
        # the same place; ResizeMix from anywhere in the partner (it is shrunk), the channel kept.
        origins = reveal_origins(method, images, param, seed).reshape(n, -1)
        per_sample = x.shape[1]
        sources = origins // per_sample
        assert torch.equal(out, x.reshape(-1)[origins])
        own = torch.arange(per_sample).expand(n, per_sample)
        if method.family == "cut":
            assert torch.equal(origins % per_sample, own)
        else:  # the channel (and, for a video, the frame) is kept: only spatial places move
            spatial = math.prod(images.shape[-(3 if method.volumes else 2) :])
            assert torch.equal(origins % per_sample // spatial, own // spatial)
        taken = torch.stack([torch.bincount(row, minlength=n) for row in sources]).to(torch.float64)
        torch.testing.assert_close(weights, taken / sources.shape[1], rtol=0, atol=1e-12)
    else:
        reference = weights @ x
        if images.dtype.is_floating_point:
            scale = float(x.abs().max()) if x.numel() else 0.0
            tol = _REL_TOL[images.dtype] * max(scale, 1.0)
            assert (out - reference).abs().max() <= tol
        else:  # mixed in float32, rounded to nearest
            assert (out - reference).abs().max() <= 0.5 + 1e-3
            tol = 0.0
        # Convexity: within the inputs' range at every position.
        assert (out >= x.min(0).values - tol).all() and (out <= x.max(0).values + tol).all()

    expected_labels = weights @ _smoothed(batch, method).to(torch.float64)
    torch.testing.assert_close(out_labels.to(torch.float64), expected_labels, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_what_runs_under_compile_keeps_the_properties(method: Method) -> None:
    """The branches each method takes while ``torch.compile`` traces it (draws kept as tensors, a
    box pasted through a mask: whatever asks ``torch.compiler.is_compiling()``), run eagerly with
    that answer stood in, keep the properties of the test above. test_compile checks compiled graphs
    of the transforms, in the main leg only; this runs every method in every leg."""

    @settings(max_examples=max(10, settings().max_examples // 4))
    @given(batch=_batches_for(method), param=method.params, seed=seeds())
    def run(batch: MixBatch, param: float, seed: int) -> None:
        with mock.patch.object(torch.compiler, "is_compiling", return_value=True):
            test_mix_is_convex_and_applies_its_weights.check(method, batch, param, seed)

    run()


@_given_method
def test_any_dense_layout_mixes_alike_and_is_kept(
    method: Method, batch: MixBatch, param: float, seed: int
) -> None:
    """A batch laid out otherwise (channels_last, or any order of the dimensions after the batch's)
    mixes to the same values (ζ-mixup's within the product bound), and the result keeps that
    layout, as torchvision's MixUp does."""
    images = batch.images
    shuffled = torch.randperm(images.ndim - 1, generator=torch.Generator().manual_seed(seed)) + 1
    order = [0, *shuffled.tolist()]
    back = sorted(range(images.ndim), key=order.__getitem__)
    laid = images.as_subclass(torch.Tensor).permute(order).contiguous().permute(back)  # same values
    if isinstance(images, tv_tensors.TVTensor):
        laid = tv_tensors.wrap(laid, like=images)
    expected = method.run(images, batch.labels, batch.num_classes, param, seed)
    out = method.run(laid, batch.labels, batch.num_classes, param, seed)
    # ζ-mixup's product over another order of the columns may sum in another order (MKL does)
    terms = batch.batch_size if method.through_product else None
    assert_same_mix(out[0], expected[0], terms, "images")
    assert_same_mix(out[1], expected[1], terms, "labels")
    if "Collate" in method.name:  # a collate's batch has the layout its collate_fn stacks
        return
    spread = [d for d in range(images.ndim) if images.shape[d] > 1]  # a dimension of one has any stride
    assert [out[0].stride(d) for d in spread] == [laid.stride(d) for d in spread]


@_given_method
def test_label_sums_are_the_same_convex_combination(
    method: Method, batch: MixBatch, param: float, seed: int
) -> None:
    """Each output label row sums to the weights applied to the input row sums (1 for one-hot)."""
    _, out_labels = method.run(batch.images, batch.labels, batch.num_classes, param, seed)
    weights = reveal_weights(method, batch.images, param, seed)
    input_sums = _smoothed(batch, method).to(torch.float64).sum(1)
    torch.testing.assert_close(
        out_labels.to(torch.float64).sum(1), weights @ input_sums, rtol=1e-6, atol=1e-6
    )
    if batch.label_kind in ("index", "one_hot"):
        torch.testing.assert_close(out_labels.sum(1), torch.ones_like(out_labels[:, 0]), rtol=0, atol=1e-6)


@_given_method
def test_pairing_structure(method: Method, batch: MixBatch, param: float, seed: int) -> None:
    """Pair methods: one weight for the sample, the rest on one partner, along a single cycle."""
    weights = reveal_weights(method, batch.images, param, seed)
    n = batch.batch_size
    if method.family == "zeta":
        assert (weights.argmax(1) == torch.arange(n)).all()
        return
    if method.family == "zetacut":  # W = pairing · ζ-weights; normalization is checked in the convexity test
        return
    own = weights.diagonal()
    if method.mode == "batch":
        assert torch.allclose(own, own[0].expand(n), rtol=0, atol=1e-12), "one λ for the whole batch"
    if n == 1 or bool((own == 1.0).all()):
        assert torch.equal(weights, torch.eye(n, dtype=torch.float64))
        return
    off = weights - torch.diag(own)
    has_partner = off.sum(1) > 0
    assert ((off > 0).sum(1) == has_partner.long()).all(), "at most one partner per sample"
    assert torch.equal(has_partner, own < 1.0), "a partner exactly when the own weight is below 1"
    if method.mode == "pair":
        _check_pairs(own, off, has_partner)
        return
    if not bool(has_partner.all()):  # a per-sample λ of exactly 1 keeps its sample whole
        return
    partners = off.argmax(1)
    assert (partners != torch.arange(n)).all(), "no sample is its own partner"
    visited, p = set(), 0
    for _ in range(n):
        visited.add(p)
        p = int(partners[p])
    assert p == 0 and len(visited) == n, "the partners form a single cycle through the batch"


def _check_pairs(own: torch.Tensor, off: torch.Tensor, has_partner: torch.Tensor) -> None:
    """ "pair" mode: mixed samples come in pairs (one 3-cycle at most) that share one λ or box size."""
    partners = off.argmax(1)
    mixed = has_partner.nonzero().flatten().tolist()
    unpaired = [p for p in mixed if int(partners[partners[p]]) != p]
    assert len(unpaired) in (0, 3), "pairs, and at most one cycle of three"
    if unpaired:
        a = unpaired[0]
        assert sorted(unpaired) == sorted([a, int(partners[a]), int(partners[partners[a]])])
        assert int(partners[partners[partners[a]]]) == a
    for p in mixed:
        assert bool(has_partner[partners[p]]), "a sample's partner is mixed too"
        assert float(own[p]) == float(own[partners[p]]), "one λ (one box) for both of a pair"


@_given_method
def test_seed_reproduces_the_mix(method: Method, batch: MixBatch, param: float, seed: int) -> None:
    """The same seed gives the same result, bit for bit."""
    first = method.run(batch.images, batch.labels, batch.num_classes, param, seed)
    second = method.run(batch.images, batch.labels, batch.num_classes, param, seed)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def _typical_param(method: Method) -> object:
    """λ for the functional pair and box mixes, α or γ = 1 for the rest (a method may name its own)."""
    if method.typical is not None:
        return method.typical
    return 0.5 if (method.functional or method.name.startswith("F.")) and method.family != "zeta" else 1.0


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_different_seeds_give_different_mixes(method: Method) -> None:
    """Five seeds, five different weight matrices (16 samples leave no room for a coincidence)."""
    images = torch.rand(16, 2, 4, 8, 8) if method.volumes else torch.rand(16, 3, 8, 8)
    param = _typical_param(method)
    distinct = {tuple(reveal_weights(method, images, param, seed).flatten().tolist()) for seed in range(5)}
    assert len(distinct) == 5


def _methods_and_dtypes(*dtypes: torch.dtype, skip_collates_of: torch.dtype | None = None) -> list[object]:
    """Every method with each of ``dtypes`` (but ``skip_collates_of`` for the collates), for parametrize."""
    return [
        pytest.param(method, dtype, id=f"{name}-{str(dtype)[6:]}")
        for method, name in zip(METHODS, METHOD_IDS, strict=True)
        for dtype in dtypes
        if not ("Collate" in name and dtype == skip_collates_of)
    ]


# default_collate's torch.stack itself refuses float16 samples under CPU bfloat16 autocast
@pytest.mark.parametrize(
    ("method", "dtype"),
    _methods_and_dtypes(torch.float32, torch.float16, torch.uint8, skip_collates_of=torch.float16),
)
def test_autocast_leaves_the_mix_as_it_is(method: Method, dtype: torch.dtype) -> None:
    """Inside an autocast region (a training step's), every method mixes as it does outside.

    Autocast would run ζ-mixup's matrix products in bfloat16: images off by up to 4e-3 and label
    rows summing to 1 ± 2e-3 (seen before the kernels turned it off around their products).
    """
    shape = (12, 2, 4, 6, 6) if method.volumes else (12, 3, 6, 6)
    images = make_images(shape, dtype, seed=5)
    labels, param = torch.arange(12) % 4, _typical_param(method)
    expected = method.run(images, labels, 4, param, 0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = method.run(images, labels, 4, param, 0)
        assert torch.is_autocast_enabled("cpu")  # the caller's region is left as it was
    assert torch.equal(mixed[0], expected[0]) and torch.equal(mixed[1], expected[1])


@pytest.mark.parametrize(("method", "dtype"), _methods_and_dtypes(torch.float32, torch.uint8, torch.int32))
def test_deterministic_algorithms_leave_the_mix_as_it_is(method: Method, dtype: torch.dtype) -> None:
    """Under ``torch.use_deterministic_algorithms(True)`` (reproducible training) every method runs
    and mixes as it does outside. That mode also fills new tensors (``torch.empty``) with NaN or the
    dtype's largest value, so a kernel that left part of its output unwritten would show here.
    (ζ-mixup's products agree within the product bound: a BLAS need not sum alike twice.)"""
    shape = (10, 2, 4, 6, 5) if method.volumes else (10, 3, 7, 6)
    images = make_images(shape, dtype, seed=6)
    labels, param = torch.arange(10) % 4, _typical_param(method)
    expected = method.run(images, labels, 4, param, 1)
    assert torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    try:
        mixed = method.run(images, labels, 4, param, 1)
    finally:
        torch.use_deterministic_algorithms(False)
    terms = 10 if method.through_product else None
    assert_same_mix(mixed[0], expected[0], terms, "images")
    assert_same_mix(mixed[1], expected[1], terms, "labels")
