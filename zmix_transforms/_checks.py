"""Argument checks shared by the functional API, the transforms and the collate classes.

Every check raises a ``ValueError`` or ``TypeError`` whose message names the argument, what was
expected and what was given, in the style of torchvision's error messages.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

__all__ = [
    "check_batch_tensor",
    "check_finite_positive",
    "check_generator",
    "check_lam",
    "check_max_terms",
    "check_num_classes",
    "check_probability",
    "check_same_batch_size",
    "check_soft_labels",
]


def _is_real_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_finite_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number > 0."""
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a finite number > 0, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a real number in [0, 1]."""
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a number in [0, 1], got {value}")
    return value


def check_lam(lam: Any) -> float:
    """Return the mixing weight ``lam`` as a float in [0, 1], or raise."""
    return check_probability("lam", lam)


def check_num_classes(num_classes: Any, *, allow_none: bool = True) -> int | None:
    """Return ``num_classes`` as an int >= 1 (or None when allowed), or raise."""
    if num_classes is None and allow_none:
        return None
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool):
        expected = "an int >= 1 or None" if allow_none else "an int >= 1"
        raise TypeError(
            f"num_classes must be {expected}, got {num_classes!r} of type {type(num_classes).__name__}"
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be an int >= 1, got {num_classes}")
    return int(num_classes)


def check_max_terms(max_terms: Any) -> int:
    """Return ``max_terms`` as an int >= 1, or raise."""
    if not isinstance(max_terms, numbers.Integral) or isinstance(max_terms, bool):
        raise TypeError(
            f"max_terms must be an int >= 1 or None, got {max_terms!r} of type {type(max_terms).__name__}"
        )
    if max_terms < 1:
        raise ValueError(f"max_terms must be an int >= 1 or None, got {max_terms}")
    return int(max_terms)


def check_generator(generator: Any) -> None:
    """Raise unless ``generator`` is None or a ``torch.Generator``."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def check_batch_tensor(name: str, x: Any, *, min_ndim: int, layout: str) -> int:
    """Check that ``x`` is a non-empty batch tensor of real numbers and return its batch size.

    Args:
        name: The argument's name, used in error messages.
        x: The value to check.
        min_ndim: The least number of dimensions the batch must have.
        layout: A description of the expected shape, such as ``"(N, ..., H, W)"``.

    Returns:
        The batch size ``x.shape[0]``.

    Raises:
        TypeError: If ``x`` is not a tensor, or its dtype is bool or complex.
        ValueError: If ``x`` has fewer than ``min_ndim`` dimensions or an empty batch.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor batch of shape {layout}, got {type(x).__name__}")
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must hold real numbers (a float or integer dtype), got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(
            f"{name} must be a batch of shape {layout} with at least {min_ndim} dimensions, "
            f"got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(
            f"{name} must hold at least one sample, got an empty batch of shape {tuple(x.shape)}"
        )
    return int(x.shape[0])


def check_soft_labels(labels: Any, batch_size: int) -> None:
    """Check that ``labels`` is a float (N, K) tensor whose N is ``batch_size``."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a float torch.Tensor of shape (N, K), got {type(labels).__name__}")
    if not labels.is_floating_point():
        raise TypeError(
            f"labels must be a float tensor of shape (N, K) (use zmix_transforms.functional.one_hot for "
            f"class indices), got dtype {labels.dtype}"
        )
    if labels.ndim != 2:
        raise ValueError(f"labels must have shape (N, K), got shape {tuple(labels.shape)}")
    check_same_batch_size(labels.shape[0], batch_size)


def check_same_batch_size(num_labels: int, batch_size: int) -> None:
    """Raise unless there is one label row per image."""
    if num_labels != batch_size:
        raise ValueError(
            f"labels and images must have the same batch size, "
            f"got {num_labels} labels for {batch_size} images"
        )
