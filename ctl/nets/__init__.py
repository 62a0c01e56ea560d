"""The networks of the paper: generator G (with named encoder features), PatchGAN discriminator D, projection
head F for PatchNCE, the U-Net segmenter U, the networks SIFA adds, and ``frozen`` (a network that passes
gradients but keeps none). Every network takes and gives images in [0, 1], (B, 1, H, W)."""
from ctl.nets.discriminator import PatchDiscriminator
from ctl.nets.freeze import frozen
from ctl.nets.generator import ResnetGenerator, init_gan_weights
from ctl.nets.projection import PatchProjector, gather_patches, sample_patch_ids
from ctl.nets.receptive_field import encoder_receptive_fields, receptive_field
from ctl.nets.unet import UNet
from ctl.nets.output_discriminator import OutputDiscriminator
from ctl.nets.sifa import TwoHeadPatchDiscriminator

__all__ = ["ResnetGenerator", "PatchDiscriminator", "PatchProjector", "UNet", "init_gan_weights",
           "gather_patches", "sample_patch_ids", "encoder_receptive_fields", "receptive_field", "OutputDiscriminator",
           "TwoHeadPatchDiscriminator", "frozen"]
