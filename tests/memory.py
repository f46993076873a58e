"""Measure the peak bytes of tensor storage that torch ops create, with a TorchDispatchMode.

Every op's output whose storage is new (not one of the op's inputs' storages) is counted from the
moment it is made until the last tensor object that holds it is gone; views and in-place results of
untracked tensors count nothing. Allocations inside a single kernel are not seen.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class PeakMemory(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self._live: dict[int, list[int]] = {}  # storage address -> [bytes, live tensor objects]
        self.current = 0
        self.peak = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = {
            t.untyped_storage().data_ptr()
            for t in tree_flatten((args, kwargs))[0]
            if isinstance(t, torch.Tensor)
        }
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            address, size = storage.data_ptr(), storage.nbytes()
            if size == 0 or (address in inputs and address not in self._live):
                continue
            entry = self._live.get(address)
            if entry is None:
                entry = self._live[address] = [size, 0]
                self.current += size
                self.peak = max(self.peak, self.current)
            entry[1] += 1
            weakref.finalize(tensor, self._release, address)
        return out

    def _release(self, address: int) -> None:
        entry = self._live.get(address)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del self._live[address]
            self.current -= entry[0]


def peak_bytes(fn: Any, *args: Any) -> tuple[int, Any]:
    """Run ``fn(*args)`` and return the peak bytes of storage its ops created, and its result."""
    with PeakMemory() as tracker:
        result = fn(*args)
    return tracker.peak, result
