"""zmix_transforms: ζ-mixup, mixup and CutMix as torchvision v2 transforms and DataLoader collate functions.

Examples:
    >>> from torch.utils.data import DataLoader
    >>> from zmix_transforms import ZetaMixupCollate
    >>> collate = ZetaMixupCollate(num_classes=10)   # DataLoader(ds, batch_size=128, collate_fn=collate)
"""

from . import functional
from .collate import (
    CutMixCollate,
    MethodCollate,
    MixCollate,
    MixUpCollate,
    ZetaCutMixCollate,
    ZetaMixupCollate,
)
from .fmix import FMix, FMixCollate
from .losses import MixupELoss, SoftDiceLoss, SoftTargetCrossEntropy
from .resizemix import ResizeMix, ResizeMixCollate
from .transforms import CutMix, MixOptions, MixUp, RandomMix, ZetaCutMix, ZetaMixup

__version__ = "0.1.0"

__all__ = [
    "CutMix",
    "CutMixCollate",
    "FMix",
    "FMixCollate",
    "MethodCollate",
    "MixCollate",
    "MixOptions",
    "MixUp",
    "MixUpCollate",
    "MixupELoss",
    "RandomMix",
    "ResizeMix",
    "ResizeMixCollate",
    "SoftDiceLoss",
    "SoftTargetCrossEntropy",
    "ZetaCutMix",
    "ZetaCutMixCollate",
    "ZetaMixup",
    "ZetaMixupCollate",
    "__version__",
    "functional",
]
