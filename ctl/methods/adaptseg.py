"""``adaptseg`` (Table 1, M3): AdaptSegNet, adversarial adaptation in the segmenter's output space.

Tsai, Hung, Schulter, Sohn, Yang and Chandraker, "Learning to adapt structured output space for semantic
segmentation", CVPR 2018 (the paper's reference [7]). No translation: U reads raw CT and raw MR.

    P^s = softmax(U(x^s)), P^t = softmax(U(x^t))                 U's class maps on CT and on MR, (B, 5, H, W)
    D = ``ctl.nets.OutputDiscriminator`` (fully convolutional, no normalisation) on those maps

U minimises   L_seg(U(x^s), y^s) + lambda_adv * L_adv,   L_adv = BCE(D(P^t), 1)          lambda_adv = 0.001
D minimises   L_d = 1/2 BCE(D(P^s), 1) + 1/2 BCE(D(P^t), 0)

(BCE is the binary cross-entropy on D's logits, averaged over the logit map.) D learns which maps come from CT
(label 1) and which from MR (label 0); U is pushed to make its MR maps pass as CT maps, i.e. to give MR the
organ shapes and layout it produces on CT. L_seg is the shared eq. 12 on CT with CT labels; MR labels are never
read. AdaptSegNet's code labels source 0 and target 1; the labels are swapped here so that 1 means "the
reference distribution", as in the LSGAN losses of the other methods (BCE is symmetric in this: nothing else
changes).

Update order, as in AdaptSegNet: U first (D frozen: seg loss on CT, adversarial loss on MR), then D on the
*detached* maps of the same forward pass. Reference settings kept: output-level adversarial weight 0.001, BCE,
D's architecture (widths ndf, 2, 4, 8 ndf, LeakyReLU 0.2, no normalisation) and its Adam (lr 1e-4, betas (0.9,
0.99)). Changed for our scale and for fairness: U is the shared U-Net trained from scratch with the shared
optimizer (Adam lr 2e-4, betas (0.5, 0.999); AdaptSegNet fine-tunes an ImageNet DeepLab-v2 with SGD lr 2.5e-4
and poly decay); D's width from the preset (``ndf``); the loop's schedule for both optimizers (constant, then
linear decay over the second half) instead of AdaptSegNet's poly decay (power 0.9); and only the output level: the
optional second, auxiliary level (adversarial weight 0.0002 on a classifier over DeepLab's conv4 features, with
a 0.1-weighted auxiliary seg loss) has no counterpart in a U-Net with one output, and is left out.

Batch normalisation: U runs in training mode on CT batches and on MR batches (separate passes, so each batch is
normalised with its own statistics), and its running statistics, used at test time, therefore mix both domains.
AdaptSegNet freezes the batch norms of its pretrained DeepLab; a U-Net trained from scratch cannot. The same
holds for every method here whose U sees MR during training (SIFA; the translation methods show U only fake MR).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as nnf

from ctl.losses import segmentation_loss
from ctl.methods.base import Method, as_floats, register
from ctl.methods.supervised import UNetConfig
from ctl.nets import OutputDiscriminator, frozen

SOURCE, TARGET = 1.0, 0.0  # D's labels: maps computed on CT, maps computed on MR


def bce_to(logits: Tensor, label: float) -> Tensor:
    """Mean binary cross-entropy of D's logits against a constant label (1: source, 0: target)."""
    return nnf.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


@dataclass(frozen=True)
class AdaptSegConfig:
    """Settings of M3: the shared U-Net and an output-space discriminator."""

    unet: UNetConfig = UNetConfig()  # the shared segmenter
    ndf: int = 64  # D's first width (AdaptSegNet: 64); preset.ndf
    lr: float = 2e-4  # U's Adam, the same as in every other method
    betas: tuple[float, float] = (0.5, 0.999)  # U's Adam betas, the same as in every other method
    lr_d: float = 1e-4  # AdaptSegNet's discriminator learning rate
    betas_d: tuple[float, float] = (0.9, 0.99)  # AdaptSegNet's discriminator betas
    lambda_adv: float = 1e-3  # AdaptSegNet's output-level adversarial weight

    def __post_init__(self):
        if self.lambda_adv < 0 or self.ndf < 1:
            raise ValueError(f"need lambda_adv >= 0 and ndf >= 1; got lambda_adv={self.lambda_adv}, ndf={self.ndf}")

    @classmethod
    def from_preset(cls, preset) -> "AdaptSegConfig":
        return cls(unet=UNetConfig.from_preset(preset), ndf=preset.ndf, lr=preset.lr)


@register
class AdaptSeg(Method):
    """M3: U trained on CT with L_seg while D on softmax maps pulls U's MR outputs towards its CT outputs."""

    name = "adaptseg"
    description = "M3 AdaptSegNet: U-Net on CT, adversarial alignment of its MR outputs with its CT outputs"

    def __init__(self, config: AdaptSegConfig):
        super().__init__()
        self.config = config
        self.unet = config.unet.build()
        self.D = OutputDiscriminator(config.unet.n_classes, ndf=config.ndf)

    @classmethod
    def from_preset(cls, preset) -> "AdaptSeg":
        return cls(AdaptSegConfig.from_preset(preset))

    @property
    def segmenter(self) -> nn.Module:
        return self.unet

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        return {"segmenter": torch.optim.Adam(self.unet.parameters(), lr=cfg.lr, betas=cfg.betas),
                "discriminator": torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=cfg.betas_d)}

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One step of U on L_seg + lambda_adv L_adv, then one of D on L_d. Returns {"seg", "adv", "d"}."""
        self._need_setup()
        real_ct, ct_label, real_mr = batch["ct"], batch["ct_label"], batch["mr"]  # (B,1,H,W), (B,H,W), (B,1,H,W)
        opt_u, opt_d = self.optimizers["segmenter"], self.optimizers["discriminator"]

        # --- U: supervised on CT, adversarial on MR (D frozen: it only passes the gradient back) -------------
        opt_u.zero_grad(set_to_none=True)
        with frozen(self.D.parameters()), self.amp.autocast():
            logits_ct = self.unet(real_ct)  # (B, 5, H, W)
            # L_seg (eq. 12) on the labelled source
            loss_seg = segmentation_loss(logits_ct, ct_label)
            logits_mr = self.unet(real_mr)  # a separate pass: MR batches get their own batch-norm statistics
            prob_ct, prob_mr = logits_ct.softmax(dim=1), logits_mr.softmax(dim=1)  # P^s, P^t
            # L_adv: D should take U's MR maps for CT maps
            loss_adv = bce_to(self.D(prob_mr), SOURCE)
            total = loss_seg + self.config.lambda_adv * loss_adv
        self.amp.backward(total)
        self.amp.step(opt_u)

        # --- D: CT maps -> 1, MR maps -> 0, on the detached maps of the pass above ----------------------------
        opt_d.zero_grad(set_to_none=True)
        with self.amp.autocast():
            loss_d = 0.5 * bce_to(self.D(prob_ct.detach()), SOURCE) + 0.5 * bce_to(self.D(prob_mr.detach()), TARGET)
        self.amp.backward(loss_d)
        self.amp.step(opt_d)
        return as_floats({"seg": loss_seg, "adv": loss_adv, "d": loss_d})
