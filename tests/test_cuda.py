"""The methods on a CUDA device: results stay there, match the CPU maths, and force no CPU sync.

Skipped where no CUDA device is present (CI has none).
"""

from __future__ import annotations

import functools
import time

import pytest
import torch

import zmix_transforms as Z
from tests.methods import NO_SYNC, PRODUCT_CLASSES, TRANSFORM_CLASSES, VARIANTS
from tests.numerics import assert_same_mix
from zmix_transforms import functional as F

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

TRANSFORMS = NO_SYNC  # the eager calls that read nothing back from the device


@pytest.mark.parametrize("cls", TRANSFORMS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.uint8])
@pytest.mark.parametrize("shape", [(16, 3, 32, 32), (64, 3, 224, 224)], ids=["small", "large"])
def test_transforms_stay_on_the_device_without_a_sync(
    cls: type, dtype: torch.dtype, shape: tuple[int, ...]
) -> None:
    """No sync, small samples or large ones (mixed one by one along the pairing on the CPU), in
    place (``mix_images(..., inplace=True)``, as a collate calls it) or not."""
    images = torch.randint(0, 256, shape, device="cuda").to(dtype)
    soft = torch.softmax(torch.randn(shape[0], 10, device="cuda"), dim=1)
    transform = cls(num_classes=10)
    transform(images, soft)  # warm up lazy CUDA initialization
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out_images, out_labels = transform(images, soft)
        params = transform.draw_params([images], None)
        in_place = transform.mix_images(images, params, inplace=True)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out_images.device.type == "cuda" and out_images.dtype == dtype and in_place is images
    assert out_labels.device.type == "cuda"
    torch.testing.assert_close(out_labels.sum(1), torch.ones(shape[0], device="cuda"))


@pytest.mark.parametrize("cls", TRANSFORMS)
@pytest.mark.parametrize("n", [16, 128])  # ζ-mixup's weights drawn on the host and on the device
def test_a_call_returns_while_the_gpu_is_busy(cls: type, n: int) -> None:
    """A call queues its work behind the GPU's and returns: its host draws (pairings, λs) reach the
    device by non-blocking copies. ``set_sync_debug_mode`` (above) sees torch's syncs; this also
    sees one the driver would make, for a copy that waits for the stream. The margin is 2× at least:
    the GPU sleeps 10⁹ cycles (0.5 s at the H200's top clock), the call gets 0.25 s."""
    images = torch.rand(n, 3, 32, 32, device="cuda")
    labels = torch.arange(n, device="cuda") % 10
    transform = cls(num_classes=10)
    transform(images, labels)
    torch.cuda.synchronize()
    torch.cuda._sleep(1_000_000_000)
    start = time.perf_counter()
    transform(images, labels)
    queued = time.perf_counter() - start
    torch.cuda.synchronize()
    assert queued < 0.25, f"the call took {queued:.3f} s on the host: it waited for the GPU"


@pytest.mark.parametrize(
    "cls",
    [
        Z.MixUp,
        Z.CutMix,
        Z.ZetaMixup,
        functools.partial(Z.MixUp, mode="elem"),
        functools.partial(Z.MixUp, mode="pair"),
        Z.FMix,
        functools.partial(Z.FMix, mode="elem"),
    ],
)
def test_a_seed_gives_the_same_mix_on_the_cpu_and_the_gpu(cls: type) -> None:
    """The pairing, λ, (N ≤ 64) ζ-mixup's weights and (up to 4096 pixels in all) FMix's masks are
    drawn on the host for either batch: one seed, one mix (the arithmetic's rounding aside: a fused
    multiply-add or a product may round apart)."""
    images, labels = torch.rand(16, 3, 8, 8), torch.arange(16) % 10
    torch.manual_seed(3)
    on_cpu = cls(num_classes=10)(images, labels)
    torch.manual_seed(3)
    on_gpu = cls(num_classes=10)(images.cuda(), labels.cuda())
    torch.testing.assert_close(on_gpu[0].cpu(), on_cpu[0])
    torch.testing.assert_close(on_gpu[1].cpu(), on_cpu[1])


@pytest.mark.parametrize("cls", PRODUCT_CLASSES)
@pytest.mark.parametrize(
    ("dtype", "labels_dtype"), [(torch.float64, torch.float64), (torch.float32, torch.float64)]
)
def test_zeta_float64_weights_reach_the_gpu_when_used_without_a_sync(
    cls: type, dtype: torch.dtype, labels_dtype: torch.dtype
) -> None:
    """Beside float32 weights, ζ-mixup's float64 ones wait on the host until a float64 batch needs
    them (N ≤ 64), then arrive without a sync; one seed gives ZetaMixup the CPU's mix."""
    images, soft = (
        torch.rand(16, 3, 8, 8, dtype=dtype),
        torch.softmax(torch.randn(16, 10), 1).to(labels_dtype),
    )
    torch.manual_seed(3)
    on_cpu = cls(num_classes=10)(images, soft)
    transform = cls(num_classes=10)
    images_gpu, soft_gpu = images.cuda(), soft.cuda()
    transform(images_gpu, soft_gpu)  # warm up lazy CUDA initialization
    torch.cuda.synchronize()
    torch.manual_seed(3)
    torch.cuda.set_sync_debug_mode("error")
    try:
        on_gpu = transform(images_gpu, soft_gpu)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert on_gpu[0].dtype == dtype and on_gpu[1].dtype == labels_dtype
    torch.testing.assert_close(on_gpu[1].sum(1).cpu(), torch.ones(16, dtype=labels_dtype))
    if cls is Z.ZetaMixup:
        torch.testing.assert_close(on_gpu[0].cpu(), on_cpu[0])
        torch.testing.assert_close(on_gpu[1].cpu(), on_cpu[1])


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_images_on_the_gpu_labels_on_the_cpu(cls: type) -> None:
    images = torch.rand(8, 3, 16, 16, device="cuda")
    out_images, out_labels = cls(num_classes=4)(images, torch.arange(8) % 4)
    assert out_images.device.type == "cuda" and out_labels.device.type == "cpu"
    torch.testing.assert_close(out_labels.sum(1), torch.ones(8))


def test_functional_matches_the_cpu_with_the_same_draws() -> None:
    x = torch.rand(32, 3, 16, 16, dtype=torch.float64)
    y = F.one_hot(torch.arange(32) % 10, 10, dtype=torch.float64)
    for fn, param in ((F.zeta_mixup, 2.8), (F.mixup, 0.3), (F.cutmix, 0.3)):
        cpu = fn(x, y, param, generator=torch.Generator().manual_seed(0))
        gpu = fn(x.cuda(), y.cuda(), param, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(gpu[0].cpu(), cpu[0])
        torch.testing.assert_close(gpu[1].cpu(), cpu[1])


def test_zeta_weights_drawn_on_the_device() -> None:
    g = torch.Generator(device="cuda").manual_seed(0)
    weights = F.zeta_weights(64, generator=g, device="cuda")
    assert weights.device.type == "cuda"
    assert (weights.argmax(1) == torch.arange(64, device="cuda")).all()


@pytest.mark.parametrize("mode", ["elem", "pair"])
def test_per_sample_cutmix_boxes_on_the_device(mode: str) -> None:
    """One box per sample (drawn on the CPU; reading the pairing back is this mode's one sync)."""
    coded = torch.arange(12, dtype=torch.float32, device="cuda").reshape(12, 1, 1, 1).expand(12, 2, 16, 16)
    out, weights = Z.CutMix(mode=mode)(coded.contiguous(), torch.eye(12, device="cuda"))
    assert out.device.type == "cuda" and weights.device.type == "cuda"
    sources = out[:, 0].long().flatten(1).cpu()
    taken = torch.stack([torch.bincount(row, minlength=12) for row in sources]).float() / 256
    torch.testing.assert_close(weights.cpu(), taken)


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_resizemix_patches_on_the_device_match_the_cpu(mode: str, dtype: torch.dtype) -> None:
    """One patch per sample: on the GPU by one masked copy, on the CPU (samples this large) one by
    one; one for the batch: on the GPU by one index, on the CPU an axis at a time. The same seed
    gives the same pixels."""
    x = (torch.rand(8, 3, 160, 160, generator=torch.Generator().manual_seed(0)) * 255).to(dtype)
    labels = torch.arange(8) % 5
    outs = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(1)
        out, weights = Z.ResizeMix(num_classes=5, mode=mode, p=0.8)(x.to(device), labels.to(device))
        outs.append((out.cpu(), weights.cpu()))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_eight_bit_mixes_in_steps_match_the_cpu() -> None:
    """uint8 with λ in steps of 1/256: int16 on the GPU (one λ) or float32 (per-sample λ), as the CPU."""
    g = torch.Generator().manual_seed(4)
    x = torch.randint(0, 256, (16, 3, 32, 32), generator=g).to(torch.uint8)
    partners = F.cycle_partners(16, generator=g)
    steps = (F.sample_lambdas(0.4, 16, generator=g) * 256).round() / 256
    for lam in (0.0, 1 / 256, 95 / 256, 0.5, 200 / 256, 1.0, steps):
        on_gpu = F.mix_pairs(x.cuda(), lam.cuda() if isinstance(lam, torch.Tensor) else lam, partners.cuda())
        assert torch.equal(on_gpu.cpu(), F.mix_pairs(x, lam, partners))


@pytest.mark.parametrize("cls", [Z.ZetaMixup, functools.partial(Z.ZetaMixup, max_terms=4), Z.ZetaCutMix])
def test_autocast_leaves_the_products_in_float32(cls: type) -> None:
    """Under CUDA autocast (float16) ζ-mixup's products still run in float32: the same mix as outside."""
    images = torch.rand(16, 3, 32, 32, device="cuda")
    labels = torch.arange(16, device="cuda") % 10
    torch.manual_seed(0)
    expected = cls(num_classes=10)(images, labels)
    torch.manual_seed(0)
    with torch.autocast("cuda", dtype=torch.float16):
        mixed = cls(num_classes=10)(images, labels)
    assert mixed[0].dtype == torch.float32 and torch.equal(mixed[0], expected[0])
    assert torch.equal(mixed[1], expected[1])


@pytest.mark.parametrize("cls", TRANSFORM_CLASSES)
def test_a_compiled_training_step_is_captured_in_a_cuda_graph(cls: type) -> None:
    """``torch.compile(mode="reduce-overhead")`` over a step with the transform inside: one graph, no
    skipped CUDA graph (a draw read to the host, or a CPU tensor in the graph, would skip it)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    transform = cls(num_classes=10)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 10)).cuda()

    def step(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mixed, soft = transform(images, labels)
        return torch.nn.functional.cross_entropy(model(mixed.float() / 255), soft), soft

    compiled = torch.compile(step, mode="reduce-overhead", fullgraph=True)
    images = torch.randint(0, 256, (8, 3, 16, 16), device="cuda", dtype=torch.uint8)
    labels = torch.randint(0, 10, (8,), device="cuda")
    for _ in range(4):  # recorded on the first calls, replayed after
        loss, soft = compiled(images, labels)
        assert torch.isfinite(loss) and loss.device.type == "cuda"
        torch.testing.assert_close(soft.sum(1), torch.ones(8, device="cuda"))
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])


@pytest.mark.parametrize("cls", TRANSFORM_CLASSES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_deterministic_algorithms_run_every_method(
    cls: type, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``torch.use_deterministic_algorithms(True)`` every method runs on the GPU (it calls no op
    that mode refuses) and mixes as outside it: ζ-mixup's products within the product bound."""
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what torch asks of any cuBLAS product
    images = torch.randint(0, 256, (12, 3, 16, 16), device="cuda").to(dtype)
    labels = torch.arange(12, device="cuda") % 4
    torch.manual_seed(0)
    expected = cls(num_classes=4)(images, labels)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(0)
        mixed = cls(num_classes=4)(images, labels)
    finally:
        torch.use_deterministic_algorithms(False)
    products = {variant.cls for variant in VARIANTS if variant.family in ("zeta", "zetacut")}
    terms = 12 if cls in products else None  # a matrix product: within the bound, else bit for bit
    assert_same_mix(mixed[0], expected[0], terms, "images")
    assert_same_mix(mixed[1], expected[1], terms, "labels")


@pytest.mark.parametrize("classes", [10, 2000])  # a cached identity's rows, and a scatter above 1024
def test_one_hot_on_the_device_matches_the_cpu(classes: int) -> None:
    labels = torch.randint(0, classes, (64,))
    expected = F.one_hot(labels, classes, label_smoothing=0.1)
    got = F.one_hot(labels.cuda(), classes, label_smoothing=0.1)
    assert got.device.type == "cuda" and torch.equal(got.cpu(), expected)
