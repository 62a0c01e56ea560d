"""``synseg`` (Table 1, M2): SynSeg-Net, CycleGAN with the segmenter trained end to end on the translated CT.

Huo, Xu, Moon, Bao, Assad, Moyo, Savona, Abramson and Landman, "SynSeg-Net: synthetic segmentation without
target modality ground truth", IEEE TMI 38(4), 2019 (the paper's reference [2]).

SynSeg-Net is the CycleGAN of M1 (``ctl.translate.CycleTranslator``: G_ct2mr, G_mr2ct, D_mr, D_ct, the
pools) with the segmenter U attached behind G_ct2mr and trained *with* the generators:

    L = 1 * L_gen(G_ct2mr, D_mr) + 1 * L_gen(G_mr2ct, D_ct)                           LSGAN (eq. 2)
      + 10 * |G_mr2ct(G_ct2mr(x^s)) - x^s|_1 + 10 * |G_ct2mr(G_mr2ct(x^t)) - x^t|_1      cycle (CycleGAN's scale)
      + 1 * L_seg(U(G_ct2mr(x^s)), y^s)                                                eq. 12

the five weights being SynSeg-Net's lambda_1..lambda_5 = 1, 1, 10, 10, 1; it has no identity term. One Adam
minimises L over G_ct2mr, G_mr2ct and U, so L_seg's gradient flows through the translation into G_ct2mr: the
generator is pushed to keep what U needs to find the organs (the difference with M1, where U only reads the
detached translation). A second Adam minimises L_dis (eq. 3) of D_mr and D_ct on pooled fakes (one Adam over both
discriminators moves each parameter exactly as two separate Adams with the same settings would: Adam works per
parameter).

Update order, as in the CycleGAN code SynSeg-Net builds on: forward pass, generators + U (D frozen), then the
discriminators. Reference settings kept: ResNet generators, PatchGAN discriminators, LSGAN, cycle weight 10,
no identity loss, pool 50, Adam lr 2e-4 with betas (0.5, 0.999), CycleGAN's schedule (constant, then linear
decay over the second half; applied by the training loop). Changed: U is the shared U-Net (SynSeg-Net's
segmenter is a 9-block ResNet shaped like G_ct2mr) and L_seg is the shared eq. 12 (weighted cross-entropy +
Dice), so that Table 1 compares methods rather than segmenters; widths and blocks from the preset.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ctl.losses import segmentation_loss
from ctl.methods.base import as_floats, register
from ctl.methods.cyclegan import CycleGAN
from ctl.methods.supervised import UNetConfig
from ctl.nets import frozen
from ctl.translate import CycleConfig


@dataclass(frozen=True)
class SynSegConfig:
    """Settings of M2: CycleGAN without identity term, U trained end to end behind G_ct2mr."""

    cycle: CycleConfig = CycleConfig(lambda_identity=0.0)  # SynSeg-Net has no identity loss
    unet: UNetConfig = UNetConfig()  # the shared segmenter
    lr: float = 2e-4  # the paper's and CycleGAN's learning rate, both optimizers
    betas: tuple[float, float] = (0.5, 0.999)  # CycleGAN's Adam betas
    lambda_seg: float = 1.0  # SynSeg-Net's lambda_5

    def __post_init__(self):
        if self.lambda_seg <= 0:
            raise ValueError(f"lambda_seg must be > 0 (U learns only from L_seg), got {self.lambda_seg}")

    @classmethod
    def from_preset(cls, preset, **cycle_changes) -> "SynSegConfig":
        cycle = CycleConfig.from_preset(preset, **{"lambda_identity": 0.0, **cycle_changes})
        return cls(cycle=cycle, unet=UNetConfig.from_preset(preset), lr=preset.lr)


@register
class SynSeg(CycleGAN):
    """M2: G_ct2mr, G_mr2ct and U in one Adam (L_seg reaches G_ct2mr); D_mr and D_ct in the other.

    The networks, ``segmenter`` and ``translate`` are M1's (``CycleGAN``); the optimizers and the step differ."""

    name = "synseg"
    description = "M2 SynSeg-Net: CycleGAN with the U-Net trained end to end on the translated CT"

    @classmethod
    def from_preset(cls, preset) -> "SynSeg":
        return cls(SynSegConfig.from_preset(preset))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        lr, betas = self.config.lr, self.config.betas
        generator_side = self.translator.generator_parameters() + list(self.unet.parameters())
        return {"generators_segmenter": torch.optim.Adam(generator_side, lr=lr, betas=betas),
                "discriminators": torch.optim.Adam(self.translator.discriminator_parameters(), lr=lr, betas=betas)}

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One step of G_ct2mr, G_mr2ct and U on L, then one of D_mr and D_ct. Returns every loss."""
        self._need_setup()
        real_ct, ct_label, real_mr = batch["ct"], batch["ct_label"], batch["mr"]  # (B,1,H,W), (B,H,W), (B,1,H,W)
        opt_gu, opt_d = self.optimizers["generators_segmenter"], self.optimizers["discriminators"]
        translator = self.translator

        # --- generators and U together: adversarial + cycle + L_seg through G_ct2mr, D frozen -----------------
        opt_gu.zero_grad(set_to_none=True)
        with frozen(translator.discriminator_parameters()), self.amp.autocast():
            p = translator.forward_cycle(real_ct, real_mr)
            g = translator.generator_losses(p, real_ct, real_mr)
            # L_seg (eq. 12) of U on x^{s->t} = G_ct2mr(x^s), NOT detached: its gradient reaches G_ct2mr
            loss_seg = segmentation_loss(self.unet(p.fake_mr), ct_label)
            total = g["total"] + self.config.lambda_seg * loss_seg
        self.amp.backward(total)
        self.amp.step(opt_gu)

        # --- discriminators: L_dis (eq. 3) on pooled fakes -----------------------------------------------------
        opt_d.zero_grad(set_to_none=True)
        with self.amp.autocast():
            d = translator.discriminator_losses(p, real_ct, real_mr)
        self.amp.backward(d["total"])
        self.amp.step(opt_d)

        losses = {**{k: v for k, v in g.items() if k != "total"}, "seg": loss_seg, "d_mr": d["d_mr"],
                  "d_ct": d["d_ct"]}
        return as_floats(losses)
