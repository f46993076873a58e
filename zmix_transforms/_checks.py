"""Argument checks shared by the functional API, the transforms and the collate classes.

Every check raises a ``ValueError`` or ``TypeError`` whose message names the argument, what was
expected and what was given, in the style of torchvision's error messages.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ._regions import Region

__all__ = [
    "MAX_ELEMENTS",
    "MAX_SQUARE_BATCH",
    "InputTypeError",
    "allocation",
    "check_batch_size",
    "check_batch_tensor",
    "check_bool",
    "check_class_indices",
    "check_dense_logits_and_targets",
    "check_finite",
    "check_finite_positive",
    "check_generator",
    "check_ignore_index",
    "check_image_batches",
    "check_indices",
    "check_lam",
    "check_lam_per_sample",
    "check_logits_and_targets",
    "check_mask_batch",
    "check_max_terms",
    "check_minmax",
    "check_num_classes",
    "check_partners",
    "check_probabilities",
    "check_probability",
    "check_same_batch_size",
    "check_same_classes",
    "check_same_device",
    "check_sample_list",
    "check_size",
    "check_soft_labels",
    "check_spatial_dims",
    "check_spatial_sizes",
    "describe",
    "describe_sample",
    "pil_images_in",
    "positions_of",
    "sample_shapes",
]

# No tensor holds more elements than this (PyTorch sizes are int64; this leaves room for bytes).
MAX_ELEMENTS = 2**59
# Exact ζ-mixup draws an N×N matrix: N² must stay below MAX_ELEMENTS.
MAX_SQUARE_BATCH = 2**29


def _is_real_number(value: Any) -> bool:
    if type(value) in (float, int):  # the common case, without the ABC machinery
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_finite_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number > 0."""
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a finite number > 0, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def check_finite(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number."""
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a finite number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a real number in [0, 1]."""
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a number in [0, 1], got {value}")
    return value


def check_probabilities(p: Any, count: int) -> list[float]:
    """Return ``p`` as a list of floats, or raise unless it is a sequence of ``count`` real numbers."""
    expected = f"a sequence of {count} numbers >= 0 (one per transform) or None"
    if isinstance(p, (str, bytes)) or not isinstance(p, Sequence):
        raise TypeError(f"p must be {expected}, got {p!r} of type {type(p).__name__}")
    for value in p:
        if not _is_real_number(value):
            raise TypeError(f"p must be {expected}, got an entry {value!r} of type {type(value).__name__}")
    return [float(value) for value in p]


def check_bool(name: str, value: Any) -> bool:
    """Return ``value``, or raise unless it is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r} of type {type(value).__name__}")
    return value


PAIR_MODES = ("batch", "elem", "pair")


def check_mode(mode: Any) -> str:
    """Return a pairing mode (timm's): ``"batch"``, ``"elem"`` or ``"pair"``, or raise."""
    if not isinstance(mode, str):
        raise TypeError(f"mode must be one of 'batch', 'elem', 'pair' (a str), got {describe(mode)}")
    if mode not in PAIR_MODES:
        raise ValueError(f"mode must be one of 'batch', 'elem', 'pair', got {mode!r}")
    return mode


def check_minmax(minmax: Any, name: str = "minmax", *, fixed: bool = False) -> tuple[float, float]:
    """Return ``minmax`` as ``(lo, hi)`` with ``0 <= lo < hi <= 1`` (``lo <= hi`` if ``fixed``), or raise."""
    expected = f"a pair (lo, hi) of fractions with 0 <= lo {'<=' if fixed else '<'} hi <= 1"
    if isinstance(minmax, (str, bytes)) or not isinstance(minmax, Sequence) or len(minmax) != 2:
        raise TypeError(f"{name} must be {expected}, got {minmax!r}")
    if not all(_is_real_number(v) for v in minmax):
        raise TypeError(f"{name} must be {expected}, got {minmax!r}")
    low, high = float(minmax[0]), float(minmax[1])
    if not (0.0 <= low <= high <= 1.0 if fixed else 0.0 <= low < high <= 1.0):
        raise ValueError(f"{name} must be {expected}, got {minmax!r}")
    return low, high


def check_nonnegative(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number >= 0."""
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a finite number >= 0, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
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


class InputTypeError(TypeError, ValueError):
    """A ``TypeError`` that is also a ``ValueError``.

    Raised for inputs of the wrong type given to the transforms and collate classes (labels that are
    not a tensor, a PIL image or NumPy array instead of a batch), so that code written for
    torchvision's ``MixUp``/``CutMix``, which raise ``ValueError`` there, catches it too.
    """


def describe(value: Any) -> str:
    """A short description of ``value`` for error messages: a tensor's dtype, shape and device, or a type."""
    if isinstance(value, torch.Tensor):
        device = "" if value.device.type == "cpu" else f" on {value.device}"
        return f"a tensor of dtype {value.dtype} and shape {tuple(value.shape)}{device}"
    return f"{value!r} of type {type(value).__name__}" if _is_real_number(value) else type(value).__name__


def check_size(name: str, size: Any, *, limit: int | None = None) -> int:
    """Return ``size`` as an int >= 1, or raise; ``limit`` bounds sizes whose tensors could not exist."""
    if not isinstance(size, numbers.Integral) or isinstance(size, bool):
        raise TypeError(f"{name} must be an int >= 1, got {size!r} of type {type(size).__name__}")
    size = int(size)
    if size < 1:
        raise ValueError(f"{name} must be an int >= 1, got {size}")
    if limit is not None and size > limit:
        raise ValueError(
            f"{name} must be an int in [1, {limit}] (larger tensors cannot be allocated), got {size}"
        )
    return size


def check_sizes(name: str, shape: Any) -> tuple[int, ...]:
    """Return spatial sizes ``(H, W)`` or ``(D, H, W)`` as a tuple of ints >= 1, or raise."""
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) == 0:
        raise TypeError(f"{name} must be a tuple of spatial sizes such as (H, W) or (D, H, W), got {shape!r}")
    return tuple(check_size(name, size) for size in shape)


def check_shares(name: str, shares: Any) -> torch.Tensor:
    """Check a float tensor of shape (L,), L >= 1, of shares in [0, 1] (values read on the CPU only)."""
    if not isinstance(shares, torch.Tensor) or not shares.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of shape (L,), got {describe(shares)}")
    if shares.ndim != 1 or not len(shares):
        raise ValueError(
            f"{name} must be a float tensor of shape (L,) with L >= 1, got shape {tuple(shares.shape)}"
        )
    if shares.device.type == "cpu" and not bool(((shares >= 0) & (shares <= 1)).all()):
        low, high = float(shares.min()), float(shares.max())
        raise ValueError(f"{name} must hold shares in [0, 1], got values from {low} to {high}")
    return shares


def check_batch_size(batch_size: Any, *, square: bool = False) -> int:
    """Return ``batch_size`` as an int >= 1, or raise.

    ``square``: the caller allocates an N×N matrix (ζ-mixup's dense weights or keys), so N is
    bounded by ``MAX_SQUARE_BATCH``.
    """
    return check_size("batch_size", batch_size, limit=MAX_SQUARE_BATCH if square else MAX_ELEMENTS)


def check_same_device(name: str, tensor: torch.Tensor, device: torch.device, reference_name: str) -> None:
    """Raise unless ``tensor`` lies on ``device``, that of ``reference_name`` (meta stands in for others)."""
    if tensor.device != device:
        raise ValueError(f"{name} must be on the device of {reference_name} ({device}), got {tensor.device}")


def check_meta_alike(tensors: dict[str, torch.Tensor]) -> bool:
    """Whether the named tensors all lie on the meta device; raise if some do and others do not.

    A meta batch has no values: a transform returns it unmixed (the shapes, dtypes and form a mixed
    batch has), which is all a meta tensor can carry. Real tensors cannot be mixed with its weights.
    """
    on_meta = [name for name, tensor in tensors.items() if tensor.device.type == "meta"]
    if not on_meta or len(on_meta) == len(tensors):
        return bool(on_meta)
    name, real = next((name, t) for name, t in tensors.items() if t.device.type != "meta")
    raise ValueError(
        f"{name} must be on the meta device as {on_meta[0]} is, or neither on it (a meta batch has no "
        f"values to mix real ones with), got {name} on {real.device}"
    )


def check_lam_per_sample(lam: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Check per-sample mixing weights: a float tensor of shape (N,) on ``device``, values in [0, 1]."""
    if not lam.is_floating_point():
        raise TypeError(f"lam must be a number or a float tensor of shape (N,), got dtype {lam.dtype}")
    if lam.shape != (batch_size,):
        raise ValueError(
            f"lam must be a number or a tensor of shape (N,) = ({batch_size},), got shape {tuple(lam.shape)}"
        )
    check_same_device("lam", lam, device, "x")
    if (
        lam.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and not bool(((lam >= 0) & (lam <= 1)).all())
    ):
        raise ValueError(
            f"lam must hold weights in [0, 1], got values from {float(lam.min())} to {float(lam.max())}"
        )
    return lam


def check_partners(partners: Any, batch_size: int, device: torch.device) -> torch.Tensor:
    """Check partner indices: int64 of shape (N,), on ``device``, each in [0, N) (checked on the CPU)."""
    if not isinstance(partners, torch.Tensor) or partners.dtype != torch.int64:
        raise TypeError(f"partners must be an int64 torch.Tensor of shape (N,), got {describe(partners)}")
    if partners.shape != (batch_size,):
        raise ValueError(
            f"partners must have shape (N,) = ({batch_size},), matching the batch, "
            f"got shape {tuple(partners.shape)}"
        )
    check_same_device("partners", partners, device, "x")
    check_indices("partners", partners, batch_size)
    return partners


def integer_range(values: torch.Tensor) -> tuple[int, int]:
    """The least and greatest of a non-empty integer tensor, exactly (unsigned dtypes included).

    torch has no ``aminmax`` for uint16, uint32 and uint64: those are read as int64 (uint64 by its
    halves, as its values may reach 2^64 − 1).
    """
    if values.dtype == torch.uint64:
        signed = values.view(torch.int64)
        top = signed < 0  # the values >= 2^63
        if bool(top.all()):
            low_value, high_value = (int(v) + 2**64 for v in torch.aminmax(signed))
        elif bool(top.any()):
            low_value = int(signed[~top].min())
            high_value = int(signed[top].max()) + 2**64
        else:
            low_value, high_value = (int(v) for v in torch.aminmax(signed))
        return low_value, high_value
    if values.dtype in (torch.uint16, torch.uint32):
        values = values.long()
    low_value, high_value = (int(v) for v in torch.aminmax(values))
    return low_value, high_value


def check_indices(name: str, indices: torch.Tensor, batch_size: int) -> None:
    """Raise unless every index lies in [0, N).

    Checked on the CPU, outside ``torch.compile`` tracing; an accelerator's gather asserts itself
    (as ``index_select`` does on CUDA), so that no check forces a sync.
    """
    if indices.device.type == "cpu" and indices.numel() and not torch.compiler.is_compiling():
        low, high = integer_range(indices)
        if low < 0 or high >= batch_size:
            raise ValueError(
                f"{name} must lie in [0, N) = [0, {batch_size}), got values from {low} to {high}"
            )


# A class rather than @contextmanager: a per-call block enters and leaves it for a fraction of the cost.
class allocation:
    """Turn an allocator's failure inside the block into a ``ValueError`` naming what was asked for.

    ``what`` is a text, or a callable that returns it, called only on failure (for per-call
    allocations, whose description would otherwise be formatted on every call).
    """

    __slots__ = ("what",)

    def __init__(self, what: str | Callable[[], str]) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: Any) -> None:
        # torch.OutOfMemoryError is a RuntimeError too; CPU: "DefaultCPUAllocator: can't allocate";
        # NumPy raises MemoryError ("Unable to allocate")
        if not isinstance(error, (RuntimeError, MemoryError)):
            return
        text = str(error)
        if "alloc" not in text.lower() and "out of memory" not in text.lower():
            return
        raise self.error(self.what if isinstance(self.what, str) else self.what(), error) from error

    @staticmethod
    def error(what: str, error: BaseException) -> ValueError:
        """The ``ValueError`` for a failed allocation of ``what`` (for a hot path's own ``try``)."""
        return ValueError(f"{what} could not be allocated: {str(error).splitlines()[0]}")


def check_ignore_index(ignore_index: Any) -> int | None:
    """Return ``ignore_index`` (an int that marks positions without a class in class-index masks, or None)."""
    if ignore_index is None:
        return None
    if not isinstance(ignore_index, int) or isinstance(ignore_index, bool):
        raise TypeError(
            f"ignore_index must be an int (the mask value of unlabeled positions, e.g. 255) or None, "
            f"got {ignore_index!r} of type {type(ignore_index).__name__}"
        )
    return ignore_index


def positions_of(indices: torch.Tensor, value: int) -> torch.Tensor:
    """Where integer ``indices`` equal ``value``: none where the dtype cannot hold it.

    ``indices == value`` would convert ``value`` to the dtype first: for uint8, -100 would become 156.
    """
    info = torch.iinfo(indices.dtype)
    if info.min <= value <= info.max:
        return indices == value
    return torch.zeros(indices.shape, dtype=torch.bool, device=indices.device)


def check_spatial_dims(spatial_dims: Any) -> int:
    """Return ``spatial_dims`` (2 for images, 3 for volumes), or raise."""
    if not isinstance(spatial_dims, int) or isinstance(spatial_dims, bool):
        raise TypeError(
            f"spatial_dims must be 2 (images) or 3 (volumes), got {spatial_dims!r} of type "
            f"{type(spatial_dims).__name__}"
        )
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 (images) or 3 (volumes), got {spatial_dims}")
    return spatial_dims


def check_spatial_sizes(name: str, x: torch.Tensor, spatial_dims: int) -> tuple[int, ...]:
    """Return the last ``spatial_dims`` sizes of ``x``, or raise unless each is >= 1 (a box needs room).

    Warns when a 2-D batch looks channels-last, (N, H, W, C) with C of 1, 3 or 4 and H, W above 4:
    the box, mask or patch would be cut across its last two dims, W and C.
    """
    spatial = tuple(int(size) for size in x.shape[-spatial_dims:])
    if min(spatial) < 1:
        raise ValueError(f"{name} must have spatial sizes >= 1 to cut a box from, got shape {tuple(x.shape)}")
    if spatial_dims == 2 and x.ndim == 4 and x.shape[3] in (1, 3, 4) and min(x.shape[1], x.shape[2]) > 4:
        warnings.warn(
            f"{name} of shape {tuple(x.shape)} look channels-last, (N, H, W, C): the region is cut from "
            f"the last two dims, {spatial} here; permute them to (N, C, H, W) first, e.g. "
            f"x.permute(0, 3, 1, 2) (a channels_last memory format is fine as it is)",
            UserWarning,
            stacklevel=2,
        )
    return spatial


def check_region_inside(name: str, region: Any, spatial: tuple[int, ...]) -> None:
    """Raise unless a region has one start and stop per spatial dimension and lies inside ``spatial``."""
    bounds = zip(region.starts, region.stops, spatial, strict=False)  # lengths checked first
    inside = len(region.starts) == len(region.stops) == len(spatial) and all(
        0 <= start <= stop <= size for start, stop, size in bounds
    )
    if not inside:
        raise ValueError(f"{name} must lie inside the batch's spatial shape {spatial}, got {region}")


def check_regions(regions: Any, x: Any) -> list[Any]:
    """Check one region per sample of the batch ``x``, each inside its spatial shape; return them."""
    if isinstance(regions, (str, bytes)) or not isinstance(regions, Sequence):
        raise TypeError(f"region must be a Region or a sequence of Regions, got {describe(regions)}")
    regions = list(regions)
    for i, region in enumerate(regions):
        if not isinstance(region, Region):
            raise TypeError(f"region[{i}] must be a Region (starts, stops), got {describe(region)}")
    dims = {len(region.starts) for region in regions}
    dims_text = "/".join(str(d) for d in sorted(dims))
    if len(dims) > 1:
        raise ValueError(f"region must hold regions of one number of dimensions, got {dims_text}")
    d = dims.pop() if dims else 1
    n = check_batch_tensor("x", x, min_ndim=d + 1, layout="(N, ..., *spatial)")
    if len(regions) != n:
        raise ValueError(f"region must hold one Region per sample (N = {n}), got {len(regions)}")
    spatial = tuple(int(size) for size in x.shape[-d:])
    for i, region in enumerate(regions):
        check_region_inside(f"region[{i}]", region, spatial)
    return regions


def check_image_batches(images: list[torch.Tensor], name: str, spatial_dims: int = 2) -> int:
    """Check every image batch of a transform's input and return their common batch size.

    With ``spatial_dims=2`` a ``tv_tensors.Video`` batch is (N, T, C, H, W) and any other image
    batch (a plain tensor or a ``tv_tensors.Image``) is (N, C, H, W), as torchvision's ``MixUp``
    and ``CutMix`` require; with ``spatial_dims=3`` a batch is a volume batch (N, C, D, H, W).
    """
    batch_size = None
    for image in images:
        video = type(image).__name__ == "Video"
        if spatial_dims == 3:
            if video:
                raise ValueError(
                    f"{name}(spatial_dims=3) mixes volume batches (N, C, D, H, W), got a Video batch of "
                    f"shape {tuple(image.shape)}; use spatial_dims=2 for videos"
                )
            ndim, layout = 5, "(N, C, D, H, W)"
        else:
            ndim, layout = (5, "(N, T, C, H, W)") if video else (4, "(N, C, H, W)")
        check_batch_tensor("images", image, min_ndim=1, layout=layout)  # dtype, empty batch
        if image.ndim < ndim:
            raise ValueError(
                f"{name}() needs a batch of images of shape {layout}, got an unbatched "
                f"{type(image).__name__} of shape {tuple(image.shape)}; batch the samples first "
                f"(for example with a DataLoader or the collate classes), or mix batches of other "
                f"shapes (feature vectors, sequences) with zmix_transforms.functional"
            )
        if image.ndim > ndim:
            hint = (
                "wrap a video batch in tv_tensors.Video, or pass spatial_dims=3 for a volume batch "
                "(N, C, D, H, W)"
                if spatial_dims == 2
                else "use zmix_transforms.functional for other batches"
            )
            raise ValueError(
                f"{name}() needs a batch of images of shape {layout}, got a {type(image).__name__} of "
                f"shape {tuple(image.shape)} with {image.ndim} dimensions; {hint}"
            )
        if batch_size is not None and image.shape[0] != batch_size:
            raise ValueError(
                f"all image batches must have the same size, got {batch_size} and {image.shape[0]}"
            )
        batch_size = int(image.shape[0])
    assert batch_size is not None
    return batch_size


def check_mask_batch(mask: torch.Tensor, image: torch.Tensor, batch_size: int, spatial_dims: int = 2) -> None:
    """Raise unless a mask batch holds real values, (N, ..., *spatial) with the images' N and sizes."""
    if mask.is_complex():
        raise TypeError(f"masks must hold real values (class indices or soft masks), got dtype {mask.dtype}")
    spatial = tuple(image.shape[-spatial_dims:])
    if (
        mask.ndim < spatial_dims + 1
        or mask.shape[0] != batch_size
        or tuple(mask.shape[-spatial_dims:]) != spatial
    ):
        layout = "(N, H, W) or (N, ..., H, W)" if spatial_dims == 2 else "(N, D, H, W) or (N, ..., D, H, W)"
        sizes = "H×W" if spatial_dims == 2 else "D×H×W"
        raise ValueError(
            f"a Mask batch must have shape {layout} matching the images "
            f"(N = {batch_size}, {sizes} = {spatial}), got shape {tuple(mask.shape)}"
        )


def describe_sample(sample: Any) -> str:
    """A short description of a transform's whole input, for error messages."""
    if isinstance(sample, torch.Tensor):
        return f"a single tensor of shape {tuple(sample.shape)}"
    if isinstance(sample, Mapping):
        return f"a dict with keys {list(sample)}"
    if isinstance(sample, (tuple, list)):
        return f"a {type(sample).__name__} of {len(sample)} item(s)"
    return type(sample).__name__


def check_logits_and_targets(
    logits: Any, targets: Any, logits_name: str, targets_name: str, *, batch: str, float_kind: str
) -> None:
    """Float logits (N, K) with float targets (N, K) or class indices (N,) in [0, K), or raise naming both."""
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(
            f"{logits_name} must be a float torch.Tensor of shape ({batch}, K), got {describe(logits)}"
        )
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"{targets_name} must be a torch.Tensor, got {type(targets).__name__}")
    if logits.ndim != 2:
        hint = (
            "; for per-pixel logits (N, K, *spatial) use torch.nn.functional.cross_entropy, which takes "
            "soft masks as class probabilities, or SoftDiceLoss"
            if logits.ndim > 2
            else ""
        )
        raise ValueError(f"{logits_name} must have shape ({batch}, K), got shape {tuple(logits.shape)}{hint}")
    if targets.is_floating_point():
        if targets.shape != logits.shape:
            raise ValueError(
                f"{float_kind} {targets_name} must have the shape of {logits_name} {tuple(logits.shape)}, "
                f"got {tuple(targets.shape)}"
            )
        return
    if targets.dtype == torch.bool or targets.is_complex():
        raise TypeError(
            f"{targets_name} must be float targets or integer class indices, got dtype {targets.dtype}"
        )
    if targets.shape != logits.shape[:1]:
        raise ValueError(
            f"class-index {targets_name} must have shape ({batch},) = ({logits.shape[0]},), "
            f"got {tuple(targets.shape)}"
        )
    context = f" for {logits_name} of shape {tuple(logits.shape)}"
    check_class_indices(f"class-index {targets_name}", targets, logits.shape[1], context)


def check_same_classes(mixed_logits: torch.Tensor, clean_logits: Any) -> None:
    """Raise unless the clean logits score the same K classes as the mixed ones."""
    two_d = isinstance(clean_logits, torch.Tensor) and clean_logits.ndim == 2 and mixed_logits.ndim == 2
    if two_d and clean_logits.shape[1] != mixed_logits.shape[1]:
        raise ValueError(
            f"clean_logits must score the K = {mixed_logits.shape[1]} classes of mixed_logits, "
            f"got shape {tuple(clean_logits.shape)}"
        )


def check_sample_list(batch: Any) -> None:
    """Raise unless ``batch`` is what a ``DataLoader`` hands a collate function: a list of samples."""
    if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)):
        raise TypeError(f"batch must be a sequence of samples, got {type(batch).__name__}")
    if len(batch) == 0:
        raise ValueError("batch must hold at least one sample, got an empty batch")
    if isinstance(batch, tuple) and isinstance(batch[0], torch.Tensor):
        raise ValueError(
            f"batch must be a list of samples, as DataLoader(batch_size=...) passes it, got one sample "
            f"({describe_sample(batch)}, the first {describe(batch[0])}); for a dataset that returns "
            f"whole batches (DataLoader(batch_size=None)), apply the transform to each batch instead, "
            f"e.g. ZetaMixup(num_classes=...)(images, labels)"
        )


def pil_images_in(sample: Any) -> bool:
    """Whether a sample (an item, or a tuple, list or dict of them) holds a PIL image.

    A dataset with no ``ToTensor``-like transform gives them; ``default_collate`` refuses them with
    a TypeError that names their class, not the fix.
    """
    from PIL import Image  # torchvision's dependency, loaded only once a collation has failed

    return any(isinstance(item, Image.Image) for item in _sample_items(sample))


def sample_shapes(batch: Sequence[Any]) -> list[tuple[int, ...]]:
    """The distinct shapes of the first tensor of each sample (its image), in order of appearance."""
    shapes: list[tuple[int, ...]] = []
    for sample in batch:
        first = _first_tensor(sample)
        if first is not None and tuple(first.shape) not in shapes:
            shapes.append(tuple(first.shape))
    return shapes


def _first_tensor(sample: Any) -> torch.Tensor | None:
    return next((item for item in _sample_items(sample) if isinstance(item, torch.Tensor)), None)


def _sample_items(sample: Any) -> list[Any]:
    """A sample's items: a dict's values, a tuple's or list's items, else the sample itself."""
    if isinstance(sample, Mapping):
        return list(sample.values())
    return list(sample) if isinstance(sample, (tuple, list)) else [sample]


def check_dense_logits_and_targets(logits: Any, targets: Any, ignore_index: int | None = None) -> None:
    """Float logits (N, K, *spatial) with soft masks of that shape or class indices (N, *spatial).

    Class indices lie in [0, K), or equal ``ignore_index``.
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(
            f"logits must be a float torch.Tensor of shape (N, K, *spatial), got {describe(logits)}"
        )
    if logits.ndim < 3:
        raise ValueError(
            f"logits must have shape (N, K, *spatial) with at least one spatial dimension, got shape "
            f"{tuple(logits.shape)}; class scores (N, K) take SoftTargetCrossEntropy"
        )
    if not isinstance(targets, torch.Tensor) or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(
            f"targets must be soft masks (N, K, *spatial) or class-index masks (N, *spatial), "
            f"got {describe(targets)}"
        )
    if targets.is_floating_point():
        if targets.shape != logits.shape:
            raise ValueError(
                f"soft-mask targets must have the shape of logits {tuple(logits.shape)}, "
                f"got {tuple(targets.shape)}"
            )
        return
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(targets.shape) != expected:
        raise ValueError(
            f"class-index targets must have shape (N, *spatial) = {expected}, got {tuple(targets.shape)}"
        )
    if ignore_index is not None:  # the ignored positions hold no class to check
        targets = targets.masked_fill(positions_of(targets, ignore_index), 0)
    context = "" if ignore_index is None else f" or be ignore_index = {ignore_index}"
    check_class_indices("class-index targets", targets, logits.shape[1], context)


def check_class_indices(name: str, indices: torch.Tensor, num_classes: int, context: str = "") -> None:
    """Raise unless every class index lies in [0, K) (checked on the CPU, outside compile tracing)."""
    if indices.device.type == "cpu" and indices.numel() and not torch.compiler.is_compiling():
        low, high = integer_range(indices)
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"{name} must lie in [0, K) = [0, {num_classes}){context}, got values from {low} to {high}"
            )
