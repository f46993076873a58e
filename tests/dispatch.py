"""Record the ATen ops a call dispatches (on a GPU, each one that computes is a kernel launch)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

#: Ops that only make a new view of a tensor's memory: no kernel on any device.
VIEWS = frozenset(
    [
        "view",
        "_unsafe_view",
        "expand",
        "as_strided",
        "slice",
        "select",
        "unsqueeze",
        "squeeze",
        "permute",
        "t",
        "transpose",
        "alias",
        "detach",
        "reshape",
        "unbind",
        "split",
        "split_with_sizes",
        "narrow",
        "diagonal",
        "lift_fresh",
    ]
)


class Ops(TorchDispatchMode):
    """Within: ``names`` collects every dispatched op's name (``mm``, ``index_select``, ...),
    ``launches`` those that touch a tensor off the CPU and are no view (on a GPU, kernel launches),
    ``device_casts`` the dtypes of the casts made there (a ``_to_copy`` of a tensor off the CPU
    to another dtype: a copy from the host is none), and ``device_dtypes`` the dtypes of every
    tensor an op took or made off the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.launches: list[str] = []
        self.device_casts: list[torch.dtype] = []
        self.device_dtypes: set[torch.dtype] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        name = func.__name__.split(".")[0]
        self.names.append(name)
        tensors = [t for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
        if name not in VIEWS and any(t.device.type != "cpu" for t in tensors):
            self.launches.append(name)
        self.device_dtypes.update(t.dtype for t in tensors if t.device.type != "cpu")
        source = args[0] if name == "_to_copy" else None  # a cast there: off the CPU, to another dtype
        if isinstance(source, torch.Tensor) and source.device.type != "cpu" and out.dtype != source.dtype:
            self.device_casts.append(out.dtype)
        return out
