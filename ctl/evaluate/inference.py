"""Test time: a trained network applied to whole volumes, slice by slice.

- ``predict_volume``: a segmenter on a volume (Z, H, W) in [0, 1] -> a label volume (Z, H, W), the predicted
  axial slices stacked back in their order (what Table 1 scores in 3D);
- ``translate_volume``: a CT -> MR translation ``translate`` on a CT volume -> the translated volume (Figure 2,
  the fidelity measures, notebook 02); ``translator_of(method)`` is that ``translate`` when the method has one.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ctl.device import pick_device


@torch.no_grad()
def predict_volume(segmenter: torch.nn.Module, image: np.ndarray, device: torch.device | str | None = None,
                   batch: int = 16) -> np.ndarray:
    """Segment a volume slice by slice: image float (Z, H, W) in [0, 1] -> label uint8 (Z, H, W) (argmax).

    Axial slices go through ``segmenter`` in chunks of ``batch``; its train/eval mode is restored afterwards.

    Raises:
        ValueError: for a volume that is not 3D or whose values leave [0, 1] (prepared images are in [0, 1]).
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected a volume (Z, H, W), got shape {image.shape}")
    if image.size and (image.min() < -1e-3 or image.max() > 1 + 1e-3):
        raise ValueError(f"image values span [{image.min():.3g}, {image.max():.3g}]; prepared images are in [0, 1]")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    device = device if isinstance(device, torch.device) else pick_device(device)
    was_training = segmenter.training
    segmenter.eval()
    labels = np.zeros(image.shape, dtype=np.uint8)
    try:
        for z in range(0, image.shape[0], batch):
            slices = torch.from_numpy(np.ascontiguousarray(image[z:z + batch], dtype=np.float32))
            logits = segmenter(slices[:, None].to(device))  # (b, 1, H, W) -> (b, K, H, W)
            labels[z:z + batch] = logits.argmax(dim=1).to("cpu", torch.uint8).numpy()
    finally:
        segmenter.train(was_training)
    return labels


def translator_of(method) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``method.translate`` when the method translates CT to MR (it has a ``generator``), else None (source_only,
    oracle, adaptseg)."""
    return method.translate if method.generator is not None else None


@torch.no_grad()
def translate_volume(translate: Callable[[torch.Tensor], torch.Tensor], image: np.ndarray,
                     device: torch.device | str = "cpu", batch: int = 16) -> np.ndarray:
    """G(x^s) of a CT volume, slice by slice: (Z, H, W) in [0, 1] -> (Z, H, W) float32 in [0, 1].

    Raises:
        ValueError: a volume that is not 3D, or a translator whose output has another shape or leaves [0, 1].
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"expected a CT volume (Z, H, W), got shape {image.shape}")
    out = np.empty_like(image)
    for z in range(0, image.shape[0], batch):
        slices = torch.from_numpy(np.ascontiguousarray(image[z:z + batch]))[:, None].to(device)  # (b, 1, H, W)
        fake = translate(slices)
        if tuple(fake.shape) != tuple(slices.shape):
            raise ValueError(f"translate() returned shape {tuple(fake.shape)} for input {tuple(slices.shape)}; "
                             "it must map (B, 1, H, W) to (B, 1, H, W)")
        out[z:z + batch] = fake[:, 0].float().cpu().numpy()
    if out.min() < -1e-3 or out.max() > 1 + 1e-3:
        raise ValueError(f"translated values span [{out.min():.3g}, {out.max():.3g}]; translations must be in [0, 1]")
    return out
