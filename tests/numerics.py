"""How far two computations of one ζ-mixup may differ: the bound every BLAS keeps.

A mix through a matrix product (ζ-mixup, ZetaCutMix, ``apply_weights``, ``apply_terms``) sums
``n`` terms ``w_i · x_i`` with ``w_i ≥ 0`` and ``Σ w_i = 1``. Each product of another shape,
memory layout, row subset, blocking, thread count or BLAS may sum them in another order, so its
last bits may differ (seen on an AMD EPYC's MKL: ``w[rows] @ x`` against ``(w @ x)[rows]``). Any
order lies within ``n · u · Σ |w_i x_i| ≤ n · u · max|x|`` of the exact sum (``u`` the compute
dtype's unit roundoff), and the weights' own rounding to the compute dtype adds ``u · max|x|``:
two computations differ by at most ``2 (n + 1) · u · max|x|``. The result's rounding to the batch's
dtype then adds one step of that dtype at most: one unit for integers, one ulp of ``max|x|`` for
float16 and bfloat16. The pair methods (mixup, CutMix) are elementwise: they agree bit for bit.
"""

from __future__ import annotations

import torch

from zmix_transforms.functional._dtypes import compute_dtype


def product_bound(expected: torch.Tensor, terms: int) -> float:
    """The largest difference allowed between two products of ``terms`` terms giving ``expected``."""
    if expected.numel() == 0:
        return 0.0
    scale = max(float(expected.double().abs().max()), 1.0)
    compute = compute_dtype(expected.dtype)
    bound = 2 * (terms + 1) * (torch.finfo(compute).eps / 2) * scale
    if not expected.dtype.is_floating_point:
        return bound + 1.0  # rounded to the nearest integer: a value near .5 may round either way
    if expected.dtype != compute:  # float16 / bfloat16: rounded once more, to the batch's dtype
        return bound + torch.finfo(expected.dtype).eps * scale
    return bound


def assert_products_agree(
    actual: torch.Tensor, expected: torch.Tensor, terms: int, context: str = ""
) -> None:
    """``actual`` and ``expected``, two products of ``terms`` terms, agree within ``product_bound``."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, context
    if actual.numel() == 0:
        return
    difference = float((actual.double() - expected.double()).abs().max())
    bound = product_bound(expected, terms)
    assert difference <= bound, f"{context}: differ by {difference:.3g}, more than the bound {bound:.3g}"


def assert_same_mix(
    actual: torch.Tensor, expected: torch.Tensor, terms: int | None, context: str = ""
) -> None:
    """Bit for bit where ``terms`` is None (an elementwise mix), else within the product bound."""
    if terms is None:
        assert torch.equal(actual, expected), context
    else:
        assert_products_agree(actual, expected, terms, context)
