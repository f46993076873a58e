"""``RandomMix.from_timm`` and ``CutMix(minmax=...)`` against timm's ``Mixup`` (skipped without timm)."""

from __future__ import annotations

import pytest
import torch

import zmix_transforms as Z
from zmix_transforms import functional as F

timm_mixup = pytest.importorskip("timm.data.mixup")

K, SMOOTHING = 10, 0.1


def _flip(n: int) -> torch.Tensor:
    return torch.arange(n - 1, -1, -1)  # timm's pairing: sample i with sample N − 1 − i


def _lam_for(mode: str, n: int) -> float | torch.Tensor:
    """λ as each mode draws it: one, one per sample, or one per pair (i, N − 1 − i) as timm's."""
    if mode == "batch":
        return 0.37
    lam = torch.rand(n, dtype=torch.float64)
    return torch.minimum(lam, lam.flip(0)) if mode == "pair" else lam


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
def test_mixup_label_targets_equal_timms_for_the_same_lambda_and_pairing(mode: str) -> None:
    mix = Z.RandomMix.from_timm(
        mixup_alpha=0.8, cutmix_alpha=0.0, mode=mode, label_smoothing=SMOOTHING, num_classes=K
    )
    (mixup,) = mix.transforms
    assert isinstance(mixup, Z.MixUp) and mixup.mode == mode
    y = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    lam = _lam_for(mode, 8)
    soft = F.smooth_labels(F.one_hot(y, K, dtype=torch.float64), SMOOTHING)
    ours = mixup.mix_labels(soft, {"lam": lam, "partners": _flip(8)})
    timm_lam = lam.unsqueeze(1) if isinstance(lam, torch.Tensor) else lam
    theirs = timm_mixup.mixup_target(y, K, lam=timm_lam, smoothing=SMOOTHING)
    torch.testing.assert_close(ours.float(), theirs.float(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", ["elem", "pair"])
def test_per_sample_cutmix_label_targets_equal_timms_corrected_lambdas(mode: str) -> None:
    (cutmix,) = Z.RandomMix.from_timm(
        mixup_alpha=0.0, cutmix_alpha=1.0, mode=mode, label_smoothing=SMOOTHING, num_classes=K
    ).transforms
    assert isinstance(cutmix, Z.CutMix) and cutmix.mode == mode
    y = torch.tensor([0, 7, 7, 2, 9, 4])
    g = torch.Generator().manual_seed(0)
    regions = [F.cutmix_region((24, 20), float(torch.rand((), generator=g)), generator=g) for _ in range(6)]
    if mode == "pair":  # both samples of a pair (i, N − 1 − i) swap the same box
        regions = [regions[min(i, 5 - i)] for i in range(6)]
    images = torch.rand(6, 3, 24, 20)
    params = {"region": regions, "partners": _flip(6)}
    mixed = cutmix.mix_images(images, params)
    # timm's correct_lam per sample: 1 − (box area) / (H · W), one box per sample (pair)
    timm_lam = torch.tensor(
        [1.0 - (r.stops[0] - r.starts[0]) * (r.stops[1] - r.starts[1]) / (24 * 20) for r in regions],
        dtype=torch.float64,
    )
    kept = (mixed == images).all(1).double().mean((1, 2))  # the fraction each sample kept, measured
    torch.testing.assert_close(kept, timm_lam, rtol=0, atol=1e-12)
    soft = F.smooth_labels(F.one_hot(y, K, dtype=torch.float64), SMOOTHING)
    ours = cutmix.mix_labels(soft, {**params, "lam": kept})
    theirs = timm_mixup.mixup_target(y, K, lam=timm_lam.unsqueeze(1), smoothing=SMOOTHING)
    torch.testing.assert_close(ours.float(), theirs.float(), rtol=0, atol=1e-6)


def test_cutmix_label_targets_equal_timms_corrected_lambda_for_the_same_box() -> None:
    mix = Z.RandomMix.from_timm(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=SMOOTHING, num_classes=K)
    (cutmix,) = mix.transforms
    y = torch.tensor([0, 7, 7, 2, 9, 4])
    for seed in range(10):
        torch.manual_seed(seed)
        region = F.cutmix_region(
            (24, 20), float(torch.rand(())), generator=torch.Generator().manual_seed(seed)
        )
        (yl, xl), (yu, xu) = region.starts, region.stops
        timm_lam = 1.0 - (yu - yl) * (xu - xl) / (24 * 20)  # timm's correct_lam
        kept = 1.0 - region.size / (24 * 20)
        soft = F.smooth_labels(F.one_hot(y, K, dtype=torch.float64), SMOOTHING)
        ours = cutmix.mix_labels(soft, {"lam": kept, "partners": _flip(6)})
        theirs = timm_mixup.mixup_target(y, K, lam=timm_lam, smoothing=SMOOTHING)
        torch.testing.assert_close(ours.float(), theirs.float(), rtol=0, atol=1e-6)


def test_from_timm_switches_as_timm_does() -> None:
    both = Z.RandomMix.from_timm(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.3, prob=0.6, num_classes=K)
    assert [type(t) for t in both.transforms] == [Z.MixUp, Z.CutMix]
    assert both.p == pytest.approx([0.7, 0.3]) and all(t.p == 0.6 for t in both.transforms)
    assert all(t.label_smoothing == 0.1 for t in both.transforms)  # timm's default smoothing
    minmax = Z.RandomMix.from_timm(mixup_alpha=0.0, cutmix_minmax=(0.2, 0.8), num_classes=K)
    (cutmix,) = minmax.transforms
    assert cutmix.minmax == (0.2, 0.8) and cutmix.alpha == 1.0
    _, labels = minmax(torch.rand(5, 3, 16, 16), torch.arange(5))  # odd batches work here
    torch.testing.assert_close(labels.sum(1), torch.ones(5))
    for kwargs, message in (
        ({"correct_lam": False}, r"^correct_lam must be True, got False"),
        ({"mode": "sample"}, r"^mode must be one of 'batch', 'elem', 'pair', got 'sample'"),
        ({"mixup_alpha": 0.0}, r"^mixup_alpha or cutmix_alpha must be > 0"),
    ):
        with pytest.raises(ValueError, match=message):
            Z.RandomMix.from_timm(num_classes=K, **kwargs)


@pytest.mark.parametrize("shape", [(32, 32), (17, 40), (8, 12, 16)])
def test_minmax_boxes_have_sides_in_range_and_stay_inside(shape: tuple[int, ...]) -> None:
    low, high = 0.25, 0.75
    sides = []
    for seed in range(200):
        region = F.cutmix_region_minmax(shape, (low, high), generator=torch.Generator().manual_seed(seed))
        for start, stop, size in zip(*region, shape, strict=True):
            assert 0 <= start <= stop <= size
            assert int(size * low) <= stop - start < max(int(size * high), int(size * low) + 1)
        sides.append(region.stops[0] - region.starts[0])
    assert len(set(sides)) > 3  # drawn, not fixed
    with pytest.raises(
        ValueError, match=r"^minmax must be a pair \(lo, hi\) of fractions with 0 <= lo < hi <= 1"
    ):
        Z.CutMix(minmax=(0.8, 0.2))
