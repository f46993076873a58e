"""Process-wide torch settings that a test changes for one block and then restores."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

T = TypeVar("T")


@contextlib.contextmanager
def torch_setting(get: Callable[[], T], put: Callable[[T], object], value: T) -> Iterator[None]:
    """Within: the setting that ``get`` reads and ``put`` writes is ``value``; the old one after."""
    before = get()
    put(value)
    try:
        yield
    finally:
        put(before)


def threads(count: int) -> contextlib.AbstractContextManager[None]:
    """Within: torch runs its CPU ops on ``count`` threads (a ``DataLoader`` worker runs on one)."""
    return torch_setting(torch.get_num_threads, torch.set_num_threads, count)


def default_dtype(dtype: torch.dtype) -> contextlib.AbstractContextManager[None]:
    """Within: ``dtype`` is torch's default float dtype."""
    return torch_setting(torch.get_default_dtype, torch.set_default_dtype, dtype)
