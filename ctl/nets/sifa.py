"""The networks SIFA adds to the shared ones (Chen, Dou, Chen, Qin and Heng, IEEE TMI 2020; used by
``ctl.methods.sifa``).

SIFA splits its segmenter into a shared encoder E and a pixel classifier C, and hangs an image decoder on E:

    E : image -> features          here the shared U-Net without its last 1 x 1 conv (``UNet.features``)
    C : features -> class logits   here that 1 x 1 conv (``unet.head``), so C(E(x)) is exactly U(x)
    Dec : features -> CT-like image  a ResNet generator whose input is E's feature map instead of an image
                                     (``ResnetGenerator(in_channels=base, out_channels=1, ...)``): 7 x 7 conv,
                                     two halvings, residual blocks, two doublings, 7 x 7 conv, tanh to [0, 1]

so that the segmenter tested at the end is the same U-Net, with the same size, as in every other method. E's
output here is the U-Net's last, full-resolution feature map (``base`` channels); SIFA's E ends at 1/8
resolution with 512 channels and C up-samples its 1 x 1 conv bilinearly. Both C and Dec read that one map, as in
SIFA, so aligning what Dec makes of E(fake MR) and E(real MR) aligns the features C reads. (SIFA's decoder: a
3 x 3 conv, 4 residual blocks and three transposed convs from E's 1/8-resolution output.)

SIFA's source discriminator D_s has two heads on one body: the main head tells real CT from decoded MR
(x^{t->s} = Dec(E(x^t))); the auxiliary head tells CT decoded from translated CT (Dec(E(G(x^s)))) from decoded
MR, which pushes E to encode real and fake MR alike (``TwoHeadPatchDiscriminator``).
"""
from __future__ import annotations

from torch import Tensor, nn

from ctl.nets.discriminator import PatchDiscriminator
from ctl.nets.generator import init_gan_weights


class TwoHeadPatchDiscriminator(nn.Module):
    """SIFA's D_s: a PatchGAN body with two 1-channel score heads, {"main": (B,1,h,w), "aux": (B,1,h,w)}.

    The body is ``PatchDiscriminator``'s layers up to its last conv; the last conv gives 2 channels instead of 1
    (channel 0 the main head, channel 1 the auxiliary one), as in SIFA's ``discriminator_aux``.
    """

    def __init__(self, in_channels: int = 1, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        reference = PatchDiscriminator(in_channels, ndf=ndf, n_layers=n_layers, norm=norm)
        self.min_input_size = reference.min_input_size
        layers = list(reference.model)
        last = layers[-1]
        self.body = nn.Sequential(*layers[:-1])
        self.heads = nn.Conv2d(last.in_channels, 2, kernel_size=4, stride=1, padding=1)
        init_gan_weights(self.heads)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if x.dim() != 4:
            raise ValueError(f"expected images of shape (B, C, H, W), got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.min_input_size:
            raise ValueError(f"images of size {tuple(x.shape[-2:])} are too small for this PatchGAN: need at "
                             f"least {self.min_input_size} pixels per side")
        scores = self.heads(self.body(x))  # (B, 2, h, w)
        return {"main": scores[:, :1], "aux": scores[:, 1:]}
