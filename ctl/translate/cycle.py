"""CycleGAN's two-way CT <-> MR translator and its losses (Zhu, Park, Isola and Efros, ICCV 2017; the paper's
reference [4]), shared by M1 (``ctl.methods.cyclegan``) and M2 (``ctl.methods.synseg``). Two generators and two
discriminators:

    G_ct2mr : CT -> MR  (the paper's G; ``fake_mr`` = x^{s->t})     D_mr : real MR vs G_ct2mr(CT)
    G_mr2ct : MR -> CT  (``fake_ct`` = x^{t->s})                     D_ct : real CT vs G_mr2ct(MR)

Losses of the generators (both minimised by one Adam), with CycleGAN's weights:

    L_G = L_gen(G_ct2mr, D_mr) + L_gen(G_mr2ct, D_ct)                          LSGAN, eq. 2 of the paper, weight 1
        + 10 * ( |G_mr2ct(G_ct2mr(x^s)) - x^s|_1 + |G_ct2mr(G_mr2ct(x^t)) - x^t|_1 )       cycle, lambda = 10
        + 10 * 0.5 * ( |G_ct2mr(x^t) - x^t|_1 + |G_mr2ct(x^s) - x^s|_1 )           identity, 0.5 * lambda = 5

and of the discriminators (the other Adam): L_dis (eq. 3) for each, on fakes drawn from a history pool of 50
images (``ctl.translate.image_pool``). The L1 terms are measured on CycleGAN's [-1, 1] intensity scale
(``cycle_l1``: twice the mean on our [0, 1] images), so that the weights 10 and 0.5 balance the terms as in
CycleGAN. Reference settings kept: ResNet generators, 70 x 70 PatchGAN discriminators, LSGAN, lambda 10,
identity 0.5, pool 50, instance norm. Changed for our scale: widths and residual blocks from the preset
(reference ngf = ndf = 64, 9 blocks) and L_dis as eq. 3 (CycleGAN halves it; Adam does not notice a constant
factor).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from ctl.losses import lsgan_discriminator_loss, lsgan_generator_loss
from ctl.nets import PatchDiscriminator, ResnetGenerator
from ctl.translate.image_pool import ImagePool


def cycle_l1(x: Tensor, y: Tensor) -> Tensor:
    """Mean |x - y| on the [-1, 1] scale of CycleGAN and SIFA, for images x, y in [0, 1]: 2 * mean |x - y|."""
    if x.shape != y.shape:
        raise ValueError(f"cycle_l1 compares images of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    # (2x - 1) - (2y - 1) = 2 (x - y)
    return 2 * (x - y).abs().mean()


@dataclass(frozen=True)
class CycleConfig:
    """Sizes and loss weights of the two-way translator. The defaults are CycleGAN's reference settings."""

    ngf: int = 64  # generator width (CycleGAN reference)
    n_blocks: int = 9  # residual blocks per generator (reference at 256 x 256)
    ndf: int = 64  # PatchGAN width (reference)
    d_norm: str = "instance"  # the discriminators' hidden-layer normalisation (CycleGAN: instance)
    lambda_cycle: float = 10.0  # weight of each cycle term (CycleGAN's lambda_A = lambda_B = 10)
    lambda_identity: float = 0.5  # identity weight relative to lambda_cycle (CycleGAN's 0.5); 0: no identity
    pool_size: int = 50  # fakes kept for the discriminators (CycleGAN); 0: no pool

    def __post_init__(self):
        if self.ngf < 1 or self.ndf < 1 or self.n_blocks < 0:
            raise ValueError(f"need ngf, ndf >= 1 and n_blocks >= 0; got ngf={self.ngf}, ndf={self.ndf}, "
                             f"n_blocks={self.n_blocks}")
        if self.lambda_cycle < 0 or self.lambda_identity < 0 or self.pool_size < 0:
            raise ValueError(f"weights and pool size must be >= 0; got lambda_cycle={self.lambda_cycle}, "
                             f"lambda_identity={self.lambda_identity}, pool_size={self.pool_size}")

    @classmethod
    def from_preset(cls, preset, **changes) -> "CycleConfig":
        """The preset's network sizes; ``changes`` override any field (e.g. ``lambda_identity=0``)."""
        names = {f.name for f in fields(cls)}
        bad = sorted(set(changes) - names)
        if bad:
            raise ValueError(f"unknown CycleConfig field(s) {bad}; fields are {sorted(names)}")
        return cls(**{"ngf": preset.ngf, "n_blocks": preset.n_blocks, "ndf": preset.ndf, "d_norm": preset.disc_norm,
                      **changes})


@dataclass
class CyclePass:
    """The images of one forward pass of both generators (all (B, 1, H, W) in [0, 1], with gradients)."""

    fake_mr: Tensor  # G_ct2mr(x^s) = x^{s->t}
    fake_ct: Tensor  # G_mr2ct(x^t) = x^{t->s}
    rec_ct: Tensor  # G_mr2ct(G_ct2mr(x^s))
    rec_mr: Tensor  # G_ct2mr(G_mr2ct(x^t))
    idt_mr: Tensor | None  # G_ct2mr(x^t); None without the identity term
    idt_ct: Tensor | None  # G_mr2ct(x^s)


class CycleTranslator(nn.Module):
    """G_ct2mr, G_mr2ct, D_mr, D_ct and the two pools, with CycleGAN's losses (see the module docstring)."""

    def __init__(self, config: CycleConfig):
        super().__init__()
        self.config = config
        self.G_ct2mr = ResnetGenerator(1, 1, ngf=config.ngf, n_blocks=config.n_blocks)
        self.G_mr2ct = ResnetGenerator(1, 1, ngf=config.ngf, n_blocks=config.n_blocks)
        self.D_mr = PatchDiscriminator(1, ndf=config.ndf, n_layers=3, norm=config.d_norm)
        self.D_ct = PatchDiscriminator(1, ndf=config.ndf, n_layers=3, norm=config.d_norm)
        self.pool_mr = ImagePool(config.pool_size)  # fake MR shown to D_mr
        self.pool_ct = ImagePool(config.pool_size)  # fake CT shown to D_ct

    @property
    def uses_identity(self) -> bool:
        return self.config.lambda_identity > 0

    def translate(self, ct: Tensor) -> Tensor:
        """x^{s->t} = G_ct2mr(ct): (B, 1, H, W) in [0, 1] -> (B, 1, H, W) in [0, 1]."""
        return self.G_ct2mr(ct)

    def generator_parameters(self) -> list[nn.Parameter]:
        return list(self.G_ct2mr.parameters()) + list(self.G_mr2ct.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.D_mr.parameters()) + list(self.D_ct.parameters())

    def forward_cycle(self, real_ct: Tensor, real_mr: Tensor) -> CyclePass:
        """Both translations, both reconstructions and (with the identity term) both identity images.

        Images that go through the same generator share one pass; instance norm works per image, so this
        equals separate passes.
        """
        n_ct, n_mr = real_ct.shape[0], real_mr.shape[0]
        idt = self.uses_identity
        # G_ct2mr on [x^s; x^t] -> [x^{s->t}; G_ct2mr(x^t)]
        out = self.G_ct2mr(torch.cat([real_ct, real_mr]) if idt else real_ct)
        fake_mr, idt_mr = out[:n_ct], (out[n_ct:] if idt else None)
        # G_mr2ct on [x^t; x^{s->t}; x^s] -> [x^{t->s}; reconstructed CT; G_mr2ct(x^s)]
        out = self.G_mr2ct(torch.cat([real_mr, fake_mr, real_ct] if idt else [real_mr, fake_mr]))
        fake_ct, rec_ct = out[:n_mr], out[n_mr:n_mr + n_ct]
        idt_ct = out[n_mr + n_ct:] if idt else None
        rec_mr = self.G_ct2mr(fake_ct)  # G_ct2mr(G_mr2ct(x^t))
        return CyclePass(fake_mr, fake_ct, rec_ct, rec_mr, idt_mr, idt_ct)

    def generator_losses(self, p: CyclePass, real_ct: Tensor, real_mr: Tensor) -> dict[str, Tensor]:
        """L_G of the module docstring: {"gan_mr", "gan_ct", "cycle_ct", "cycle_mr", ["idt_mr", "idt_ct"],
        "total"}. Call it with the discriminators frozen: it only needs the gradient through them."""
        cfg = self.config
        losses = {
            # L_gen (eq. 2) for each direction: D_mr should take G_ct2mr(x^s) for MR, D_ct G_mr2ct(x^t) for CT
            "gan_mr": lsgan_generator_loss(self.D_mr(p.fake_mr)),
            "gan_ct": lsgan_generator_loss(self.D_ct(p.fake_ct)),
            # cycle consistency: CT -> MR -> CT and MR -> CT -> MR give back the input
            "cycle_ct": cycle_l1(p.rec_ct, real_ct),
            "cycle_mr": cycle_l1(p.rec_mr, real_mr),
        }
        total = losses["gan_mr"] + losses["gan_ct"] + cfg.lambda_cycle * (losses["cycle_ct"] + losses["cycle_mr"])
        if self.uses_identity:
            # identity: a generator fed an image of its output domain should leave it alone
            losses["idt_mr"] = cycle_l1(p.idt_mr, real_mr)
            losses["idt_ct"] = cycle_l1(p.idt_ct, real_ct)
            total = total + cfg.lambda_cycle * cfg.lambda_identity * (losses["idt_mr"] + losses["idt_ct"])
        losses["total"] = total
        return losses

    def discriminator_losses(self, p: CyclePass, real_ct: Tensor, real_mr: Tensor) -> dict[str, Tensor]:
        """L_dis (eq. 3) of D_mr and D_ct on pooled, detached fakes: {"d_mr", "d_ct", "total"}."""
        fake_mr, fake_ct = self.pool_mr.query(p.fake_mr), self.pool_ct.query(p.fake_ct)  # detached
        # one pass per discriminator over [fakes; reals] (instance norm is per image)
        d_fake, d_real = self.D_mr(torch.cat([fake_mr, real_mr])).split([fake_mr.shape[0], real_mr.shape[0]])
        losses = {"d_mr": lsgan_discriminator_loss(d_fake, d_real)}
        d_fake, d_real = self.D_ct(torch.cat([fake_ct, real_ct])).split([fake_ct.shape[0], real_ct.shape[0]])
        losses["d_ct"] = lsgan_discriminator_loss(d_fake, d_real)
        losses["total"] = losses["d_mr"] + losses["d_ct"]
        return losses
