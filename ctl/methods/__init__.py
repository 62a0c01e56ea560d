"""The methods on one interface (``ctl.methods.base.Method``), registered by name in ``METHODS``.

The rows of Table 1 (``in_table1``):

- ``source_only``: lower bound, U-Net on raw CT;
- ``oracle``: upper bound that READS MR LABELS (reference only);
- ``ours``: the paper, eq. 1 (CUT translation and U-Net trained jointly);
- the baselines ``cyclegan`` (M1), ``synseg`` (M2), ``adaptseg`` (M3) and ``sifa`` (M4).

And two translators without a segmenter, for notebook 02 (``translation_only``): ``lsgan`` and ``cut``.
Train any of them with ``ctl.training.load_or_train(name, ...)`` or ``python -m ctl train --method NAME``.
"""
from ctl.methods.base import (ALL_BATCH_KEYS, METHODS, SOURCE_KEYS, TARGET_IMAGE_KEYS, TARGET_LABEL_KEYS, Method,
                              as_floats, method_class, register)
from ctl.methods.supervised import SupervisedConfig, SupervisedSegmentation, UNetConfig
from ctl.methods.source_only import SourceOnly
from ctl.methods.oracle import Oracle
from ctl.methods.ours import Ours, OursConfig
from ctl.methods.cyclegan import CycleGAN, CycleGANConfig
from ctl.methods.synseg import SynSeg, SynSegConfig
from ctl.methods.adaptseg import AdaptSeg, AdaptSegConfig
from ctl.methods.sifa import SIFA, SIFAConfig
from ctl.methods.translation_only import CUTOnly, LSGANOnly, TranslationOnly, TranslationOnlyConfig

__all__ = ["ALL_BATCH_KEYS", "METHODS", "SOURCE_KEYS", "TARGET_IMAGE_KEYS", "TARGET_LABEL_KEYS", "Method",
           "as_floats", "method_class", "register", "SupervisedConfig", "SupervisedSegmentation", "UNetConfig",
           "SourceOnly", "Oracle", "Ours", "OursConfig", "CycleGAN", "CycleGANConfig", "SynSeg", "SynSegConfig",
           "AdaptSeg", "AdaptSegConfig", "SIFA", "SIFAConfig", "TranslationOnly", "TranslationOnlyConfig", "LSGANOnly",
           "CUTOnly"]
