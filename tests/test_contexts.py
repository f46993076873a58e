"""A call mixes alike under the global settings a training script may have made.

``torch.set_default_device`` (some scripts set ``"cuda"``; the meta device stands in for it here:
a tensor made there by mistake has no values, and reading it raises), ``torch.set_default_dtype``
and ``torch.inference_mode`` (a validation loop, a preview of the augmented batches) must not
change what a call returns, nor break the calls made after them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import zmix_transforms as Z
from tests.methods import METHODS, VARIANTS, Method, Variant
from tests.settings import default_dtype
from tests.strategies import make_images
from zmix_transforms import _backend, _distributed
from zmix_transforms import functional as F
from zmix_transforms.functional import _draws

# a table-drawn ζ batch (N <= 8), a larger one, and large samples (the CPU's per-sample routes)
BATCHES = [((5, 3, 8, 8), torch.float32), ((24, 3, 8, 8), torch.float32), ((16, 3, 64, 64), torch.uint8)]


def _batch(shape: tuple[int, ...], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return make_images(shape, dtype, 3), torch.arange(shape[0]) % 4


def _run(method: Method, batch: tuple[torch.Tensor, torch.Tensor], seed: int = 3) -> tuple[torch.Tensor, ...]:
    param = method.typical if method.typical is not None else 1.0
    return method.run(*batch, 4, param, seed)


def _assert_same(got: tuple[torch.Tensor, ...], expected: tuple[torch.Tensor, ...], method: Method) -> None:
    for a, b in zip(got, expected, strict=True):
        assert a.device.type == "cpu" and not a.is_inference()
        if method.through_product:  # the same product of the same shapes; still, a product's tolerance
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6 * max(1.0, float(b.abs().max())))
        else:
            assert torch.equal(a, b)


def _clear_first_use_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the routes the process timed on its first use, so that the next call times them again."""
    monkeypatch.setattr(_backend, "NUMPY_SORTS_FASTER", None)
    monkeypatch.setattr(_backend, "ONEDNN_FASTER", {})


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
@pytest.mark.parametrize(("shape", "dtype"), BATCHES, ids=["5", "24", "16-uint8-64x64"])
@pytest.mark.parametrize("default", [torch.float64, torch.bfloat16], ids=str)
def test_another_default_dtype_changes_nothing(
    method: Method,
    shape: tuple[int, ...],
    dtype: torch.dtype,
    default: torch.dtype,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``torch.set_default_dtype`` changes neither the draws (coins of ``p`` included) nor the mix,
    also where the process's first call times its routes under it (NumPy's sort, oneDNN)."""
    if method.volumes:
        shape = (*shape[:2], 4, *shape[2:])
    batch = _batch(shape, dtype)
    expected = _run(method, batch)
    _clear_first_use_timings(monkeypatch)
    with default_dtype(default):
        got = _run(method, batch)
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == b.dtype
    _assert_same(got, expected, method)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
@pytest.mark.parametrize(("shape", "dtype"), BATCHES, ids=["5", "24", "16-uint8-64x64"])
def test_another_default_device_changes_nothing(
    method: Method, shape: tuple[int, ...], dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``torch.set_default_device`` a CPU batch is drawn for and mixed on the CPU, as without,
    also where the process's first call times its routes under it (NumPy's sort, oneDNN)."""
    if method.volumes:
        shape = (*shape[:2], 4, *shape[2:])
    batch = _batch(shape, dtype)
    expected = _run(method, batch)
    _clear_first_use_timings(monkeypatch)
    with torch.device("meta"):
        got = _run(method, batch)
    _assert_same(got, expected, method)


def _calls(variant: Variant, collate: bool) -> Callable[..., tuple[torch.Tensor, ...]]:
    """One transform or collate object of ``variant``, called with a seed, as a training loop calls it."""
    cls = getattr(Z, variant.cls.__name__ + "Collate") if collate else variant.cls
    made = cls(**variant.options, num_classes=4)

    def call(images: torch.Tensor, labels: torch.Tensor, seed: int = 3) -> tuple[torch.Tensor, ...]:
        torch.manual_seed(seed)
        if collate:
            return tuple(made(list(zip(images.unbind(0), labels.unbind(0), strict=True))))
        return tuple(made(images, labels))

    return call


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
@pytest.mark.parametrize("collate", [False, True], ids=["transform", "collate"])
@pytest.mark.parametrize(("shape", "dtype"), BATCHES, ids=["5", "24", "16-uint8-64x64"])
def test_inference_mode_changes_nothing_before_or_after(
    variant: Variant, collate: bool, shape: tuple[int, ...], dtype: torch.dtype
) -> None:
    """Inside ``torch.inference_mode()`` a call mixes as outside; and the same object's calls after
    it, outside, still do: no buffer or batch kept from inside is written outside, which torch
    refuses. In a new thread, whose buffers are all made inside inference mode."""
    batch = _batch(shape, dtype)
    expected = _calls(variant, collate)(*batch)
    call, got = _calls(variant, collate), {}

    def in_a_new_thread() -> None:
        with torch.inference_mode():
            got["inside"] = call(*batch)
        got["after"] = call(*batch)
        got["again"] = call(*batch)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(in_a_new_thread).result()
    for a, b in zip(got["inside"], expected, strict=True):
        assert a.is_inference() and torch.equal(a, b)
    for key in ("after", "again"):
        for a, b in zip(got[key], expected, strict=True):
            assert not a.is_inference() and torch.equal(a, b)


@pytest.mark.parametrize("n", [1, 5, 24, 100])
def test_the_draws_default_to_the_cpu_under_another_default_device(n: int) -> None:
    """The draws' ``device=None`` is the CPU, as their docs say, whatever torch's default device."""
    with torch.device("meta"):
        draws = [
            F.zeta_weights(n),
            *F.zeta_terms(n, max_terms=min(n, 3)),
            F.zeta_series(n),
            F.sample_lambdas(1.0, n),
            F.cycle_partners(n),
            F.pair_partners(n),
            F.one_hot(torch.arange(n, device="cpu") % 3, 3),
        ]
        lam = F.sample_lambda(1.0)
        dropped = F.zeta_dropped_mass(1, batch_size=n)
        # rows whose random word is drawn again (a lower limit forces it: see _table_words)
        words = _draws._table_words(4, torch.Generator().manual_seed(n), limit=1 << 62)
    assert all(d.device.type == "cpu" for d in draws) and 0.0 <= lam <= 1.0 and 0.0 <= dropped < 1.0
    assert len(words) == 4 and max(words) < 1 << 62


def test_random_mix_and_the_rank_seeds_draw_on_the_cpu_under_another_default_device() -> None:
    """``RandomMix``'s pick and a rank's generator seed come from the CPU's RNG, as without."""
    batch = _batch((6, 3, 8, 8), torch.float32)
    mix = Z.RandomMix([Z.MixUp(num_classes=4), Z.CutMix(num_classes=4)], p=[0.5, 0.5])
    expected = []
    for seed in range(4):
        torch.manual_seed(seed)
        expected.append((mix(*batch), _distributed.rank_generator(_distributed.World(1, 2)).initial_seed()))
    for seed in range(4):
        torch.manual_seed(seed)
        with torch.device("meta"):
            (images, labels), rank_seed = mix(*batch), _distributed.rank_generator(_distributed.World(1, 2))
        (want_images, want_labels), want_seed = expected[seed]
        assert torch.equal(images, want_images) and torch.equal(labels, want_labels)
        assert rank_seed.initial_seed() == want_seed


def test_a_collate_made_in_inference_mode_is_switched_off_outside_it() -> None:
    """The shared ``mixup_enabled`` switch of a collate made inside ``torch.inference_mode()``."""
    with torch.inference_mode():
        collate = Z.MixUpCollate(num_classes=4)
    collate.mixup_enabled = False
    images, labels = _batch((4, 3, 8, 8), torch.float32)
    mixed, soft = collate(list(zip(images.unbind(0), labels.unbind(0), strict=True)))
    assert torch.equal(mixed, images) and torch.equal(soft, F.one_hot(labels, 4))


SETTINGS = {"device": lambda: torch.device("meta"), "dtype": lambda: default_dtype(torch.float64)}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
@pytest.mark.parametrize("collate", [False, True], ids=["transform", "collate"])
@pytest.mark.parametrize("setting", SETTINGS)
def test_another_default_changes_no_variant(variant: Variant, collate: bool, setting: str) -> None:
    """Every variant (``p`` < 1 among them: a coin for the batch) and its collate, as above, over
    seeds enough for a coin drawn in another dtype to land elsewhere."""
    batch = _batch((6, 3, 8, 8), torch.float32)
    made = _calls(variant, collate)
    expected = [made(*batch, seed) for seed in range(6)]
    call = _calls(variant, collate)
    with SETTINGS[setting]():
        got = [call(*batch, seed) for seed in range(6)]
    for mixes, want in zip(got, expected, strict=True):
        for a, b in zip(mixes, want, strict=True):
            assert a.device.type == "cpu" and a.dtype == b.dtype and torch.equal(a, b)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.family != "zeta"], ids=lambda v: v.id)
def test_the_parameters_of_some_rows_under_another_default_device(variant: Variant) -> None:
    """``rows_params`` (mixing across ranks) keeps a CPU batch's parameters on the CPU."""
    transform = variant.make(num_classes=4)
    images = _batch((6, 3, 8, 8), torch.float32)[0]
    torch.manual_seed(0)
    params = transform.draw_params([images], None)
    rows = torch.tensor([4, 1])
    expected, _ = transform.rows_params(params, rows)
    with torch.device("meta"):
        local, select = transform.rows_params(params, rows)
    assert select is None or select.device.type == "cpu"
    assert torch.equal(local["partners"], expected["partners"]) and local["partners"].device.type == "cpu"
    if select is not None:  # the rows, then their partners: row i is paired with n + i, and back
        assert local["partners"].tolist() == [2, 3, 0, 1]


def test_sampling_positions_made_in_inference_mode_serve_gradients_after_it() -> None:
    """ResizeMix's cached sampling positions, first made inside ``torch.inference_mode()`` (a
    validation loop), are normal tensors: a gather that autograd records outside may save them."""
    from zmix_transforms.functional import _kernels

    _kernels._nearest.cache_clear()
    with torch.inference_mode():
        _kernels.resized_partners(torch.rand(4, 3, 10, 12), (5, 7))
    x = torch.rand(4, 3, 10, 12, requires_grad=True)
    out = _kernels.resized_partners(x, (5, 7), torch.tensor([1, 2, 3, 0]))
    out.sum().backward()
    assert x.grad is not None and int(x.grad.sum()) == out.numel()
