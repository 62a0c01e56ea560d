"""How large is a "patch"? Receptive fields of the generator's encoder layers and of the PatchGAN discriminator.

A feature at encoder layer l (or one score of D) depends on a square of input pixels, its receptive field. For a
chain of convolutions with kernel k_i and stride s_i the side length is

    r = 1 + sum_i (k_i - 1) * prod_{j < i} s_j,

and neighbouring outputs are ``prod_i s_i`` input pixels apart (the "jump"). Paddings do not change r; a
residual block's field is that of its conv branch (the skip branch sees less). Notebook 03 draws these squares on
a slice; the tests check the formula against gradients (``empirical_receptive_field``).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from ctl.nets.generator import INPUT_LAYER, BlurPool, ResnetGenerator

_NORMS = (nn.InstanceNorm2d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


def _kernel_and_stride(module: nn.Module) -> tuple[int, int] | None:
    if isinstance(module, nn.Conv2d):
        if module.kernel_size[0] != module.kernel_size[1] or module.stride[0] != module.stride[1]:
            raise ValueError(f"only square kernels and strides are handled, got {module}")
        return (module.kernel_size[0] - 1) * module.dilation[0] + 1, module.stride[0]
    if isinstance(module, BlurPool):
        return 3, 2
    if isinstance(module, (nn.ConvTranspose2d, nn.Upsample)):
        raise ValueError("receptive fields are computed for encoders (convs and poolings), not for up-sampling")
    return None


def receptive_field(modules: Iterable[nn.Module], start: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """(receptive field side, jump) in input pixels after the convs and blur pools found in ``modules``, in order.

    ``start`` is (field, jump) of the input to the first module, so chains can be continued stage by stage.
    """
    field, jump = start
    for module in modules:
        for m in module.modules():
            ks = _kernel_and_stride(m)
            if ks is not None:
                kernel, stride = ks
                field += (kernel - 1) * jump
                jump *= stride
    return field, jump


def encoder_receptive_fields(generator: ResnetGenerator) -> dict[str, tuple[int, int]]:
    """{layer name: (receptive field side, jump)} for every layer ``generator.encode`` accepts."""
    fields = {INPUT_LAYER: (1, 1)}
    current = (1, 1)
    for name, stage in generator.encoder.items():
        current = receptive_field([stage], start=current)
        fields[name] = current
    return fields


def without_norms(module: nn.Module) -> nn.Module:
    """A deep copy with every normalisation layer replaced by the identity.

    Instance norm divides by statistics of the whole image, which makes every output depend (a little) on every
    input pixel; the receptive field of the conv chain is what is meant by a patch, so it is measured without them.
    """
    clone = copy.deepcopy(module)
    for parent in clone.modules():
        for name, child in parent.named_children():
            if isinstance(child, _NORMS):
                setattr(parent, name, nn.Identity())
    return clone


def empirical_receptive_field(net: Callable[[Tensor], Tensor], size: int, in_channels: int = 1) -> int:
    """Side of the square of input pixels that the centre output pixel depends on, measured by its gradient.

    ``net`` must be free of normalisation layers (see ``without_norms``) and should have positive weights so that
    no ReLU hides part of the field; ``positive_weights`` prepares such a copy. ``size`` must exceed the field.
    """
    x = torch.ones(1, in_channels, size, size, requires_grad=True)
    out = net(x)
    if out.dim() != 4:
        raise ValueError(f"net must return (B, C, H, W), got shape {tuple(out.shape)}")
    out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()
    touched = x.grad[0].abs().sum(0) > 0  # (size, size)
    rows = touched.any(1).nonzero()
    cols = touched.any(0).nonzero()
    height = int(rows.max() - rows.min() + 1)
    width = int(cols.max() - cols.min() + 1)
    if height != width:
        raise ValueError(f"the measured field is not square: {height} x {width}")
    if height >= size:
        raise ValueError(f"the field fills the whole {size} x {size} input; measure with a larger size")
    return height


def positive_weights(module: nn.Module) -> nn.Module:
    """A copy without norms whose conv weights are all 1 / fan_in and biases 0: every unit is active on a positive
    input, so the gradient of an output reaches its whole receptive field."""
    clone = without_norms(module)
    with torch.no_grad():
        for m in clone.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0 / m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
    return clone
