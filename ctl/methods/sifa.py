"""``sifa`` (Table 1, M4): synergistic image and feature alignment.

Chen, Dou, Chen, Qin and Heng, "Unsupervised bidirectional cross-modality adaptation via deeply synergistic
image and feature alignment for medical image segmentation", IEEE TMI 39(7), 2020 (the paper's reference [11]),
with its public TensorFlow code as the reference for weights and update order. Networks (``ctl.nets.sifa``):

    G      CT -> MR ResNet generator             x^{s->t} = G(x^s)                 (``fake_mr``)
    E, C   the shared U-Net: E all but its 1 x 1 head, C the head; the segmenter is C(E(.)) = U
    Dec    E's features -> CT-like image          x^{t->s} = Dec(E(x^t))           (``fake_ct``)
    D_mr   PatchGAN: real MR vs G(x^s)                                             (SIFA's D_t)
    D_ct   two-head PatchGAN: main real CT vs x^{t->s}; aux Dec(E(G(x^s))) vs x^{t->s}  (SIFA's D_s)
    D_seg  PatchGAN on U's class maps: maps of G(x^s) vs maps of x^t                 (SIFA's D_p)

Losses (LSGAN, eq. 2-3, everywhere; |.|_1 on the [-1, 1] scale, ``cycle_l1``):

    gan_mr  = L_gen(D_mr(G(x^s)))         gan_ct = L_gen(D_ct_main(x^{t->s}))
    cycle   = 10 * ( |Dec(E(G(x^s))) - x^s|_1 + |G(Dec(E(x^t))) - x^t|_1 )         lambda_A = lambda_B = 10
    seg     = L_seg(C(E(G(x^s))), y^s)    (eq. 12: the weighted cross-entropy + Dice loss SIFA introduced)
    adv_seg = L_gen(D_seg(softmax C(E(x^t))))      adv_aux = L_gen(D_ct_aux(x^{t->s}))

Each network minimises its own loss, as in SIFA's code:

    G       gan_mr + cycle
    Dec     gan_ct + cycle
    E, C    seg + 0.1 * (gan_ct + cycle) + w(t) * adv_seg + 0.1 * adv_aux
    D_mr, D_ct (both heads), D_seg    L_dis (eq. 3); D_mr and D_ct's main head on pooled fakes (pool 50)

with w(t) SIFA's warm-up of the output-space term: 0 for the first 20 % of training, then rising linearly to
0.1 at 35 % (SIFA: 0 for epochs 0-4 of 20, 0.1 from epoch 7). Since gan_mr does not depend on Dec and gan_ct
not on G, one backward pass of gan_mr + gan_ct + cycle gives G and Dec exactly their own gradients; a second
one gives E and C theirs.

**Update order.** SIFA runs six optimizers one after the other, each after a fresh forward pass (G, D_mr, E/C,
Dec, D_ct, D_seg). Here one forward pass serves all of them: G, Dec and E/C step together on its gradients, then
the three discriminators (one Adam; Adam works per parameter, so this equals three) on its detached outputs.

**Simplifications against the original, precisely.** (1) E + C is the shared U-Net (full-resolution features,
``base`` channels) instead of SIFA's dilated residual encoder (1/8 resolution, 512 channels, dropout 0.25) and
1 x 1 conv with bilinear up-sampling; so the segmenter is the same network as in every other method. (2) No
deep supervision: SIFA's version with a second classifier on a lower encoder layer (0.1 seg, 0.01 adversarial)
is left out, as in SIFA's public code. (3) G and Dec do not add their input image before the tanh (SIFA's
``skip=True``); Dec is a ResNet generator on E's features with about half of G's residual blocks (SIFA: 9 and
4). (4) D_seg reads softmax maps (SIFA's code feeds the logits). (5) One forward pass per iteration (above).
(6) Every optimizer is Adam lr 2e-4, betas (0.5, 0.999), on the loop's schedule (constant, then linear decay
over the second half): SIFA keeps 2e-4 constant for the GAN parts and trains E/C with Adam lr 1e-3 (default
betas), decayed by 0.9 every 2 epochs, with weight decay 1e-4. (7) One slice in (SIFA stacks three neighbours as
channels); sizes from the preset. Kept: the networks' roles, all loss terms and their weights, the auxiliary
head, the warm-up, LSGAN, pools of 50, the one-network-one-loss structure.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ctl.losses import lsgan_discriminator_loss, lsgan_generator_loss, segmentation_loss
from ctl.methods.base import Method, as_floats, register
from ctl.methods.supervised import UNetConfig
from ctl.nets import PatchDiscriminator, ResnetGenerator, TwoHeadPatchDiscriminator, frozen
from ctl.translate import ImagePool, cycle_l1


@dataclass(frozen=True)
class SIFAConfig:
    """Settings of M4. Loss weights are SIFA's."""

    unet: UNetConfig = UNetConfig()  # E + C: the shared segmenter
    ngf: int = 64  # width of G and Dec (preset.ngf; SIFA: 32)
    n_blocks: int = 9  # residual blocks of G (SIFA: 9)
    decoder_blocks: int = 4  # residual blocks of Dec (SIFA: 4; from a preset: half of n_blocks)
    ndf: int = 64  # width of the three discriminators (SIFA: 64)
    d_norm: str = "instance"  # their hidden-layer normalisation (SIFA: instance norm in D_t and D_s)
    lambda_cycle: float = 10.0  # each cycle term (SIFA's lambda_A = lambda_B = 10)
    image_loss_in_encoder: float = 0.1  # E minimises 0.1 x Dec's loss (SIFA's "0.1 * g_loss_B")
    lambda_adv_aux: float = 0.1  # E: D_ct's auxiliary head (SIFA)
    lambda_adv_seg: float = 0.1  # E and C: D_seg on MR class maps, after the warm-up (SIFA)
    warmup: tuple[float, float] = (0.2, 0.35)  # share of training where that weight rises from 0 (epochs 4-7 of 20)
    iterations: int = 20000  # training length the warm-up refers to (preset.iterations)
    pool_size: int = 50  # fakes kept for D_mr and D_ct (SIFA, from CycleGAN)
    lr: float = 2e-4  # every optimizer; SIFA's GAN learning rate, the paper's
    betas: tuple[float, float] = (0.5, 0.999)  # every optimizer; U uses them in every method here

    def __post_init__(self):
        start, end = self.warmup
        if not 0 <= start <= end <= 1:
            raise ValueError(f"warmup must be (start, end) with 0 <= start <= end <= 1, got {self.warmup}")
        if self.iterations < 1 or self.ngf < 1 or self.ndf < 1 or self.n_blocks < 0 or self.decoder_blocks < 0:
            raise ValueError(f"need iterations, ngf, ndf >= 1 and block counts >= 0; got iterations="
                             f"{self.iterations}, ngf={self.ngf}, ndf={self.ndf}, n_blocks={self.n_blocks}, "
                             f"decoder_blocks={self.decoder_blocks}")

    @classmethod
    def from_preset(cls, preset) -> "SIFAConfig":
        return cls(unet=UNetConfig.from_preset(preset), ngf=preset.ngf, n_blocks=preset.n_blocks,
                   decoder_blocks=max(1, preset.n_blocks // 2), ndf=preset.ndf, d_norm=preset.disc_norm, iterations=preset.iterations,
                   lr=preset.lr)


@register
class SIFA(Method):
    """M4: G, E/C (the U-Net), Dec and three discriminators, each network on its own loss."""

    name = "sifa"
    description = "M4 SIFA: CT->MR translation + shared encoder aligned in image, feature and output space"

    def __init__(self, config: SIFAConfig):
        super().__init__()
        self.config = config
        self.G = ResnetGenerator(1, 1, ngf=config.ngf, n_blocks=config.n_blocks)
        self.unet = config.unet.build()  # E (all but the head) and C (the head)
        # Dec: E's feature map (B, base, H, W) -> a CT-like image (B, 1, H, W) in [0, 1] (``ctl.nets.sifa``)
        self.decoder = ResnetGenerator(config.unet.base, 1, ngf=config.ngf, n_blocks=config.decoder_blocks)
        self.D_mr = PatchDiscriminator(1, ndf=config.ndf, norm=config.d_norm)
        self.D_ct = TwoHeadPatchDiscriminator(1, ndf=config.ndf, norm=config.d_norm)
        self.D_seg = PatchDiscriminator(config.unet.n_classes, ndf=config.ndf, norm=config.d_norm)
        self.pool_mr, self.pool_ct = ImagePool(config.pool_size), ImagePool(config.pool_size)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))  # for the warm-up; kept on resume

    @classmethod
    def from_preset(cls, preset) -> "SIFA":
        return cls(SIFAConfig.from_preset(preset))

    @property
    def segmenter(self) -> nn.Module:
        return self.unet

    @property
    def generator(self) -> nn.Module:
        return self.G

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [p for d in (self.D_mr, self.D_ct, self.D_seg) for p in d.parameters()]

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        lr, betas = self.config.lr, self.config.betas
        return {"generator": torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas),
                "decoder": torch.optim.Adam(self.decoder.parameters(), lr=lr, betas=betas),
                "segmenter": torch.optim.Adam(self.unet.parameters(), lr=lr, betas=betas),
                "discriminators": torch.optim.Adam(self.discriminator_parameters(), lr=lr, betas=betas)}

    def adv_seg_weight(self) -> float:
        """w(t): 0 before ``warmup[0]`` of training, ``lambda_adv_seg`` after ``warmup[1]``, linear between."""
        start, end = self.config.warmup
        progress = int(self.steps_done) / self.config.iterations
        ramp = (progress - start) / (end - start) if end > start else float(progress >= start)
        return self.config.lambda_adv_seg * min(max(ramp, 0.0), 1.0)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """G, Dec and E/C on their own losses from one forward pass, then the discriminators."""
        self._need_setup()
        cfg = self.config
        real_ct, ct_label, real_mr = batch["ct"], batch["ct_label"], batch["mr"]  # (B,1,H,W), (B,H,W), (B,1,H,W)
        n_mr = real_mr.shape[0]
        w_seg = self.adv_seg_weight()

        # --- one forward pass, discriminators frozen (they only pass gradients back) ------------------------
        with frozen(self.discriminator_parameters()), self.amp.autocast():
            fake_mr = self.G(real_ct)  # x^{s->t}
            feat_fake, feat_mr = self.unet.features(fake_mr), self.unet.features(real_mr)  # E(.)
            logits_fake, logits_mr = self.unet.head(feat_fake), self.unet.head(feat_mr)  # C(E(.)), (B, 5, H, W)
            # Dec on [E(x^t); E(x^{s->t})] -> [x^{t->s}; reconstructed CT] (instance norm: per image)
            fake_ct, rec_ct = self.decoder(torch.cat([feat_mr, feat_fake])).split([n_mr, real_ct.shape[0]])
            rec_mr = self.G(fake_ct)  # x^{t->s->t}
            d_fake_ct = self.D_ct(fake_ct)
            losses = {
                "gan_mr": lsgan_generator_loss(self.D_mr(fake_mr)),  # G: translated CT should pass as MR
                "gan_ct": lsgan_generator_loss(d_fake_ct["main"]),  # Dec: decoded MR should pass as CT
                "cycle_ct": cycle_l1(rec_ct, real_ct),  # CT -> G -> E -> Dec gives the CT back
                "cycle_mr": cycle_l1(rec_mr, real_mr),  # MR -> E -> Dec -> G gives the MR back
                "seg": segmentation_loss(logits_fake, ct_label),  # eq. 12 on the translated CT
                "adv_seg": lsgan_generator_loss(self.D_seg(logits_mr.softmax(dim=1))),  # MR maps like fake-MR maps
                "adv_aux": lsgan_generator_loss(d_fake_ct["aux"]),  # E(x^t) decodes like E(G(x^s))
            }
            cycle = cfg.lambda_cycle * (losses["cycle_ct"] + losses["cycle_mr"])
            # G's loss is gan_mr + cycle and Dec's gan_ct + cycle: one sum, as neither GAN term reaches the other
            image_loss = losses["gan_mr"] + losses["gan_ct"] + cycle
            encoder_loss = (losses["seg"] + cfg.image_loss_in_encoder * (losses["gan_ct"] + cycle)
                            + w_seg * losses["adv_seg"] + cfg.lambda_adv_aux * losses["adv_aux"])

        # --- G, Dec, then E/C: each optimizer gets the gradient of its own network's loss ---------------------
        opt_g, opt_dec, opt_s = (self.optimizers[k] for k in ("generator", "decoder", "segmenter"))
        for optimizer in (opt_g, opt_dec, opt_s):
            optimizer.zero_grad(set_to_none=True)
        self.amp.backward(image_loss, inputs=list(self.G.parameters()) + list(self.decoder.parameters()),
                          retain_graph=True)
        self.amp.backward(encoder_loss, inputs=list(self.unet.parameters()))
        for optimizer in (opt_g, opt_dec, opt_s):
            self.amp.step(optimizer)

        # --- discriminators (eq. 3) on the detached outputs of the forward pass ------------------------------
        opt_d = self.optimizers["discriminators"]
        opt_d.zero_grad(set_to_none=True)
        with self.amp.autocast():
            pooled_mr = self.pool_mr.query(fake_mr)
            d_fake, d_real = self.D_mr(torch.cat([pooled_mr, real_mr])).split([pooled_mr.shape[0], n_mr])
            d_losses = {"d_mr": lsgan_discriminator_loss(d_fake, d_real)}
            pooled_ct = self.pool_ct.query(fake_ct)
            scores = self.D_ct(torch.cat([pooled_ct, real_ct, rec_ct.detach()]))  # heads of (3B, 1, h, w)
            sizes = [pooled_ct.shape[0], real_ct.shape[0], rec_ct.shape[0]]
            (main_fake, main_real, _), (aux_fake, _, aux_real) = scores["main"].split(sizes), scores["aux"].split(sizes)
            # main head: real CT vs decoded MR; aux head: decoded translated CT ("real") vs decoded MR
            d_losses["d_ct"] = (lsgan_discriminator_loss(main_fake, main_real)
                                + lsgan_discriminator_loss(aux_fake, aux_real))
            # D_seg: maps of translated CT ("real": U learnt them with labels) vs maps of real MR
            maps = torch.cat([logits_mr.detach(), logits_fake.detach()]).softmax(dim=1)
            seg_fake, seg_real = self.D_seg(maps).split([n_mr, logits_fake.shape[0]])
            d_losses["d_seg"] = lsgan_discriminator_loss(seg_fake, seg_real)
            loss_d = d_losses["d_mr"] + d_losses["d_ct"] + d_losses["d_seg"]
        self.amp.backward(loss_d)
        self.amp.step(opt_d)

        self.steps_done += 1
        return as_floats({**losses, **d_losses})
