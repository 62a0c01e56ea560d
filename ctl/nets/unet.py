"""The 2D U-Net segmenter U (paper Sec. 2.4 and 3: "a 2D U-Net-like network"; Ronneberger et al. 2015).

    level 0   double conv, base channels, full resolution  ------------------------ skip ---+
    level 1   max-pool 2, double conv, 2 base                ----------- skip ---+          |
    ...                                                                          |          |
    level d   max-pool 2, double conv, 2^d base  (the bottleneck)                |          |
    up        transposed conv x2, concatenate the skip, double conv  <-----------+  ...  <--+
    head      1x1 conv to n_classes logits

A double conv is (3x3 conv, batch norm, ReLU) twice, padded so the size is kept. Every down-sampling halves the
size, so height and width must be divisible by 2^depth.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ctl.nets.norms import BatchNorm2d


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U: images (B, in_channels, H, W) in [0, 1] -> class logits (B, n_classes, H, W).

    Args:
        in_channels: image channels (1).
        n_classes: output classes (5: background, liver, right kidney, left kidney, spleen).
        base: channels at level 0; level k has base * 2^k.
        depth: number of max-pool halvings (the bottleneck is at 1 / 2^depth resolution).

    Raises (in forward):
        ValueError: when H or W is not divisible by 2^depth.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 5, base: int = 32, depth: int = 4):
        super().__init__()
        if depth < 1 or base < 1 or n_classes < 2:
            raise ValueError(f"need depth >= 1, base >= 1, n_classes >= 2; got depth={depth}, base={base}, "
                             f"n_classes={n_classes}")
        self.depth = depth
        self.n_classes = n_classes
        widths = [base * 2 ** k for k in range(depth + 1)]
        self.down = nn.ModuleList([_double_conv(in_channels, widths[0])])
        self.down.extend(_double_conv(widths[k - 1], widths[k]) for k in range(1, depth + 1))
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(widths[k], widths[k - 1], 2, stride=2)
                                      for k in range(depth, 0, -1))
        self.up = nn.ModuleList(_double_conv(2 * widths[k - 1], widths[k - 1]) for k in range(depth, 0, -1))
        self.head = nn.Conv2d(widths[0], n_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (B, n_classes, H, W): the 1 x 1 head on ``features(x)``."""
        return self.head(self.features(x))

    def features(self, x: Tensor) -> Tensor:
        """The last feature map before the head, (B, base, H, W) (SIFA's encoder output E(x) uses it)."""
        if x.dim() != 4:
            raise ValueError(f"expected images of shape (B, C, H, W), got shape {tuple(x.shape)}")
        multiple = 2 ** self.depth
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(f"U-Net of depth {self.depth} needs height and width divisible by {multiple}, got "
                             f"{tuple(x.shape[-2:])}; pad or resample the slices, or lower the depth")
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()  # the bottleneck, (B, base * 2^depth, H / 2^depth, W / 2^depth)
        for upsample, block in zip(self.upsample, self.up):
            x = block(torch.cat([upsample(x), skips.pop()], dim=1))  # (B, 2 * width, h, w) -> (B, width, h, w)
        return x  # (B, base, H, W)
