"""The methods of Table 1 on one interface (``ctl.methods.base.Method``), registered by name in ``METHODS``.

- ``source_only``: lower bound, U-Net on raw CT;
- ``oracle``: upper bound that READS MR LABELS (reference only);
- ``ours``: the paper, eq. 1 (CUT translation and U-Net trained jointly).

The baselines (CycleGAN, SynSeg-Net, AdaptSegNet, SIFA) add one module each and one import line below.
Train any of them with ``ctl.training.load_or_train(name, ...)`` or ``python -m ctl train --method NAME``.
"""
from ctl.methods.base import (ALL_BATCH_KEYS, METHODS, SOURCE_KEYS, TARGET_IMAGE_KEYS, TARGET_LABEL_KEYS, Amp,
                              Method, frozen, method_class, register, set_requires_grad)
from ctl.methods.supervised import SupervisedConfig, SupervisedSegmentation, UNetConfig
from ctl.methods.source_only import SourceOnly
from ctl.methods.oracle import Oracle
from ctl.methods.ours import Ours, OursConfig
from ctl.methods.image_pool import ImagePool
from ctl.methods.cyclegan import CycleConfig, CycleGAN, CycleGANConfig, CycleTranslator
from ctl.methods.synseg import SynSeg, SynSegConfig
from ctl.methods.adaptseg import AdaptSeg, AdaptSegConfig
from ctl.methods.sifa import SIFA, SIFAConfig

__all__ = ["ALL_BATCH_KEYS", "METHODS", "SOURCE_KEYS", "TARGET_IMAGE_KEYS", "TARGET_LABEL_KEYS", "Amp", "Method",
           "frozen", "method_class", "register", "set_requires_grad", "SupervisedConfig", "SupervisedSegmentation",
           "UNetConfig", "SourceOnly", "Oracle", "Ours", "OursConfig", "ImagePool", "CycleConfig", "CycleGAN",
           "CycleGANConfig", "CycleTranslator", "SynSeg", "SynSegConfig", "AdaptSeg", "AdaptSegConfig", "SIFA",
           "SIFAConfig"]
