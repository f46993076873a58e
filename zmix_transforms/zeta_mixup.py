"""ζ-mixup (Abhishek, Brown, Hamarneh, 2023/2024): the transform and its collate, on the shared base."""

from __future__ import annotations

from typing import Any

import torch
from typing_extensions import Unpack

from . import functional as F
from ._checks import (
    check_finite_positive,
    check_max_terms,
)
from .collate import MethodCollate
from .functional._draws import to_device, zeta_weights_drawn, zeta_weights_unchecked
from .functional._dtypes import compute_dtype
from .functional._kernels import (
    apply_terms_unchecked,
    apply_weights_unchecked,
)
from .transforms import MixOptions, _batch_device_and_size, _BatchMix

__all__ = ["ZetaMixup", "ZetaMixupCollate"]


class ZetaMixup(_BatchMix):
    """ζ-mixup (Abhishek, Brown, Hamarneh, 2023/2024): every output mixes all samples of the batch.

    Output sample ``p`` is ``Σ_i W[p, i] · x_i`` with ``W`` from
    [`F.zeta_weights`][zmix_transforms.functional.zeta_weights]: row ``p`` is the normalized p-series
    ``r^-γ / Σ_k k^-γ`` over a random ranking of the batch in which ``p`` itself has rank 1. Labels are
    mixed with the same ``W``. The whole batch is mixed with one matrix product.

    Args:
        gamma: The exponent γ, a finite number > 0 (default 2.8). Larger values keep each output
            closer to its own input; for γ >= 1.73 the own weight exceeds 0.5 whatever the batch size.
        max_terms: For large batches: each row keeps its ``k`` largest weights (the sample itself and
            ``k − 1`` random partners), renormalized, so the cost is ``k·N·D`` instead of ``N²·D``.
            The dropped weight is at most
            [`F.zeta_dropped_mass`][zmix_transforms.functional.zeta_dropped_mass] (0.3 % for k = 16,
            γ = 2.8). ``None`` (default) is exact.
        **options: The options every method shares, by keyword (see [`MixOptions`][MixOptions]).

    Raises:
        ValueError: If a parameter is out of range, at construction; if the input is malformed, when
            called (see the Note).
        TypeError: If an argument or the input has the wrong type.

    Note:
        Images of shape (N, C, H, W) (plain tensors or ``tv_tensors.Image``), (N, T, C, H, W)
        (``tv_tensors.Video``) or, with ``spatial_dims=3``, (N, C, D, H, W), of any float or integer
        dtype; integer images are mixed in float (every integer value enters the mix exactly) and
        rounded to nearest.
        Labels are class indices of shape (N,) (any int dtype, with ``num_classes``) or float labels
        (N, K); the result's labels are float (N, K). ``tv_tensors.Mask`` batches are mixed with the
        images' weights as soft masks (N, K, *spatial). A batch of one sample is returned unmixed, and
        a batch on the meta device comes back unmixed, in the form a mixed one has. Bounding boxes
        and keypoints are rejected. Randomness comes from the global torch RNG (of the images'
        device), per rank under torch.distributed.

    Examples:
        >>> t = ZetaMixup(num_classes=10)
        >>> images, labels = t(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        >>> images.shape, labels.shape
        (torch.Size([8, 3, 32, 32]), torch.Size([8, 10]))
    """

    def __init__(
        self,
        gamma: float = 2.8,
        *,
        max_terms: int | None = None,
        **options: Unpack[MixOptions],
    ) -> None:
        super().__init__(**options)
        self.gamma = check_finite_positive("gamma", gamma)
        self.max_terms = None if max_terms is None else check_max_terms(max_terms)

    def draw_params(self, flat_inputs: list[Any], generator: torch.Generator | None) -> dict[str, Any]:
        """Draw the weights in float64, and in float32 as well where an image batch is mixed in float32.

        Exact ζ-mixup draws the dense N×N ``weights`` (and ``weights_float32``, the same draw rounded
        once, which the images and their float32 labels then share); with ``max_terms`` below the
        batch size, the compact ``indices`` and ``values`` of
        [`F.zeta_terms`][zmix_transforms.functional.zeta_terms].
        """
        device, batch_size = _batch_device_and_size(flat_inputs)
        if self.max_terms is not None and self.max_terms < batch_size:
            indices, values = F.zeta_terms(
                batch_size,
                self.gamma,
                max_terms=self.max_terms,
                generator=generator,
                device=device,
                dtype=torch.float64,
            )
            return {"indices": indices, "values": values}
        return dense_weights(flat_inputs, batch_size, self.gamma, generator, device)

    def rows_params(
        self, params: dict[str, Any], rows: torch.Tensor
    ) -> tuple[dict[str, Any], torch.Tensor | None]:
        """The weights' ``rows``: over the whole batch, or with ``max_terms`` over the rows they use."""
        if "indices" not in params:  # every dense draw (float64, and float32 if drawn): their rows
            return {key: weights[rows.to(weights.device)] for key, weights in params.items()}, None
        indices = params["indices"][rows.to(params["indices"].device)]
        select = indices.unique()  # sorted: the rows these rows are mixed from
        local = torch.searchsorted(select, indices)
        return {"indices": local, "values": params["values"][rows.to(params["values"].device)]}, select

    def mix_images(
        self, inpt: torch.Tensor, params: dict[str, Any], *, inplace: bool = False
    ) -> torch.Tensor:
        """Mix one image batch with the weights."""
        if "indices" in params:
            return apply_terms_unchecked(inpt, params["indices"], params["values"], inplace=inplace)
        return apply_weights_unchecked(inpt, _weights_in(params, inpt), inplace=inplace)

    def mix_labels(self, labels: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Mix the labels with the same weights (moved to the labels' device if need be)."""
        if "indices" in params:
            return apply_terms_unchecked(
                labels, params["indices"].to(labels.device), params["values"].to(labels.device)
            )
        return apply_weights_unchecked(labels, _weights_in(params, labels))

    def _repr_items(self) -> list[tuple[str, Any]]:
        items = [("gamma", self.gamma), *super()._repr_items()]
        return [items[0], ("max_terms", self.max_terms), *items[1:]] if self.max_terms is not None else items


def dense_weights(
    flat_inputs: list[Any],
    batch_size: int,
    gamma: float,
    generator: torch.Generator | None,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """Exact ζ-mixup's ``weights`` in float64, and ``weights_float32`` where images are mixed in float32.

    One draw, rounded once to each dtype: no cast on a GPU. Beside float32 weights the float64 ones
    stay where they were made (the host, for up to 64 samples on an accelerator) until a batch mixed
    in float64 needs them: on a GPU one copy a call for float32 images and labels, not two.
    """
    if any([compute_dtype(images.dtype) == torch.float32 for images in flat_inputs]):
        dtypes = (torch.float64, torch.float32)
        weights, weights_float32 = zeta_weights_drawn(batch_size, gamma, generator, device, dtypes)
        return {"weights": weights, "weights_float32": to_device(weights_float32, device)}
    return {"weights": zeta_weights_unchecked(batch_size, gamma, generator, device, torch.float64)}


def _weights_in(params: dict[str, Any], batch: torch.Tensor) -> torch.Tensor:
    """The drawn weights for ``batch``: the float32 draw for a batch mixed in float32, if it was drawn.

    Else the float64 draw, which the kernel casts to the batch's compute dtype (a cast is exact
    rounding, so every batch mixed in one dtype gets the same weights); on the batch's device, from
    the host without waiting (a copy back to the host waits: its values are read next).
    """
    weights = params["weights"]
    if compute_dtype(batch.dtype) == torch.float32:
        weights = params.get("weights_float32", weights)
    if weights.device == batch.device:
        return weights
    return to_device(weights, batch.device) if weights.device.type == "cpu" else weights.to(batch.device)


class ZetaMixupCollate(MethodCollate):
    """Collate a list of samples and apply ζ-mixup to the batch: takes [`ZetaMixup`][ZetaMixup]'s arguments.

    Besides ``collate_fn``, ``return_originals`` and ``inplace`` (see [`MethodCollate`][MethodCollate]).

    Examples:
        >>> images, labels = ZetaMixupCollate(num_classes=10)([(torch.rand(3, 8, 8), i) for i in range(4)])
        >>> labels.shape
        torch.Size([4, 10])
    """

    transform_class = ZetaMixup
