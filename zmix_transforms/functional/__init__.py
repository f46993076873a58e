"""Pure tensor functions behind every mixing method.

Every method is one idea: output sample ``p`` is a convex combination of the input samples, with row
``p`` of a row-stochastic weight matrix ``W`` as its weights, and images and labels go through the
same weights.

* ζ-mixup uses a dense ``W`` ([`zeta_weights`][zeta_weights]), applied by one matrix product
  ([`apply_weights`][apply_weights]).
* mixup uses ``W = λ·I + (1 − λ)·P`` for a pairing permutation ``P``
  ([`cycle_partners`][cycle_partners], or [`pair_partners`][pair_partners] for timm's "pair" mode),
  applied by [`mix_pairs`][mix_pairs] (``λ`` may be one weight per sample).
* CutMix takes each pixel whole from the sample or its partner ([`cutmix_box`][cutmix_box],
  applied by [`paste_box`][paste_box]) and weights the labels by the exact pixel fractions.

The functions come in two kinds, as in torchvision's ``transforms.v2`` and timm's ``Mixup``:
**draws** ([`sample_lambda`][sample_lambda], [`zeta_weights`][zeta_weights],
[`cycle_partners`][cycle_partners], [`pair_partners`][pair_partners], [`cutmix_box`][cutmix_box]) take
an explicit ``torch.Generator`` (the global torch RNG when it is ``None``); **kernels**
([`apply_weights`][apply_weights], [`mix_pairs`][mix_pairs], [`paste_box`][paste_box]) are
deterministic.
[`zeta_mixup`][zeta_mixup], [`mixup`][mixup] and [`cutmix`][cutmix] draw and apply in one call.
As in torchvision's ``v2.functional``, a batch that is a ``tv_tensors`` type (``Image``, ``Video``,
``Mask``) comes out of the kernels and the methods as that type, and a plain tensor as a plain
tensor; the label encoders (``one_hot``, ``one_hot_masks``, ``smooth_labels``) return plain float
targets.

The package's modules, from the bottom up: ``_draws`` (the random parameters), ``_dtypes`` (the
dtype a batch is mixed in and the way back), ``_kernels`` (each kernel as its formula), ``_inplace``
(the kernels' in-place twins, through small buffers), ``_labels`` and ``_methods``. CPU library routes
(NumPy's sort for ζ-mixup's keys) and every fast path's off switch live in
``zmix_transforms._backend``, and every argument check in ``zmix_transforms._checks``. Each public
function checks its arguments and then runs its core; where the transforms call a core directly
(``mix_pairs_unchecked``, ``paste_region_unchecked``, ``sample_lambda_unchecked``,
``cycle_partners_unchecked``, ``cutmix_region_unchecked``, ``_labels.one_hot_rows``), it is because
they have checked their input once and drew the rest.
"""

from ._draws import (
    Box,
    Region,
    cutmix_box,
    cutmix_region,
    cutmix_region_minmax,
    cycle_partners,
    pair_partners,
    sample_lambda,
    sample_lambdas,
    zeta_dropped_mass,
    zeta_series,
    zeta_terms,
    zeta_weights,
)
from ._kernels import apply_terms, apply_weights, mix_pairs, paste_box, paste_region
from ._labels import one_hot, one_hot_masks, smooth_labels
from ._methods import cutmix, mixup, zeta_mixup

__all__ = [
    "Box",
    "Region",
    "apply_terms",
    "apply_weights",
    "cutmix",
    "cutmix_box",
    "cutmix_region",
    "cutmix_region_minmax",
    "cycle_partners",
    "mix_pairs",
    "mixup",
    "one_hot",
    "one_hot_masks",
    "pair_partners",
    "paste_box",
    "paste_region",
    "sample_lambda",
    "sample_lambdas",
    "smooth_labels",
    "zeta_dropped_mass",
    "zeta_mixup",
    "zeta_series",
    "zeta_terms",
    "zeta_weights",
]
