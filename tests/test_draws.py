"""The random draws: ζ-mixup weight structure and the distributions of λ, partners, ranks and boxes."""

from __future__ import annotations

import collections
import functools
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import zmix_transforms as Z
from tests.dispatch import VIEWS, Ops
from tests.memory import peak_bytes
from tests.strategies import batch_sizes, gammas, seeds
from zmix_transforms import _backend
from zmix_transforms import functional as F
from zmix_transforms.functional import _draws


@given(n=batch_sizes(), gamma=gammas(), seed=seeds())
def test_zeta_rows_are_permutations_of_the_p_series(n: int, gamma: float, seed: int) -> None:
    weights = F.zeta_weights(n, gamma, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    series = ranks**-gamma / (ranks**-gamma).sum()
    torch.testing.assert_close(
        weights.sort(dim=1, descending=True).values, series.expand(n, n), rtol=0, atol=0
    )
    torch.testing.assert_close(weights.diagonal(), series[0].expand(n), rtol=0, atol=0)
    if n >= 2:
        off_diagonal = weights.masked_fill(torch.eye(n, dtype=torch.bool), -1.0)
        assert (weights.diagonal() > off_diagonal.max(1).values).all(), (
            "the maximum is on the diagonal, alone"
        )
    if gamma >= 1.73:
        assert (weights.diagonal() > 0.5).all()


def test_own_weight_threshold_1_73() -> None:
    """γ ≥ 1.73 keeps the own weight above 1/2 for every N (the p-series' limit 1/ζ(γ) stays > 1/2)."""
    for gamma in (1.73, 2.0, 2.8):
        assert F.zeta_series(100_000, gamma, dtype=torch.float64)[0] > 0.5
    assert F.zeta_series(100_000, 1.7, dtype=torch.float64)[0] < 0.5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_zeta_weights_dtype_and_device(dtype: torch.dtype) -> None:
    weights = F.zeta_weights(5, dtype=dtype, device="cpu")
    assert weights.dtype == dtype and weights.device.type == "cpu"
    assert F.zeta_weights(5).dtype == torch.get_default_dtype()


def test_zeta_ranks_are_uniform_and_rows_independent() -> None:
    """For N = 3 each row orders its two partners either way with probability 1/2, independently."""
    g = torch.Generator().manual_seed(0)
    draws = 4000
    second = torch.stack(
        [F.zeta_weights(3, generator=g).argsort(1, descending=True)[:, 1] for _ in range(draws)]
    )
    first_partner_is_lower = second == torch.tensor([1, 0, 0])  # row p's lower-indexed partner ranks second
    freq = first_partner_is_lower.double().mean(0)
    assert ((freq - 0.5).abs() < 4 * math.sqrt(0.25 / draws)).all(), freq
    both = (first_partner_is_lower[:, 0] & first_partner_is_lower[:, 1]).double().mean()
    assert abs(float(both) - 0.25) < 4 * math.sqrt(0.25 * 0.75 / draws)


@pytest.mark.parametrize("random_bits", [3, None])
def test_zeta_ranks_are_uniform_when_keys_tie(random_bits: int | None) -> None:
    """Row 0 orders its 4 partners by each of the 4! = 24 orders equally often (chi-square, 23 d.o.f.).

    With 3 random bits a key, 59 % of the rows tie and are drawn again; ordering tied keys by their
    index instead would favour the lower columns by far more than the bound.
    """
    g = torch.Generator().manual_seed(2)
    draws = 4800
    counts = collections.Counter(
        tuple(_draws._ranked_rows(5, 5, g, torch.device("cpu"), random_bits)[0, 1:].tolist())
        for _ in range(draws)
    )
    assert len(counts) == 24
    chi2 = sum((c - draws / 24) ** 2 / (draws / 24) for c in counts.values())
    assert chi2 < 49.7  # the 99.9 % quantile for 23 degrees of freedom


@pytest.mark.parametrize("n", range(3, _draws._TABLE_MAX + 1))
def test_rows_ranked_up_to_the_tables_size_are_looked_up_as_zeta_weights_does(n: int) -> None:
    """Up to N = ``_TABLE_MAX`` each row's ranking comes from the table, as ``zeta_weights``' does:
    the same generator state gives the same rankings. ``random_bits`` (for tests) takes the keys."""
    looked_up, keyed = [], []
    for seed in range(5):
        weights = F.zeta_weights(n, generator=torch.Generator().manual_seed(seed))
        ranked = _draws._ranked_rows(n, n, torch.Generator().manual_seed(seed), torch.device("cpu"))
        with_keys = _draws._ranked_rows(n, n, torch.Generator().manual_seed(seed), torch.device("cpu"), 20)
        looked_up.append(torch.equal(ranked, weights.argsort(1, descending=True)))
        keyed.append(torch.equal(with_keys, ranked))
    assert all(looked_up) and not all(keyed), (looked_up, keyed)


@pytest.mark.parametrize("n", range(1, _draws._TABLE_MAX + 1))
def test_the_ranking_table_holds_every_ranking_once(n: int) -> None:
    """Row ``p`` of each of the (N−1)! rankings ranks ``p`` first and is a permutation; none repeats."""
    table, count = _draws._ranking_table(n)
    assert table.shape == (n, math.factorial(n - 1), n) and count == math.factorial(n - 1)
    for p in range(n):
        rankings = {tuple(row) for row in table[p].tolist()}
        assert len(rankings) == count
        assert all(sorted(row) == list(range(n)) and row[p] == 0 for row in rankings)


@pytest.mark.parametrize("limit", [None, 3 << 60])  # all words kept; about 3 of 5 drawn again
def test_table_rankings_are_uniform_and_words_past_the_limit_drawn_again(limit: int | None) -> None:
    """Row 0 of N = 5 takes each of the 4! = 24 rankings equally often (chi-square, 23 d.o.f.).

    With ``limit`` below 2^63, words at or above it are drawn again: keeping them (``mod 24``)
    instead would favour some rankings, and no row may come back with a word past the limit.
    """
    g = torch.Generator().manual_seed(3)
    draws = 4800
    table, count = _draws._ranking_table(5)
    limit_used = limit if limit is None else limit // count * count
    counts = collections.Counter(
        tuple(_draws._table_ranks(5, g, limit_used)[0].tolist()) for _ in range(draws)
    )
    assert len(counts) == 24 and set(counts) == {tuple(row) for row in table[0].tolist()}
    chi2 = sum((c - draws / 24) ** 2 / (draws / 24) for c in counts.values())
    assert chi2 < 49.7  # the 99.9 % quantile for 23 degrees of freedom
    if limit_used is not None:
        words = [word for _ in range(200) for word in _draws._table_words(5, g, limit_used)]
        assert all(0 <= word < limit_used for word in words)


def test_a_table_word_at_the_limit_is_drawn_again_and_the_others_kept() -> None:
    """Words at or above the limit are drawn again, one exactly at it too; the rest are kept."""
    words = _draws._table_words(5, torch.Generator().manual_seed(7))
    limit = max(words)
    again = _draws._table_words(5, torch.Generator().manual_seed(7), limit)  # the same first words
    top = words.index(limit)
    assert all(0 <= word < limit for word in again)
    assert [w for i, w in enumerate(again) if i != top] == [w for i, w in enumerate(words) if i != top]


@pytest.mark.parametrize("numpy_argsort", [True, False])
@pytest.mark.parametrize("n", [5, 600])  # int32 keys, int64 keys
def test_rows_drawn_again_are_permutations_led_by_their_sample(n: int, numpy_argsort: bool) -> None:
    """With so few random bits about half the rows tie and are drawn again, alone or with others."""
    with _backend.routes(numpy_argsort=numpy_argsort):
        order = _draws._ranked_rows(
            n, n, torch.Generator().manual_seed(n), torch.device("cpu"), {5: 3, 600: 18}[n]
        )
    assert torch.equal(order.sort(dim=1).values, torch.arange(n).expand(n, n))
    assert torch.equal(order[:, 0], torch.arange(n))


@pytest.mark.parametrize("k", [3, 9])
def test_ranks_drawn_by_sorting_float_keys_lead_with_their_sample(
    k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On another device and under ``torch.compile`` (stood in for on the CPU) each row's first
    ``k`` ranks come from float keys, its own forced to the front: the row's sample, then ``k − 1``
    others, each once (the ``k`` smallest keys, by ``topk``, where ``k < N``)."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    order = _draws._ranked_rows(9, k, torch.Generator().manual_seed(k), torch.device("cpu"))
    assert order.shape == (9, k) and torch.equal(order[:, 0], torch.arange(9))
    assert all(len(set(row)) == k for row in order.tolist())
    full = _draws._ranked_rows(9, 9, torch.Generator().manual_seed(k), torch.device("cpu"))
    assert torch.equal(order, full[:, :k])  # the same keys: the first k ranks of the full order


def test_a_minmax_box_lies_at_every_place_inside_equally_often() -> None:
    """The documented position: uniform among those that keep the box inside, both edges included
    (sides fixed here: [int(4·0.5), int(4·0.6)) and [int(6·0.5), int(6·0.6)) are empty, so 2 and 3).
    Chi-square over 1,200 draws a dimension (p ≈ 0.001 at 13.8 and 16.3, 2 and 3 degrees of freedom)."""
    g = torch.Generator().manual_seed(11)
    draws = 1200
    regions = [F.cutmix_region_minmax((4, 6), (0.5, 0.6), generator=g) for _ in range(draws)]
    assert {region.stops[0] - region.starts[0] for region in regions} == {2}
    assert {region.stops[1] - region.starts[1] for region in regions} == {3}
    for axis, (places, limit) in enumerate(((3, 13.8), (4, 16.3))):
        counts = collections.Counter(region.starts[axis] for region in regions)
        assert set(counts) == set(range(places)), counts
        chi2 = sum((counts[s] - draws / places) ** 2 / (draws / places) for s in range(places))
        assert chi2 < limit, counts


def test_cycle_partners_are_uniform_over_single_cycles() -> None:
    """All (N−1)! = 6 single cycles of 4 samples are equally likely (chi-square, 5 degrees of freedom)."""
    g = torch.Generator().manual_seed(0)
    draws = 6000
    counts = collections.Counter(tuple(F.cycle_partners(4, generator=g).tolist()) for _ in range(draws))
    assert len(counts) == 6
    for cycle in counts:
        assert all(p != i for i, p in enumerate(cycle))
    chi2 = sum((c - draws / 6) ** 2 / (draws / 6) for c in counts.values())
    assert chi2 < 20.5  # p ≈ 0.001 for 5 degrees of freedom


@given(n=batch_sizes(), seed=seeds())
def test_cycle_partners_are_drawn_alike_with_or_without_numpy(n: int, seed: int) -> None:
    """The numpy_draws route builds the cycle torch's path builds, from the same σ, into a new tensor;
    on, with a CPU generator, torch dispatches the permutation alone (NumPy builds the cycle)."""
    draws = {}
    for on in (True, False):
        g = torch.Generator().manual_seed(seed)
        with _backend.routes(numpy_draws=on), Ops() as ops:
            draws[on] = [F.cycle_partners(n, generator=g) for _ in range(3)]
        computed = set(ops.names) - VIEWS  # torch.from_numpy shows as a view (lift_fresh)
        assert computed == ({"randperm"} if on else {"randperm", "roll", "scatter"}), ops.names
    for got, want in zip(draws[True], draws[False], strict=True):
        assert torch.equal(got, want) and got.dtype == torch.int64
    # σ's buffer is reused by the next draw of the same size: what a draw returned is its own
    first, second, _ = draws[True]
    assert first.data_ptr() != second.data_ptr()
    if n >= 7:  # 720 or more cycles: three equal draws would be a buffer read twice (p < 2e-6)
        assert not all(torch.equal(a, b) for a, b in itertools.pairwise(draws[True]))


def test_cycle_partners_of_one_sample_is_itself() -> None:
    assert F.cycle_partners(1).tolist() == [0]


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
@pytest.mark.parametrize("traced", [False, True], ids=["sample_lambda", "traceable_lambda"])
def test_sample_lambda_follows_beta(alpha: float, traced: bool) -> None:
    """λ ~ Beta(α, α), read to the host or kept a tensor (as compiled calls draw it)."""
    g = torch.Generator().manual_seed(1)
    if traced:
        draws = torch.stack([_draws.traceable_lambda(alpha, g, None) for _ in range(4000)])
    else:
        draws = torch.tensor([F.sample_lambda(alpha, generator=g) for _ in range(4000)], dtype=torch.float64)
    assert ((draws >= 0) & (draws <= 1)).all()
    variance = 1 / (4 * (2 * alpha + 1))
    assert abs(float(draws.mean()) - 0.5) < 4 * math.sqrt(variance / 4000)
    assert abs(float(draws.var()) - variance) < 0.15 * variance


LAMBDA_DRAWS = ["sample_lambda", "sample_lambdas", "traceable_lambda", "cutmix_draw"]


def _lambdas(draw: str, alpha: float, n: int, g: torch.Generator) -> np.ndarray:
    """``n`` draws of λ by one of the package's four ways to draw it (``LAMBDA_DRAWS``)."""
    if draw == "sample_lambda":
        return np.array([F.sample_lambda(alpha, generator=g) for _ in range(n)])
    if draw == "sample_lambdas":
        return F.sample_lambdas(alpha, n, generator=g).numpy()
    if draw == "traceable_lambda":
        return torch.stack([_draws.traceable_lambda(alpha, g, None) for _ in range(n)]).numpy()
    # CutMix's one op: λ and the centres' exponentials
    return np.array([_draws.cutmix_draw_unchecked((6, 7), alpha, g)[0] for _ in range(n)])


@pytest.mark.parametrize("alpha", [1e-300, 1e-3, 0.01, 0.049, 0.05, 0.2])
@pytest.mark.parametrize("draw", LAMBDA_DRAWS)
def test_small_alphas_draw_lambda_from_beta(alpha: float, draw: str) -> None:
    """λ ~ Beta(α, α) for small α too: near 0 or 1, each half the time, and 1/2 no more often than the
    Beta's density says (the share in (1/4, 3/4), and a Kolmogorov–Smirnov test at the 0.1 % level).
    torch clamps a Gamma(α) draw to the least normal double: with both of a λ's draws clamped, λ was
    1/2, at α = 0.001 one λ in four."""
    stats = pytest.importorskip("scipy.stats")
    n = 4000
    lams = _lambdas(draw, alpha, n, torch.Generator().manual_seed(4))
    assert np.isfinite(lams).all() and ((lams >= 0) & (lams <= 1)).all()
    below = int((lams < 0.5).sum())
    assert abs(below - n / 2) < 4 * math.sqrt(n / 4)
    beta = stats.beta(alpha, alpha)
    # P(1/4 < λ < 3/4) is α·ln 3 + O(α²) as α → 0 (the density nears α / (2·x·(1 − x))); SciPy
    # 1.15's incomplete beta function (Python 3.10's last) gives 0 for cdf(0.25) at α = 1e-300
    middle = alpha * math.log(3) if alpha < 1e-100 else float(beta.cdf(0.75) - beta.cdf(0.25))
    inside = int(((lams > 0.25) & (lams < 0.75)).sum())
    assert abs(inside - n * middle) < 4 * math.sqrt(n * middle * (1 - middle)) + 2
    if alpha >= 0.01:  # the lower half, where a double keeps λ (1 − λ rounds to 0; α = 0.001: λ to 0)
        lower = lams[lams < 0.5]
        assert stats.kstest(lower, lambda x: 2 * beta.cdf(x)).pvalue > 1e-3


@pytest.mark.parametrize("alpha", [0.5, 3.0])
@pytest.mark.parametrize("draw", LAMBDA_DRAWS)
def test_every_draw_through_the_logarithms_is_beta_at_any_alpha(
    alpha: float, draw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The small-α route's identity, log G = log g − e/α for g ~ Gamma(α + 1) and e ~ Exp(1), holds
    for any α: each way to draw λ, made to take that route at α = 0.5 and 3 (its own
    concentrations, then the logarithms, on host floats or tensors), draws Beta(α, α)
    (Kolmogorov–Smirnov at the 0.1 % level, 20,000 draws). Below 0.05, where the route runs, the
    log g terms are too small against e/α for the test above to see them wrong or missing
    (mutation seed 58: a concentration of α + 2.5 passed it)."""
    stats = pytest.importorskip("scipy.stats")
    monkeypatch.setattr(_draws, "_LOG_DRAWS_BELOW", math.inf)
    _draws._concentration.cache_clear()  # it keeps each α's concentrations, made for the real threshold
    try:
        lams = _lambdas(draw, alpha, 20000, torch.Generator().manual_seed(6))
    finally:
        _draws._concentration.cache_clear()
    assert stats.kstest(lams, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_sample_lambda_with_huge_alpha_is_one_half() -> None:
    """Where G₁ + G₂ overflows a double, λ = 1 / (1 + G₂/G₁) is still the Beta's (1/2), not 0."""
    g = torch.Generator().manual_seed(0)
    assert F.sample_lambda(1e308, generator=g) == 0.5
    assert F.sample_lambdas(1e308, 3, generator=g).tolist() == [0.5, 0.5, 0.5]


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_cutmix_draws_lambda_from_beta_and_uniform_centres(alpha: float) -> None:
    """CutMix's one-op draw: λ ~ Beta(α, α), and each side's centre uniform (chi-square, 5 and 6 d.o.f.)."""
    g = torch.Generator().manual_seed(2)
    draws = 6000
    lams, rows, columns = [], collections.Counter(), collections.Counter()
    for _ in range(draws):
        lam, region = _draws.cutmix_draw_unchecked((6, 7), alpha, g)
        lams.append(lam)
        # the centre from the region: a cut of c starts c // 2 before it (before clipping)
        cuts = [round(side * math.sqrt(1.0 - lam)) for side in (6, 7)]
        for axis, (counter, side) in enumerate(((rows, 6), (columns, 7))):
            start, stop = region.starts[axis], region.stops[axis]
            centre = start + cuts[axis] // 2 if start > 0 else stop - cuts[axis] + cuts[axis] // 2
            counter[centre] += 1
            assert 0 <= centre < side
    variance = 1 / (4 * (2 * alpha + 1))
    assert abs(sum(lams) / draws - 0.5) < 4 * math.sqrt(variance / draws)
    for counter, side, bound in ((rows, 6, 20.5), (columns, 7, 22.5)):  # the 99.9 % quantiles
        assert sorted(counter) == list(range(side))
        assert sum((c - draws / side) ** 2 / (draws / side) for c in counter.values()) < bound


@pytest.mark.parametrize("sizes", [(6, 7), (3, 5, 4)], ids=["2-D", "3-D"])
def test_per_sample_cutmix_regions_have_uniform_centres_and_their_lambdas(sizes: tuple[int, ...]) -> None:
    """The per-sample draw (one op for every region): region ``k`` is ``lams[k]``'s, its centre
    uniform along each side (chi-square at the 99.9 % quantile), the regions independent of each other."""
    g = torch.Generator().manual_seed(3)
    lams = [0.0, 0.3, 0.75, 1.0, 0.5] * 1200
    regions = _draws.cutmix_regions_unchecked(sizes, lams, g)
    assert len(regions) == len(lams) and _draws.cutmix_regions_unchecked(sizes, [], g) == []
    d = len(sizes)
    ratio = [math.sqrt(1.0 - lam) if d == 2 else (1.0 - lam) ** (1 / d) for lam in lams]
    counters = [collections.Counter() for _ in sizes]
    pairs = collections.Counter()
    for k, region in enumerate(regions):
        cuts = [round(side * ratio[k]) for side in sizes]
        # the region is the one around its centre, cut as its λ says and clipped
        centres = []
        for axis, side in enumerate(sizes):
            start, stop, cut = region.starts[axis], region.stops[axis], cuts[axis]
            assert 0 <= start <= stop <= side and stop - start <= cut
            if lams[k] == 1.0:  # nothing cut
                assert start == stop
            if 0 < cut < side:  # the centre can be read back from an unclipped edge
                centre = start + cut // 2 if start > 0 else stop - cut + cut // 2
                counters[axis][centre] += 1
                centres.append(centre)
        if lams[k] == 0.5 and len(centres) == d:
            pairs[centres[0], centres[1]] += 1
    for counter, side in zip(counters, sizes, strict=True):
        total = sum(counter.values())
        bound = {2: 13.8, 3: 16.3, 4: 18.5, 5: 20.5, 6: 22.5, 7: 24.3}[side - 1]
        assert sorted(counter) == list(range(side))
        assert sum((c - total / side) ** 2 / (total / side) for c in counter.values()) < bound
    assert len(pairs) == sizes[0] * sizes[1]  # every pair of centres happens: drawn independently


@pytest.mark.parametrize(("height", "width", "lam"), [(32, 32, 0.5), (7, 13, 0.3), (1, 1, 0.0), (5, 9, 1.0)])
def test_cutmix_box_area_and_clipping(height: int, width: int, lam: float) -> None:
    g = torch.Generator().manual_seed(0)
    side_h, side_w = round(height * math.sqrt(1 - lam)), round(width * math.sqrt(1 - lam))
    for _ in range(200):
        box = F.cutmix_box(height, width, lam, generator=g)
        assert 0 <= box.x1 <= box.x2 <= width and 0 <= box.y1 <= box.y2 <= height
        assert box.x2 - box.x1 <= side_w and box.y2 - box.y1 <= side_h
        assert box.area == (box.x2 - box.x1) * (box.y2 - box.y1)


def test_cutmix_box_centre_is_uniform() -> None:
    """Unclipped small boxes: each of 4 columns is the centre column a quarter of the time."""
    g = torch.Generator().manual_seed(0)
    draws = 4000
    lam = 1 - (1 / 4) ** 2  # a 1×1 box on a 4×4 image: the box is its own centre
    columns = collections.Counter(F.cutmix_box(4, 4, lam, generator=g).x1 for _ in range(draws))
    assert sorted(columns) == [0, 1, 2, 3]
    assert all(abs(c - draws / 4) < 4 * math.sqrt(draws * 3 / 16) for c in columns.values())


@pytest.mark.parametrize("sizes", [(13, 17), (5, 9, 11)], ids=["2-D", "3-D"])
def test_cutmix_masks_are_the_regions_cutmix_region_draws(sizes: tuple[int, ...]) -> None:
    """The masks of the per-sample modes and of compiled calls: from the same draws, the same region."""
    for seed in range(100):
        lam = float(torch.rand((), generator=torch.Generator().manual_seed(1000 + seed)))
        region = F.cutmix_region(sizes, lam, generator=torch.Generator().manual_seed(seed))
        expected = torch.zeros(sizes, dtype=torch.bool)
        expected[region.slices()] = True
        for drawn in (lam, torch.tensor([lam], dtype=torch.float64)):  # one λ, or one per sample
            mask, count = _draws.cutmix_mask_traceable(
                sizes, drawn, torch.Generator().manual_seed(seed), "cpu"
            )
            assert torch.equal(mask.reshape(sizes), expected) and int(count.sum()) == region.size


def test_exact_kept_fraction_for_a_clipped_box() -> None:
    """The kept fraction is measured from the clipped box, not taken from λ."""
    x = torch.arange(2.0).reshape(2, 1, 1, 1).expand(2, 1, 6, 6).contiguous()
    y = torch.eye(2)
    g = torch.Generator().manual_seed(3)
    for _ in range(50):
        seed = int(torch.randint(0, 2**31 - 1, (), generator=g))
        out, labels = F.cutmix(x, y, 0.2, generator=torch.Generator().manual_seed(seed))
        kept = (out[0] == 0).double().mean()
        torch.testing.assert_close(labels[0, 0].double(), kept, rtol=0, atol=1e-6)


@given(n=batch_sizes(), k=st.integers(1, 70), gamma=gammas(), seed=seeds())
def test_truncated_rows_keep_the_k_largest_terms_renormalized(
    n: int, k: int, gamma: float, seed: int
) -> None:
    exact = F.zeta_weights(n, gamma, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    truncated = F.zeta_weights(
        n, gamma, max_terms=k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    kept = min(k, n)
    assert ((truncated > 0).sum(1) == kept).all()
    torch.testing.assert_close(truncated.sum(1), torch.ones(n, dtype=torch.float64), rtol=0, atol=1e-12)
    # every row holds the p-series normalized over k ranks, its largest term on the diagonal
    series = F.zeta_series(kept, gamma, dtype=torch.float64)
    torch.testing.assert_close(truncated.sort(1, descending=True).values[:, :kept], series.expand(n, kept))
    assert (truncated.argmax(1) == torch.arange(n)).all()
    if 2 * (kept - 1) > n - 1:  # many terms a row: the exact draw's argsort, truncated
        top = exact.topk(kept, dim=1)
        torch.testing.assert_close(
            truncated.gather(1, top.indices), top.values / top.values.sum(1, keepdim=True)
        )
    indices, values = F.zeta_terms(
        n, gamma, max_terms=k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    assert torch.equal(indices[:, 0], torch.arange(n))
    assert torch.equal(torch.zeros(n, n, dtype=torch.float64).scatter_(1, indices, values), truncated)


def test_truncated_partners_are_uniform_without_replacement() -> None:
    """N = 5, k = 3: each row's two partners are a uniformly random pair of the 4 others."""
    g = torch.Generator().manual_seed(0)
    draws = 3000
    pairs = collections.Counter(
        tuple(sorted(F.zeta_terms(5, max_terms=3, generator=g)[0][0, 1:].tolist())) for _ in range(draws)
    )
    assert set(pairs) == {(a, b) for a in range(1, 5) for b in range(a + 1, 5)}
    chi2 = sum((c - draws / 6) ** 2 / (draws / 6) for c in pairs.values())
    assert chi2 < 20.5


@pytest.mark.parametrize("n", [5, 9])  # k = 3: argsort of keys (N = 5), partners drawn directly (N = 9)
def test_truncated_partners_are_uniform_ordered_and_distinct(n: int) -> None:
    """Row 0's two partners, in rank order, are a uniformly random ordered pair of the others."""
    g = torch.Generator().manual_seed(1)
    draws = 4000
    pairs = collections.Counter(
        tuple(F.zeta_terms(n, max_terms=3, generator=g)[0][0, 1:].tolist()) for _ in range(draws)
    )
    expected_pairs = {(a, b) for a in range(1, n) for b in range(1, n) if a != b}
    assert set(pairs) == expected_pairs
    expected = draws / len(expected_pairs)
    chi2 = sum((c - expected) ** 2 / expected for c in pairs.values())
    assert chi2 < {5: 32.9, 9: 92.0}[n]  # the 99.9 % quantiles for 11 and 55 degrees of freedom


def test_truncated_draws_take_memory_of_order_n_times_k() -> None:
    n, k = 4096, 16
    peak, (indices, _) = peak_bytes(lambda: F.zeta_terms(n, max_terms=k, generator=torch.Generator()))
    assert peak < 40 * n * k * 8  # an N×N float64 key matrix would be 128 MiB
    assert indices.shape == (n, k) and torch.equal(indices[:, 0], torch.arange(n))
    assert all(len(set(row)) == k for row in indices.tolist())


@pytest.mark.parametrize("gamma", [2.4, 2.8, 4.0, 1.5])
@pytest.mark.parametrize("k", [1, 8, 16, 32])
def test_dropped_mass(gamma: float, k: int) -> None:
    for n in (k, 40, 1000):
        series = F.zeta_series(n, gamma, dtype=torch.float64)
        assert F.zeta_dropped_mass(k, gamma, n) == pytest.approx(float(series[k:].sum()), abs=1e-12)
    bound = F.zeta_dropped_mass(k, gamma)
    masses = [F.zeta_dropped_mass(k, gamma, n) for n in (40, 1000, 100_000)]
    assert masses == sorted(masses) and masses[-1] <= bound + 1e-12, "grows with N, up to the bound"
    assert F.zeta_dropped_mass(k, 0.8) == F.zeta_dropped_mass(k, 1.0) == 1.0  # ζ(γ) diverges for γ <= 1


def test_dropped_mass_bound_uses_the_zeta_function() -> None:
    assert F.zeta_dropped_mass(1, 2.0) == pytest.approx(1 - 6 / math.pi**2, abs=1e-10)
    assert F.zeta_dropped_mass(1, 4.0) == pytest.approx(1 - 90 / math.pi**4, abs=1e-12)
    assert F.zeta_dropped_mass(2, 2.0) == pytest.approx(1 - 1.25 * 6 / math.pi**2, abs=1e-10)


def test_one_term_a_row_keeps_each_sample_alone() -> None:
    """``max_terms=1``, the smallest allowed: each row's one term is its own sample, weight 1."""
    x, y = torch.rand(6, 3, 4, 4), torch.arange(6) % 3
    images, labels = Z.ZetaMixup(num_classes=3, max_terms=1)(x, y)
    assert torch.equal(images, x) and torch.equal(labels, F.one_hot(y, 3))
    images, labels = Z.ZetaMixupCollate(num_classes=3, max_terms=1)([(x[i], int(y[i])) for i in range(6)])
    assert torch.equal(images, x) and torch.equal(labels, F.one_hot(y, 3))


def test_max_terms_errors() -> None:
    with pytest.raises(ValueError, match=r"^max_terms must be an int >= 1 or None, got 0"):
        Z.ZetaMixup(max_terms=0)
    with pytest.raises(TypeError, match=r"^max_terms must be an int >= 1 or None, got 2.5 of type float"):
        Z.ZetaMixupCollate(max_terms=2.5)
    with pytest.raises(ValueError, match=r"^max_terms must be an int >= 1, got 0"):
        F.zeta_terms(4, max_terms=0)
    x = torch.rand(4, 3)
    with pytest.raises(ValueError, match=r"^indices must lie in \[0, N\) = \[0, 4\), got values from 0 to 4"):
        F.apply_terms(x, torch.tensor([[0, 4]] * 4), torch.full((4, 2), 0.5))
    with pytest.raises(
        ValueError, match=r"^indices and values must both have shape \(M, k\), got \(4, 2\) and"
    ):
        F.apply_terms(x, torch.zeros(4, 2, dtype=torch.int64), torch.full((4, 3), 0.5))
    with pytest.raises(ValueError, match=r"^indices and values must both have shape \(N, k\) with N = 4"):
        F.apply_terms(x, torch.zeros(3, 2, dtype=torch.int64), torch.full((3, 2), 0.5), inplace=True)
    with pytest.raises(TypeError, match=r"^indices must be an int64 torch.Tensor of shape \(N, k\)"):
        F.apply_terms(x, torch.zeros(4, 2, dtype=torch.int32), torch.full((4, 2), 0.5))


def test_resizemix_regions_scale_the_sides_by_the_papers_range_by_default() -> None:
    """τ ~ U(0.1, 0.8) without a ``scale``: sides of a 100×200 image from 10 by 20 to 80 by 160,
    each region keeping the image's aspect ratio, spread over the whole range."""
    from zmix_transforms.resizemix import resizemix_regions

    regions = resizemix_regions(3000, (100, 200), generator=torch.Generator().manual_seed(0))
    heights = torch.tensor([r.sides[0] for r in regions], dtype=torch.float64)
    assert all(abs(r.sides[1] - 2 * r.sides[0]) <= 1 for r in regions)
    assert 10 <= heights.min() <= 11 and 79 <= heights.max() <= 80
    assert abs(float(heights.mean()) - 45.0) < 1.85  # U(10, 80)'s mean, within 5 standard errors (0.37)


def test_a_resizemix_patch_lands_anywhere_it_fits_uniformly() -> None:
    """Along each axis a patch's start is uniform over every place it fits, the far edge included."""
    from zmix_transforms.resizemix import resizemix_regions

    g = torch.Generator().manual_seed(0)
    regions = resizemix_regions(1200, (6, 9), (0.5, 0.5), generator=g)  # sides 3 and 4 (round(4.5))
    for axis, (side, places) in enumerate([(3, 4), (4, 6)]):
        assert {r.stops[axis] - r.starts[axis] for r in regions} == {side}
        counts = collections.Counter(r.starts[axis] for r in regions)
        assert sorted(counts) == list(range(places))
        assert all(abs(c - 1200 / places) < 0.3 * 1200 / places for c in counts.values()), counts


@pytest.mark.parametrize("spatial", [(6, 9), (7, 5, 4), (1, 13)], ids=["2-D", "3-D", "one row"])
def test_a_traced_resizemix_patch_is_the_eager_draw_as_tensors(spatial: tuple[int, ...]) -> None:
    """The patch drawn for ``torch.compile`` (tensors, nothing read back), run eagerly on the CPU,
    is the eager draw from the same seed: the same box as each pixel's source along each axis, and
    the same kept share in float64."""
    from zmix_transforms.functional._kernels import resized_sources
    from zmix_transforms.resizemix import _traced_patch, resizemix_regions

    pixels = math.prod(spatial)
    for seed in range(40):
        (region,) = resizemix_regions(1, spatial, (0.1, 0.8), torch.Generator().manual_seed(seed))
        traced = _traced_patch(spatial, (0.1, 0.8), torch.Generator().manual_seed(seed), torch.device("cpu"))
        bounds = torch.tensor([region.starts, region.sides])
        for got, expected in zip(
            traced["sources"], resized_sources(bounds[:1], bounds[1:], spatial), strict=True
        ):
            assert torch.equal(got, expected), (seed, region)
        assert traced["lam"].dtype == torch.float64 and float(traced["lam"]) == 1.0 - region.size / pixels


@pytest.mark.parametrize("decay", [3.0, 1000.0])
@pytest.mark.parametrize("spatial", [(32,), (16, 16), (8, 8, 8)], ids=["1-D", "2-D", "3-D"])
def test_fmix_noise_is_stationary_every_pixel_kept_alike(spatial: tuple[int, ...], decay: float) -> None:
    """Over many masks each pixel is kept with probability λ: the noise has no place it favours.

    A spectrum with equal real and imaginary parts locks every frequency's phase, and the top share
    of such noise gathers where its variance is largest (16–54 standard errors off, against 3.5 here).
    A large decay leaves the lowest frequencies alone (the scale overflowed once: every mask the same
    half of the image).
    """
    from zmix_transforms.fmix import fmix_masks

    lam, count = 0.1, 4000
    masks = fmix_masks(torch.full((count,), lam), spatial, decay, torch.Generator().manual_seed(0))
    per_pixel = masks.double().mean(0)
    standard_error = math.sqrt(lam * (1 - lam) / count)
    assert (per_pixel - lam).abs().max() < 5 * standard_error, per_pixel


def test_fmix_masks_are_blobs_smoother_as_the_decay_grows() -> None:
    """Neighbouring pixels disagree half the time in white noise (a decay near 0); the low
    frequencies that a larger decay favours leave fewer and fewer boundaries (a scale that lost its
    frequencies, all 1, gave white noise at every decay)."""
    from zmix_transforms.fmix import fmix_masks

    def boundaries(decay: float, spatial: tuple[int, ...]) -> float:
        masks = fmix_masks(torch.full((100,), 0.5), spatial, decay, torch.Generator().manual_seed(0))
        return float((masks[:, 1:] != masks[:, :-1]).double().mean())  # along the first axis

    for spatial in ((32, 32), (12, 12, 12)):
        shares = [boundaries(decay, spatial) for decay in (0.01, 1.0, 3.0)]
        assert abs(shares[0] - 0.5) < 0.03 and shares[0] > shares[1] > shares[2], shares
        assert shares[2] < 0.2, shares


def test_a_few_numbers_a_sample_are_drawn_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pairings, λs and (up to N = 64) ζ-mixup's weights for a batch on another device come from
    the CPU (and one copy), unless a generator names its device or ``torch.compile`` traces the
    draw onto the batch's device."""
    from zmix_transforms.functional._draws import host_draw_device

    cpu, meta = torch.device("cpu"), torch.device("meta")
    assert host_draw_device(None, meta) == cpu and host_draw_device(None, None) == cpu
    assert host_draw_device(torch.Generator(), meta) == cpu  # the generator's device
    draws = (F.pair_partners, F.cycle_partners, functools.partial(F.sample_lambdas, 0.4), F.zeta_weights)
    for draw in draws:
        torch.manual_seed(5)
        assert draw(9, device=meta).device == meta
        after_meta = torch.rand(4)  # the CPU's RNG moved on exactly as by the same draw for the CPU
        torch.manual_seed(5)
        draw(9)
        assert torch.equal(torch.rand(4), after_meta)
    torch.manual_seed(5)
    F.zeta_weights(65, device=meta)  # from N = 65 drawn on the batch's device: the CPU's RNG untouched
    after_meta = torch.rand(4)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(4), after_meta)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert host_draw_device(None, meta) == meta


def test_a_zeta_draw_on_another_device_makes_only_the_keys_their_sort_and_the_scatter() -> None:
    """Above 64 samples ζ-mixup's weights are drawn on the batch's device: its series is made there
    once (on a GPU each op is a kernel launch of host time), and the scatter fills every entry (no
    zeroing first). Counted on the meta device, where each op would be a launch."""
    F.zeta_weights(80, device="meta")  # the first draw makes the series on that device
    with Ops() as ops:
        weights = F.zeta_weights(80, device="meta")
    assert weights.is_meta and weights.shape == (80, 80)
    assert not {"arange", "pow_", "pow", "sum", "div_", "zeros", "zero_"} & set(ops.names), ops.names
    writes = [name for name in ops.names if name not in ("diagonal", "expand", "empty", "view")]
    assert len(writes) <= 4, ops.names  # the keys, the diagonal's key, their sort, the scatter
