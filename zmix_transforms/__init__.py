"""zmix_transforms: ζ-mixup, mixup, CutMix, FMix and ResizeMix as torchvision v2 transforms and collates.

Examples:
    >>> from torch.utils.data import DataLoader
    >>> from zmix_transforms import ZetaMixupCollate
    >>> collate = ZetaMixupCollate(num_classes=10)   # DataLoader(ds, batch_size=128, collate_fn=collate)
"""

from . import _backend, functional
from .collate import MethodCollate, MixCollate
from .cutmix import CutMix, CutMixCollate
from .fmix import FMix, FMixCollate
from .losses import MixupELoss, SoftDiceLoss, SoftTargetCrossEntropy
from .mixup import MixUp, MixUpCollate
from .random_mix import RandomMix
from .resizemix import ResizeMix, ResizeMixCollate
from .transforms import MixOptions
from .zeta_cutmix import ZetaCutMix, ZetaCutMixCollate
from .zeta_mixup import ZetaMixup, ZetaMixupCollate

__version__ = "0.1.0"

_backend.read_environment()  # every route is declared now, the methods' own ones included

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
