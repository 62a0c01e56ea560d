"""``ours``: the paper's method, eq. 1. Translation (G, D, F) and segmentation (U) trained together.

The paper's full objective (Zeng, Fan et al., ICASSP 2022, eq. 1) is

    L_tot = L_gen + L_dis + L_seg + L_PatchNCE

with x^{s->t} = G(x^s) the translated CT (``fake_mr``), x^t a real MR slice (``real_mr``) and y^s the CT labels:

- L_dis (eq. 3) = E[D(G(x^s))^2] + E[(D(x^t) - 1)^2]: D learns to tell translated CT from real MR. Updated by
  Adam #2 over D alone.
- L_gen (eq. 2) = E[(D(G(x^s)) - 1)^2]: G learns to fool D.
- L_PatchNCE (eq. 4-11) = L^S(x^s, G(x^s)) + L^T(x^t, G(x^t)): patches of the translation must pick their own
  source patch among the others, in G's encoder features projected by F (eq. 5 on CT; eq. 8 on MR through
  CUT's identity path).
- L_seg (eq. 12-14) = L_wce(U(G(x^s)), y^s) + L_dl(U(G(x^s)), y^s): U learns the CT labels on translated CT.

L_gen, L_PatchNCE and L_seg are minimised by **one** Adam (#1) over G, F and U; L_dis by Adam #2 over D. Both
use lr 2e-4 and CUT's betas (0.5, 0.999). Each iteration steps D first, then G/F/U, as CUT does. F is a set of
MLPs whose input widths are those of G's encoder layers: it is created from the first batch (``setup``), before
Adam #1 is built.

**Does L_seg's gradient reach G?** Yes by default (``seg_grad_to_generator=True``). Eq. 1 is a single objective
and the paper puts G and U in the same optimizer, which only makes a difference if the gradient of L_seg flows
through G(x^s) into G; SynSeg-Net, whose generator the paper reuses, trains its segmenter end to end the same way.
The effect: G is also pushed to keep what U needs to find the organs (a task-driven content term next to
PatchNCE). The risk is that G bends the translation towards "easy for U" instead of "like MR"; L_gen holds it
to MR's appearance. ``seg_grad_to_generator=False`` (U trained on ``fake_mr.detach()``) gives the two-stage
reading for comparison.

At test time only U runs, on real MR (``segmenter``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ctl.losses import segmentation_loss
from ctl.methods.base import Method, as_floats, register
from ctl.methods.supervised import UNetConfig
from ctl.nets import frozen
from ctl.translate import TranslationConfig, Translator


@dataclass(frozen=True)
class OursConfig:
    """Settings of the joint translation + segmentation model."""

    translation: TranslationConfig  # G, D, F sizes and the weights of L_gen and L_PatchNCE
    unet: UNetConfig = UNetConfig()  # the shared segmenter
    lr: float = 2e-4  # the paper: both Adam optimizers start at 0.0002
    betas: tuple[float, float] = (0.5, 0.999)  # CUT's Adam betas, for both optimizers
    lambda_seg: float = 1.0  # eq. 1 adds L_seg with weight 1
    seg_grad_to_generator: bool = True  # eq. 1 is one objective over G and U: L_seg's gradient reaches G

    @classmethod
    def from_preset(cls, preset) -> "OursConfig":
        return cls(translation=TranslationConfig.from_preset(preset), unet=UNetConfig.from_preset(preset),
                   lr=preset.lr)


@register
class Ours(Method):
    """G, D, F (``ctl.translate.Translator``) and U trained jointly on eq. 1."""

    name = "ours"
    description = "the paper: CUT translation (LSGAN + PatchNCE) and U-Net trained jointly on G(CT)"

    def __init__(self, config: OursConfig):
        super().__init__()
        if config.lambda_seg <= 0:
            raise ValueError(f"lambda_seg must be > 0 (U learns only from L_seg), got {config.lambda_seg}")
        self.config = config
        self.translator = Translator(config.translation)  # G, D, F
        self.unet = config.unet.build()  # U

    @classmethod
    def from_preset(cls, preset) -> "Ours":
        return cls(OursConfig.from_preset(preset))

    @property
    def segmenter(self) -> nn.Module:
        return self.unet

    @property
    def generator(self) -> nn.Module:
        return self.translator.G

    def setup(self, batch: dict[str, torch.Tensor]) -> None:
        # F's MLPs take their input widths from G's encoder features of a first CT batch
        self.translator.build_projection(batch["ct"])
        super().setup(batch)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        lr, betas = self.config.lr, self.config.betas
        generator_side = list(self.translator.generator_parameters()) + list(self.unet.parameters())
        return {
            "discriminator": torch.optim.Adam(self.translator.discriminator_parameters(), lr=lr, betas=betas),
            "generator_segmenter": torch.optim.Adam(generator_side, lr=lr, betas=betas),  # G, F and U
        }

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One iteration of eq. 1: D step (eq. 3), then one G/F/U step on eq. 2 + eq. 4 + eq. 12."""
        self._need_setup()
        real_ct, ct_label, real_mr = batch["ct"], batch["ct_label"], batch["mr"]  # (B,1,H,W), (B,H,W), (B,1,H,W)
        opt_d, opt_g = self.optimizers["discriminator"], self.optimizers["generator_segmenter"]

        with self.amp.autocast():
            # one pass of G over [x^s; x^t]: x^{s->t} = G(x^s) (B, 1, H, W) in [0, 1], G(x^t), encoder keys
            generated = self.translator.generate(real_ct, real_mr)
        fake_mr = generated.fake_mr

        # --- Adam #2: D on L_dis (eq. 3); fake_mr is detached inside, so G gets nothing here ---------------
        opt_d.zero_grad(set_to_none=True)
        with self.amp.autocast():
            loss_d = self.translator.discriminator_loss(fake_mr, real_mr)
        self.amp.backward(loss_d)
        self.amp.step(opt_d)

        # --- Adam #1: G, F and U on L_gen + L_PatchNCE + L_seg (D frozen, it only passes gradients) ---------
        opt_g.zero_grad(set_to_none=True)
        with frozen(self.translator.discriminator_parameters()), self.amp.autocast():
            # L_gen (eq. 2) and L_PatchNCE (eq. 4-11), weighted as TranslationConfig says, in g["total"]
            g = self.translator.generator_losses(real_ct, fake_mr, real_mr, generated=generated)
            # L_seg (eq. 12) on U(G(x^s)) against y^s; through G unless seg_grad_to_generator is False
            seg_input = fake_mr if self.config.seg_grad_to_generator else fake_mr.detach()
            loss_seg = segmentation_loss(self.unet(seg_input), ct_label)
            total = g["total"] + self.config.lambda_seg * loss_seg
        self.amp.backward(total)
        self.amp.step(opt_g)

        return as_floats({"d": loss_d, **{k: v for k, v in g.items() if k != "total"}, "seg": loss_seg,
                          "total": total})
