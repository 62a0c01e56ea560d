"""torch Datasets over a prepared folder: labelled axial slices, and unpaired CT/MR slice pairs.

Each dataset loads its subjects' volumes once (a prepared ``cpu``-preset phantom is a few tens of MB) and
serves slices as tensors. Augmentation (``ctl.data.augment``: sharpness, brightness/contrast, elastic; never a
left-right flip) is applied on the fly when ``augment=True``; its random draws, like the MR slice choice in
``UnpairedSliceDataset``, come from torch's generator, which DataLoader seeds per worker.

Neither dataset ever reads ``paired_mr/``: the paired MR is for evaluation only (``load_paired_mr``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ctl.data.augment import AugmentConfig, augment_slice
from ctl.data.prepared import load_volume, subject_ids


class SliceDataset(Dataset):
    """Every axial slice of ``domain``'s ``split`` subjects.

    Item: {"image": float32 (1, H, W) in [0, 1], "label": int64 (H, W), "subject": str, "slice": int}.
    The MR labels are served too: only the oracle (trained on labelled MR) and evaluation may use them.
    """

    def __init__(self, prepared: Path | str, domain: str, split: str, augment: bool = False,
                 augment_config: AugmentConfig = AugmentConfig()):
        ids = subject_ids(prepared, domain, split)
        if not ids:
            raise ValueError(f"{prepared}: no {domain} subjects in split {split!r}")
        volumes = [load_volume(prepared, domain, i) for i in ids]
        self.images = np.concatenate([v.image for v in volumes])  # (N, H, W)
        self.labels = np.concatenate([v.label for v in volumes])  # (N, H, W)
        self.slices = [(v.subject, k) for v in volumes for k in range(v.image.shape[0])]
        self.spacing = {v.subject: v.spacing for v in volumes}
        self.domain, self.split, self.augment, self.augment_config = domain, split, augment, augment_config

    def __len__(self) -> int:
        return len(self.slices)

    def __getitem__(self, index: int) -> dict:
        image = torch.tensor(self.images[index])[None]  # (1, H, W), a copy
        label = torch.tensor(self.labels[index], dtype=torch.int64)  # (H, W)
        if self.augment:
            image, label = augment_slice(image, label, self.augment_config)
        subject, k = self.slices[index]
        return {"image": image, "label": label, "subject": subject, "slice": k}


class UnpairedSliceDataset(Dataset):
    """A labelled CT training slice with an MR slice drawn at random, independently of it.

    Item: {"ct": (1, H, W), "ct_label": int64 (H, W), "mr": (1, H, W)}, plus "mr_label" (H, W) only when
    ``target_labels=True`` (the oracle's privilege: unsupervised methods must not ask for it). The length is
    the number of CT slices; the MR index comes from ``torch.randint`` on torch's generator.
    """

    def __init__(self, prepared: Path | str, split: str = "train", augment: bool = False, target_labels: bool = False,
                 augment_config: AugmentConfig = AugmentConfig()):
        self.ct = SliceDataset(prepared, "ct", split, augment, augment_config)
        self.mr = SliceDataset(prepared, "mr", split, augment, augment_config)
        self.target_labels = target_labels

    def __len__(self) -> int:
        return len(self.ct)

    def __getitem__(self, index: int) -> dict:
        ct = self.ct[index]
        mr = self.mr[int(torch.randint(len(self.mr), ()))]
        item = {"ct": ct["image"], "ct_label": ct["label"], "mr": mr["image"]}
        if self.target_labels:
            item["mr_label"] = mr["label"]
        return item
