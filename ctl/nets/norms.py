"""Normalisation layers whose output is float32, whatever precision the layer before them ran in.

Under mixed precision (``ctl.device.Amp``: bfloat16 on CUDA and on CPUs with native bfloat16 arithmetic, float16
on older GPUs) a convolution gives a half-precision map. With torch's own norm layers that map stays half
precision through the normalisation, the ReLU and, in the generator, the residual additions, so every activation
of the network carries only bfloat16's 3 significant digits and the errors add up block after block: at CUT's
settings (9 residual blocks) a training step's losses left float32's within 6 steps (the generator's LSGAN loss
49 against 0.8). These layers lift a half-precision input to float32 (``ctl.device.full_precision``), so only
the convolutions and matrix products run in half precision and everything between them stays float32; the same
6 steps then agree with float32 within 1-3 %. They are torch's layers otherwise: same arguments, parameters,
buffers and ``state_dict``; in float32 or float64 nothing changes.
"""
from __future__ import annotations

from torch import Tensor, nn

from ctl.device import full_precision


class InstanceNorm2d(nn.InstanceNorm2d):
    """``torch.nn.InstanceNorm2d`` with a float32 output (see the module docstring). Used by G and D."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(full_precision(x))


class BatchNorm2d(nn.BatchNorm2d):
    """``torch.nn.BatchNorm2d`` with a float32 output (see the module docstring). Used by the U-Net."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(full_precision(x))
