"""``cyclegan`` (Table 1, M1): CycleGAN translation of CT to MR, and U trained on the translated CT.

Zhu, Park, Isola and Efros, "Unpaired image-to-image translation using cycle-consistent adversarial networks",
ICCV 2017 (the paper's reference [4]). The two-way translator (G_ct2mr, G_mr2ct, D_mr, D_ct, two image pools)
and its losses, with CycleGAN's weights, are ``ctl.translate.cycle``.

**The segmenter.** M1 is a two-stage method: translate every labelled CT with the trained CycleGAN, then train U
on (G_ct2mr(x^s), y^s) with L_seg (eq. 12). Here both stages run side by side so that U gets as many updates
as in every other method: each iteration steps the generators, then the discriminators, then U (a third Adam)
on the current translation, **detached**: L_seg never reaches G_ct2mr (that is what separates M1 from M2,
SynSeg-Net). U thus also learns from the early, poor translations; late in training it sees the same kind of
images as in the two-stage version.

Update order, as in CycleGAN's code: forward pass, generators (D frozen), discriminators (with pooled fakes),
then U. Kept from CycleGAN besides the translator's settings: Adam lr 2e-4 with betas (0.5, 0.999) and
CycleGAN's schedule (constant rate for the first half, then linear decay to 0), which the training loop applies
to every method. Changed: the concurrent U described above.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ctl.losses import segmentation_loss
from ctl.methods.base import Method, as_floats, register
from ctl.methods.supervised import UNetConfig
from ctl.nets import frozen
from ctl.translate import CycleConfig, CycleTranslator


@dataclass(frozen=True)
class CycleGANConfig:
    """Settings of M1: CycleGAN plus a U-Net trained on its (detached) translations."""

    cycle: CycleConfig = CycleConfig()  # the two-way translator and its loss weights
    unet: UNetConfig = UNetConfig()  # the shared segmenter
    lr: float = 2e-4  # CycleGAN's and the paper's learning rate, for all three optimizers
    betas: tuple[float, float] = (0.5, 0.999)  # CycleGAN's Adam betas (U uses them in every method here)

    @classmethod
    def from_preset(cls, preset, **cycle_changes) -> "CycleGANConfig":
        return cls(cycle=CycleConfig.from_preset(preset, **cycle_changes), unet=UNetConfig.from_preset(preset),
                   lr=preset.lr)


@register
class CycleGAN(Method):
    """M1: CycleGAN (G_ct2mr, G_mr2ct, D_mr, D_ct) and U trained on G_ct2mr(x^s).detach()."""

    name = "cyclegan"
    description = "M1 CycleGAN: CT->MR translation (cycle + identity), U-Net on the translated CT (no gradient to G)"

    def __init__(self, config: CycleGANConfig):
        super().__init__()
        self.config = config
        self.translator = CycleTranslator(config.cycle)
        self.unet = config.unet.build()

    @classmethod
    def from_preset(cls, preset) -> "CycleGAN":
        return cls(CycleGANConfig.from_preset(preset))

    @property
    def segmenter(self) -> nn.Module:
        return self.unet

    @property
    def generator(self) -> nn.Module:
        return self.translator.G_ct2mr

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        lr, betas = self.config.lr, self.config.betas
        return {"generators": torch.optim.Adam(self.translator.generator_parameters(), lr=lr, betas=betas),
                "discriminators": torch.optim.Adam(self.translator.discriminator_parameters(), lr=lr, betas=betas),
                "segmenter": torch.optim.Adam(self.unet.parameters(), lr=lr, betas=betas)}

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """Generators, then discriminators, then U on the detached translation. Returns every loss."""
        self._need_setup()
        real_ct, ct_label, real_mr = batch["ct"], batch["ct_label"], batch["mr"]  # (B,1,H,W), (B,H,W), (B,1,H,W)
        opt_g, opt_d, opt_u = (self.optimizers[k] for k in ("generators", "discriminators", "segmenter"))
        translator = self.translator

        # --- generators: L_G (adversarial + cycle + identity), D frozen --------------------------------------
        opt_g.zero_grad(set_to_none=True)
        with frozen(translator.discriminator_parameters()), self.amp.autocast():
            p = translator.forward_cycle(real_ct, real_mr)
            g = translator.generator_losses(p, real_ct, real_mr)
        self.amp.backward(g["total"])
        self.amp.step(opt_g)

        # --- discriminators: L_dis (eq. 3) on pooled fakes -----------------------------------------------------
        opt_d.zero_grad(set_to_none=True)
        with self.amp.autocast():
            d = translator.discriminator_losses(p, real_ct, real_mr)
        self.amp.backward(d["total"])
        self.amp.step(opt_d)

        # --- U: L_seg (eq. 12) on the translated CT, detached (M1 trains U on G's output, not G with U) -------
        opt_u.zero_grad(set_to_none=True)
        with self.amp.autocast():
            loss_seg = segmentation_loss(self.unet(p.fake_mr.detach()), ct_label)
        self.amp.backward(loss_seg)
        self.amp.step(opt_u)

        losses = {**{k: v for k, v in g.items() if k != "total"}, "d_mr": d["d_mr"], "d_ct": d["d_ct"],
                  "seg": loss_seg}
        return as_floats(losses)
