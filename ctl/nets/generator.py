"""The ResNet generator G of CUT/CycleGAN, with its encoder features by name (paper eq. 6-7 and 9-10).

G maps a slice x in [0, 1] to a slice of the other modality in [0, 1]. It has three parts:

    stem    7x7 conv, full resolution, ``ngf`` channels
    down1   3x3 conv with stride 2 -> 1/2 resolution, 2 * ngf channels
    down2   3x3 conv with stride 2 -> 1/4 resolution, 4 * ngf channels
    res0 .. res{n_blocks-1}   residual blocks at 1/4 resolution
    decoder two transposed convs back to full resolution, then a 7x7 conv and tanh

The encoder G_enc of the paper is stem .. res{n_blocks-1}. PatchNCE reads G_enc's features at a few chosen
layers ("nce_layers"); ``encode`` returns them as a dict keyed by layer name and stops at the deepest layer asked
for, so the decoder (and any encoder block past that layer) is never run for them. ``forward_with_features``
returns G(x) and the features of the same pass, so that an image that is translated anyway is not encoded again.

Layer names and what a "patch" at each is (receptive field, see ``ctl.nets.receptive_field``):
    "input"  the image itself (CUT's layer 0): one pixel
    "stem"   7 x 7 pixels;  "down1" 9 x 9;  "down2" 13 x 13;  "res{k}" 13 + 16 (k + 1) pixels (without anti-aliasing)

Normalisation is instance norm (per image and channel, no running statistics), padding is by reflection, as in
CUT. ``antialias=True`` replaces the strided convs by conv + blur pooling and the transposed convs by bilinear
upsampling + conv (Zhang 2019, "Making convolutional networks shift-invariant again"), which CUT uses by default.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as nnf

from ctl.nets.norms import InstanceNorm2d

INPUT_LAYER = "input"


def init_gan_weights(module: nn.Module, std: float = 0.02) -> None:
    """CycleGAN's initialisation: conv and linear weights from N(0, std^2), biases 0 (norms have no weights here).

    Used for G, D and F; the U-Net keeps PyTorch's default initialisation.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class BlurPool(nn.Module):
    """Anti-aliased down-sampling by 2: blur with the binomial filter [1, 2, 1]^T [1, 2, 1] / 16, keep every second
    pixel. Each channel is filtered on its own (depthwise conv); padding by reflection keeps the size H/2."""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16.0  # (3, 3), sums to 1
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone())  # (C, 1, 3, 3) depthwise
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        x = nnf.pad(x, (1, 1, 1, 1), mode="reflect")
        return nnf.conv2d(x, self.kernel, stride=2, groups=self.channels)


def _conv_block(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    """conv -> instance norm -> ReLU. Bias is kept, as in CUT (instance norm removes it anyway)."""
    return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding),
            InstanceNorm2d(c_out), nn.ReLU(inplace=True)]


def _down(c_in: int, c_out: int, antialias: bool) -> nn.Sequential:
    """Halve the resolution: strided 3x3 conv, or (anti-aliased) 3x3 conv at stride 1 then blur pooling."""
    if antialias:
        return nn.Sequential(*_conv_block(c_in, c_out, 3, padding=1), BlurPool(c_out))
    return nn.Sequential(*_conv_block(c_in, c_out, 3, stride=2, padding=1))


def _up(c_in: int, c_out: int, antialias: bool) -> nn.Sequential:
    """Double the resolution: transposed 3x3 conv, or (anti-aliased) bilinear x2 then a 3x3 conv.

    Bilinear x2 up-sampling is zero insertion followed by the triangle filter [1, 3, 3, 1] / 4, CUT's blur filter.
    """
    if antialias:
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                             *_conv_block(c_in, c_out, 3, padding=1))
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1),
                         InstanceNorm2d(c_out), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """x + conv-norm-ReLU-conv-norm(x), reflection padded: the size and width stay the same."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), *_conv_block(channels, channels, 3),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), InstanceNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """G: a slice in [0, 1] -> a slice in [0, 1] of the same size (CUT/CycleGAN "resnet_9blocks" at the defaults).

    The last layer is tanh; its output t in [-1, 1] is mapped to (t + 1) / 2 in [0, 1], so G's input and output
    share the package's convention. (The input is not rescaled to [-1, 1]: the first conv followed by instance
    norm removes any affine change of the input intensities.)

    Args:
        in_channels, out_channels: image channels (1 for CT and MR).
        ngf: width of the stem; down1 and down2 have 2x and 4x as many channels (reference: 64).
        n_blocks: residual blocks at 1/4 resolution (reference: 9 at 256 x 256).
        antialias: blur-pool down-sampling and bilinear up-sampling instead of strided convs (CUT's default).

    Input height and width must be divisible by 4 (two halvings and two doublings).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ngf: int = 64, n_blocks: int = 9,
                 antialias: bool = False):
        super().__init__()
        if ngf < 1 or n_blocks < 0:
            raise ValueError(f"ngf must be >= 1 and n_blocks >= 0, got ngf={ngf}, n_blocks={n_blocks}")
        self.n_blocks = n_blocks
        self.antialias = antialias
        stages = {
            "stem": nn.Sequential(nn.ReflectionPad2d(3), *_conv_block(in_channels, ngf, 7)),
            "down1": _down(ngf, 2 * ngf, antialias),
            "down2": _down(2 * ngf, 4 * ngf, antialias),
        }
        for k in range(n_blocks):
            stages[f"res{k}"] = ResidualBlock(4 * ngf)
        self.encoder = nn.ModuleDict(stages)  # insertion order is the order of computation
        self.decoder = nn.Sequential(
            _up(4 * ngf, 2 * ngf, antialias),
            _up(2 * ngf, ngf, antialias),
            nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh(),
        )
        init_gan_weights(self)

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Every name ``encode`` accepts, shallow to deep: "input", "stem", "down1", "down2", "res0", ..."""
        return (INPUT_LAYER, *self.encoder.keys())

    def feature_channels(self, layers) -> dict[str, int]:
        """Channels of each named feature (the input's channels for "input")."""
        self._check_layers(layers)
        in_channels = self.encoder["stem"][1].in_channels
        width = {INPUT_LAYER: in_channels, "stem": self.encoder["stem"][1].out_channels}
        width["down1"] = 2 * width["stem"]
        width.update({name: 4 * width["stem"] for name in self.layer_names[3:]})
        return {name: width[name] for name in layers}

    def _check_layers(self, layers) -> None:
        if isinstance(layers, str):
            raise TypeError(f"layers must be a list or tuple of names, got the string {layers!r}")
        unknown = [name for name in layers if name not in self.layer_names]
        if unknown:
            raise ValueError(f"unknown encoder layer(s) {unknown}; valid names for n_blocks={self.n_blocks} "
                             f"are {list(self.layer_names)}")

    def _check_size(self, x: Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"expected images of shape (B, C, H, W), got shape {tuple(x.shape)}")
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"height and width must be divisible by 4 (two down- and up-samplings), got "
                             f"{tuple(x.shape[-2:])}; pad or resample the slice")

    def encode(self, x: Tensor, layers) -> dict[str, Tensor]:
        """G_enc^l(x) for each name l in ``layers`` (eq. 6-7, 9-10), running the encoder only as far as needed.

        Args:
            x: images (B, C, H, W) in [0, 1].
            layers: names from ``layer_names``, in any order.
        Returns:
            {name: features (B, C_l, H_l, W_l)}, in the order of ``layers``.
        Raises:
            ValueError: for an unknown layer name (the message lists the valid ones) or a bad image size.
        """
        self._check_layers(layers)
        self._check_size(x)
        wanted = set(layers)
        found = {INPUT_LAYER: x} if INPUT_LAYER in wanted else {}
        feat = x
        for name, stage in self.encoder.items():
            if len(found) == len(wanted):
                break  # deeper stages are not needed
            feat = stage(feat)
            if name in wanted:
                found[name] = feat
        return {name: found[name] for name in layers}

    def forward_with_features(self, x: Tensor, layers) -> tuple[Tensor, dict[str, Tensor]]:
        """G(x) and G_enc^l(x) for the named layers, from one pass through the network."""
        self._check_layers(layers)
        self._check_size(x)
        wanted = set(layers)
        found = {INPUT_LAYER: x} if INPUT_LAYER in wanted else {}
        feat = x
        for name, stage in self.encoder.items():
            feat = stage(feat)
            if name in wanted:
                found[name] = feat
        t = self.decoder(feat)  # tanh output in [-1, 1]
        return (t + 1) / 2, {name: found[name] for name in layers}

    def forward(self, x: Tensor) -> Tensor:
        """G(x) in [0, 1], shape (B, out_channels, H, W)."""
        self._check_size(x)
        feat = x
        for stage in self.encoder.values():
            feat = stage(feat)
        return (self.decoder(feat) + 1) / 2
