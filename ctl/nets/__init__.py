"""The networks of the paper: generator G (with named encoder features), PatchGAN discriminator D, projection
head F for PatchNCE, and the U-Net segmenter U. Every network takes and gives images in [0, 1], (B, 1, H, W)."""
from ctl.nets.discriminator import PatchDiscriminator
from ctl.nets.generator import ResnetGenerator, init_gan_weights
from ctl.nets.projection import PatchProjector, gather_patches, sample_patch_ids
from ctl.nets.receptive_field import encoder_receptive_fields, receptive_field
from ctl.nets.unet import UNet
from ctl.nets.output_discriminator import OutputDiscriminator
from ctl.nets.sifa import TwoHeadPatchDiscriminator, feature_decoder, unet_features

__all__ = ["ResnetGenerator", "PatchDiscriminator", "PatchProjector", "UNet", "init_gan_weights",
           "gather_patches", "sample_patch_ids", "encoder_receptive_fields", "receptive_field", "OutputDiscriminator",
           "TwoHeadPatchDiscriminator", "feature_decoder", "unet_features"]
