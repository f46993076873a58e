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
    # timm's randint(lo, hi) draws from neither reversed nor empty ranges; nor can a box leave the image
    for reversed_or_empty in ((0.8, 0.2), (0.5, 0.5), (0.2, 1.5), (-0.1, 0.5)):
        with pytest.raises(
            ValueError, match=r"^minmax must be a pair \(lo, hi\) of fractions with 0 <= lo < hi <= 1"
        ):
            Z.CutMix(minmax=reversed_or_empty)


def test_from_timm_takes_every_keyword_of_timms_mixup_with_its_default() -> None:
    """Every keyword of timm's ``Mixup``, with timm's default: ``Mixup()``'s arguments left out mean
    the same here (mutation seed 63: a default ``mixup_alpha`` of 2.5 passed)."""
    import inspect

    timms = dict(inspect.signature(timm_mixup.Mixup.__init__).parameters)
    timms.pop("self")
    ours = inspect.signature(Z.RandomMix.from_timm).parameters
    assert set(timms) <= set(ours), set(timms) - set(ours)
    defaults = {name: (ours[name].default, timms[name].default) for name in timms}
    assert all(mine == theirs for mine, theirs in defaults.values()), defaults


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"correct_lam": "no"}, TypeError, r"^correct_lam must be a bool, got 'no' of type str"),
        ({"switch_prob": 1.5}, ValueError, r"^switch_prob must be a number in \[0, 1\], got 1.5"),
        ({"prob": -0.1}, ValueError, r"^prob must be a number in \[0, 1\], got -0.1"),
        ({"cutmix_alpha": -1}, ValueError, r"^cutmix_alpha must be a finite number >= 0, got -1.0"),
        (
            {"mixup_alpha": "0.8"},
            TypeError,
            r"^mixup_alpha must be a finite number >= 0, got '0.8' of type str",
        ),
        (
            {"mixup_alpha": None},
            TypeError,
            r"^mixup_alpha must be a finite number >= 0, got None of type NoneType",
        ),
        ({"cutmix_minmax": (0.9, 0.1)}, ValueError, r"^cutmix_minmax must be a pair \(lo, hi\) of fractions"),
        ({"cutmix_minmax": 0.5}, TypeError, r"^cutmix_minmax must be a pair \(lo, hi\) of fractions"),
        ({"multi_label": "yes"}, TypeError, r"^multi_label must be a bool, got 'yes' of type str"),
    ],
)
def test_from_timm_names_timms_arguments(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Z.RandomMix.from_timm(num_classes=K, **kwargs)


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_multi_label_targets_equal_timms(mode: str) -> None:
    (mixup,) = Z.RandomMix.from_timm(
        mixup_alpha=0.8,
        cutmix_alpha=0.0,
        mode=mode,
        label_smoothing=SMOOTHING,
        num_classes=K,
        multi_label=True,
    ).transforms
    y = (torch.rand(8, K, generator=torch.Generator().manual_seed(1)) < 0.3).float()  # several classes a row
    lam = _lam_for(mode, 8)
    torch.manual_seed(0)
    _, soft = Z.MixUp(num_classes=K, label_smoothing=SMOOTHING, multi_label=True, p=0.0)(
        torch.rand(8, 3, 4, 4), y
    )
    ours = mixup.mix_labels(soft, {"lam": lam, "partners": _flip(8)})
    timm_lam = lam.unsqueeze(1) if isinstance(lam, torch.Tensor) else lam
    theirs = timm_mixup.mixup_target(y, K, lam=timm_lam, smoothing=SMOOTHING, multi_label=True)
    torch.testing.assert_close(ours.float(), theirs.float(), rtol=0, atol=1e-6)
    with pytest.raises(
        ValueError, match=r"^labels must be dense multi-label targets of shape \(N, K\) with multi_label"
    ):
        mixup(torch.rand(8, 3, 4, 4), torch.arange(8))


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
def test_train_scripts_mixup_loop_with_its_off_epoch_as_timms(mode: str) -> None:
    """timm's train.py: ``mixup_fn = Mixup(**mixup_args)``, and at ``--mixup-off-epoch``
    ``mixup_fn.mixup_enabled = False``; then images pass unmixed and labels are smoothed one-hot."""
    mixup_args = {
        "mixup_alpha": 0.8,
        "cutmix_alpha": 1.0,
        "cutmix_minmax": None,
        "prob": 1.0,
        "switch_prob": 0.5,
        "mode": mode,
        "label_smoothing": 0.1,
        "num_classes": K,
    }
    g = torch.Generator().manual_seed(0)
    batches = [
        (torch.rand(8, 3, 8, 8, generator=g), torch.randint(0, K, (8,), generator=g)) for _ in range(6)
    ]
    seen = {}
    for name, make in (("timm", timm_mixup.Mixup), ("ours", Z.RandomMix.from_timm)):
        torch.manual_seed(0)
        mixup_fn = make(**mixup_args)
        for epoch in range(4):
            if epoch >= 2:  # train.py: if args.mixup_off_epoch and epoch >= args.mixup_off_epoch
                mixup_fn.mixup_enabled = False
            for step, (images, labels) in enumerate(batches):
                x, y = mixup_fn(images.clone(), labels)  # timm mixes in place: a copy for each
                mixed_rows = int((x != images).flatten(1).any(1).sum())
                seen[name, epoch, step] = (mixed_rows, y)
    for epoch, step in ((e, s) for e in range(4) for s in range(len(batches))):
        (timm_rows, timm_y), (our_rows, our_y) = seen["timm", epoch, step], seen["ours", epoch, step]
        if epoch >= 2:  # off: nothing mixed, the same smoothed one-hot labels
            assert timm_rows == our_rows == 0
            torch.testing.assert_close(our_y, timm_y, rtol=0, atol=1e-7)
        torch.testing.assert_close(our_y.sum(1), torch.ones(8))
    assert sum(seen["ours", e, s][0] for e in (0, 1) for s in range(len(batches))) > 0
    assert Z.RandomMix.from_timm(**mixup_args).mixup_enabled is True
    with pytest.raises(TypeError, match=r"^mixup_enabled must be a bool, got 0 of type int"):
        Z.RandomMix.from_timm(**mixup_args).mixup_enabled = 0
