"""The PatchGAN discriminator D of pix2pix/CycleGAN/CUT (used by eq. 2-3).

D does not give one score per image but a map of scores, one per overlapping patch: each output pixel sees only a
square of the input (its receptive field, 70 x 70 pixels at the default ``n_layers=3``) and says whether that
patch looks like real MR. Judging local texture rather than the whole slice suits translation: the global layout
should come from the source image, only the local appearance from the target domain.

Layers (k = 4 x 4 kernels everywhere):

    conv k s2 (ndf)                      LeakyReLU(0.2)        no norm on the first layer
    conv k s2 (2 ndf), ..., n_layers-1 times, width doubling up to 8 ndf, each with instance norm + LeakyReLU
    conv k s1 (min(2^n_layers, 8) ndf)   instance norm + LeakyReLU
    conv k s1 (1)                        the score map, no activation (least-squares GAN, eq. 2-3)

Receptive field at n_layers=3: 1 + 3 * (1 + 2 + 4 + 8 + 8) = 70 pixels (see ``ctl.nets.receptive_field``).

**Normalisation** (``norm``). CUT and CycleGAN normalise D's hidden layers per image ("instance"). That makes D
blind to the overall brightness and contrast of an image: instance norm removes each channel's mean and scale, so
a translation that is everywhere too dark, but has the right edges, scores like a real MR slice (up to the small
effect of the LeakyReLU). With few iterations G finds that blind spot: at the ``cpu`` preset its translations came
out dark with a few bright spots. ``norm="none"`` leaves the hidden layers unnormalised (as AdaptSegNet's D), so D
also judges intensities, and G has to get MR's tissue brightness right.
"""
from __future__ import annotations

from torch import Tensor, nn

from ctl.nets.generator import init_gan_weights
from ctl.nets.norms import InstanceNorm2d

NORMS = ("instance", "none")


class PatchDiscriminator(nn.Module):
    """D: images (B, C, H, W) in [0, 1] -> patch scores (B, 1, H', W'), real MR pushed towards 1, fakes towards 0.

    Args:
        in_channels: image channels (1).
        ndf: width of the first layer (reference: 64).
        n_layers: number of stride-2 convs; 3 gives the 70 x 70 PatchGAN.
        norm: "instance" (CUT, CycleGAN) or "none" (see the module docstring).

    The input must be large enough that the last conv still has an output pixel (24 x 24 at n_layers=3).
    """

    def __init__(self, in_channels: int = 1, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        if n_layers < 1 or ndf < 1:
            raise ValueError(f"need n_layers >= 1 and ndf >= 1, got n_layers={n_layers}, ndf={ndf}")
        if norm not in NORMS:
            raise ValueError(f"norm={norm!r}; choose one of {NORMS}")
        self.n_layers = n_layers
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            stride = 2 if n < n_layers else 1  # the last of these keeps the resolution
            out = ndf * min(2 ** n, 8)
            layers += [nn.Conv2d(width, out, 4, stride=stride, padding=1),
                       InstanceNorm2d(out) if norm == "instance" else nn.Identity(),
                       nn.LeakyReLU(0.2, True)]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        init_gan_weights(self)

    def output_size(self, size: int) -> int:
        """Score-map side length for an input side of ``size`` pixels (0: too small)."""
        return conv_output_size(self.model, size)

    @property
    def min_input_size(self) -> int:
        """The smallest side length that still yields a score map (24 at n_layers=3)."""
        return smallest_input_size(self.model)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected images of shape (B, C, H, W), got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.min_input_size:
            raise ValueError(f"images of size {tuple(x.shape[-2:])} are too small for a PatchGAN with "
                             f"n_layers={self.n_layers}: need at least {self.min_input_size} pixels per side")
        return self.model(x)


def conv_output_size(model: nn.Sequential, size: int) -> int:
    """Side length after the convolutions of ``model`` for an input side of ``size`` (0 when too small):
    (size + 2 * padding - kernel) // stride + 1 per conv."""
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            size = (size + 2 * layer.padding[0] - layer.kernel_size[0]) // layer.stride[0] + 1
            if size < 1:
                return 0
    return size


def smallest_input_size(model: nn.Sequential) -> int:
    """The smallest input side for which ``model``'s convolutions still give an output of at least 1 x 1."""
    size = 1
    while conv_output_size(model, size) < 1:
        size += 1
    return size
