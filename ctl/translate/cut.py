"""CT -> MR translation as in CUT: G, D and F, their losses (paper eq. 2-11) and one training step.

Symbols and variable names:
    x^s       ``real_ct``   CT slices (B, 1, H, W) in [0, 1]
    x^t       ``real_mr``   MR slices (B, 1, H, W) in [0, 1], unpaired with the CT
    x^{s->t}  ``fake_mr``   G(x^s), the translated CT
    G(x^t)    ``idt_mr``    G applied to real MR: the paper's x^{t->s} in eq. 4 and 8 (CUT's identity NCE)

Losses of the generator side (``Translator.generator_losses``):
    "gan"         L_gen (eq. 2)                         D should score G(x^s) as real MR
    "nce_source"  L^S_PatchNCE(x^s, G(x^s)) (eq. 5)      translated patches should match their own CT patch
    "nce_target"  L^T_PatchNCE(x^t, G(x^t)) (eq. 8)      on real MR, G should change nothing patch-wise
    "total"       lambda_gan * gan + lambda_nce * (nce_source + nce_target)    (eq. 1 and 4, without L_seg)
The discriminator's loss is L_dis (eq. 3). CUT averages its two NCE terms (weight 0.5 each) and halves L_dis;
the paper's eq. 1 and 4 add them, which is what is done here (set lambda_nce=0.5 for CUT's weighting).

Work saved compared with a direct reading of the equations (and with CUT's own code): G runs once on the batch
[x^s; x^t] and that same pass gives the key features G_enc(x^s), G_enc(x^t) (``Translator.generate``), so only
the translations [G(x^s); G(x^t)] are encoded again, once, and only as far as the deepest NCE layer; D's
parameters get no gradients in the generator step; the keys are embedded by F without building a graph.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from ctl.device import Amp
from ctl.losses import lsgan_discriminator_loss, lsgan_generator_loss, multilayer_patch_nce
from ctl.nets import PatchDiscriminator, PatchProjector, ResnetGenerator, frozen
from ctl.nets.generator import INPUT_LAYER


def valid_layer_names(n_blocks: int) -> tuple[str, ...]:
    """The encoder layer names of a generator with ``n_blocks`` residual blocks (see ``ctl.nets.generator``)."""
    return (INPUT_LAYER, "stem", "down1", "down2", *(f"res{k}" for k in range(n_blocks)))


@dataclass(frozen=True)
class TranslationConfig:
    """Sizes and loss weights of the translator. The defaults are CUT's reference settings."""

    ngf: int = 64  # generator width (CUT/CycleGAN reference)
    n_blocks: int = 9  # residual blocks; CUT uses 9 at 256 x 256
    ndf: int = 64  # discriminator width (70 x 70 PatchGAN reference)
    d_norm: str = "instance"  # D's hidden-layer normalisation (CUT: instance; see ctl.nets.discriminator)
    nce_layers: tuple[str, ...] = ("input", "stem", "down1", "res0", "res4")  # 5 layers shallow to deep, like CUT's
    num_patches: int = 256  # patches per layer and image (CUT)
    tau: float = 0.07  # InfoNCE temperature (CUT, from MoCo/SimCLR practice)
    mlp_width: int = 256  # hidden and output width of F (CUT)
    lambda_gan: float = 1.0  # weight of L_gen (CUT)
    lambda_nce: float = 1.0  # weight of each PatchNCE term; 0 trains LSGAN alone (method "lsgan", notebook 02)
    nce_identity: bool = True  # add eq. 8 on G(x^t) (CUT's default; the paper's eq. 4 has it)
    antialias: bool = False  # blur-pool sampling in G (CUT's default is on; off is faster on CPU)

    def __post_init__(self):
        if self.ngf < 1 or self.ndf < 1 or self.n_blocks < 0:
            raise ValueError(f"need ngf, ndf >= 1 and n_blocks >= 0; got ngf={self.ngf}, ndf={self.ndf}, "
                             f"n_blocks={self.n_blocks}")
        if self.lambda_gan < 0 or self.lambda_nce < 0:
            raise ValueError(f"loss weights must be >= 0; got lambda_gan={self.lambda_gan}, "
                             f"lambda_nce={self.lambda_nce}")
        if not isinstance(self.nce_layers, tuple):
            object.__setattr__(self, "nce_layers", tuple(self.nce_layers))  # lists are accepted, stored as tuple
        if self.lambda_nce == 0:
            if self.nce_identity:
                warnings.warn("nce_identity=True has no effect with lambda_nce=0 (no PatchNCE term is computed)",
                              stacklevel=3)
            return
        valid = valid_layer_names(self.n_blocks)
        unknown = [name for name in self.nce_layers if name not in valid]
        if unknown or not self.nce_layers or len(set(self.nce_layers)) != len(self.nce_layers):
            raise ValueError(f"nce_layers={self.nce_layers} must be distinct names from {list(valid)} "
                             f"(n_blocks={self.n_blocks}); unknown: {unknown}")
        if self.num_patches < 2:
            raise ValueError(f"num_patches must be >= 2 (the other patches are the negatives), got {self.num_patches}")
        if not self.tau > 0:
            raise ValueError(f"tau must be > 0, got {self.tau}")

    @classmethod
    def from_preset(cls, preset, **changes) -> "TranslationConfig":
        """The sizes of a ``ctl.presets.Preset``; ``changes`` override any field (e.g. ``lambda_nce=0``)."""
        values = dict(ngf=preset.ngf, n_blocks=preset.n_blocks, ndf=preset.ndf, d_norm=preset.disc_norm, nce_layers=tuple(preset.nce_layers),
                      num_patches=preset.num_patches, tau=preset.nce_tau, mlp_width=preset.mlp_width)
        names = {f.name for f in fields(cls)}
        bad = [k for k in changes if k not in names]
        if bad:
            raise ValueError(f"unknown TranslationConfig field(s) {bad}; fields are {sorted(names)}")
        return cls(**{**values, **changes})


@dataclass
class GeneratorPass:
    """What one pass of G over [x^s; x^t] gives (``Translator.generate``)."""

    fake_mr: Tensor  # G(x^s), (B, 1, H, W) in [0, 1], with gradient
    idt_mr: Tensor | None  # G(x^t), (B_t, 1, H, W), with gradient; None without the identity term
    keys: dict[str, Tensor] | None  # G_enc^l of [x^s; x^t] (or of x^s alone), detached; None without PatchNCE


class Translator(nn.Module):
    """G (ResNet generator), D (PatchGAN) and F (projection head) with the losses of eq. 2-11.

    Build F with ``build_projection(first_ct_batch)`` before creating the optimizer of ``generator_parameters()``.
    """

    def __init__(self, config: TranslationConfig):
        super().__init__()
        self.config = config
        self.G = ResnetGenerator(1, 1, ngf=config.ngf, n_blocks=config.n_blocks, antialias=config.antialias)
        self.D = PatchDiscriminator(1, ndf=config.ndf, n_layers=3, norm=config.d_norm)
        self.F = PatchProjector(mlp_width=config.mlp_width)

    @property
    def uses_nce(self) -> bool:
        return self.config.lambda_nce > 0

    @property
    def uses_identity(self) -> bool:
        return self.uses_nce and self.config.nce_identity

    def translate(self, x: Tensor) -> Tensor:
        """x^{s->t} = G(x): (B, 1, H, W) in [0, 1] -> (B, 1, H, W) in [0, 1]."""
        return self.G(x)

    def build_projection(self, real_ct: Tensor) -> None:
        """Create F's MLPs from G's encoder features of a first CT batch (CUT's data-dependent initialisation)."""
        if not self.uses_nce:
            return
        with torch.no_grad():
            feats = self.G.encode(real_ct, self.config.nce_layers)
        weight = next(self.G.parameters())  # F lives on G's device, in G's dtype
        self.F.build({name: f.shape[1] for name, f in feats.items()}, device=weight.device, dtype=weight.dtype)

    def generator_parameters(self) -> list[nn.Parameter]:
        """G's and F's parameters (one Adam in CUT and the paper). Raises if F has not been built yet."""
        if self.uses_nce and set(self.F.layers) != set(self.config.nce_layers):
            raise RuntimeError("F has not been built for the NCE layers yet: call build_projection(real_ct) with a "
                               "first CT batch before creating the generator optimizer, or F will not be trained")
        return list(self.G.parameters()) + list(self.F.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.D.parameters())

    def generate(self, real_ct: Tensor, real_mr: Tensor) -> GeneratorPass:
        """G on [x^s; x^t] in one pass (x^s alone without the identity term), keeping the key features.

        Pass the result to ``generator_losses(..., generated=...)`` to avoid encoding x^s and x^t again.
        """
        images = torch.cat([real_ct, real_mr]) if self.uses_identity else real_ct  # (B + B_t, 1, H, W)
        if self.uses_nce:
            out, feats = self.G.forward_with_features(images, self.config.nce_layers)
            keys = {name: f.detach() for name, f in feats.items()}  # the keys carry no gradient
        else:
            out, keys = self.G(images), None
        n_ct = real_ct.shape[0]
        return GeneratorPass(fake_mr=out[:n_ct], idt_mr=out[n_ct:] if self.uses_identity else None, keys=keys)

    def discriminator_loss(self, fake_mr: Tensor, real_mr: Tensor) -> Tensor:
        """L_dis (eq. 3) on D(G(x^s)) and D(x^t). ``fake_mr`` is detached: this loss trains D only."""
        if fake_mr.shape[1:] != real_mr.shape[1:]:
            raise ValueError(f"fake_mr {tuple(fake_mr.shape)} and real_mr {tuple(real_mr.shape)} must have the "
                             "same channels and size")
        # one D pass over both batches; instance norm works per image, so this equals two separate passes
        scores = self.D(torch.cat([fake_mr.detach(), real_mr]))  # (B + B_t, 1, H', W')
        d_fake, d_real = scores.split([fake_mr.shape[0], real_mr.shape[0]])
        return lsgan_discriminator_loss(d_fake, d_real)

    def generator_losses(self, real_ct: Tensor, fake_mr: Tensor, real_mr: Tensor,
                         generated: GeneratorPass | None = None) -> dict[str, Tensor]:
        """L_gen (eq. 2) and PatchNCE (eq. 4-11) for G and F; keys listed in the module docstring.

        Args:
            real_ct: x^s (B, 1, H, W).
            fake_mr: G(x^s), with its graph (from ``translate`` or ``generate``).
            real_mr: x^t (B_t, 1, H, W).
            generated: the ``generate`` pass that produced ``fake_mr``; without it, G(x^t) and the key features
                are computed here (same values, more work).
        Returns:
            {"gan", "nce_source", "nce_target", "total"} as scalar tensors; "nce_target" only with the identity
            term, neither NCE key when lambda_nce is 0.
        """
        cfg = self.config
        # L_gen (eq. 2): (D(G(x^s)) - 1)^2
        losses = {"gan": lsgan_generator_loss(self.D(fake_mr))}
        total = cfg.lambda_gan * losses["gan"]
        if not self.uses_nce:
            losses["total"] = total
            return losses
        if generated is None:
            idt_mr = self.G(real_mr) if self.uses_identity else None  # G(x^t)
            sources = torch.cat([real_ct, real_mr]) if self.uses_identity else real_ct
            with torch.no_grad():
                keys = self.G.encode(sources, cfg.nce_layers)
        else:
            if generated.fake_mr is not fake_mr:
                raise ValueError("fake_mr must be the fake_mr of the GeneratorPass given as `generated`")
            idt_mr, keys = generated.idt_mr, generated.keys
        n_ct = real_ct.shape[0]
        # queries: G_enc^l of the translations [G(x^s); G(x^t)], aligned with the keys [x^s; x^t]
        translations = torch.cat([fake_mr, idt_mr]) if self.uses_identity else fake_mr
        query_feats = self.G.encode(translations, cfg.nce_layers)
        with torch.no_grad():  # u_l, v_l (eq. 6, 9): F on the keys, drawing the S positions of each layer
            key_emb, patch_ids = self.F(keys, cfg.num_patches)
        # u-hat_l, v-hat_l (eq. 7, 10): F on the queries at the same positions
        query_emb, _ = self.F(query_feats, cfg.num_patches, patch_ids=patch_ids)
        # L^S_PatchNCE(x^s, G(x^s)) (eq. 5): the first n_ct images of each batch
        losses["nce_source"] = multilayer_patch_nce({k: v[:n_ct] for k, v in query_emb.items()},
                                                    {k: v[:n_ct] for k, v in key_emb.items()}, cfg.tau)
        nce = losses["nce_source"]
        if self.uses_identity:
            # L^T_PatchNCE(x^t, G(x^t)) (eq. 8): the remaining images
            losses["nce_target"] = multilayer_patch_nce({k: v[n_ct:] for k, v in query_emb.items()},
                                                        {k: v[n_ct:] for k, v in key_emb.items()}, cfg.tau)
            nce = nce + losses["nce_target"]
        losses["total"] = total + cfg.lambda_nce * nce
        return losses


def translation_step(translator: Translator, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                     real_ct: Tensor, real_mr: Tensor, amp: Amp | None = None) -> dict[str, Tensor]:
    """One CUT iteration: a D step on L_dis (eq. 3), then a G and F step on L_gen + PatchNCE (eq. 2, 4-11).

    The training step of the translation-only methods (``ctl.methods.translation_only``, notebook 02).

    Args:
        translator: G, D, F (F built, see ``Translator.build_projection``).
        opt_g: optimizer over ``translator.generator_parameters()``.
        opt_d: optimizer over ``translator.discriminator_parameters()``.
        real_ct, real_mr: x^s and x^t, (B, 1, H, W) in [0, 1], on the translator's device.
        amp: the method's mixed-precision switch (``ctl.device.Amp``); None: plain float32.
    Returns:
        {"d": L_dis, "gan", "nce_source", "nce_target" (as computed), "total"}, detached, before the updates.
    """
    amp = amp or Amp()
    with amp.autocast():
        generated = translator.generate(real_ct, real_mr)  # G(x^s), G(x^t) and the key features, one pass

    # D step (eq. 3): G(x^s) is detached inside discriminator_loss, so only D gets gradients
    opt_d.zero_grad(set_to_none=True)
    with amp.autocast():
        loss_d = translator.discriminator_loss(generated.fake_mr, real_mr)
    amp.backward(loss_d)
    amp.step(opt_d)

    # G and F step (eq. 2, 5, 8) against the updated D, whose own parameters get no gradient
    opt_g.zero_grad(set_to_none=True)
    with frozen(translator.discriminator_parameters()), amp.autocast():
        losses = translator.generator_losses(real_ct, generated.fake_mr, real_mr, generated=generated)
    amp.backward(losses["total"])
    amp.step(opt_g)
    return {k: v.detach() for k, v in {"d": loss_d, **losses}.items()}
