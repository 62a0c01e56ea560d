"""CycleGAN's history of generated images (Shrivastava et al., CVPR 2017; adopted by Zhu et al., ICCV 2017).

A discriminator trained only on the generator's latest outputs chases a moving target: it forgets what earlier
generators produced, and the generator can oscillate between modes it has "unlearnt" in D. CycleGAN therefore
shows D a mix of new and older fakes: a pool of the last ``size`` (50) generated images.

For every image of a batch (``query``):

    pool not full yet        store the image, give it back unchanged
    pool full, prob. 1/2     give back a random stored image and store the new one in its place
    pool full, prob. 1/2     give back the new image (the pool stays as it is)

So the returned batch has the size of the given one, and once the pool is full about half of it is older fakes.
``size=0`` switches the pool off (every image is returned as given).

The draws use torch's global generator (the training loop saves and restores it), and the stored images are
the module's extra state (``get_extra_state`` / ``set_extra_state``, kept in ``state_dict()``), so a resumed run
sees the same history as an uninterrupted one. Images are stored detached: the pool never passes gradients.
Used by ``cyclegan`` and ``synseg`` (both directions) and ``sifa`` (its two image discriminators).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class ImagePool(nn.Module):
    """A history of up to ``size`` generated images; see the module docstring.

    Args:
        size: images kept (CycleGAN: 50); 0 turns the pool off.
    Raises:
        ValueError: for a negative size.
    """

    def __init__(self, size: int = 50):
        super().__init__()
        if size < 0:
            raise ValueError(f"pool size must be >= 0 (0 switches the pool off), got {size}")
        self.size = size
        self.images: list[Tensor] = []  # each (C, H, W), detached copies

    def __len__(self) -> int:
        return len(self.images)

    @property
    def full(self) -> bool:
        return len(self.images) >= self.size

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        """The batch D should see in place of ``images`` (B, C, H, W): new and older fakes, detached.

        Raises:
            ValueError: for a tensor that is not (B, C, H, W), or images of another shape than those stored.
        """
        if images.dim() != 4:
            raise ValueError(f"expected generated images (B, C, H, W), got shape {tuple(images.shape)}")
        images = images.detach()
        if self.size == 0:
            return images
        if self.images and self.images[0].shape != images.shape[1:]:
            raise ValueError(f"the pool holds images of shape {tuple(self.images[0].shape)}, got a batch of "
                             f"{tuple(images.shape[1:])}; use one pool per image size")
        if self.images and (self.images[0].device, self.images[0].dtype) != (images.device, images.dtype):
            # after a resume the stored images come back on the CPU: keep the whole pool with the batch
            self.images = [image.to(images) for image in self.images]
        chosen = []
        for image in images:  # (C, H, W)
            if not self.full:
                self.images.append(image.clone())
                chosen.append(image)
            elif float(torch.rand(())) < 0.5:
                k = int(torch.randint(len(self.images), ()))
                chosen.append(self.images[k])  # an older fake
                self.images[k] = image.clone()
            else:
                chosen.append(image)
        return torch.stack(chosen)  # (B, C, H, W)

    # --- state kept across resume ----------------------------------------------------------------------------
    def get_extra_state(self) -> dict:
        """The stored images as one tensor (N, C, H, W) (N = 0: an empty tensor), for ``state_dict()``."""
        stored = torch.stack(self.images) if self.images else torch.empty(0)
        return {"images": stored, "size": self.size}

    def set_extra_state(self, state: dict) -> None:
        """Restore the images saved by ``get_extra_state``.

        Raises:
            ValueError: when the saved pool holds more images than this pool's size.
        """
        stored = state["images"]
        count = stored.shape[0] if stored.numel() else 0
        if count > self.size:
            raise ValueError(f"the saved pool holds {count} images, more than this pool's size {self.size}")
        self.images = [image.clone() for image in stored[:count]]

    def extra_repr(self) -> str:
        return f"size={self.size}, stored={len(self.images)}"
