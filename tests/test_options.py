"""Issue-5 options: label smoothing, p, per-sample λ, RandomMix, ZetaCutMix, CutMix masks,
return_originals and the MixupE loss."""

from __future__ import annotations

import math
import pickle
import re

import pytest
import torch
from torch.utils.data import default_collate
from torchvision import tv_tensors
from torchvision.transforms import v2

import zmix_transforms as Z
from tests.methods import COLLATE_CLASSES, TRANSFORM_CLASSES
from zmix_transforms import functional as F

TRANSFORMS = TRANSFORM_CLASSES
COLLATES = COLLATE_CLASSES


def _batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, 8, 8, generator=g), torch.arange(n) % 4


# -- label smoothing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("s", [0.0, 0.1, 0.5, 1.0])
def test_one_hot_smoothing_matches_timm_and_torch(s: float) -> None:
    labels = torch.tensor([0, 3, 1])
    out = F.one_hot(labels, 4, label_smoothing=s)
    expected = torch.full((3, 4), s / 4)
    expected[torch.arange(3), labels] = 1 - s + s / 4
    torch.testing.assert_close(out, expected)
    # torch's cross-entropy with label_smoothing=s equals cross-entropy against these targets
    logits = torch.randn(3, 4)
    torch.testing.assert_close(
        torch.nn.functional.cross_entropy(logits, labels, label_smoothing=s),
        torch.nn.functional.cross_entropy(logits, out),
    )


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_smoothing_is_applied_before_mixing(cls: type) -> None:
    images, labels = _batch()
    torch.manual_seed(1)
    _, smooth = cls(num_classes=4, label_smoothing=0.2)(images, labels)
    torch.manual_seed(1)
    _, plain = cls(num_classes=4)(images, labels)
    torch.testing.assert_close(smooth, plain * 0.8 + 0.2 / 4)  # mixing is linear and rows sum to 1
    assert (smooth >= 0.2 / 4 - 1e-7).all()


def test_smoothing_of_a_batch_of_one_and_of_float_labels() -> None:
    images, _ = _batch(1)
    _, out = Z.MixUp(num_classes=4, label_smoothing=0.4)(images, torch.tensor([2]))
    torch.testing.assert_close(out, torch.tensor([[0.1, 0.1, 0.7, 0.1]]))
    _, out = Z.MixUp(label_smoothing=0.4)(images, torch.tensor([[0.5, 0.5, 0.0, 0.0]]))
    torch.testing.assert_close(out, torch.tensor([[0.4, 0.4, 0.1, 0.1]]))


@pytest.mark.parametrize("cls", TRANSFORMS + COLLATES)
@pytest.mark.parametrize(("name", "value"), [("label_smoothing", 1.5), ("label_smoothing", -0.1), ("p", 2.0)])
def test_smoothing_and_p_are_checked(cls: type, name: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be a number in \[0, 1\], got {value}"):
        cls(**{name: value})


def test_smooth_labels_errors() -> None:
    with pytest.raises(
        TypeError,
        match=r"^labels must be a float torch.Tensor of shape \(N, K\), got a tensor of dtype torch.int64",
    ):
        F.smooth_labels(torch.zeros(2, 3, dtype=torch.int64), 0.1)
    with pytest.raises(ValueError, match=r"^label_smoothing must be a number in \[0, 1\], got nan"):
        F.one_hot(torch.tensor([0]), 2, label_smoothing=math.nan)
    message = r"^labels must have at least one class to smooth over, got shape \(2, 0\)$"
    with pytest.raises(ValueError, match=message):
        F.smooth_labels(torch.zeros(2, 0), 0.1)
    with pytest.raises(ValueError, match=message):  # float labels of no class, through a transform
        Z.MixUp(label_smoothing=0.1)(torch.rand(2, 3, 4, 4), torch.zeros(2, 0))


# -- p -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_p_zero_never_mixes_but_still_makes_labels_soft(cls: type) -> None:
    images, labels = _batch()
    out_images, out_labels = cls(num_classes=4, p=0.0)(images, labels)
    assert torch.equal(out_images, images) and out_images.data_ptr() != images.data_ptr()
    assert torch.equal(out_labels, F.one_hot(labels, 4))


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_p_is_the_probability_of_mixing(cls: type) -> None:
    images, labels = _batch()
    transform = cls(num_classes=4, p=0.3)
    torch.manual_seed(0)
    calls = 400
    mixed = sum(not torch.equal(transform(images, labels)[0], images) for _ in range(calls))
    assert abs(mixed / calls - 0.3) < 4 * math.sqrt(0.3 * 0.7 / calls)


# -- per-sample λ --------------------------------------------------------------------------------------


def test_per_sample_mixup_draws_a_lambda_per_sample() -> None:
    images, _ = _batch(16)
    torch.manual_seed(0)
    _, weights = Z.MixUp(mode="elem")(images, torch.eye(16))
    own = weights.diagonal()
    assert own.unique().numel() == 16, "sixteen different λ"
    torch.testing.assert_close(weights.sum(1), torch.ones(16))
    partner_weights = (weights - torch.diag(own)).max(1).values
    torch.testing.assert_close(partner_weights, 1 - own)  # the rest of each row on one partner


def test_per_sample_images_and_labels_share_each_lambda() -> None:
    images, _ = _batch(12)
    torch.manual_seed(3)
    out_images, weights = Z.MixUp(0.5, mode="elem")(images, torch.eye(12, dtype=torch.float64))
    reference = (weights @ images.to(torch.float64).reshape(12, -1)).reshape(images.shape)
    torch.testing.assert_close(out_images.to(torch.float64), reference, rtol=0, atol=1e-6)


def test_sample_lambdas_follow_beta() -> None:
    lams = F.sample_lambdas(2.0, 20_000, generator=torch.Generator().manual_seed(0))
    assert lams.dtype == torch.float64 and ((lams >= 0) & (lams <= 1)).all()
    assert abs(float(lams.mean()) - 0.5) < 0.01
    assert abs(float(lams.var()) - 1 / (4 * 5)) < 0.005


def test_per_sample_lam_takes_both_ends_of_its_range() -> None:
    """λ = 0 (the partner alone) and λ = 1 (the sample alone) are weights in [0, 1], not errors."""
    x, partners = torch.rand(4, 3), torch.tensor([1, 2, 3, 0])
    mixed = F.mix_pairs(x, torch.tensor([0.0, 1.0, 0.0, 1.0]), partners)
    assert torch.equal(mixed[[0, 2]], x[[1, 3]]) and torch.equal(mixed[[1, 3]], x[[1, 3]])


def test_per_sample_lam_errors() -> None:
    x = torch.rand(4, 3)
    partners = torch.tensor([1, 2, 3, 0])
    with pytest.raises(
        ValueError, match=r"^lam must be a number or a tensor of shape \(N,\) = \(4,\), got shape \(3,\)"
    ):
        F.mix_pairs(x, torch.rand(3), partners)
    with pytest.raises(ValueError, match=r"^lam must hold weights in \[0, 1\], got values from"):
        F.mix_pairs(x, torch.tensor([0.5, 1.5, 0.2, 0.1]), partners)
    with pytest.raises(
        TypeError, match=r"^lam must be a number or a float tensor of shape \(N,\), got dtype torch.int64"
    ):
        F.mix_pairs(x, torch.ones(4, dtype=torch.int64), partners)
    with pytest.raises(TypeError, match=r"^mode must be one of 'batch', 'elem', 'pair' \(a str\), got 1"):
        Z.MixUp(mode=1)
    with pytest.raises(ValueError, match=r"^mode must be one of 'batch', 'elem', 'pair', got 'sample'"):
        Z.CutMixCollate(mode="sample")


# -- RandomMix -----------------------------------------------------------------------------------------


def test_random_mix_picks_with_the_given_probabilities() -> None:
    images, labels = _batch()
    mix = Z.RandomMix([Z.MixUp(num_classes=4), Z.CutMix(num_classes=4)], p=[3.0, 1.0])
    assert mix.p == [0.75, 0.25]
    torch.manual_seed(0)
    calls = 800

    # CutMix copies pixels: every output value is some input's value at that position.
    def copied_only(out: torch.Tensor) -> bool:
        return bool((out.unsqueeze(1) == images.unsqueeze(0)).any(1).all())

    cutmix = sum(copied_only(mix(images, labels)[0]) for _ in range(calls))
    assert abs(cutmix / calls - 0.25) < 4 * math.sqrt(0.25 * 0.75 / calls)


def test_random_mix_is_picklable_and_composes() -> None:
    mix = Z.RandomMix([Z.ZetaMixup(num_classes=4), Z.MixUp(num_classes=4)])
    copy = pickle.loads(pickle.dumps(Z.MixCollate(mix)))
    samples = [(torch.rand(3, 4, 4), i % 4) for i in range(6)]
    torch.manual_seed(2)
    a = Z.MixCollate(mix)(samples)
    torch.manual_seed(2)
    b = copy(samples)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert "p=[0.5, 0.5]" in repr(mix)


def test_random_mix_takes_any_batch_transform() -> None:
    """Other libraries' transforms and plain functions are picked and called as they are."""
    images, labels = _batch()
    calls = []

    def unmixed(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(batch)  # a plain function: no mix, across_ranks or blends of its own
        return batch[0], F.one_hot(batch[1], 4)

    out, soft = Z.RandomMix([v2.MixUp(num_classes=4), unmixed], p=[0.0, 1.0])((images, labels))
    assert len(calls) == 1 and out is images and torch.equal(soft, F.one_hot(labels, 4))
    out, soft = Z.RandomMix([v2.MixUp(num_classes=4)])(images, labels)  # torchvision's, picked alone
    assert soft.shape == (8, 4) and not torch.equal(out, images)
    collated, soft = Z.MixCollate(Z.RandomMix([unmixed]))([(images[i], int(labels[i])) for i in range(8)])
    assert torch.equal(collated, images) and torch.equal(soft, F.one_hot(labels, 4))


def test_random_mix_errors() -> None:
    with pytest.raises(
        ValueError, match=r"^transforms must hold at least one transform, got an empty sequence"
    ):
        Z.RandomMix([])
    with pytest.raises(TypeError, match=r"^transforms\[1\] must be callable, got int"):
        Z.RandomMix([Z.MixUp(), 3])
    with pytest.raises(ValueError, match=r"^p must have one entry per transform \(2\), got 3"):
        Z.RandomMix([Z.MixUp(), Z.CutMix()], p=[1, 1, 1])
    with pytest.raises(
        ValueError, match=r"^p must hold finite numbers >= 0 with a positive sum, got \[0, 0\]"
    ):
        Z.RandomMix([Z.MixUp(), Z.CutMix()], p=[0, 0])
    for bad in ([1, -1], [2, -1], [1, math.nan], [1, math.inf]):  # a negative entry with a positive sum too
        with pytest.raises(
            ValueError,
            match=rf"^p must hold finite numbers >= 0 with a positive sum, got {re.escape(str(bad))}$",
        ):
            Z.RandomMix([Z.MixUp(), Z.CutMix()], p=bad)
    with pytest.raises(TypeError, match=r"^transforms must be a sequence of callables, got MixUp"):
        Z.RandomMix(Z.MixUp())


# -- ZetaCutMix ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.uint8])
def test_zeta_cutmix_is_cutmix_of_the_zeta_mixed_batch(dtype: torch.dtype) -> None:
    """Same draws, computed step by step with the functional kernels: identical results."""
    images = torch.randint(0, 256, (10, 3, 12, 12)).to(dtype)
    labels = torch.arange(10) % 5
    transform = Z.ZetaCutMix(2.0, 0.7, num_classes=5)
    torch.manual_seed(4)
    params = transform.make_params([images])
    torch.manual_seed(4)
    out_images, out_labels = transform(images, labels)
    zeta = F.apply_weights(images, params["weights"])
    expected = F.paste_region(zeta, params["region"], params["partners"])
    assert torch.equal(out_images, expected)
    soft = F.one_hot(labels, 5, dtype=torch.float64)
    zeta_labels = params["weights"] @ soft
    kept = params["lam"]
    expected_labels = kept * zeta_labels + (1 - kept) * zeta_labels[params["partners"]]
    torch.testing.assert_close(out_labels.to(torch.float64), expected_labels, rtol=0, atol=1e-6)
    assert math.isclose(kept, 1 - params["region"].size / 144)


def test_zeta_cutmix_label_weights_are_pairing_times_zeta() -> None:
    images, _ = _batch(9)
    transform = Z.ZetaCutMix(num_classes=9)
    torch.manual_seed(5)
    params = transform.make_params([images])
    torch.manual_seed(5)
    _, weights = transform(images, torch.eye(9, dtype=torch.float64))
    pairing = params["lam"] * torch.eye(9, dtype=torch.float64)
    pairing[torch.arange(9), params["partners"]] += 1 - params["lam"]
    torch.testing.assert_close(weights, pairing @ params["weights"], rtol=0, atol=1e-12)


# -- CutMix on segmentation masks ------------------------------------------------------------------------


def _coded(n: int, size: int = 10) -> torch.Tensor:
    """Batch whose every value is its sample's index."""
    return torch.arange(n).reshape(n, 1, 1).expand(n, size, size).contiguous()


@pytest.mark.parametrize("mask_shape", ["NHW", "N1HW"])
def test_cutmix_pastes_the_same_box_into_masks(mask_shape: str) -> None:
    n = 6
    coded = _coded(n)
    images = tv_tensors.Image(coded.unsqueeze(1).expand(n, 3, 10, 10).to(torch.uint8))
    mask = tv_tensors.Mask(coded.unsqueeze(1) if mask_shape == "N1HW" else coded)
    torch.manual_seed(0)
    out_images, out_mask = Z.CutMix()(images, mask)
    assert type(out_mask) is tv_tensors.Mask and out_mask.shape == mask.shape and out_mask.dtype == mask.dtype
    assert torch.equal(out_images[:, 0].long(), out_mask.reshape(n, 10, 10).long()), "image and mask aligned"
    assert not torch.equal(out_mask, mask)
    assert torch.equal(mask, tv_tensors.Mask(coded.unsqueeze(1) if mask_shape == "N1HW" else coded))


def test_cutmix_with_masks_and_class_labels_in_a_dict() -> None:
    n = 5
    coded = _coded(n)
    sample = {
        "image": tv_tensors.Image(coded.unsqueeze(1).float()),
        "mask": tv_tensors.Mask(coded),
        "labels": torch.arange(n),
    }
    out = Z.CutMix(num_classes=n)(sample)
    assert torch.equal(out["image"][:, 0].long(), out["mask"])
    kept = (out["mask"] == torch.arange(n).reshape(n, 1, 1)).double().mean((1, 2))
    torch.testing.assert_close(out["labels"].diagonal().double(), kept, rtol=0, atol=1e-6)


# -- return_originals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", COLLATES)
def test_return_originals(cls: type) -> None:
    samples = [(torch.randint(0, 256, (3, 6, 6), dtype=torch.uint8), i % 3) for i in range(7)]
    mixed_images, mixed_labels, images, labels = cls(num_classes=3, return_originals=True)(samples)
    expected_images, expected_labels = default_collate(samples)
    assert torch.equal(images, expected_images) and torch.equal(labels, expected_labels)
    assert mixed_labels.shape == (7, 3) and mixed_images.shape == images.shape
    assert not torch.equal(mixed_images, images)


def test_return_originals_for_dict_batches() -> None:
    samples = [{"image": torch.rand(3, 4, 4), "label": i % 2} for i in range(4)]
    mixed, original = Z.MixCollate(Z.MixUp(num_classes=2), return_originals=True)(samples)
    assert set(mixed) == set(original) == {"image", "label"}
    assert original["label"].tolist() == [0, 1, 0, 1] and mixed["label"].shape == (4, 2)


def test_return_originals_must_be_bool() -> None:
    with pytest.raises(TypeError, match=r"^return_originals must be a bool, got str"):
        Z.MixCollate(Z.MixUp(), return_originals="yes")


# -- MixupE ------------------------------------------------------------------------------------------------


def _mixupe_reference(mixed_logits, mixed_targets, clean_logits, clean_labels, alpha, eta, tau):
    """MixupE written out term by term, independently of the package."""
    log_p = torch.log_softmax(mixed_logits, dim=1)
    l_mix = -(mixed_targets * log_p).sum(1).mean()
    y = torch.zeros_like(clean_logits)
    y[torch.arange(len(clean_labels)), clean_labels] = 1.0
    probs = torch.exp(clean_logits - torch.logsumexp(clean_logits, dim=1, keepdim=True))
    s = torch.stack(
        [sum(clean_logits[i, k] * (y[i, k] - probs[i, k]) for k in range(y.shape[1])) for i in range(len(y))]
    )
    lam_bar = (alpha + 1) / (2 * alpha + 1)
    term = (1 - lam_bar) * sum(s[i] for i in range(len(s)) if s[i] < tau) / len(s)
    loss = l_mix - eta * term
    return loss * (l_mix.detach().abs() / loss.detach().abs()), l_mix


@pytest.mark.parametrize(
    ("alpha", "eta", "tau"), [(2.0, 1e-3, 1.0), (1.0, 0.5, 0.3), (0.4, 2.0, 5.0), (1.0, 1e-3, -1.0)]
)
def test_mixupe_value_and_gradient(alpha: float, eta: float, tau: float) -> None:
    g = torch.Generator().manual_seed(0)
    x, labels = torch.randn(8, 5, generator=g), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    model = torch.nn.Linear(5, 3)
    with torch.no_grad():
        model.weight.copy_(torch.randn(3, 5, generator=g) * 2)
    mixed_x, mixed_y = F.mixup(x, F.one_hot(labels, 3), 0.7, generator=g)

    loss = Z.MixupELoss(alpha, eta, tau)(model(mixed_x), mixed_y, model(x), labels)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    reference, l_mix = _mixupe_reference(model(mixed_x), mixed_y, model(x), labels, alpha, eta, tau)
    ref_grads = torch.autograd.grad(reference, list(model.parameters()))

    torch.testing.assert_close(loss, l_mix)  # the value is the mixup loss while η·term < L_mix
    for ours, theirs in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(ours, theirs)
    plain = torch.autograd.grad(Z.SoftTargetCrossEntropy()(model(mixed_x), mixed_y), list(model.parameters()))
    assert not all(torch.allclose(a, b) for a, b in zip(grads, plain, strict=True)), (
        "the term changes the gradient"
    )


def test_mixupe_value_flips_sign_when_the_term_outweighs_the_mixup_loss() -> None:
    """As in the authors' code: |L_mix| · sign(L_mix − η·term), the gradient flipped with it."""
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(8) % 3
    # confident and right: every s_i > 0, so the term is positive and η·term > L_mix
    clean_logits = (4 * F.one_hot(labels, 3) + 0.1 * torch.randn(8, 3, generator=g)).requires_grad_()
    mixed_logits, mixed_targets = torch.randn(8, 3, generator=g), torch.full((8, 3), 1 / 3)
    loss_fn = Z.MixupELoss(alpha=1.0, eta=1e3, threshold=10.0)
    l_mix = Z.SoftTargetCrossEntropy()(mixed_logits, mixed_targets)
    term = loss_fn.directional_term(clean_logits, labels)
    assert float((l_mix - 1e3 * term).detach()) < 0  # the term outweighs L_mix
    loss = loss_fn(mixed_logits, mixed_targets, clean_logits, labels)
    torch.testing.assert_close(loss, -l_mix)
    reference, _ = _mixupe_reference(mixed_logits, mixed_targets, clean_logits, labels, 1.0, 1e3, 10.0)
    torch.testing.assert_close(
        torch.autograd.grad(loss, clean_logits)[0], torch.autograd.grad(reference, clean_logits)[0]
    )


def test_mixupe_leaves_out_a_sample_whose_s_equals_the_threshold() -> None:
    """Only ``s_i < τ`` counts: with τ set to one sample's own ``s_i``, that sample is left out."""
    logits, labels = torch.randn(4, 3, generator=torch.Generator().manual_seed(2)), torch.tensor([2, 0, 1, 1])
    s = (logits * (F.one_hot(labels, 3) - logits.softmax(dim=1))).sum(dim=1)
    top = int(s.argmax())
    loss_fn = Z.MixupELoss(alpha=1.0, threshold=float(s[top]))
    others = s[torch.arange(4) != top].sum()
    torch.testing.assert_close(
        loss_fn.directional_term(logits, labels), (1 - loss_fn.mean_lambda) * others / 4
    )


def test_mixupe_accepts_one_hot_clean_targets() -> None:
    logits, labels = torch.randn(4, 3), torch.tensor([2, 0, 1, 1])
    loss_fn = Z.MixupELoss()
    torch.testing.assert_close(
        loss_fn.directional_term(logits, labels), loss_fn.directional_term(logits, F.one_hot(labels, 3))
    )


def test_mixupe_errors() -> None:
    with pytest.raises(ValueError, match=r"^eta must be a finite number > 0, got -1.0"):
        Z.MixupELoss(eta=-1.0)
    with pytest.raises(ValueError, match=r"^threshold must be a finite number, got inf"):
        Z.MixupELoss(threshold=math.inf)
    with pytest.raises(TypeError, match=r"^threshold must be a finite number, got 'low' of type str"):
        Z.MixupELoss(threshold="low")
    loss_fn = Z.MixupELoss()
    with pytest.raises(
        ValueError, match=r"^class-index clean_targets must have shape \(B,\) = \(4,\), got \(3,\)"
    ):
        loss_fn(torch.randn(4, 3), torch.rand(4, 3), torch.randn(4, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(
        ValueError, match=r"^one-hot clean_targets must have the shape of clean_logits \(4, 3\), got \(4, 2\)"
    ):
        loss_fn(torch.randn(4, 3), torch.rand(4, 3), torch.randn(4, 3), torch.rand(4, 2))
