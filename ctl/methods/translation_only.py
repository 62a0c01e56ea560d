"""``lsgan`` and ``cut``: CT -> MR translation alone, no segmenter (notebook 02). Not rows of Table 1.

Notebook 02 trains the paper's translation part on its own, twice, to show what PatchNCE adds to the
least-squares GAN:

- ``lsgan``: G and D on L_gen (eq. 2) and L_dis (eq. 3) only (``lambda_nce=0``): G may produce anything D
  accepts as MR;
- ``cut``: LSGAN plus L^S_PatchNCE + L^T_PatchNCE (eq. 4-11) with the preset's PatchNCE settings, as in CUT
  and the translation part of the paper's eq. 1.

Both are ``ctl.translate.Translator`` (G, D, F) trained by ``ctl.translate.translation_step`` (D first, then G
and F, as CUT) with Adam at the preset's learning rate and CUT's betas (0.5, 0.999). They go through the same
training loop as every method (``ctl.training``: seeding, data order, augmentation, learning-rate schedule,
checkpoints, resume, history), so from the same seed both start from the same G and D and see the same batches.

They have no segmenter (``segmenter`` raises), so they are not rows of Table 1 (``in_table1 = False``);
``translate(ct)`` gives G(ct).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ctl.methods.base import TARGET_IMAGE_KEYS, Method, as_floats, register
from ctl.translate import TranslationConfig, Translator, translation_step


@dataclass(frozen=True)
class TranslationOnlyConfig:
    """Settings of a translator trained alone."""

    translation: TranslationConfig  # G, D, F sizes and the weights of L_gen and L_PatchNCE
    lr: float = 2e-4  # the paper: both Adam optimizers start at 0.0002
    betas: tuple[float, float] = (0.5, 0.999)  # CUT's Adam betas, for both optimizers


class TranslationOnly(Method):
    """G, D, F (``ctl.translate.Translator``) trained on eq. 2-3 (and 4-11 when PatchNCE is on), no U."""

    in_table1 = False
    batch_keys = ("ct",) + TARGET_IMAGE_KEYS  # CT and MR images: no label of either domain is read
    translation_changes: ClassVar[dict[str, Any]] = {}  # how this method's TranslationConfig departs from the preset

    def __init__(self, config: TranslationOnlyConfig):
        super().__init__()
        self.config = config
        self.translator = Translator(config.translation)  # G, D, F

    @classmethod
    def from_preset(cls, preset) -> "TranslationOnly":
        translation = TranslationConfig.from_preset(preset, **cls.translation_changes)
        return cls(TranslationOnlyConfig(translation=translation, lr=preset.lr))

    @property
    def segmenter(self) -> nn.Module:
        raise TypeError(f"{self.name!r} trains a CT -> MR translator only: it has no segmenter and is not a row of "
                        f"Table 1; use translate(ct)")

    @property
    def generator(self) -> nn.Module:
        return self.translator.G

    def setup(self, batch: dict[str, torch.Tensor]) -> None:
        # F's MLPs take their input widths from G's encoder features of a first CT batch (no F without PatchNCE)
        self.translator.build_projection(batch["ct"])
        super().setup(batch)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        lr, betas = self.config.lr, self.config.betas
        return {"discriminator": torch.optim.Adam(self.translator.discriminator_parameters(), lr=lr, betas=betas),
                "generator": torch.optim.Adam(self.translator.generator_parameters(), lr=lr, betas=betas)}

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One CUT iteration (``translation_step``): D on eq. 3, then G and F on eq. 2 (+ eq. 4-11)."""
        self._need_setup()
        losses = translation_step(self.translator, self.optimizers["generator"], self.optimizers["discriminator"],
                                  batch["ct"], batch["mr"], self.amp)
        return as_floats(losses)


@register
class LSGANOnly(TranslationOnly):
    """G and D on the least-squares GAN losses alone (eq. 2-3)."""

    name = "lsgan"
    description = "translation only (notebook 02): CT->MR with LSGAN alone (eq. 2-3); no segmenter"
    translation_changes = {"lambda_nce": 0.0, "nce_identity": False}


@register
class CUTOnly(TranslationOnly):
    """G, D and F on LSGAN + PatchNCE (eq. 2-11), CUT's translation."""

    name = "cut"
    description = "translation only (notebook 02): CT->MR with LSGAN + PatchNCE (eq. 2-11, CUT); no segmenter"
