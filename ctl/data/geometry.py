"""Scanner grids in patient millimetres, rotations, and a smooth random field defined in millimetres.

Patient coordinates are DICOM's LPS: ``x`` grows towards the patient's left, ``y`` towards the posterior and
``z`` towards the head. Arrays are indexed (z, y, x): slice, row, column. With this order and LPS axes, an axial
slice shows the patient's right on the image's left and the front at the top (radiological display).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """A scanner grid aligned with the LPS axes. Arrays on it are indexed (z, y, x).

    ``origin`` is the LPS position (mm) of voxel [0, 0, 0]'s centre, given in (z, y, x) order like ``spacing``.
    """

    shape: tuple[int, int, int]  # (Z, H, W) voxels
    spacing: tuple[float, float, float]  # (dz, dy, dx) mm
    origin: tuple[float, float, float]  # (z0, y0, x0) mm

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates (mm) along z, y and x (float32)."""
        return tuple((o + s * np.arange(n)).astype(np.float32)
                     for n, s, o in zip(self.shape, self.spacing, self.origin))


def rotation(yaw_deg: float = 0.0, tilt_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Local-to-patient rotation: ``roll`` about y (coronal tilt), then ``tilt`` about x, then ``yaw`` about z."""
    a, b, c = np.deg2rad([yaw_deg, tilt_deg, roll_deg])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    ry = np.array([[np.cos(c), 0, np.sin(c)], [0, 1, 0], [-np.sin(c), 0, np.cos(c)]])
    return rz @ rx @ ry


class SmoothField:
    """A smooth random field (unit variance, correlation length ~``spacing_mm``) defined in millimetres.

    Random values sit on a coarse lattice; a cubic B-spline interpolates them, evaluated separably (one matrix
    product per axis), so the same field can be evaluated on any grid and agrees wherever grids overlap.
    """

    def __init__(self, rng: np.random.Generator, spacing_mm: float, box_mm: float = 320.0):
        self.spacing = float(spacing_mm)
        self.start = -box_mm - 2 * self.spacing  # two extra lattice points: the cubic support is 4 wide
        n = int(np.ceil(2 * box_mm / self.spacing)) + 5
        self.coef = rng.standard_normal((n, n, n)).astype(np.float32)  # (z, y, x) lattice

    def _weights(self, coords: np.ndarray) -> np.ndarray:
        t = (coords.astype(np.float64) - self.start) / self.spacing  # lattice units
        s = np.abs(t[:, None] - np.arange(self.coef.shape[0])[None, :])  # (N, C)
        w = np.where(s < 1, 2 / 3 - s ** 2 + s ** 3 / 2, np.where(s < 2, (2 - s) ** 3 / 6, 0.0))
        if not (w.sum(axis=1) > 0.99).all():
            raise ValueError(f"coordinates {coords.min():.0f}..{coords.max():.0f} mm leave the field's box "
                             f"+-{-self.start:.0f} mm")
        used = slice(np.flatnonzero(w.any(axis=0))[0], np.flatnonzero(w.any(axis=0))[-1] + 1)
        w = w[:, used]
        return (w / np.sqrt((w ** 2).sum(axis=1, keepdims=True))).astype(np.float32), used  # unit variance

    def __call__(self, zs: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        (wz, kz), (wy, ky), (wx, kx) = self._weights(zs), self._weights(ys), self._weights(xs)
        f = self.coef[kz, ky, kx] @ wx.T  # (Cz, Cy, Nx): only lattice points whose support reaches the grid
        f = np.einsum("yc,zcx->zyx", wy, f)  # (Cz, Ny, Nx)
        return np.tensordot(wz, f, axes=(1, 0))  # (Nz, Ny, Nx)


@dataclass
class Volume:
    """One subject's volume in the canonical orientation: arrays (Z, H, W) on LPS axes (see the module doc).

    Raw loaders fill ``image`` with HU (CT) or scanner units (MR); prepared volumes hold images in [0, 1].
    """

    image: np.ndarray  # (Z, H, W) float32
    label: np.ndarray  # (Z, H, W) uint8, classes 0-4 (``ctl.organs.CLASS_NAMES``)
    spacing: np.ndarray  # (3,) float64, mm between voxel centres along (z, y, x)
    subject: str  # e.g. "ct0001", "mr0001"
    domain: str  # "ct" or "mr"

    def __post_init__(self):
        if self.image.ndim != 3 or self.image.shape != self.label.shape:
            raise ValueError(f"{self.subject}: image {self.image.shape} and label {self.label.shape} must be the "
                             f"same (Z, H, W) shape")
        self.spacing = np.asarray(self.spacing, dtype=np.float64)
        if self.spacing.shape != (3,) or not (self.spacing > 0).all():
            raise ValueError(f"{self.subject}: spacing must be three positive mm values (z, y, x), got {self.spacing}")
