"""``oracle``: the upper bound of Table 1. U learns from labelled MR. IT READS TARGET LABELS.

Unsupervised domain adaptation forbids MR labels; the oracle breaks that rule on purpose, to show how well the
same U-Net does when it is trained on the target domain itself: L_seg(U(x^t), y^t) (eq. 12). It is a reference,
never a competitor, and every table, plot and printout labels it as an upper bound that uses MR labels.

It is the only method with ``uses_target_labels = True``; the training loop builds the dataset with MR labels
for it alone. It sees the MR training subjects only (never the test subjects), and as many segmenter updates
of the same batch size as every other method.
"""
from __future__ import annotations

from ctl.methods.base import TARGET_IMAGE_KEYS, TARGET_LABEL_KEYS, register
from ctl.methods.supervised import SupervisedSegmentation


@register
class Oracle(SupervisedSegmentation):
    """U trained on labelled MR (x^t, y^t): upper bound that uses target labels."""

    name = "oracle"
    description = "upper bound (uses MR labels): U-Net trained on labelled MR"
    uses_target_labels = True
    batch_keys = TARGET_IMAGE_KEYS + TARGET_LABEL_KEYS
    image_key, label_key = "mr", "mr_label"
