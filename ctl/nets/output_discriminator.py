"""AdaptSegNet's output-space discriminator (Tsai et al., CVPR 2018; used by ``ctl.methods.adaptseg``).

It judges segmentations, not images: its input is the segmenter's softmax map (B, K, H, W), and it tells maps
computed on source images (CT, where U was trained with labels) from maps computed on target images (MR).
Segmentations of both domains share a strong structure (organ shapes, layout), so matching their distributions
is a lower-dimensional task than matching features.

Fully convolutional, no normalisation (the class probabilities are not to be re-normalised per channel or per
image), LeakyReLU(0.2), 4 x 4 kernels, every conv at stride 2 and padding 1:

    conv (K -> ndf)      LeakyReLU(0.2)
    conv (ndf -> 2 ndf)  LeakyReLU(0.2)
    conv (2 ndf -> 4 ndf) LeakyReLU(0.2)
    conv (4 ndf -> 8 ndf) LeakyReLU(0.2)
    conv (8 ndf -> 1)    the logit map, 1/32 of the input size (a sigmoid gives "probability of source")

Reference: ndf = 64 (``ctl.methods.adaptseg`` takes the preset's ``ndf``), PyTorch's default initialisation.
Each halving is ``floor(size / 2)``, so the input side must be at least 32 pixels to leave one output pixel.
"""
from __future__ import annotations

from torch import Tensor, nn

from ctl.nets.discriminator import conv_output_size, smallest_input_size


class OutputDiscriminator(nn.Module):
    """D on class-probability maps: (B, n_classes, H, W) -> logits (B, 1, H', W') with H' about H / 32.

    Args:
        n_classes: channels of the input maps (5 here).
        ndf: width of the first conv (AdaptSegNet: 64); the next three double it.
        n_layers: hidden convs before the classifier conv (AdaptSegNet: 4).
    Raises:
        ValueError: for n_classes < 2, ndf < 1 or n_layers < 1.
    """

    def __init__(self, n_classes: int = 5, ndf: int = 64, n_layers: int = 4):
        super().__init__()
        if n_classes < 2 or ndf < 1 or n_layers < 1:
            raise ValueError(f"need n_classes >= 2, ndf >= 1, n_layers >= 1; got n_classes={n_classes}, "
                             f"ndf={ndf}, n_layers={n_layers}")
        self.n_classes = n_classes
        layers: list[nn.Module] = []
        width_in = n_classes
        for k in range(n_layers):
            width_out = ndf * 2 ** k
            layers += [nn.Conv2d(width_in, width_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            width_in = width_out
        layers.append(nn.Conv2d(width_in, 1, 4, stride=2, padding=1))  # the classifier, no activation
        self.model = nn.Sequential(*layers)

    def output_size(self, size: int) -> int:
        """Logit-map side for an input side of ``size`` pixels (0: too small)."""
        return conv_output_size(self.model, size)

    @property
    def min_input_size(self) -> int:
        """The smallest side that still gives one logit (32 at n_layers=4)."""
        return smallest_input_size(self.model)

    def forward(self, probs: Tensor) -> Tensor:
        if probs.dim() != 4 or probs.shape[1] != self.n_classes:
            raise ValueError(f"expected class maps (B, {self.n_classes}, H, W), got shape {tuple(probs.shape)}")
        if min(probs.shape[-2:]) < self.min_input_size:
            raise ValueError(f"maps of size {tuple(probs.shape[-2:])} are too small for this discriminator: "
                             f"need at least {self.min_input_size} pixels per side")
        return self.model(probs)
