"""A U-Net trained with the segmentation loss on one labelled domain: the shared core of the two bounds.

``source_only`` (lower bound) feeds it raw CT with CT labels; ``oracle`` (upper bound) feeds it MR with MR
labels. Both minimise eq. 12 (weighted cross-entropy, eq. 13, plus Dice loss, eq. 14) on their own domain:

    L_seg(U(x), y) = L_wce(U(x), y) + L_dl(U(x), y)

with one Adam optimizer over U alone. The U-Net, its size, the optimizer and its settings are the ones ``ours``
uses for U, so that the three rows of Table 1 differ only in what the segmenter sees.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ctl.losses import segmentation_loss
from ctl.methods.base import Method, as_floats
from ctl.nets import UNet
from ctl.organs import NUM_CLASSES


@dataclass(frozen=True)
class UNetConfig:
    """The segmenter U, the same network for every method."""

    n_classes: int = NUM_CLASSES  # background, liver, right kidney, left kidney, spleen (ctl.organs)
    base: int = 32  # channels at the first level; preset.unet_base
    depth: int = 4  # down-sampling levels; preset.unet_depth (image size must divide by 2**depth)

    @classmethod
    def from_preset(cls, preset) -> "UNetConfig":
        return cls(base=preset.unet_base, depth=preset.unet_depth)

    def build(self) -> nn.Module:
        return UNet(in_channels=1, n_classes=self.n_classes, base=self.base, depth=self.depth)


@dataclass(frozen=True)
class SupervisedConfig:
    """Settings of a segmenter trained on one labelled domain."""

    unet: UNetConfig = UNetConfig()  # the shared segmenter
    lr: float = 2e-4  # the paper's learning rate for every optimizer
    betas: tuple[float, float] = (0.5, 0.999)  # CUT's Adam betas: ours trains U with them, so the bounds do too

    @classmethod
    def from_preset(cls, preset) -> "SupervisedConfig":
        return cls(unet=UNetConfig.from_preset(preset), lr=preset.lr)


class SupervisedSegmentation(Method):
    """U trained on (``batch[image_key]``, ``batch[label_key]``) with eq. 12; subclasses name the two keys."""

    image_key: ClassVar[str] = ""
    label_key: ClassVar[str] = ""

    def __init__(self, config: SupervisedConfig = SupervisedConfig()):
        super().__init__()
        self.config = config
        self.unet = config.unet.build()

    @classmethod
    def from_preset(cls, preset) -> "SupervisedSegmentation":
        return cls(SupervisedConfig.from_preset(preset))

    @property
    def segmenter(self) -> nn.Module:
        return self.unet

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"segmenter": torch.optim.Adam(self.unet.parameters(), lr=self.config.lr, betas=self.config.betas)}

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One Adam step of U on eq. 12. Returns {"seg": L_seg}."""
        self._need_setup()
        image, label = batch[self.image_key], batch[self.label_key]  # (B, 1, H, W) in [0, 1]; (B, H, W) int64
        optimizer = self.optimizers["segmenter"]
        optimizer.zero_grad(set_to_none=True)
        with self.amp.autocast():
            # L_seg (eq. 12) = weighted CE (eq. 13) + Dice loss (eq. 14) of U(x) against y
            loss = segmentation_loss(self.unet(image), label)
        self.amp.backward(loss)
        self.amp.step(optimizer)
        return as_floats({"seg": loss})
