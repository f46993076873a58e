"""Every input is either mixed exactly or refused clearly (issue 10's cases, one test each).

Wrong results, inputs accepted that should fail, and exceptions that were not ours, each with its
expected outcome: an exact result, or a ``ValueError``/``TypeError`` whose message names the argument.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import PIL.Image
import pytest
import torch
from torchvision import tv_tensors

import zmix_transforms as Z
from tests.methods import (
    BLENDING_CLASSES,
    COLLATE_CLASSES,
    COPYING_CLASSES,
    METHOD_IDS,
    METHODS,
    MODE_CLASSES,
    TRANSFORM_CLASSES,
    VARIANTS,
    Method,
    reveal_origins,
)
from zmix_transforms import functional as F

META = torch.device("meta")  # stands in for another device: no data, every op shape-checks only

# -- wrong results -----------------------------------------------------------------------------------


INTEGER_DTYPES = [
    torch.int32,
    torch.int64,
    torch.int16,
    torch.uint8,
    torch.int8,
    torch.uint16,
    torch.uint32,
    torch.uint64,
]


@pytest.mark.parametrize("dtype", INTEGER_DTYPES, ids=str)
@pytest.mark.parametrize("where", ["max", "min", "above 2^24"])
def test_a_mix_of_equal_integers_is_that_integer(dtype: torch.dtype, where: str) -> None:
    info = torch.iinfo(dtype)
    value = {"max": info.max, "min": info.min, "above 2^24": min(2**24 + 1, info.max)}[where]
    x = torch.tensor([value] * 30, dtype=dtype).reshape(5, 1, 2, 3)
    eye = torch.eye(5)
    g = torch.Generator().manual_seed(0)
    weights = F.zeta_weights(5, generator=g, dtype=torch.float64)
    outputs = {
        "zeta_mixup": F.zeta_mixup(x, eye, generator=g)[0],
        "mixup": F.mixup(x, eye, 0.37, generator=g)[0],
        "mixup per sample": F.mix_pairs(x, F.sample_lambdas(0.4, 5, generator=g), F.cycle_partners(5)),
        "apply_weights in place": F.apply_weights(x.clone(), weights, inplace=True),
        "apply_terms": F.apply_terms(x, *F.zeta_terms(5, max_terms=3, generator=g)),
        **{variant.id: variant.make(num_classes=5)(x, torch.arange(5))[0] for variant in VARIANTS},
        **{
            cls.__name__: cls(num_classes=5)(list(zip(x, range(5), strict=True)))[0]
            for cls in COLLATE_CLASSES
        },
    }
    for name, out in outputs.items():
        assert out.dtype == dtype, name
        assert torch.equal(out, x), f"{name}: {out.flatten()[:3].tolist()} for {value}"


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("columns", [7, 100_000])  # and a batch whose float64 copy exceeds the buffers
def test_wide_integers_are_mixed_exactly_and_rounded_to_nearest(dtype: torch.dtype, columns: int) -> None:
    """Values far beyond float32's 2^24: the exact float64 formula, floor(x + 1/2)."""
    g = torch.Generator().manual_seed(1)
    top = 2**31 - 1 if dtype == torch.int32 else 2**62
    x = torch.randint(top - 10**6, top, (6, columns), generator=g, dtype=torch.int64).to(dtype)
    x[0] = top  # the dtype's largest values (int32) mix without wrapping
    weights = F.zeta_weights(6, generator=g, dtype=torch.float64)
    # the exact mix, rounded: an integer reference computed from differences that float64 holds exactly
    reference = x[:1].to(torch.int64) + (weights @ (x - x[:1]).double() + 0.5).floor().to(torch.int64)
    assert torch.equal(F.apply_weights(x, weights).to(torch.int64), reference)
    partners = F.cycle_partners(6, generator=g)
    pair_reference = x[:1].to(torch.int64) + (
        (x - x[:1]).double()[partners].lerp((x - x[:1]).double(), 0.3) + 0.5
    ).floor().to(torch.int64)
    assert torch.equal(F.mix_pairs(x, 0.3, partners).to(torch.int64), pair_reference)


@pytest.mark.parametrize("dtype", [torch.uint32, torch.uint64], ids=str)
def test_unsigned_wide_integers_are_mixed_exactly_near_their_top(dtype: torch.dtype) -> None:
    """uint32 and uint64 values near 2^32 and 2^64: the exact mix of their differences, rounded."""
    top = torch.iinfo(dtype).max
    g = torch.Generator().manual_seed(2)
    below = torch.randint(0, 10**6, (6, 7), generator=g, dtype=torch.int64)  # top − below: no float holds it
    x = torch.tensor([top - v for v in below.flatten().tolist()], dtype=dtype).reshape(6, 7)
    weights = F.zeta_weights(6, generator=g, dtype=torch.float64)
    differences = (below[:1] - below).double()  # x − x[0], exactly
    first = [top - v for v in below[0].tolist()]  # x[0], column by column

    def from_first(mixed_differences: torch.Tensor) -> list[int]:  # x[0] + floor(d + 1/2), exactly
        rounded = (mixed_differences + 0.5).floor().long().tolist()
        return [first[j] + v for row in rounded for j, v in enumerate(row)]

    assert F.apply_weights(x, weights).flatten().tolist() == from_first(weights @ differences)
    partners = F.cycle_partners(6, generator=g)
    expected_pairs = from_first(differences[partners].lerp(differences, 0.3))
    assert F.mix_pairs(x, 0.3, partners).flatten().tolist() == expected_pairs


COPYING_METHODS = [m for m in METHODS if m.family in ("cut", "resize")]


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64], ids=str)
@pytest.mark.parametrize("method", COPYING_METHODS, ids=[m.name for m in COPYING_METHODS])
def test_copying_methods_copy_unsigned_wide_values_whole(method: Method, dtype: torch.dtype) -> None:
    """uint16–uint64 values near their top (the sign bit of their width set) are copied bit for bit
    from where the coded run says (``reveal_origins``), by every copying method, transform and
    collate (torch 2.9–2.11 have no CPU ``gather`` or ``where`` for these dtypes: each copy goes
    through the signed view of the same width)."""
    n, shape = 6, (6, 2, 5, 7, 4) if method.volumes else (6, 2, 5, 7)
    top = torch.iinfo(dtype).max
    below = torch.randint(0, 1000, shape, generator=torch.Generator().manual_seed(3))
    x = torch.tensor([top - v for v in below.flatten().tolist()], dtype=dtype).reshape(shape)
    param = method.typical if method.typical is not None else 1.0
    mixed, _ = method.run(x, torch.arange(n), n, param, 5)
    origins = reveal_origins(method, x, param, 5).flatten()
    assert mixed.dtype == dtype
    expected = [top - v for v in below.flatten()[origins].tolist()]
    assert mixed.flatten().tolist() == expected


def test_int64_at_both_ends_of_its_range_saturates_instead_of_wrapping() -> None:
    x = torch.tensor([[2**63 - 1], [-(2**63)], [5]])
    for out in (F.zeta_mixup(x, torch.eye(3))[0], F.mixup(x, torch.eye(3), 0.5)[0]):
        # each value lies within the inputs' range (float64 rounds spans beyond 2^53)
        assert (out >= -(2**63)).all() and (out <= 2**63 - 1).all()
    # a permutation's copies: the ends of the range exactly; a value 2^63 from the first sample
    # within float64's rounding of that span (2^11), documented
    copies = [
        F.mix_pairs(x, 0.0, torch.tensor([1, 2, 0])).flatten().tolist(),
        F.apply_weights(x, torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
        .flatten()
        .tolist(),
    ]
    for low, middle, high in copies:
        assert low == -(2**63) and high == 2**63 - 1 and abs(middle - 5) <= 2**11


def test_int64_sums_saturate_from_one_step_past_either_end() -> None:
    """The int64 results are the reference plus float64 offsets, added in two halves: one step past
    either end stops there, as does a sum 2^64 away; one step short of an end is kept."""
    from zmix_transforms.functional._kernels import _saturating_add

    top, bottom = 2**63 - 1, -(2**63)
    reference = torch.tensor([top, bottom, top - 1, bottom + 1, top, bottom, 0, 0])
    offsets = torch.tensor(
        [1.0, -1.0, 1.0, -1.0, 2.0**64, -(2.0**64), 2.0**63, -(2.0**63)], dtype=torch.float64
    )
    expected = [top, bottom, top, bottom, top, bottom, top, bottom]
    assert _saturating_add(reference, offsets).tolist() == expected


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint32, torch.int16, torch.uint8, torch.int8])
@pytest.mark.parametrize("inplace", [False, True])
def test_a_weighted_sum_beyond_the_dtype_saturates_at_its_ends(dtype: torch.dtype, inplace: bool) -> None:
    """Rows (2, −1) and (−1, 2) sum to 1 but reach beyond the inputs, and a row (1, 1) sums to 2: a
    sum past the dtype's range stops at its end instead of wrapping (32-bit integers are mixed in
    int64, narrower ones in float32), for ``apply_weights`` and ``apply_terms`` alike, and for
    fewer rows than the batch has."""
    low, high = torch.iinfo(dtype).min, torch.iinfo(dtype).max
    x = torch.tensor([high, low, high], dtype=dtype).reshape(3, 1, 1, 1)
    weights = torch.tensor([[2.0, -1.0, 0.0], [-1.0, 2.0, 0.0], [1.0, 0.0, 1.0]])
    expected = [high, low, high]
    out = F.apply_weights(x.clone(), weights, inplace=inplace)
    assert out.dtype == dtype and out.flatten().tolist() == expected
    indices, values = (
        torch.tensor([[0, 1], [1, 0], [2, 0]]),
        torch.tensor([[2.0, -1.0], [2.0, -1.0], [1.0, 1.0]]),
    )
    out = F.apply_terms(x.clone(), indices, values, inplace=inplace)
    assert out.dtype == dtype and out.flatten().tolist() == expected
    if not inplace:  # some rows of the mix (a rank's, across ranks): the saturating path makes only those
        assert F.apply_weights(x, weights[:2]).flatten().tolist() == expected[:2]
        assert F.apply_terms(x, indices[:2], values[:2]).flatten().tolist() == expected[:2]


@pytest.mark.parametrize(("dtype", "excess"), [(torch.int16, 2e-5), (torch.uint8, 0.01), (torch.int8, 0.02)])
def test_a_row_just_past_a_sum_of_one_saturates_a_value_it_would_carry_past_the_end(
    dtype: torch.dtype, excess: float
) -> None:
    """Non-negative rows summing to just over 1 (by more than float32's rounding, 1e-5) take the
    saturating path: the dtype's top value weighted by 1 + excess rounds a step past the end, and
    stops there instead of wrapping to the bottom."""
    high = torch.iinfo(dtype).max
    x = torch.full((2, 1, 2, 2), high, dtype=dtype)
    weights = torch.tensor([[1.0 + excess, 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert round(high * (1.0 + excess)) > high  # past the end by at least a step
    assert F.apply_weights(x, weights).flatten().tolist() == [high] * 8


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16])
def test_convex_weights_take_the_kernels_own_path_and_values(dtype: torch.dtype) -> None:
    """Non-negative rows summing to 1 (every method's) keep the kernels' own path: no float copy,
    and the values the saturating path gives them, within one step (a float product's value at a
    half may round to either neighbour, by the kernel that computed it)."""
    x = torch.randint(0, 100, (6, 3, 5, 4), generator=torch.Generator().manual_seed(0)).to(dtype)
    weights = F.zeta_weights(6, generator=torch.Generator().manual_seed(1))
    from zmix_transforms.functional._kernels import _may_leave_the_range, _saturated, apply_weights_unchecked

    assert not _may_leave_the_range(x, weights)
    assert _may_leave_the_range(x, weights.to("meta"))  # on another device the weights are not read
    saturated = _saturated(x, lambda values: apply_weights_unchecked(values, weights), inplace=False)
    assert (F.apply_weights(x, weights).int() - saturated.int()).abs().max() <= 1


@pytest.mark.parametrize("collate", COLLATE_CLASSES)
def test_labels_of_shape_n_by_1_are_class_indices(collate: type) -> None:
    samples = [(torch.rand(3, 4, 4), torch.tensor([c])) for c in [3, 1, 4, 2]]
    with pytest.raises(
        ValueError,
        match=r"^num_classes must be given when labels are class indices of shape \(N,\) or \(N, 1\)",
    ):
        collate()(samples)
    torch.manual_seed(0)
    _, labels = collate(num_classes=5)(samples)
    torch.manual_seed(0)
    _, expected = collate(num_classes=5)([(image, int(c)) for image, c in samples])
    assert labels.shape == (4, 5)
    assert torch.equal(labels, expected)


def test_functional_api_checks_devices() -> None:
    images, labels = torch.rand(4, 3, 8, 8), torch.eye(4)
    for fn, args in ((F.zeta_mixup, ()), (F.mixup, (0.5,)), (F.cutmix, (0.5,))):
        with pytest.raises(ValueError, match=r"^labels must be on the device of images \(cpu\), got meta"):
            fn(images, labels.to(META), *args)
    with pytest.raises(ValueError, match=r"^weights must be on the device of x \(cpu\), got meta"):
        F.apply_weights(images, torch.eye(4, device=META))
    with pytest.raises(ValueError, match=r"^partners must be on the device of x \(cpu\), got meta"):
        F.mix_pairs(images, 0.5, torch.tensor([1, 2, 3, 0], device=META))
    with pytest.raises(ValueError, match=r"^lam must be on the device of x \(cpu\), got meta"):
        F.mix_pairs(images, torch.full((4,), 0.5, device=META), torch.tensor([1, 2, 3, 0]))
    indices, values = F.zeta_terms(4, max_terms=2)
    with pytest.raises(ValueError, match=r"^indices must be on the device of x \(cpu\), got meta"):
        F.apply_terms(images, indices.to(META), values)
    with pytest.raises(ValueError, match=r"^values must be on the device of x \(cpu\), got meta"):
        F.apply_terms(images, indices, values.to(META))
    with pytest.raises(ValueError, match=r"^partners must be on the device of x \(cpu\), got meta"):
        F.paste_box(images, F.Box(0, 0, 2, 2), torch.tensor([1, 2, 3, 0], device=META))


@pytest.mark.parametrize("cls", TRANSFORM_CLASSES)
def test_a_plain_5d_tensor_is_not_an_image_batch(cls: type) -> None:
    with pytest.raises(
        ValueError,
        match=r"needs a batch of images of shape \(N, C, H, W\), got a Tensor of shape \(9, 1, 3, 12, 12\) "
        r"with 5 dimensions; wrap a video batch in tv_tensors.Video",
    ):
        cls(num_classes=10)(torch.rand(9, 1, 3, 12, 12), torch.arange(9))
    images, labels = cls(num_classes=10)(tv_tensors.Video(torch.rand(9, 1, 3, 12, 12)), torch.arange(9))
    assert type(images) is tv_tensors.Video and labels.shape == (9, 10)


# -- accepted when it should fail ---------------------------------------------------------------------


def test_mixupe_loss_needs_the_same_classes_in_both_batches() -> None:
    loss = Z.MixupELoss()
    with pytest.raises(
        ValueError, match=r"^clean_logits must score the K = 3 classes of mixed_logits, got shape \(4, 4\)"
    ):
        loss(torch.randn(4, 3), torch.full((4, 3), 1 / 3), torch.randn(4, 4), torch.tensor([0, 1, 2, 3]))


@pytest.mark.parametrize("clean", [None, [[0.0, 1.0, 2.0]]], ids=["None", "list"])
def test_mixupe_loss_names_clean_logits_that_are_not_a_tensor(clean: Any) -> None:
    """Refused as a TypeError naming the argument, not an AttributeError from the classes' check."""
    with pytest.raises(
        TypeError,
        match=rf"^clean_logits must be a float torch.Tensor of shape \(B, K\), got {type(clean).__name__}",
    ):
        Z.MixupELoss()(torch.randn(4, 3), torch.full((4, 3), 1 / 3), clean, torch.tensor([0, 1, 2, 0]))


@pytest.mark.parametrize("partners", [[5, 0, 1, 2], [-1, 0, 1, 2]])
def test_partners_outside_the_batch_are_refused(partners: list[int]) -> None:
    x = torch.rand(4, 3, 8, 8)
    low, high = min(partners), max(partners)
    message = rf"^partners must lie in \[0, N\) = \[0, 4\), got values from {low} to {high}"
    with pytest.raises(ValueError, match=message):
        F.mix_pairs(x, 0.5, torch.tensor(partners))
    with pytest.raises(ValueError, match=message):
        F.paste_box(x, F.Box(0, 0, 4, 4), torch.tensor(partners))
    with pytest.raises(ValueError, match=message):
        F.mix_pairs(x.clone(), 0.5, torch.tensor(partners), inplace=True)


# -- exceptions that were not ours ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("size", [4, 128])  # 3×128×128 samples took the per-sample path
@pytest.mark.parametrize("per_sample", [False, True])
def test_features_that_require_grad_mix_with_the_formulas_gradients(
    dtype: torch.dtype, size: int, per_sample: bool
) -> None:
    g = torch.Generator().manual_seed(size)
    x = torch.rand(4, 3, size, size, generator=g).to(dtype).requires_grad_()
    partners = F.cycle_partners(4, generator=g)
    lam = F.sample_lambdas(1.0, 4, generator=g).float() if per_sample else 0.3
    out = F.mix_pairs(x, lam, partners)
    cotangent = torch.rand(out.shape, generator=g).to(dtype)
    (out.float() * cotangent.float()).sum().backward()
    # d/dx[i] of Σ_p c_p·(λ_p·x[p] + (1 − λ_p)·x[π(p)]) = λ_i·c_i + (1 − λ_j)·c_j with π(j) = i
    lams = lam.reshape(4, 1, 1, 1) if per_sample else torch.full((4, 1, 1, 1), lam)
    expected = lams * cotangent.float()
    inverse = torch.empty_like(partners)
    inverse[partners] = torch.arange(4)
    expected = expected + ((1 - lams) * cotangent.float())[inverse]
    assert x.grad is not None
    tolerance = 1e-2 if dtype == torch.bfloat16 else 1e-6
    torch.testing.assert_close(x.grad.float(), expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("cls", TRANSFORM_CLASSES)
def test_transforms_mix_features_that_require_grad(cls: type) -> None:
    x = torch.rand(4, 3, 128, 128, requires_grad=True)
    images, _ = cls(num_classes=2)(x, torch.tensor([0, 1, 0, 1]))
    images.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    # every output is a convex mix of the inputs: the gradient of the sum is 1 everywhere on average
    torch.testing.assert_close(x.grad.sum(), torch.tensor(float(x.numel())), rtol=1e-5, atol=1e-2)


def test_in_place_kernels_refuse_tensors_that_require_grad() -> None:
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    with pytest.raises(ValueError, match=r"^x must not require grad for inplace=True"):
        F.mix_pairs(x, 0.5, torch.tensor([1, 2, 3, 0]), inplace=True)


@pytest.mark.parametrize(
    ("p", "message"),
    [
        (
            0.5,
            r"^p must be a sequence of 2 numbers >= 0 \(one per transform\) or None, got 0.5 of type float",
        ),
        (["a", "b"], r"^p must be a sequence of 2 numbers >= 0 .*, got an entry 'a' of type str"),
        ("ab", r"^p must be a sequence of 2 numbers .* got 'ab' of type str"),
    ],
)
def test_random_mix_names_p(p: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Z.RandomMix([Z.MixUp(num_classes=2), Z.CutMix(num_classes=2)], p=p)


def test_sizes_that_need_no_tensor_are_computed_without_one() -> None:
    assert F.zeta_dropped_mass(10**10, 2.8, 4) == 0.0
    assert F.zeta_dropped_mass(10**12, 2.8) == pytest.approx(0.0, abs=1e-15)
    # the Euler–Maclaurin sum beyond 10^5 terms agrees with the term-by-term sum (γ = 1: a logarithm)
    for gamma in (1.5, 1.0):
        exact = 1 - float((torch.arange(1, 17, dtype=torch.float64) ** -gamma).sum()) / float(
            (torch.arange(1, 300_001, dtype=torch.float64) ** -gamma).sum()
        )
        assert F.zeta_dropped_mass(16, gamma, 300_000) == pytest.approx(exact, rel=1e-10)
    # a batch size beyond an N×N matrix's bound (2^29) is fine where no such matrix is made
    assert F.zeta_dropped_mass(16, 2.8, 10**9) == pytest.approx(F.zeta_dropped_mass(16, 2.8), rel=1e-9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: F.zeta_weights(10**6),
            r"^ζ-mixup's random keys for batch_size=1000000 .* could not be allocated",
        ),
        (
            lambda: F.zeta_weights(2**40),
            r"^batch_size must be an int in \[1, 536870912\] .* got 1099511627776",
        ),
        (
            lambda: F.one_hot(torch.tensor([0, 1]), 10**12),
            r"^one-hot labels of shape \(2, 1000000000000\) for num_classes=1000000000000 could not be",
        ),
        (
            lambda: Z.MixUp(num_classes=10**12)(torch.rand(2, 3, 4, 4), torch.tensor([0, 1])),
            r"^one-hot labels of shape \(2, 1000000000000\)",
        ),
    ],
)
def test_sizes_whose_tensors_cannot_exist_are_refused(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_only_an_allocator_s_failure_is_named_as_one() -> None:
    """The guard around an allocation names what could not be allocated (torch's and NumPy's
    messages, their first line); any other error in its block passes through as it was raised, one
    of another type too whatever its text."""
    from zmix_transforms._checks import allocation

    for failure in (
        RuntimeError("DefaultCPUAllocator: can't allocate memory\n(C++ trace)"),
        MemoryError("Unable to allocate"),
    ):
        with (
            pytest.raises(
                ValueError, match=rf"^a batch could not be allocated: {failure.args[0].splitlines()[0]}$"
            ),
            allocation(lambda: "a batch"),
        ):
            raise failure
    for other in (RuntimeError("shapes cannot be multiplied"), KeyError("out of memory")):
        with pytest.raises(type(other)) as raised, allocation("a batch"):
            raise other
        assert raised.value is other


@pytest.mark.parametrize("collate", COLLATE_CLASSES)
def test_collates_say_what_they_expect(collate: type) -> None:
    ragged = [(torch.rand(3, 8, 8), 0), (torch.rand(3, 9, 8), 1)]
    with pytest.raises(
        ValueError,
        match=r"^batch must hold samples of one shape .* got images of shapes \[\(3, 8, 8\), \(3, 9, 8\)\]",
    ):
        collate(num_classes=2)(ragged)
    shapes = r"got images of shapes \[\(3, 8, 8\), \(3, 9, 8\)\]; resize or crop"
    for samples in (  # the first tensor of each sample is its image, in any structure
        [torch.rand(3, 8, 8), torch.rand(3, 9, 8)],
        [{"label": 0, "image": torch.rand(3, 8, 8)}, {"label": 1, "image": torch.rand(3, 9, 8)}],
        [("a", torch.rand(3, 8, 8), 0), ("b", torch.rand(3, 9, 8), 1)],
    ):
        with pytest.raises(ValueError, match=rf"^batch must hold samples of one shape .* {shapes}"):
            collate(num_classes=2)(samples)
    pre_batched = (torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]))  # DataLoader(batch_size=None)
    with pytest.raises(
        ValueError, match=r"^batch must be a list of samples, as DataLoader\(batch_size=...\)"
    ):
        collate(num_classes=2)(pre_batched)
    with pytest.raises(  # one (image, class) sample, not a list of them: dataset[0] for [dataset[0]]
        ValueError,
        match=r"^batch must be a list of samples, .* got one sample \(a tuple of 2 item\(s\), the first a "
        r"tensor of dtype torch.float32 and shape \(3, 8, 8\)\)",
    ):
        collate(num_classes=2)((torch.rand(3, 8, 8), 1))


def test_class_indices_out_of_range_in_the_losses() -> None:
    logits = torch.randn(3, 4)
    with pytest.raises(
        ValueError, match=r"^class-index targets must lie in \[0, K\) = \[0, 4\) .* got values from 0 to 4"
    ):
        Z.SoftTargetCrossEntropy()(logits, torch.tensor([0, 4, 1]))
    with pytest.raises(
        ValueError, match=r"^class-index clean_targets must lie in \[0, K\) = \[0, 4\) .* from -1 to 2"
    ):
        Z.MixupELoss()(logits, torch.full((3, 4), 0.25), logits, torch.tensor([-1, 2, 1]))


@pytest.mark.parametrize("dtype", [torch.bool, torch.complex64])
def test_the_losses_refuse_targets_that_are_neither_float_nor_class_indices(dtype: torch.dtype) -> None:
    logits = torch.randn(3, 4)
    with pytest.raises(
        TypeError, match=rf"^targets must be float targets or integer class indices, got dtype {dtype}$"
    ):
        Z.SoftTargetCrossEntropy()(logits, torch.ones(3, 4).to(dtype))


@pytest.mark.parametrize("kernel", ["apply_weights", "apply_terms", "mix_pairs", "paste_box"])
def test_in_place_kernels_refuse_overlapping_memory(kernel: str) -> None:
    x = torch.rand(1, 3, 8, 8).expand(4, 3, 8, 8)  # stride 0 over the batch: one sample seen 4 times
    partners = torch.tensor([1, 2, 3, 0])
    call = {
        "apply_weights": lambda: F.apply_weights(x, F.zeta_weights(4), inplace=True),
        "apply_terms": lambda: F.apply_terms(x, *F.zeta_terms(4, max_terms=2), inplace=True),
        "mix_pairs": lambda: F.mix_pairs(x, 0.5, partners, inplace=True),
        "paste_box": lambda: F.paste_box(x, F.Box(0, 0, 4, 4), partners, inplace=True),
    }[kernel]
    with pytest.raises(
        ValueError, match=r"^x must not have overlapping memory for inplace=True .* strides \(0, "
    ):
        call()
    arguments = {
        "apply_weights": (F.zeta_weights(4),),
        "apply_terms": F.zeta_terms(4, max_terms=2),
        "mix_pairs": (0.5, partners),
        "paste_box": (F.Box(0, 0, 4, 4), partners),
    }[kernel]
    # out of place, a mix of four copies of one sample is that sample
    torch.testing.assert_close(getattr(F, kernel)(x, *arguments), x)


# -- drop-in with torchvision ------------------------------------------------------------------------


@pytest.mark.parametrize("cls", TRANSFORM_CLASSES)
def test_code_that_catches_valueerror_as_torchvision_raises_catches_ours(cls: type) -> None:
    images = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"^labels must be a torch.Tensor, got list"):
        cls(num_classes=3)(images, [0, 1])
    pil = PIL.Image.new("RGB", (8, 8))
    with pytest.raises(ValueError, match=r"images must be a batched torch.Tensor .* got PIL.Image.Image"):
        cls(num_classes=3)(pil, torch.tensor([0, 1]))
    with pytest.raises(TypeError):  # and still a TypeError, for code that catches that
        cls(num_classes=3)(images, [0, 1])


# -- masks: one form whatever the draw, every value checked --------------------------------------------


def _segmentation(n: int, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        "image": torch.rand(n, 2, *mask.shape[-3:]),
        "mask": tv_tensors.Mask(mask),
        "label": torch.arange(n) % 3,
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda p: Z.MixUp(num_classes=3, spatial_dims=3, p=p),
        lambda p: Z.ZetaMixup(num_classes=3, spatial_dims=3, p=p),
        lambda p: Z.ZetaCutMix(num_classes=3, spatial_dims=3, p=p),
        lambda p: Z.CutMix(num_classes=3, spatial_dims=3, p=p),
    ],
    ids=["MixUp", "ZetaMixup", "ZetaCutMix", "CutMix"],
)
def test_a_mask_comes_back_in_one_form_whether_or_not_the_batch_is_mixed(make) -> None:
    """Blending methods give soft masks (N, K, *spatial), CutMix class indices: mixed or not."""
    masks = torch.randint(0, 3, (4, 3, 4, 5))
    forms = set()
    for n, p in ((4, 1.0), (4, 0.0), (1, 1.0)):  # mixed, p = 0, a batch of one
        out = make(p)(_segmentation(n, masks[:n]))["mask"]
        assert isinstance(out, tv_tensors.Mask)
        forms.add((out.dtype, tuple(out.shape[1:])))
        if p == 0.0 or n == 1:  # unmixed: the masks themselves, in that form
            expected = (
                masks[:n] if out.dtype == masks.dtype else F.one_hot_masks(masks[:n], 3, spatial_dims=3)
            )
            assert torch.equal(out.as_subclass(torch.Tensor), expected)
    assert len(forms) == 1, forms


def test_mask_values_are_checked_whether_or_not_the_batch_is_mixed() -> None:
    for n, value in itertools.product((1, 2), (5, -1)):
        masks = torch.zeros(n, 3, 4, 5, dtype=torch.long)
        masks[0, 0, 0, 0] = value
        low, high = min(value, 0), max(value, 0)
        message = (
            rf"^masks must be class indices in \[0, num_classes\) = \[0, 3\), got values from {low} to {high}"
        )
        for make in BLENDING_CLASSES:  # the copying methods copy any value, made into no one-hot
            with pytest.raises(ValueError, match=message):
                make(num_classes=3, spatial_dims=3)(_segmentation(n, masks))


@pytest.mark.parametrize("n", [1, 2])
def test_bool_and_complex_masks_are_refused_naming_masks(n: int) -> None:
    bool_masks = torch.zeros(n, 3, 4, 5, dtype=torch.bool)
    with pytest.raises(
        TypeError,
        match=r"^masks must be an integer tensor of class indices, got a tensor of dtype torch.bool",
    ):
        Z.MixUp(num_classes=3, spatial_dims=3)(_segmentation(n, bool_masks))
    with pytest.raises(
        TypeError,
        match=r"^masks must be an integer tensor of class indices, got a tensor of dtype torch.bool",
    ):
        F.one_hot_masks(bool_masks, 3, spatial_dims=3)
    for mode in ("batch", "elem"):
        with pytest.raises(
            TypeError,
            match=r"^masks must hold real values \(class indices or soft masks\), got dtype torch.complex64",
        ):
            Z.CutMix(num_classes=3, spatial_dims=3, mode=mode)(
                _segmentation(n, bool_masks.to(torch.complex64))
            )


def test_one_hot_masks_of_an_empty_batch() -> None:
    assert F.one_hot_masks(torch.zeros(0, 3, 4, dtype=torch.long), 3).shape == (0, 3, 3, 4)


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_a_meta_batch_gives_the_shapes_and_dtypes_a_real_batch_gives(method) -> None:
    """Meta tensors (shape propagation) come back on meta in the form a real batch's mix has."""
    shape = (4, 3, 2, 4, 5) if method.volumes else (4, 3, 4, 5)
    param = method.typical or 0.5
    real = method.run(torch.rand(shape), torch.arange(4) % 3, 3, param, 0)
    meta = method.run(torch.empty(shape, device="meta"), torch.arange(4, device="meta") % 3, 3, param, 0)
    for got, expected in zip(meta, real, strict=True):
        assert got.device.type == "meta"
        assert (got.shape, got.dtype) == (expected.shape, expected.dtype)


@pytest.mark.parametrize("p", [1.0, 0.5])
def test_a_meta_batch_draws_nothing(p: float) -> None:
    """Shape propagation leaves the global RNG as it was: no coin for ``p``, no draw of the mix."""
    images, labels = torch.empty(4, 3, 4, 5, device="meta"), torch.arange(4, device="meta") % 3
    for cls in TRANSFORM_CLASSES:
        state = torch.get_rng_state()
        cls(num_classes=3, p=p)(images, labels)
        assert torch.equal(torch.get_rng_state(), state), cls.__name__


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
def test_meta_and_real_tensors_are_not_mixed_together(mode: str) -> None:
    images, labels = torch.rand(4, 3, 4, 5), torch.arange(4) % 3
    meta_mask = tv_tensors.Mask(torch.zeros(4, 4, 5, dtype=torch.long, device="meta"))
    hint = r"or neither on it \(a meta batch has no values to mix real ones with\), got "
    for make in TRANSFORM_CLASSES:
        options = {"mode": mode} if make in MODE_CLASSES else {}
        with pytest.raises(
            ValueError, match=r"^labels must be on the meta device as images is, " + hint + "labels on cpu"
        ):
            make(num_classes=3, **options)(images.to("meta"), labels)
        with pytest.raises(
            ValueError, match=r"^images must be on the meta device as masks is, " + hint + "images on cpu"
        ):
            make(num_classes=3, **options)({"image": images, "mask": meta_mask, "label": labels})
        second = {"image": tv_tensors.Image(images.to("meta")), "other": tv_tensors.Image(images)}
        with pytest.raises(
            ValueError,
            match=r"^images\[1\] must be on the meta device as images is, " + hint + r"images\[1\] on cpu",
        ):
            make(num_classes=3, **options)({**second, "label": labels.to("meta")})


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_unsigned_class_indices_are_read_and_checked_exactly(dtype: torch.dtype) -> None:
    images = torch.rand(3, 1, 2, 2)
    _, labels = Z.ZetaMixup(num_classes=3, p=0.0)(images, torch.tensor([0, 2, 1], dtype=dtype))
    assert torch.equal(labels, torch.eye(3)[[0, 2, 1]])
    top = torch.iinfo(dtype).max
    with pytest.raises(
        ValueError,
        match=rf"^labels must be class indices in \[0, num_classes\) = \[0, 3\), got values from 0 to {top}$",
    ):
        Z.MixUp(num_classes=3)(images, torch.tensor([0, top, 1], dtype=dtype))
    with pytest.raises(  # every value at the top (uint64: each of them read as a negative int64)
        ValueError,
        match=rf"^labels must be class indices in \[0, num_classes\) = \[0, 3\), got values from {top - 1} to {top}$",
    ):
        Z.MixUp(num_classes=3)(images, torch.tensor([top, top - 1, top], dtype=dtype))
    with pytest.raises(  # every value below 2^63 (uint64: read as int64 as they are)
        ValueError,
        match=r"^labels must be class indices in \[0, num_classes\) = \[0, 3\), got values from 0 to 7$",
    ):
        Z.MixUp(num_classes=3)(images, torch.tensor([0, 7, 1], dtype=dtype))
    masks = torch.tensor([0, 1, 2, top], dtype=dtype).reshape(1, 2, 2).expand(3, 2, 2)
    with pytest.raises(
        ValueError,
        match=rf"^masks must be class indices in \[0, num_classes\) = \[0, 3\), got values from 0 to {top}; "
        r"if a value marks unlabeled positions \(VOC's 255\), pass it as ignore_index$",
    ):
        Z.MixUp(num_classes=3)({"image": images, "mask": tv_tensors.Mask(masks), "label": torch.arange(3)})


@pytest.mark.parametrize(
    "classes", [5, 1024, 1025, 3000]
)  # rows of a cached identity up to 1024, else one_hot
def test_class_indices_are_one_hot_rows_and_checked_for_any_number_of_classes(classes: int) -> None:
    labels = torch.tensor([0, classes - 1, 2, 1])
    rows = F.one_hot(labels, classes)
    assert (
        rows.dtype == torch.float32
        and torch.equal(rows.argmax(1), labels)
        and torch.equal(rows.sum(1), torch.ones(4))
    )
    rows[0, 0] = 7.0  # a new tensor each time: writing into one leaves the next untouched
    assert F.one_hot(labels, classes)[0, 0] == 1.0
    for bad, low, high in ((classes, 0, classes), (-1, -1, classes - 1)):
        with pytest.raises(
            ValueError,
            match=rf"^labels must be class indices in \[0, num_classes\) = \[0, {classes}\), "
            rf"got values from {low} to {high}$",
        ):
            Z.MixUp(num_classes=classes)(torch.rand(4, 1, 2, 2), torch.tensor([0, bad, 2, classes - 1]))


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
@pytest.mark.parametrize("cls", COPYING_CLASSES)
def test_copying_methods_take_bool_masks_in_every_mode_and_copy_them_as_the_images(cls, mode: str) -> None:
    """A copy keeps a bool mask bool, pixel for pixel where the images' pixels came from."""
    n = 6
    coded = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 3, 8, 8).contiguous()
    masks = tv_tensors.Mask((torch.arange(n) % 2 == 1).reshape(n, 1, 1).expand(n, 8, 8).contiguous())
    torch.manual_seed(0)
    out = cls(num_classes=3, mode=mode)({"image": coded, "mask": masks, "label": torch.arange(n) % 3})
    assert out["mask"].dtype == torch.bool
    source = out["image"][:, 0].long()  # the sample each pixel was copied from
    assert torch.equal(out["mask"].as_subclass(torch.Tensor), source % 2 == 1)


# -- a batch that looks channels-last -----------------------------------------------------------------


@pytest.mark.parametrize("cls", TRANSFORM_CLASSES, ids=lambda c: c.__name__)
def test_a_batch_that_looks_channels_last_warns_where_a_region_is_cut(cls: type) -> None:
    """(N, H, W, 3) from NumPy or OpenCV: a method that cuts a region (CutMix, ZetaCutMix, FMix,
    ResizeMix) would cut it across W and C. ζ-mixup and mixup mix whole samples, right in any
    layout, and say nothing; nor does any method on (N, C, H, W), on a channels_last memory format
    or on small feature maps (N, 512, 4, 4)."""
    labels = torch.arange(4) % 3
    # gray, RGB, RGBA; and the least height and width that warn: both above 4
    for height, channels in ((16, 1), (16, 3), (16, 4), (5, 3)):
        images = torch.rand(4, height, height, channels)
        if {variant.family for variant in VARIANTS if variant.cls is cls} <= {"zeta", "pair"}:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                cls(num_classes=3)(images, labels)
        else:
            with pytest.warns(
                UserWarning,
                match=rf"^images of shape \(4, {height}, {height}, {channels}\) look channels-last",
            ):
                cls(num_classes=3)(images, labels)
    for images in (
        torch.rand(4, 3, 16, 16),
        torch.rand(4, 3, 16, 16).to(memory_format=torch.channels_last),
        torch.rand(4, 512, 4, 4),
        torch.rand(4, 4, 16, 3),  # four channels of 16×3
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cls(num_classes=3)(images, labels)


@pytest.mark.parametrize(("square", "limit"), [(True, 2**29), (False, 2**59)])
def test_the_size_limit_is_the_last_size_allowed(square: bool, limit: int) -> None:
    """The limit itself passes the check (``MAX_SQUARE_BATCH`` for an N×N draw, whose keys then fail
    to allocate with their own message; ``MAX_ELEMENTS`` for others); one more is refused as a size
    no tensor could have."""
    from zmix_transforms._checks import check_batch_size

    assert check_batch_size(limit, square=square) == limit
    with pytest.raises(
        ValueError, match=rf"^batch_size must be an int in \[1, {limit}\] .* got {limit + 1}$"
    ):
        check_batch_size(limit + 1, square=square)


def test_cutmix_region_takes_any_number_of_spatial_sizes_but_none() -> None:
    """A line (W,), an image (H, W) or a volume (D, H, W) gets a region of as many sides; an empty
    shape is refused by name."""
    for shape in ((10,), (10, 12), (6, 10, 12)):
        region = F.cutmix_region(shape, 0.5, generator=torch.Generator().manual_seed(1))
        assert len(region.starts) == len(region.stops) == len(shape)
    with pytest.raises(TypeError, match=r"^shape must be a tuple of spatial sizes .* got \(\)"):
        F.cutmix_region((), 0.5)


@pytest.mark.parametrize("collate", COLLATE_CLASSES)
def test_collates_of_pil_images_name_the_conversion(collate: type) -> None:
    """A dataset without a ToTensor-like transform gives PIL images: default_collate's TypeError
    names their class; the collates name the transform that converts them (a batch of one too)."""
    image = PIL.Image.new("RGB", (8, 8))
    for samples in (
        [(image, 0), (image, 1)],
        [{"image": image, "label": 0}] * 2,
        [image, image],
        [(image, 0)],
    ):
        with pytest.raises(
            TypeError,
            match=r"^batch must hold tensors \(or arrays or numbers\) to be collated, got samples holding "
            r"PIL images; convert them in the dataset's transform, e.g. v2.PILToTensor\(\)",
        ):
            collate(num_classes=2)(samples)


@pytest.mark.parametrize("kind", [RuntimeError, TypeError])
def test_a_collate_fns_own_error_is_left_as_it_is(kind: type[Exception]) -> None:
    """Only torch.stack's error on samples of several shapes, and default_collate's on PIL images,
    become the collate's own errors."""

    def failing(batch: list) -> None:
        raise kind("the dataset's own collate failed")

    samples = [(torch.rand(3, 8, 8), 0), (torch.rand(3, 8, 8), 1)]
    with pytest.raises(kind, match=r"^the dataset's own collate failed$"):
        Z.MixUpCollate(num_classes=2, collate_fn=failing)(samples)


def test_a_collate_fn_of_another_structure_keeps_it() -> None:
    """A collate_fn that returns another structure than the samples' is mixed as it returns it."""
    samples = [(tv_tensors.Image(torch.rand(3, 8, 8)), 0), (tv_tensors.Image(torch.rand(3, 8, 8)), 1)]
    collate = Z.MixUpCollate(
        num_classes=2, collate_fn=lambda batch: (*torch.utils.data.default_collate(batch), "id")
    )
    images, labels, extra = collate(samples)
    assert images.shape == (2, 3, 8, 8) and labels.shape == (2, 2) and extra == "id"
