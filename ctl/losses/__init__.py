"""The paper's losses, each next to its equation: LSGAN (eq. 2-3), InfoNCE / PatchNCE (eq. 4-11), weighted
cross-entropy, Dice and the segmentation loss (eq. 12-14)."""
from ctl.losses.adversarial import lsgan_discriminator_loss, lsgan_generator_loss
from ctl.losses.contrastive import info_nce, multilayer_patch_nce, patch_nce
from ctl.losses.segmentation import class_weights, dice_loss, segmentation_loss, weighted_cross_entropy

__all__ = ["lsgan_generator_loss", "lsgan_discriminator_loss", "info_nce", "patch_nce", "multilayer_patch_nce",
           "weighted_cross_entropy", "dice_loss", "segmentation_loss", "class_weights"]
