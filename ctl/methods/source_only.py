"""``source_only``: the lower bound of Table 1. U learns from labelled CT and is applied to MR unchanged.

No adaptation at all: the segmenter sees raw CT slices x^s with their labels y^s and minimises eq. 12,
L_seg(U(x^s), y^s). At test time the same U segments MR, so the gap between this row and the oracle row is the
domain shift the adaptation methods try to close. Reads neither MR images nor MR labels.
"""
from __future__ import annotations

from ctl.methods.base import SOURCE_KEYS, register
from ctl.methods.supervised import SupervisedSegmentation


@register
class SourceOnly(SupervisedSegmentation):
    """U trained on CT (x^s, y^s) only; lower bound. See ``SupervisedSegmentation`` for the step."""

    name = "source_only"
    description = "lower bound: U-Net trained on labelled CT, applied to MR as is"
    batch_keys = SOURCE_KEYS
    image_key, label_key = "ct", "ct_label"
