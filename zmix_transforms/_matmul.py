"""The float32 matrix product behind ζ-mixup, routed to the faster of the CPU's two libraries.

PyTorch computes a float32 ``torch.mm`` on the CPU with MKL, and MKL picks its AVX2 kernels on
non-Intel processors even where they have AVX-512. oneDNN, which PyTorch also ships (it runs
PyTorch's bfloat16 products and the fused linear layers of ``torch.compile``), dispatches on the
instruction set alone. On the AMD EPYC machine of ``docs/benchmarks.md`` it computes the same
float32 products (same precision, summation in float32) in about half MKL's time.

``matmul`` uses oneDNN's fused linear operator for large CPU products outside autograd and outside
``torch.compile`` tracing, after checking once per process that the operator exists and agrees with
``torch.mm``; everything else goes through ``torch.mm``/``torch.addmm``.
"""

from __future__ import annotations

import torch

# Products of fewer multiply-adds than this go through torch.mm: oneDNN's per-call set-up (about
# 20 µs) costs more than it saves on them.
_ONEDNN_MIN_MACS = 1 << 21

_onednn_works: bool | None = None  # None until the first large product checks it


def matmul(weights: torch.Tensor, flat: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``weights @ flat`` plus ``bias`` (one value per column of the result, if given), as a new tensor.

    Args:
        weights: A float (M, N) matrix.
        flat: A contiguous (N, D) matrix of ``weights``' dtype and device.
        bias: A (D,) vector added to every row of the product.

    Returns:
        The (M, D) product.
    """
    if _use_onednn(weights, flat):
        return torch.ops.mkldnn._linear_pointwise(weights, flat.t(), bias, "none", [], "")
    if bias is None:
        return torch.mm(weights, flat)
    return torch.addmm(bias, weights, flat)


def _use_onednn(weights: torch.Tensor, flat: torch.Tensor) -> bool:
    if (
        flat.device.type != "cpu"
        or flat.dtype != torch.float32
        or weights.dtype != torch.float32
        or not flat.is_contiguous()  # oneDNN reorders a strided (N, D) view element by element
        or weights.shape[0] * flat.shape[0] * flat.shape[1] < _ONEDNN_MIN_MACS
        or torch.compiler.is_compiling()
        or (torch.is_grad_enabled() and (weights.requires_grad or flat.requires_grad))
    ):
        return False
    global _onednn_works
    if _onednn_works is None:
        _onednn_works = _onednn_agrees_with_mm()
    return _onednn_works


def _onednn_agrees_with_mm() -> bool:
    """Whether oneDNN's linear operator exists here and computes what ``torch.mm`` computes."""
    if not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    weights = torch.rand(16, 16, generator=generator)
    flat = torch.rand(16, 96, generator=generator)
    bias = torch.rand(96, generator=generator)
    try:
        with torch.no_grad():
            product = torch.ops.mkldnn._linear_pointwise(weights, flat.t(), bias, "none", [], "")
    except (AttributeError, RuntimeError, NotImplementedError, TypeError):
        return False
    expected = torch.addmm(bias, weights, flat)
    return product.shape == expected.shape and torch.allclose(product, expected, rtol=1e-5, atol=1e-5)
