"""Draws: the random parameters of every method, each from an explicit ``torch.Generator``.

λ ~ Beta(α, α) ([`sample_lambda`][zmix_transforms.functional.sample_lambda],
[`sample_lambdas`][zmix_transforms.functional.sample_lambdas]), ζ-mixup's weights
([`zeta_weights`][zmix_transforms.functional.zeta_weights] dense,
[`zeta_terms`][zmix_transforms.functional.zeta_terms] compact), the pairing
([`cycle_partners`][zmix_transforms.functional.cycle_partners], or pairs:
[`pair_partners`][zmix_transforms.functional.pair_partners]) and CutMix's box
([`cutmix_box`][zmix_transforms.functional.cutmix_box]). With ``generator=None`` they draw from the
global torch RNG of the device they draw on: the CPU for a pairing, λs and ζ-mixup's weights of up to
64 samples, copied to an accelerator without waiting (on a GPU they would be several kernel
launches each); the target device for larger ζ-mixup draws and under ``torch.compile``.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np
import torch

from .. import _backend
from .._checks import (
    allocation,
    check_batch_size,
    check_finite_positive,
    check_generator,
    check_lam,
    check_minmax,
    check_size,
    check_sizes,
)
from .._regions import Region

__all__ = [
    "Box",
    "Region",
    "cutmix_box",
    "cutmix_region",
    "cutmix_region_minmax",
    "cycle_partners",
    "draw_device",
    "host_draw_device",
    "pair_partners",
    "sample_lambda",
    "sample_lambdas",
    "to_device",
    "zeta_dropped_mass",
    "zeta_series",
    "zeta_terms",
    "zeta_weights",
]


_CPU = torch.device("cpu")


def draw_device(generator: torch.Generator | None, device: torch.device | str | None) -> torch.device:
    """The device random numbers are drawn on: the generator's own, else the target device."""
    if generator is not None:
        return generator.device
    if device is None:
        return _CPU
    return device if isinstance(device, torch.device) else torch.device(device)


def host_draw_device(generator: torch.Generator | None, device: torch.device | str | None) -> torch.device:
    """Where a draw of a few numbers a sample (a pairing, λs, coins) is made: on the host.

    The generator's device when one is given; else the CPU, also for a batch on an accelerator,
    which then gets the draw in one non-blocking copy. On a GPU a permutation drawn there is a sort
    and a scatter, five or more kernel launches, each costing host time; on the CPU, microseconds.
    Under ``torch.compile`` the target device, as ``draw_device``: a CUDA graph holds no CPU tensor,
    and a CPU draw would be baked into it as a constant.
    """
    if generator is not None or device is None or torch.compiler.is_compiling():
        return draw_device(generator, device)
    return _CPU


def to_device(drawn: torch.Tensor, device: torch.device | str | None) -> torch.Tensor:
    """A draw moved to ``device`` (where it was drawn when None); no move when it is there already.

    Without waiting (``non_blocking``): a blocking copy to a GPU waits for its stream, a sync.
    """
    if device is None or drawn.device == draw_device(None, device):
        return drawn
    return drawn.to(device, non_blocking=True)


def sample_lambda(alpha: float, *, generator: torch.Generator | None = None) -> float:
    """Draw a mixing weight λ ~ Beta(α, α).

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0. Small values (0.2) give λ
            near 0 or 1, ``alpha=1`` gives a uniform λ.
        generator: Source of randomness; the global torch RNG when ``None``.

    Returns:
        λ as a Python float in [0, 1].

    Raises:
        ValueError: If ``alpha`` is not a finite number > 0.
        TypeError: If ``alpha`` is not a number or ``generator`` is not a ``torch.Generator``.

    Note:
        However small α is, λ follows Beta(α, α): below α = 0.05 it is drawn through the logarithms
        of its Gamma draws, which torch would otherwise clamp to the least normal double (with
        both clamped, λ came out 1/2: at α = 0.001 one draw in four). ``torch.distributions.Beta``,
        which torchvision's ``v2.MixUp`` samples, has that artifact; NumPy's ``beta`` (timm's,
        MONAI's) has not.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> 0.0 <= sample_lambda(1.0, generator=g) <= 1.0
        True
    """
    alpha = check_finite_positive("alpha", alpha)
    check_generator(generator)
    return sample_lambda_unchecked(alpha, generator)


def sample_lambda_unchecked(alpha: float, generator: torch.Generator | None) -> float:
    """[`sample_lambda`][zmix_transforms.functional.sample_lambda] on arguments already checked."""
    return _gamma_draws(alpha, 0, generator)[0]


#: Below this α, λ is drawn through logarithms. torch clamps a Gamma(α) draw to the least normal
#: double, which it falls below with probability about e^(−708·α); where both of a λ's draws are
#: clamped, G₁ / (G₁ + G₂) is 1/2, a value Beta(α, α) almost never takes (α = 0.001: one λ in four
#: was 1/2). At α = 0.05 a clamp is a one-in-10^15 event.
_LOG_DRAWS_BELOW = 0.05


def _beta_heads(alpha: float) -> list[float]:
    """The Gamma concentrations a λ is drawn from: ``(α, α)``, or ``(α + 1, α + 1, 1, 1)`` below.

    Below ``_LOG_DRAWS_BELOW``: two Gamma(α + 1) and two Exp(1) draws, for ``_log_gamma_difference``.
    """
    return [alpha + 1.0, alpha + 1.0, 1.0, 1.0] if alpha < _LOG_DRAWS_BELOW else [alpha, alpha]


def _log_gamma_difference(alpha: float, g1: Any, g2: Any, e1: Any, e2: Any) -> Any:
    """``log G₁ − log G₂`` for G ~ Gamma(α), from ``g`` ~ Gamma(α + 1) and ``e`` ~ Exp(1) (floats or tensors).

    ``g · U^(1/α)`` with U uniform is Gamma(α) (Marsaglia and Tsang), and ``−log U`` is Exp(1): so
    ``log G = log g − e / α``, which no draw clamps. Scaled by α before the difference, the terms
    stay small; the division by α may give ±inf, λ's 0 or 1, and never NaN.
    """
    log = math.log if isinstance(g1, float) else torch.log
    return ((alpha * log(g1) - e1) - (alpha * log(g2) - e2)) / alpha


def _gamma_draws(
    alpha: float, exponentials: int, generator: torch.Generator | None
) -> tuple[float, list[float]]:
    """λ ~ Beta(α, α) and ``exponentials`` draws of Exp(1), all from one op (one read to the host).

    Beta(α, α) is G₁ / (G₁ + G₂) for independent G ~ Gamma(α), and Exp(1) is Gamma(1).
    1 / (1 + G₂/G₁) stays right where G₁ + G₂ would overflow (α near the largest double: λ = 1/2).
    Below ``_LOG_DRAWS_BELOW``, λ is the logistic function of ``log G₁ − log G₂``, drawn so that no
    draw is clamped (``_log_gamma_difference``).
    """
    device = _CPU if generator is None else generator.device
    if torch.compiler.is_compiling():  # Dynamo traces through the cache, and warns that it does
        concentration = _make_concentration(alpha, exponentials, device)
    else:
        concentration = _concentration(alpha, exponentials, device)
    draws = torch._standard_gamma(concentration, generator=generator).tolist()
    if alpha < _LOG_DRAWS_BELOW:
        difference = _log_gamma_difference(alpha, *draws[:4])
        if difference >= 0:  # the logistic function, its exponential never overflowing
            return 1.0 / (1.0 + math.exp(-difference)), draws[4:]
        return math.exp(difference) / (1.0 + math.exp(difference)), draws[4:]
    own, other, *rest = draws
    return 1.0 / (1.0 + other / own), rest


def _lambdas_of(draws: torch.Tensor, alpha: float) -> torch.Tensor:
    """λ ~ Beta(α, α) from Gamma draws of ``_beta_heads(alpha)`` along the last dim (float64)."""
    if alpha < _LOG_DRAWS_BELOW:
        return torch.sigmoid(_log_gamma_difference(alpha, *draws.unbind(-1)[:4]))
    return (draws[..., 1] / draws[..., 0]).add_(1.0).reciprocal_()


def traceable_lambda(
    alpha: float, generator: torch.Generator | None, device: torch.device | str | None
) -> torch.Tensor:
    """λ ~ Beta(α, α) as a float64 0-dim tensor drawn on ``device`` (the generator's, if given).

    For ``torch.compile``: no read back to the host, so the transforms' draws trace in their graph
    (and, on a GPU, into a CUDA graph). The same distribution as ``sample_lambda``, not its values.
    """
    draws = torch._standard_gamma(
        _make_concentration(alpha, 0, draw_device(generator, device)), generator=generator
    )
    return _lambdas_of(draws, alpha)


def _make_concentration(alpha: float, exponentials: int, device: torch.device) -> torch.Tensor:
    """``_beta_heads(alpha)`` then ``exponentials`` ones, in float64 on ``device``."""
    return torch.tensor(_beta_heads(alpha) + [1.0] * exponentials, dtype=torch.float64, device=device)


@functools.lru_cache(maxsize=16)
def _concentration(alpha: float, exponentials: int, device: torch.device) -> torch.Tensor:
    """``_make_concentration``, made once per α, count and device (the draws only read it)."""
    return _make_concentration(alpha, exponentials, device)


def sample_lambdas(
    alpha: float,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw one mixing weight λ ~ Beta(α, α) per sample (timm's "elem" mode).

    Args:
        alpha: The Beta distribution's concentration, a finite number > 0.
        batch_size: ``N``, an int >= 1.
        generator: Source of randomness; the CPU's global torch RNG when ``None`` (under
            ``torch.compile``, ``device``'s); the draw is then copied to ``device`` without waiting.
        device: Device of the result (default CPU).

    Returns:
        A float64 tensor of shape (N,) with values in [0, 1].

    Raises:
        ValueError: If ``alpha`` is not a finite number > 0 or ``batch_size`` < 1.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> lams = sample_lambdas(0.4, 5, generator=torch.Generator().manual_seed(0))
        >>> lams.shape, bool(((lams >= 0) & (lams <= 1)).all())
        (torch.Size([5]), True)
    """
    alpha = check_finite_positive("alpha", alpha)
    n = check_batch_size(batch_size)
    check_generator(generator)
    return sample_lambdas_unchecked(alpha, n, generator, device)


def sample_lambdas_unchecked(
    alpha: float, n: int, generator: torch.Generator | None, device: torch.device | str | None
) -> torch.Tensor:
    """[`sample_lambdas`][zmix_transforms.functional.sample_lambdas] on checked arguments.

    For the transforms, whose α was checked at construction (under ``torch.compile(dynamic=True)``
    it is symbolic, and a check of it would break the graph).
    """
    on = host_draw_device(generator, device)
    if alpha < _LOG_DRAWS_BELOW:
        concentration = torch.ones((n, 4), dtype=torch.float64, device=on)
        concentration[:, :2] = alpha + 1.0
    else:
        concentration = torch.full((n, 2), alpha, dtype=torch.float64, device=on)
    draws = torch._standard_gamma(concentration, generator=generator)  # λ = G₁ / (G₁ + G₂), as above
    return to_device(_lambdas_of(draws, alpha), device)


def zeta_series(
    batch_size: int,
    gamma: float = 2.8,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The normalized p-series ``k^-γ / Σ_{j=1..N} j^-γ`` for ranks ``k = 1..N``.

    Args:
        batch_size: ``N``, an int >= 1.
        gamma: The exponent γ, a finite number > 0.
        device: Device of the result.
        dtype: Float dtype of the result (default: ``torch.get_default_dtype()``).

    Returns:
        A 1-D tensor of length ``N``, decreasing, summing to 1; computed in float64, then cast.

    Raises:
        ValueError: If ``batch_size`` < 1 or ``gamma`` is not a finite number > 0.
        TypeError: If ``batch_size`` is not an int.

    Examples:
        >>> zeta_series(3, 1.0, dtype=torch.float64)
        tensor([0.5455, 0.2727, 0.1818], dtype=torch.float64)
    """
    n = check_batch_size(batch_size)
    gamma = check_finite_positive("gamma", gamma)
    return zeta_series_unchecked(n, gamma, device, dtype)


def zeta_series_unchecked(
    n: int, gamma: float, device: torch.device | str | None, dtype: torch.dtype | None
) -> torch.Tensor:
    """[`zeta_series`][zmix_transforms.functional.zeta_series] on checked arguments."""
    ranks = torch.arange(1, n + 1, dtype=torch.float64, device=_CPU if device is None else device)
    series = ranks.pow_(-gamma)
    series /= series.sum()
    return series.to(dtype or torch.get_default_dtype())


def zeta_terms(
    batch_size: int,
    gamma: float = 2.8,
    *,
    max_terms: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ζ-mixup's weights in compact form: each row's ``k`` largest terms.

    The ranks of row ``p`` are a uniformly random permutation of ``1..N`` with rank 1 on the
    diagonal, drawn independently for each row: one ``argsort`` of random keys whose diagonal key is
    forced to the front (a row whose keys tie is drawn again); on the CPU up to N = 8, one random
    word a row picks its ranking from the table of all (N − 1)! of them. Row ``p`` keeps its ranks ``1..k``
    (the sample itself and ``k − 1`` partners drawn uniformly without replacement), weighted by the
    p-series normalized over those ``k`` ranks. With ``k = N`` this is exact ζ-mixup;
    [`zeta_weights`][zeta_weights] gives the same draw as a dense matrix. For
    ``k − 1 <= (N − 1) / 2`` on the CPU, the partners are drawn directly (each uniform among the
    samples not yet taken, by rejection), in O(N·k) memory instead of an N×N matrix of keys.

    Args:
        batch_size: ``N``, an int >= 1.
        gamma: The exponent γ, a finite number > 0 (default 2.8).
        max_terms: ``k``, the terms kept per row (an int >= 1); ``None`` or ``k >= N`` keeps all ``N``.
        generator: Source of randomness; the global torch RNG of ``device`` when ``None``. Keys are
            drawn on the generator's device, then moved to ``device``.
        device: Device of the result (default CPU).
        dtype: Float dtype of the weights (default: ``torch.get_default_dtype()``).

    Returns:
        ``(indices, values)``: int64 column indices of shape (N, k), ``indices[:, 0]`` the diagonal,
        and float weights of shape (N, k), each row the decreasing normalized series summing to 1.

    Raises:
        ValueError: If ``batch_size`` or ``max_terms`` < 1 or ``gamma`` is not a finite number > 0.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> indices, values = zeta_terms(6, max_terms=3, generator=torch.Generator().manual_seed(0))
        >>> indices.shape, indices[:, 0].tolist(), bool(torch.allclose(values.sum(1), torch.ones(6)))
        (torch.Size([6, 3]), [0, 1, 2, 3, 4, 5], True)
    """
    n = check_batch_size(batch_size, square=max_terms is None)
    k = n if max_terms is None else min(check_size("max_terms", max_terms), n)
    check_generator(generator)
    series = zeta_series(k, gamma, device=device, dtype=dtype)
    draw_on = draw_device(generator, device)
    if draw_on.type == "cpu" and 2 * (k - 1) <= n - 1:
        # few terms a row: draw the k − 1 partners directly, in O(N·k) memory
        own = torch.arange(n, device=draw_on).unsqueeze(1)
        order = torch.cat([own, _distinct_partners(n, k - 1, generator, draw_on)], dim=1)
        return order.to(series.device, non_blocking=True), series.expand(n, k)
    return _ranked_rows(n, k, generator, draw_on).to(series.device, non_blocking=True), series.expand(n, k)


#: Random bits per key below which the CPU draw packs its keys in int64 instead of int32: with 23
#: bits a row of N <= 512 keys ties (and is drawn again) with probability below 1.6 %.
_MIN_RANDOM_BITS = 23


def _ranked_rows(
    n: int,
    k: int,
    generator: torch.Generator | None,
    device: torch.device,
    random_bits: int | None = None,
) -> torch.Tensor:
    """Each row's first ``k`` ranks: row ``p`` starts with ``p``, then the others in a uniformly random order.

    Row ``p`` sorts random keys whose diagonal key is forced to the front. On the CPU (``device``
    is where the keys are drawn) up to N = ``_TABLE_MAX`` a row's ranking is looked up in the table
    of them all instead (``_table_ranks``), as ``zeta_weights`` does; above, the keys are random
    integers packed above their column index (see ``_ranked_columns``; ``random_bits`` narrows them,
    for tests, and takes the keys at any N); elsewhere, and under
    ``torch.compile``, float64 keys and ``argsort`` (``topk`` for ``k < N``), whose ties, of
    probability about N²·2⁻⁵⁴, are left to the index.
    """
    if device.type != "cpu" or torch.compiler.is_compiling():
        # generator=None left out: under torch.compile a factory given it refuses a symbolic size
        # (torch 2.14), and the recompile for a loader's last, smaller batch failed
        with allocation(lambda: f"ζ-mixup's random keys for batch_size={n} ({n}×{n} float64 values)"):
            if generator is None:
                keys = torch.rand(n, n, device=device, dtype=torch.float64)
            else:
                keys = torch.rand(n, n, generator=generator, device=device, dtype=torch.float64)
        keys.diagonal().fill_(-1.0)  # rank 1 (the largest weight) goes to the sample itself
        # the k smallest keys in order: the same first k ranks as a full argsort, at a fraction of its cost
        return keys.topk(k, dim=1, largest=False).indices if k < n else keys.argsort(dim=1)
    if n <= _TABLE_MAX and random_bits is None:  # each row's columns in the order of its ranks
        order = torch.from_numpy(_table_ranks(n, generator).argsort(axis=1).astype(np.int64, copy=False))
    elif _backend.ROUTES["numpy_argsort"]:
        order = torch.from_numpy(_ranked_rows_array(n, generator, random_bits))
    else:
        index_bits = max(n - 1, 1).bit_length()
        dtype = torch.int64 if 32 - index_bits < _MIN_RANDOM_BITS else torch.int32
        every_row = torch.arange(n, device=_CPU)
        order, pending = _ranked_columns(every_row, n, index_bits, dtype, generator, random_bits)
        while pending.numel():  # the rows whose keys tied, drawn again until none does
            order[pending], tied = _ranked_columns(pending, n, index_bits, dtype, generator, random_bits)
            pending = pending[tied]
    return order[:, :k].contiguous() if k < n else order


def _ranked_columns(
    rows: torch.Tensor,
    n: int,
    index_bits: int,
    dtype: torch.dtype,
    generator: torch.Generator | None,
    random_bits: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The columns of ``rows`` in rank order, from random keys (``_backend.ranked_columns``), and their ties.

    Each key is a random word (int32 or int64, ``dtype``) packed above its column index; a row in
    which two random parts are equal is flagged: the order of those columns would follow their
    index, so the row is drawn again (and the accepted rows' orders stay exactly uniform).
    ``random_bits`` keeps only that many random bits (tests use it to make ties common).

    Returns:
        The int64 columns, and the tied rows' positions in ``rows``.
    """
    count = rows.numel() * n
    with allocation(lambda: f"ζ-mixup's random keys for batch_size={n} ({rows.numel()}×{n} {dtype} values)"):
        size = (count + 1) // 2 if dtype == torch.int32 else count
        words = torch.empty(size, dtype=torch.int64, device=_CPU)
    words.random_(generator=generator)  # 63 random bits: two int32 words of 32 and 31
    keys = words.view(dtype)[:count].view(rows.numel(), n)
    if random_bits is not None:
        keys.bitwise_and_((1 << random_bits) - 1)
    return _backend.ranked_columns(keys, rows, index_bits)


def _ranked_rows_array(
    n: int, generator: torch.Generator | None, random_bits: int | None = None
) -> np.ndarray:
    """``_ranked_rows`` on the CPU through NumPy (``numpy_argsort``): the same words, ranked alike.

    The random words are drawn by torch (one op, into a NumPy buffer), so the draws and their
    seeding are torch's; the rest is NumPy, whose calls cost a fraction of ATen's at small N.
    """
    index_bits = max(n - 1, 1).bit_length()
    dtype = np.int64 if 32 - index_bits < _MIN_RANDOM_BITS else np.int32
    order, pending = _ranked_columns_array(None, n, index_bits, dtype, generator, random_bits)
    while pending.size:  # the rows whose keys tied, drawn again until none does
        order[pending], tied = _ranked_columns_array(pending, n, index_bits, dtype, generator, random_bits)
        pending = pending[tied]
    return order


def _ranked_columns_array(
    rows: np.ndarray | None,
    n: int,
    index_bits: int,
    dtype: type[np.integer],
    generator: torch.Generator | None,
    random_bits: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``_ranked_columns`` in NumPy: the same 63-bit words drawn by torch, ranked by ``rank_array``."""
    words, keys = _key_buffer(n if rows is None else rows.size, n, dtype)
    words.random_(generator=generator)  # as _ranked_columns draws them
    if random_bits is not None:
        keys &= (1 << random_bits) - 1
    return _backend.rank_array(keys, rows, index_bits)


#: A thread keeps its key buffers up to this size for the next draw of their size (N = 128 with
#: int32 keys): the draw at N = 8 is 1.17–1.23× faster, at N = 128 1.03–1.08×; a 1 MB buffer at
#: N = 512 gained nothing (0.95–0.97×, AMD EPYC, AVX2), and is allocated per draw.
_KEY_BUFFER_MAX_BYTES = 1 << 16


def _key_buffer(rows: int, n: int, dtype: type[np.integer]) -> tuple[torch.Tensor, np.ndarray]:
    """Words to draw ``rows × n`` keys into (an int64 tensor) and the (rows, n) keys of ``dtype`` on them.

    ``rank_array`` overwrites the keys and returns new arrays, so a buffer is free again when a draw
    returns: up to ``_KEY_BUFFER_MAX_BYTES``, each thread keeps its own (``thread_buffer``).
    """
    size = (rows * n + 1) // 2 if dtype == np.int32 else rows * n
    if size * 8 > _KEY_BUFFER_MAX_BYTES:
        return _new_keys(rows, n, dtype, size)
    return thread_buffer(("keys", rows, n, dtype), _new_keys, rows, n, dtype, size)


def _new_keys(rows: int, n: int, dtype: type[np.integer], size: int) -> tuple[torch.Tensor, np.ndarray]:
    try:  # NumPy's MemoryError named as the allocation block does (a block costs more per call)
        words = np.empty(size, dtype=np.int64)
    except MemoryError as error:
        what = f"ζ-mixup's random keys for batch_size={n} ({rows}×{n} values)"
        raise allocation.error(what, error) from error
    return torch.from_numpy(words), words.view(dtype)[: rows * n].reshape(rows, n)


def _distinct_partners(
    n: int, count: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """``count`` partners for each of ``n`` samples: distinct, never the sample, uniformly random, in order.

    Column by column, each partner is drawn uniformly among the other ``n − 1`` samples and drawn
    again while it repeats one of its row's earlier partners: each column is then uniform over
    what is left, as the first ranks of a random permutation are. For ``count <= (n − 1) / 2`` a
    draw is accepted with probability at least 1/2.
    """
    partners = torch.empty(n, count, dtype=torch.int64, device=device)
    for column in range(count):
        pending = torch.arange(n, device=device)  # rows still without a partner in this column
        while pending.numel():
            offsets = torch.randint(1, n, (pending.numel(),), generator=generator, device=device)
            draw = (pending + offsets) % n
            repeated = (partners[pending, :column] == draw.unsqueeze(1)).any(dim=1)
            partners[pending[~repeated], column] = draw[~repeated]
            pending = pending[repeated]
    return partners


def zeta_weights(
    batch_size: int,
    gamma: float = 2.8,
    *,
    max_terms: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Draw the N×N ζ-mixup weight matrix.

    Row ``p`` holds ``r^-γ / Σ_{k=1..N} k^-γ``, where the ranks ``r`` of row ``p`` are a uniformly
    random permutation of ``1..N`` with rank 1 on the diagonal, drawn independently for each row.
    The matrix is built without a Python loop: one ``argsort`` of random keys (the diagonal's key
    forced to the front) gives every row's order, and one ``scatter`` writes the p-series there (on
    the CPU up to N = 8, one random word a row picks its ranking from the table of all (N − 1)! of
    them, and the row's weights are gathered from a table of every ranking's weights, made on
    first use). With ``max_terms=k``, each row keeps its ``k`` largest terms, renormalized (see
    [`zeta_terms`][zeta_terms]); the rest of the row is 0.

    Args:
        batch_size: ``N``, an int >= 1.
        gamma: The exponent γ, a finite number > 0 (default 2.8, the paper's). Larger γ keeps each
            output closer to its own input; for γ >= 1.73 the own weight exceeds 0.5 for every N.
        max_terms: Terms kept per row; ``None`` (default) keeps all: exact ζ-mixup.
        generator: Source of randomness; the global torch RNG when ``None``: the CPU's for up to 64
            samples, else (and under ``torch.compile``) ``device``'s. Keys are drawn on the
            generator's device (or that RNG's), then moved to ``device`` without waiting.
        device: Device of the result (default CPU).
        dtype: Float dtype of the result (default: ``torch.get_default_dtype()``).

    Returns:
        A float tensor of shape (N, N), non-negative, each row summing to 1, its row maxima on the
        diagonal.

    Raises:
        ValueError: If ``batch_size`` or ``max_terms`` < 1 or ``gamma`` is not a finite number > 0.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> w = zeta_weights(4, generator=torch.Generator().manual_seed(0))
        >>> w.shape, bool(torch.allclose(w.sum(1), torch.ones(4)))
        (torch.Size([4, 4]), True)
        >>> bool((w.argmax(1) == torch.arange(4)).all())
        True
    """
    n = check_batch_size(batch_size, square=True)
    if max_terms is None or check_size("max_terms", max_terms) >= n:
        check_generator(generator)
        return zeta_weights_unchecked(n, check_finite_positive("gamma", gamma), generator, device, dtype)
    indices, values = zeta_terms(
        batch_size, gamma, max_terms=max_terms, generator=generator, device=device, dtype=dtype
    )
    return _scatter_weights(indices, values)


def zeta_weights_unchecked(
    n: int,
    gamma: float,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
) -> torch.Tensor:
    """[`zeta_weights`][zmix_transforms.functional.zeta_weights] of every term, on checked arguments."""
    weights = zeta_weights_drawn(n, gamma, generator, device, (dtype or torch.get_default_dtype(),))[0]
    return to_device(weights, device)


def zeta_weights_drawn(
    n: int,
    gamma: float,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtypes: tuple[torch.dtype, ...],
) -> tuple[torch.Tensor, ...]:
    """One draw of ``zeta_weights_unchecked``'s matrix in each of ``dtypes``, the widest first.

    Each is the float64 weights rounded once to its dtype (the series is computed in float64), so
    batches mixed in different dtypes share one draw: ``ZetaMixup`` draws float64 and float32. Each
    is left where its keys were drawn, for a batch on ``device``: the host for up to 64 samples on
    an accelerator, or with a CPU generator (each dtype rounded there: no cast on the device), so
    that a caller moves only the dtypes it mixes in (``to_device``); else, and under
    ``torch.compile``, ``device``.
    """
    draw_on = (host_draw_device if n <= _HOST_WEIGHTS_MAX else draw_device)(generator, device)
    if n <= _TABLE_MAX and draw_on.type == "cpu" and not torch.compiler.is_compiling():
        # a small batch: each row's ranking picked from the table of them all, and its weights
        # gathered from the table's rows of weights: one index_select a dtype (_table_rows)
        rows = _table_rows(n, generator)[1]
        return tuple([_weight_table(n, gamma, dtype).index_select(0, rows) for dtype in dtypes])
    dtype = dtypes[0]
    if draw_on.type == "cpu" and _backend.ROUTES["numpy_argsort"] and not torch.compiler.is_compiling():
        # fast path: the rows ranked in NumPy from one torch draw of random words (see the
        # Performance log for its gain), the series scattered by NumPy for a small batch (one call
        # costs less than ATen's) and by torch's scatter_ from N = 64 (NumPy's 2-D fancy index costs
        # about 6 ns a value: 1.6 ms against 0.2 ms at N = 512, AMD EPYC); the same matrix either way
        columns = _ranked_rows_array(n, generator)
        array_dtype = _ARRAY_DTYPES.get(dtype)
        if n < _TORCH_SCATTER_MIN and array_dtype is not None:
            array = np.empty((n, n), dtype=array_dtype)
            array[_row_indices(n), columns] = _series_array(n, gamma, dtype)
            weights = torch.from_numpy(array)
        else:
            series = _series_tensor(n, gamma, dtype).expand(n, n)
            weights = _scatter_weights(torch.from_numpy(columns), series, every_entry=True)
    else:
        # the keys drawn on the host (a host draw, or a CPU generator's) are scattered there too: the
        # weights then cross in one copy, as the ranks' order would (as many bytes), and no cast is
        # made on the device
        on = draw_on if draw_on.type == "cpu" else (_CPU if device is None else torch.device(device))
        if torch.compiler.is_compiling():
            series = zeta_series_unchecked(n, gamma, on, dtype)
        else:  # made once per device: on a GPU five kernel launches a call fewer
            series = _series_on(n, gamma, dtype, on)
        order = _ranked_rows(n, n, generator, draw_on).to(on, non_blocking=True)
        weights = _scatter_weights(order, series.expand(n, n), every_entry=True)  # rows: permutations
    return (weights, *(weights.to(other) for other in dtypes[1:]))


#: Up to this batch size ζ-mixup's weights for a batch on an accelerator are drawn on the CPU (see
#: ``host_draw_device``) and copied over: drawn on a GPU they are about a dozen kernel launches
#: (random keys, a sort, the scatter of the series), a fixed cost of host time. The CPU's sort of N²
#: keys grows as N² log N, and so does the host memory the draw needs (32 KiB in float64 at N = 64).
#: On an NVIDIA H200's host, side by side in one process: 1.87–2.05× faster with host draws at
#: N = 16, but 0.57–0.93× (slower) at N = 128. Larger batches keep the device's draw.
_HOST_WEIGHTS_MAX = 64

#: Up to this batch size a CPU draw picks each row's ranking from a table of every ranking, with one
#: random word a row, instead of sorting a row of random keys, and gathers the row's weights from a
#: table of them (``_weight_table``): two ATen calls and no NumPy call instead of thirteen array
#: operations. ``ZetaMixup`` at 8×3×8×8 (one thread; the benchmark's per-call rows, a ratio to
#: timm's mixup in one process): on an AMD EPYC with AVX2, 2.00–2.04× with the keys sorted and
#: 1.69–1.70× with the rankings looked up but the weights scattered in NumPy; on an AMD EPYC with
#: AVX-512, 1.56–1.57× with that NumPy scatter and 1.30–1.80× (1.47× or less in eleven runs of twelve)
#: with the weights gathered by torch; a call's rows made a tensor through a NumPy buffer, not
#: ``torch.tensor``, took 0.82–0.83× the call's time before (dev/performance-log.md, stop 57).
_TABLE_MAX = 8


@functools.lru_cache(maxsize=_TABLE_MAX)
def _ranking_table(n: int) -> tuple[np.ndarray, int]:
    """Every ranking of a row of ``n``: ``table[p, k, c]`` is column ``c``'s rank − 1 in row ``p``'s ``k``-th.

    Row ``p`` ranks itself first (0) and its ``n − 1`` partners by the ``k``-th of the ``(n − 1)!``
    permutations, in lexicographic order. Returns the read-only int8 table (315 KiB for N = 8) and
    ``(n − 1)!``.
    """
    orders = np.array(list(itertools.permutations(range(1, n))), dtype=np.int8)
    orders = orders.reshape(math.factorial(n - 1), n - 1)  # (1, 0) for n = 1
    table = np.zeros((n, len(orders), n), dtype=np.int8)
    for p in range(n):
        table[p][:, [c for c in range(n) if c != p]] = orders
    table.flags.writeable = False
    return table, len(orders)


@functools.lru_cache(maxsize=_TABLE_MAX)
def _weight_table(n: int, gamma: float, dtype: torch.dtype) -> torch.Tensor:
    """The weights of every ranking in the table, flattened: row ``p·(N − 1)! + k`` is row ``p``'s ``k``-th.

    ``zeta_series(n, gamma)`` (rounded once to ``dtype``) gathered by the ranks; only read (by
    ``index_select``). 2.5 MiB in float64 for N = 8, 270 KiB for N = 7.
    """
    table, count = _ranking_table(n)
    ranks = torch.from_numpy(table.reshape(n * count, n).astype(np.int64))
    return _series_tensor(n, gamma, dtype)[ranks]


def _table_words(n: int, generator: torch.Generator | None, limit: int | None = None) -> list[int]:
    """One random 63-bit word a row (drawn by torch), each below ``limit``.

    ``limit`` is the largest multiple of ``(N − 1)!`` up to 2^63: words at or above it are drawn
    again, so that ``word mod (N − 1)!`` is exactly uniform (a redraw happens with probability
    below 6·10⁻¹⁶ a row; a lower ``limit`` is the tests' way to force them).
    """
    count = math.factorial(n - 1)
    limit = limit if limit is not None else (1 << 63) // count * count
    words = thread_buffer(("table words", n), _new_words, n).random_(generator=generator).tolist()
    while limit < 1 << 63 and max(words) >= limit:  # (N − 1)! of 1 or 2 divides 2^63: no check
        again = [i for i, word in enumerate(words) if word >= limit]
        fresh = torch.empty(len(again), dtype=torch.int64, device=_CPU).random_(generator=generator).tolist()
        for i, word in zip(again, fresh, strict=True):
            words[i] = word
    return words


def _new_words(n: int) -> torch.Tensor:
    return torch.empty(n, dtype=torch.int64, device=_CPU)


def _table_rows(
    n: int, generator: torch.Generator | None, limit: int | None = None
) -> tuple[np.ndarray, torch.Tensor]:
    """Each row's uniformly random ranking with itself first, as its row of the flattened tables.

    Row ``p`` takes ranking ``word mod (N − 1)!`` of ``_table_words``: row ``p·(N − 1)! + word mod
    (N − 1)!`` of ``_ranking_table(n)`` and ``_weight_table``, flattened. Returned as this thread's
    int64 buffer of ``n`` and the tensor on its memory, valid until the thread's next draw of ``n``:
    a list written into NumPy costs 0.3 µs where ``torch.tensor`` of it costs 4 (N = 8, AMD EPYC).
    """
    count = math.factorial(n - 1)
    array, tensor = thread_buffer(("table rows", n), _new_rows, n)
    array[:] = [p * count + word % count for p, word in enumerate(_table_words(n, generator, limit))]
    return array, tensor


def _new_rows(n: int) -> tuple[np.ndarray, torch.Tensor]:
    array = np.empty(n, dtype=np.int64)
    return array, torch.from_numpy(array)


def _table_ranks(n: int, generator: torch.Generator | None, limit: int | None = None) -> np.ndarray:
    """Each row's ranks (int8, N × N, rank 1 as 0) of ``_table_rows``'s rankings (a new array)."""
    table, count = _ranking_table(n)
    return table.reshape(n * count, n)[_table_rows(n, generator, limit)[0]]


#: From this batch size the CPU draw scatters the weights with torch's ``scatter_`` (below, NumPy).
_TORCH_SCATTER_MIN = 64

#: The NumPy dtypes of the float dtypes the weights are scattered in by NumPy (bfloat16 has none).
_ARRAY_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


@functools.lru_cache(maxsize=16)
def _series_tensor(n: int, gamma: float, dtype: torch.dtype) -> torch.Tensor:
    """``zeta_series(n, gamma)`` in ``dtype`` on the CPU, made once per N, γ and dtype (never written)."""
    return zeta_series(n, gamma, dtype=dtype)


@functools.lru_cache(maxsize=16)
def _series_on(n: int, gamma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``_series_tensor(n, gamma, dtype)`` copied to ``device`` once (never written)."""
    return to_device(_series_tensor(n, gamma, dtype), device)  # not waiting: its source is cached too


@functools.lru_cache(maxsize=16)
def _series_array(n: int, gamma: float, dtype: torch.dtype) -> np.ndarray:
    """``_series_tensor(n, gamma, dtype)`` as a read-only NumPy array (a view of it)."""
    series = _series_tensor(n, gamma, dtype).numpy()
    series.flags.writeable = False
    return series


@functools.lru_cache(maxsize=16)
def _row_indices(n: int) -> np.ndarray:
    """``0..n−1`` as a read-only column (n, 1): with a row's columns, where each weight goes."""
    rows = np.arange(n)[:, None]
    rows.flags.writeable = False
    return rows


def _scatter_weights(
    indices: torch.Tensor, values: torch.Tensor, *, every_entry: bool = False
) -> torch.Tensor:
    """The N×N weight matrix holding ``values[p, j]`` at column ``indices[p, j]`` of row ``p``.

    The rest is 0; ``every_entry``: each row's indices are a permutation of the columns, so the
    matrix is not zeroed first.
    """
    n = indices.shape[0]
    with allocation(lambda: f"the {n}×{n} weight matrix for batch_size={n}"):
        make = torch.empty if every_entry else torch.zeros
        weights = make(n, n, dtype=values.dtype, device=values.device)
    return weights.scatter_(1, indices, values)


def zeta_dropped_mass(max_terms: int, gamma: float = 2.8, batch_size: int | None = None) -> float:
    """The weight that exact ζ-mixup puts beyond each row's ``k`` largest terms.

    ``Σ_{k<r≤N} r^-γ / Σ_{r≤N} r^-γ``: how much of each row ``max_terms=k`` drops (and then
    renormalizes away). It grows with ``N``; without ``batch_size`` this returns its limit for
    ``N → ∞``, ``1 − Σ_{r≤k} r^-γ / ζ(γ)``, a bound for every batch size (1 for γ <= 1, where the
    series diverges).

    Args:
        max_terms: ``k``, an int >= 1.
        gamma: The exponent γ, a finite number > 0.
        batch_size: ``N``; ``None`` for the bound over all ``N``.

    Returns:
        The dropped fraction, in [0, 1]: 1 only for the bound (no ``batch_size``) at γ <= 1.

    Raises:
        ValueError: If an argument is out of range.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> round(zeta_dropped_mass(16, 2.8), 5)
        0.00286
    """
    k = check_size("max_terms", max_terms)
    gamma = check_finite_positive("gamma", gamma)
    if batch_size is not None:
        n = check_batch_size(batch_size)
        return 0.0 if n <= k else 1.0 - _pseries_sum(k, gamma) / _pseries_sum(n, gamma)
    if gamma <= 1.0:
        return 1.0
    return 1.0 - _pseries_sum(k, gamma) / _pseries_sum(None, gamma)


# Sums of the p-series are added term by term up to this rank, beyond it by Euler–Maclaurin.
_EXACT_TERMS = 100_000


def _pseries_sum(n: int | None, gamma: float) -> float:
    """``Σ_{r=1..n} r^-γ`` (``n=None``: to infinity, ζ(γ), for γ > 1), with no tensor larger than 10^5.

    Past ``M = 10^5`` terms the rest is ``∫_M^n x^-γ dx − M^-γ/2 + n^-γ/2``, whose error is
    O(γ·M^-γ-1): below 10^-10 relative for every γ > 0 and n.
    """
    m = _EXACT_TERMS if n is None else min(n, _EXACT_TERMS)
    head = float((torch.arange(1, m + 1, dtype=torch.float64, device=_CPU) ** -gamma).sum())
    if n is not None and n <= m:
        return head
    if n is None:
        return head + m ** (1.0 - gamma) / (gamma - 1.0) - 0.5 * m**-gamma
    integral = math.log(n / m) if gamma == 1.0 else (n ** (1.0 - gamma) - m ** (1.0 - gamma)) / (1.0 - gamma)
    return head + integral - 0.5 * m**-gamma + 0.5 * n**-gamma


def cycle_partners(
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw a mixing partner for every sample: a uniformly random single cycle through the batch.

    With ``σ`` a uniformly random permutation, the partner of ``σ_i`` is ``σ_{(i+1) mod N}``. Unlike
    ``torch.randperm``, no sample is paired with itself (for N >= 2), and unlike torchvision's
    ``roll(1)``, the pairing does not depend on the order the loader put the samples in.

    Args:
        batch_size: ``N``, an int >= 1.
        generator: Source of randomness; the CPU's global torch RNG when ``None`` (under
            ``torch.compile``, ``device``'s); the draw is then copied to ``device`` without waiting.
        device: Device of the result (default CPU).

    Returns:
        An int64 tensor ``partners`` of shape (N,): sample ``p`` is mixed with ``partners[p]``. For
        N = 1 it is ``[0]``.

    Raises:
        ValueError: If ``batch_size`` < 1.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> p = cycle_partners(5, generator=torch.Generator().manual_seed(0))
        >>> bool((p != torch.arange(5)).all()), sorted(p.tolist())
        (True, [0, 1, 2, 3, 4])
    """
    n = check_batch_size(batch_size)
    check_generator(generator)
    return cycle_partners_unchecked(n, generator, device)


def cycle_partners_unchecked(
    n: int, generator: torch.Generator | None, device: torch.device | str | None
) -> torch.Tensor:
    """[`cycle_partners`][zmix_transforms.functional.cycle_partners] on arguments already checked."""
    on_host = generator is None or generator.device.type == "cpu"  # where host_draw_device draws
    if on_host and _backend.ROUTES["numpy_draws"] and not torch.compiler.is_compiling():
        # fast path: torch draws σ into a NumPy buffer and NumPy builds the cycle (see numpy_draws)
        order, drawn, following = _order_buffer(n)
        torch.randperm(n, generator=generator, out=drawn, device=_CPU)
        cycle = np.empty_like(order)
        cycle[order] = order[following]
        return to_device(torch.from_numpy(cycle), device)
    sigma = torch.randperm(n, generator=generator, device=host_draw_device(generator, device))
    partners = sigma.scatter(0, sigma, sigma.roll(-1))  # partners[σ_i] = σ_{i+1}: every entry written
    return to_device(partners, device)


def _order_buffer(n: int) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
    """This thread's buffers for σ: an int64 NumPy array of ``n``, a tensor on its memory, and more.

    The third, ``[1, 2, …, n − 1, 0]``, is the index of each position's successor on the cycle
    (only read). The cycle is built from σ into a new array, so σ's buffer is free again when the
    draw returns.
    """
    return thread_buffer(("order", n), _new_order, n)


def _new_order(n: int) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
    order = np.empty(n, dtype=np.int64)
    return order, torch.from_numpy(order), np.roll(np.arange(n, dtype=np.int64), -1)


_BUFFERS = threading.local()
_T = TypeVar("_T")


def thread_buffer(key: tuple[Any, ...], make: Callable[..., _T], *args: Any) -> _T:
    """This thread's buffer for ``key``, ``make(*args)`` the first time (kept for the last 8 keys).

    For scratch memory that is free again when the call returns (a draw's, and the int16 walk's in
    ``_inplace``): one per thread (DataLoader workers with threads, or a training loop's), so no
    allocation per call.
    """
    buffers: dict[tuple[Any, ...], Any] = _BUFFERS.__dict__.setdefault("buffers", {})
    found = buffers.get(key)
    if found is None:
        if len(buffers) >= 8:
            buffers.clear()
        with torch.inference_mode(False):  # a normal tensor: written again outside inference mode too
            found = buffers[key] = make(*args)
    return cast(_T, found)


def pair_partners(
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw a partner for every sample from a uniformly random pairing of the batch (timm's "pair" mode).

    With ``σ`` a uniformly random permutation, ``σ_{2i}`` and ``σ_{2i+1}`` are each other's partners.
    For an odd N the last three, ``σ_{N−3} → σ_{N−2} → σ_{N−1} → σ_{N−3}``, form a cycle (timm
    refuses odd batches), so no sample is left out or paired with itself (N >= 2). A method that
    shares one draw per pair (one λ, one box) shares it over that cycle too: its members are those
    ``p`` with ``partners[partners[p]] != p``.

    Args:
        batch_size: ``N``, an int >= 1.
        generator: Source of randomness; the CPU's global torch RNG when ``None`` (under
            ``torch.compile``, ``device``'s); the draw is then copied to ``device`` without waiting.
        device: Device of the result (default CPU).

    Returns:
        An int64 tensor ``partners`` of shape (N,): sample ``p`` is mixed with ``partners[p]``, and
        ``partners[partners[p]] == p`` for all but (odd N) three samples. For N = 1 it is ``[0]``.

    Raises:
        ValueError: If ``batch_size`` < 1.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> p = pair_partners(6, generator=torch.Generator().manual_seed(0))
        >>> bool((p[p] == torch.arange(6)).all()), bool((p != torch.arange(6)).all())
        (True, True)
    """
    n = check_batch_size(batch_size)
    check_generator(generator)
    sigma = torch.randperm(n, generator=generator, device=host_draw_device(generator, device))
    paired = n if n % 2 == 0 else max(n - 3, 0)
    swapped = sigma[:paired].reshape(-1, 2).flip(1).reshape(-1)  # σ_{2i} ↔ σ_{2i+1}
    successors = torch.cat([swapped, sigma[paired:].roll(-1)])  # odd N: the last three in a cycle
    partners = torch.empty_like(sigma).scatter_(0, sigma, successors)
    return to_device(partners, device)


class Box(NamedTuple):
    """A half-open pixel box ``[y1, y2) × [x1, x2)``, in torchvision's XYXY order."""

    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def area(self) -> int:
        """The number of pixels in the box."""
        return (self.x2 - self.x1) * (self.y2 - self.y1)


def cutmix_box(
    height: int,
    width: int,
    lam: float,
    *,
    generator: torch.Generator | None = None,
) -> Box:
    """Draw a CutMix box of area about ``(1 − λ)·H·W`` with a uniformly random centre.

    The box has the image's aspect ratio (sides ``H·√(1−λ)`` and ``W·√(1−λ)``, rounded), its centre is
    uniform over the pixels, and it is clipped to the image, so it may be smaller than asked near the
    border. Use ``1 − box.area / (H·W)`` as the exact fraction of pixels each sample keeps.

    Args:
        height: Image height ``H`` >= 1.
        width: Image width ``W`` >= 1.
        lam: The fraction of the image to keep, in [0, 1].
        generator: Source of randomness; the global torch RNG when ``None``.

    Returns:
        The [`Box`][Box] ``(x1, y1, x2, y2)``, half-open.

    Raises:
        ValueError: If a size is < 1 or ``lam`` is outside [0, 1].
        TypeError: If an argument has the wrong type.

    Examples:
        >>> box = cutmix_box(32, 32, 0.75, generator=torch.Generator().manual_seed(0))
        >>> 0 <= box.x1 <= box.x2 <= 32 and box.area <= 16 * 16
        True
    """
    height = check_size("height", height)
    width = check_size("width", width)
    region = cutmix_region((height, width), lam, generator=generator)
    (y1, x1), (y2, x2) = region.starts, region.stops
    return Box(x1=x1, y1=y1, x2=x2, y2=y2)


def cutmix_region(
    shape: tuple[int, ...] | list[int] | torch.Size,
    lam: float,
    *,
    generator: torch.Generator | None = None,
) -> Region:
    """Draw a CutMix box (2-D) or cuboid (3-D) of about ``(1 − λ)`` of the image, with a random centre.

    Each side is the image's side times ``(1 − λ)^(1/d)`` (``d`` spatial dimensions), rounded, so the
    region keeps the image's aspect ratio and holds about ``(1 − λ)`` of its pixels or voxels in any
    dimension (MONAI's CutMix scales each side by ``√(1 − λ)``, which in 3-D pastes ``(1 − λ)^{3/2}``
    of the volume). The centre is uniform over the positions, drawn dimension by dimension, and the
    region is clipped to the image: use ``1 − region.size / prod(shape)`` as the exact fraction each
    sample keeps. In 2-D this is [`cutmix_box`][cutmix_box]'s draw.

    Args:
        shape: The spatial sizes, ``(H, W)`` or ``(D, H, W)``, each >= 1.
        lam: The fraction of the image to keep, in [0, 1].
        generator: Source of randomness; the global torch RNG when ``None``.

    Returns:
        The [`Region`][Region], half-open.

    Raises:
        ValueError: If a size is < 1 or ``lam`` is outside [0, 1].
        TypeError: If an argument has the wrong type.

    Examples:
        >>> region = cutmix_region((16, 32, 32), 0.875, generator=torch.Generator().manual_seed(0))
        >>> [stop - start <= side // 2 for start, stop, side in zip(*region, (16, 32, 32))]
        [True, True, True]
    """
    sizes = check_sizes("shape", shape)
    lam = check_lam(lam)
    check_generator(generator)
    return cutmix_region_unchecked(sizes, lam, generator)


def cutmix_region_unchecked(sizes: Sequence[int], lam: float, generator: torch.Generator | None) -> Region:
    """[`cutmix_region`][zmix_transforms.functional.cutmix_region] on arguments already checked."""
    draw_on = draw_device(generator, None)
    centres = [int(torch.randint(size, (), generator=generator, device=draw_on)) for size in sizes]
    return _region_around(sizes, lam, centres)


def cutmix_draw_unchecked(
    sizes: Sequence[int], alpha: float, generator: torch.Generator | None
) -> tuple[float, Region]:
    """λ ~ Beta(α, α) and the CutMix region of ``(1 − λ)`` with a uniform centre, from one op.

    The draw of λ gives one Exp(1) variable ``E`` per spatial side as well: ``u = 1 − e^−E`` is
    uniform on [0, 1) and the centre is ``⌊u · side⌋`` (uniform over the side's positions, within the
    rounding of a double). The same regions as ``cutmix_region`` draws, in one op instead of one per
    side plus λ's, each with its read back to the host (CutMix's call, 8×3×8×8: 4 ATen ops fewer).

    Returns:
        λ as drawn (before the region's clipping), and the region.
    """
    lam, exponentials = _gamma_draws(alpha, len(sizes), generator)
    centres = [
        min(int(-math.expm1(-e) * size), size - 1) for e, size in zip(exponentials, sizes, strict=True)
    ]
    return lam, _region_around(sizes, lam, centres)


def cutmix_regions_unchecked(
    sizes: Sequence[int], lams: Sequence[float], generator: torch.Generator | None
) -> list[Region]:
    """CutMix's regions for several λs (one a sample), their centres from one draw of exponentials.

    Each centre is ``⌊(1 − e^−E) · side⌋`` for an Exp(1) draw ``E``, as in ``cutmix_draw_unchecked``:
    uniform over the side's positions (within a double's rounding). One op for every region, and
    the boxes' arithmetic in NumPy over all of them: at 128 samples of 32² a draw of ``CutMix(mode=
    "elem")`` took 0.23 ms of CPU instead of 1.0 ms with a ``cutmix_region`` per region (AMD EPYC).
    """
    if not lams:
        return []
    draw_on = draw_device(generator, None)
    drawn = torch.empty(len(lams), len(sizes), dtype=torch.float64, device=draw_on)
    exponentials = drawn.exponential_(generator=generator).cpu().numpy()
    # _region_around's arithmetic over every region at once (NumPy rounds half to even, as round)
    sides = np.asarray(sizes, dtype=np.int64)
    centres = np.minimum((-np.expm1(-exponentials) * sides).astype(np.int64), sides - 1)
    kept = 1.0 - np.asarray(lams, dtype=np.float64)
    ratio = np.sqrt(kept) if len(sizes) == 2 else kept ** (1.0 / len(sizes))
    cuts = np.round(sides * ratio[:, None]).astype(np.int64)
    starts = centres - cuts // 2
    low, high = np.clip(starts, 0, sides).tolist(), np.clip(starts + cuts, 0, sides).tolist()
    return [Region(tuple(a), tuple(b)) for a, b in zip(low, high, strict=True)]


def _region_around(sizes: Sequence[int], lam: float, centres: Sequence[int]) -> Region:
    """The region of about ``(1 − λ)`` of the image, centred at ``centres`` and clipped to it."""
    # the 2-D ratio through math.sqrt, as cutmix_box always drew it (bit-identical boxes)
    ratio = math.sqrt(1.0 - lam) if len(sizes) == 2 else (1.0 - lam) ** (1.0 / len(sizes))
    cuts = [round(size * ratio) for size in sizes]
    starts = [centre - cut // 2 for centre, cut in zip(centres, cuts, strict=True)]
    return Region(
        starts=tuple(min(max(start, 0), size) for start, size in zip(starts, sizes, strict=True)),
        stops=tuple(
            min(max(start + cut, 0), size) for start, cut, size in zip(starts, cuts, sizes, strict=True)
        ),
    )


def cutmix_mask_traceable(
    sizes: Sequence[int],
    lam: float | torch.Tensor,
    generator: torch.Generator | None,
    device: torch.device | str | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix's region for ``torch.compile``: a bool mask over ``sizes`` and its count of pixels.

    The region ``cutmix_region`` draws (about ``(1 − λ)`` of the image, a uniform centre, clipped),
    kept as tensors: a tensor λ and the centres are never read back to the host. A λ of shape (N,)
    draws N regions: masks (N, *sizes) and counts (N,). The centres are drawn on the generator's
    device (else the CPU, as ``cutmix_region`` draws them) when λ is a float, on λ's device when it
    is a tensor; the masks lie on ``device``.
    """
    d = len(sizes)
    lead: tuple[int, ...] = ()
    ratio: float | torch.Tensor
    if isinstance(lam, torch.Tensor):
        draw_on, lead = lam.device, tuple(lam.shape)
        ratio = (1.0 - lam).sqrt() if d == 2 else (1.0 - lam) ** (1.0 / d)
    else:
        draw_on = draw_device(generator, None)
        ratio = math.sqrt(1.0 - lam) if d == 2 else (1.0 - lam) ** (1.0 / d)
    inside = torch.ones((), dtype=torch.bool, device=device)
    counts = []
    for axis, size in enumerate(sizes):
        cut = (size * ratio).round() if isinstance(ratio, torch.Tensor) else round(size * ratio)
        centre = torch.randint(size, lead, generator=generator, device=draw_on)
        start = (centre - cut // 2).to(device).unsqueeze(-1)
        stop = start + (cut.to(device).unsqueeze(-1) if isinstance(cut, torch.Tensor) else cut)
        positions = torch.arange(size, device=device)
        along = (positions >= start) & (positions < stop)
        counts.append(along.sum(-1))
        shape = [*lead] + [1] * d
        shape[len(lead) + axis] = size
        inside = inside & along.reshape(shape)
    return inside, torch.stack(counts, -1).prod(-1)


def cutmix_region_minmax(
    shape: tuple[int, ...] | list[int] | torch.Size,
    minmax: tuple[float, float],
    *,
    generator: torch.Generator | None = None,
) -> Region:
    """Draw a CutMix box or cuboid with sides uniform fractions of the image's (timm's ``cutmix_minmax``).

    Each side is a uniformly random integer in ``[int(side·lo), int(side·hi))`` (``int(side·lo)`` when
    that range is empty), drawn dimension by dimension, and the region's position is uniform among
    those that keep it inside the image; no λ is drawn: the kept fraction is
    ``1 − region.size / prod(shape)``.

    Args:
        shape: The spatial sizes, ``(H, W)`` or ``(D, H, W)``, each >= 1.
        minmax: ``(lo, hi)`` with ``0 <= lo < hi <= 1``: the range of each side, as a fraction of the
            image's side.
        generator: Source of randomness; the global torch RNG when ``None``.

    Returns:
        The [`Region`][Region], inside the image.

    Raises:
        ValueError: If a size is < 1 or ``minmax`` is out of range.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> region = cutmix_region_minmax((32, 32), (0.25, 0.75), generator=torch.Generator().manual_seed(0))
        >>> all(8 <= stop - start < 24 for start, stop in zip(*region))
        True
    """
    sizes = check_sizes("shape", shape)
    low, high = check_minmax(minmax)
    check_generator(generator)
    draw_on = draw_device(generator, None)
    cuts = []
    for size in sizes:
        lower, upper = int(size * low), int(size * high)
        cut = (
            lower
            if upper <= lower
            else int(torch.randint(lower, upper, (), generator=generator, device=draw_on))
        )
        cuts.append(cut)
    starts = [
        int(torch.randint(0, size - cut + 1, (), generator=generator, device=draw_on))
        for size, cut in zip(sizes, cuts, strict=True)
    ]
    return Region(tuple(starts), tuple(start + cut for start, cut in zip(starts, cuts, strict=True)))


def top_share_masks(values: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """(L, P) bool masks, row ``l`` set at its ``kept[l]`` largest ``values``: the order of a sort.

    On the CPU by each row's threshold where values do not tie at it (route ``selection_masks``,
    ``_backend.top_shares``); else by a sort of each row and a scatter of its ranks.
    """
    rows, count = values.shape
    selection = _backend.ROUTES["selection_masks"] and not torch.compiler.is_compiling()
    if values.device.type == "cpu" and selection:
        masks = _backend.top_shares(values, kept)  # fast path: by thresholds, not a sort and a scatter
        if masks is not None:
            return masks
    order = values.argsort(dim=1, descending=True)
    ranks = torch.arange(count, device=values.device).expand(rows, count)
    masks = torch.empty((rows, count), dtype=torch.bool, device=values.device)
    return masks.scatter_(1, order, ranks < kept.unsqueeze(1))
