"""The projection head F of PatchNCE and the sampling of patches (paper eq. 6-7, 9-10; CUT's PatchSampleF).

For a chosen encoder layer l, G_enc^l(x) is a map (B, C_l, H_l, W_l): every spatial position is the feature of
one patch of x (the patch is the position's receptive field). PatchNCE does not use all H_l * W_l positions; it
draws S of them at random, the same positions in the query image (the translation) and in the key image (the
source), so that position s of one is the positive for position s of the other.

F_l is a two-layer MLP, Linear(C_l, W) -> ReLU -> Linear(W, W), followed by L2 normalisation, so the dot
product of two embeddings is their cosine similarity. F has one such MLP per layer. Since C_l is known only once
the encoder has run, the MLPs are created from the first features F sees (CUT does the same): build F from a
first batch *before* making the optimizer that should train it.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as nnf

from ctl.nets.generator import init_gan_weights


def sample_patch_ids(height: int, width: int, num_patches: int, device=None,
                     generator: torch.Generator | None = None) -> Tensor:
    """``min(num_patches, height * width)`` distinct flat positions in [0, height * width), drawn uniformly.

    The same ids are used for every image of the batch (as in CUT). When the map has fewer positions than
    ``num_patches``, every position is used once (in random order).
    """
    if num_patches < 1:
        raise ValueError(f"num_patches must be >= 1, got {num_patches}")
    perm = torch.randperm(height * width, generator=generator, device="cpu")
    return perm[:num_patches].to(device)


def gather_patches(feat: Tensor, patch_ids: Tensor) -> Tensor:
    """The features at the flat positions ``patch_ids`` of every image: (B, C, H, W) -> (B, S, C).

    Only the S chosen columns are copied (no permute of the whole map).
    """
    flat = feat.flatten(2)  # (B, C, H*W), a view
    picked = flat.index_select(2, patch_ids)  # (B, C, S)
    return picked.transpose(1, 2)  # (B, S, C)


class PatchProjector(nn.Module):
    """F: per-layer two-layer MLPs with L2-normalised output, applied to S sampled patches of each layer.

    Args:
        mlp_width: hidden and output width of every MLP (CUT: 256).

    Call ``forward(features, num_patches)`` on the key features (it draws the positions), then
    ``forward(query_features, num_patches, patch_ids=ids)`` with the ids it returned.
    """

    def __init__(self, mlp_width: int = 256):
        super().__init__()
        if mlp_width < 1:
            raise ValueError(f"mlp_width must be >= 1, got {mlp_width}")
        self.mlp_width = mlp_width
        self.mlps = nn.ModuleDict()

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers an MLP has been built for."""
        return tuple(self.mlps.keys())

    def build(self, channels: dict[str, int], device=None, dtype=None) -> None:
        """Create the MLP of each layer from its channel count (layers already built are checked, not rebuilt)."""
        for name, c in channels.items():
            if name in self.mlps:
                if self.mlps[name][0].in_features != c:
                    raise ValueError(f"F's MLP for layer {name!r} was built for {self.mlps[name][0].in_features} "
                                     f"channels, got features with {c}")
                continue
            mlp = nn.Sequential(nn.Linear(c, self.mlp_width), nn.ReLU(inplace=True),
                                nn.Linear(self.mlp_width, self.mlp_width))
            init_gan_weights(mlp)
            self.mlps[name] = mlp.to(device=device, dtype=dtype)

    def forward(self, features: dict[str, Tensor], num_patches: int,
                patch_ids: dict[str, Tensor] | None = None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Embed S sampled patches of every layer.

        Args:
            features: {layer: G_enc^l(x) of shape (B, C_l, H_l, W_l)}.
            num_patches: S per layer and image (fewer where a map has fewer positions).
            patch_ids: {layer: LongTensor (S,)} positions to use, e.g. those returned for the keys; drawn when None.
        Returns:
            ({layer: embeddings (B, S, W), unit length along W}, {layer: the flat positions used (S,)}).
        Raises:
            ValueError: when ``patch_ids`` lacks a layer of ``features``.
        """
        unbuilt = {name: f.shape[1] for name, f in features.items() if name not in self.mlps}
        if unbuilt:  # the first batch: create the MLPs (CUT's data-dependent initialisation)
            first = next(iter(features.values()))
            dtype = first.dtype if first.dtype in (torch.float32, torch.float64) else None  # not half under AMP
            self.build(unbuilt, device=first.device, dtype=dtype)
        if patch_ids is not None:
            missing = [name for name in features if name not in patch_ids]
            if missing:
                raise ValueError(f"patch_ids has no positions for layer(s) {missing}")
        embeddings, used = {}, {}
        for name, feat in features.items():
            ids = patch_ids[name] if patch_ids is not None else \
                sample_patch_ids(feat.shape[2], feat.shape[3], num_patches, device=feat.device)
            patches = gather_patches(feat, ids)  # (B, S, C_l)
            embeddings[name] = nnf.normalize(self.mlps[name](patches), dim=-1)  # (B, S, W), unit rows
            used[name] = ids
        return embeddings, used
