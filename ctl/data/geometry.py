"""Scanner grids, rotations, a smooth random field, organ shapes and tubes, all in patient millimetres.

Patient coordinates are DICOM's LPS: ``x`` grows towards the patient's left, ``y`` towards the posterior and
``z`` towards the head. Arrays are indexed (z, y, x): slice, row, column. With this order and LPS axes, an axial
slice shows the patient's right on the image's left and the front at the top (radiological display).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

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


@dataclass(frozen=True)
class Blob:
    """One smooth closed surface in patient millimetres: a bent, tapered superellipsoid with a wavy surface.

        u = R^T (p - c) / r                          local, unit-radius coordinates
        level(u) = (|u_x|^e + |u_y|^e + |u_z|^e)^(1/e) - sum_k a_k sin(w_k . u + phi_k) - (w / r_g) f(p)
        inside  <=>  level(u) < 1

    The sine bumps bend the whole outline (low frequency); ``wobble`` adds a smooth random field f (a
    ``SmoothField``, clipped to +-3 sd) scaled to about ``wobble_mm`` millimetres (r_g: the geometric mean radius),
    the lobulated, irregular-but-smooth surface of an organ. The level is homogeneous in u, so a change of 0.1
    moves the surface by a tenth of the radius in that direction. A blob with a wobble field must be evaluated on
    separable coordinates ((Z, 1, 1), (1, Y, 1), (1, 1, X)), as ``voxelise`` does.
    """

    center: tuple[float, float, float]  # (x, y, z) mm, LPS
    radii: tuple[float, float, float]  # semi-axes (mm) along the local x, y, z axes
    rot: np.ndarray = field(default_factory=lambda: np.eye(3))  # (3, 3) local -> patient
    exponent: float = 2.0  # 2: ellipsoid; larger: boxier
    taper: float = 0.0  # local y and z radii shrink by this fraction from u_x = -1 to u_x = +1
    bend: float = 0.0  # u_y is shifted by bend * u_x^2 (a crescent)
    bumps: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))  # rows: w_x, w_y, w_z, phase, amplitude
    wobble: SmoothField | None = None  # surface irregularity, in patient mm
    wobble_mm: float = 0.0  # its size (sd) in mm

    def grown(self, mm: float, shift: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> "Blob":
        """The same shape with every radius ``mm`` longer (a layer about ``mm`` thick), centre moved by ``shift``."""
        return Blob(center=tuple(np.add(self.center, shift)), radii=tuple(np.add(self.radii, mm)), rot=self.rot,
                    exponent=self.exponent, taper=self.taper, bend=self.bend, bumps=self.bumps, wobble=self.wobble,
                    wobble_mm=self.wobble_mm)

    def extent(self) -> np.ndarray:
        """Half-size (mm) of an axis-aligned box that surely holds the blob, in (x, y, z).

        Inside, the norm is below m = 1 + sum |a_k| + 3 w / r_g, so |u_x|, |u_z| < m and the bent u_y stays within
        m + |bend| m^2; the box of that local box, rotated, bounds the blob.
        """
        m = 1.0 + np.abs(self.bumps[:, 4]).sum() + 3 * self._wobble_scale()
        local = np.asarray(self.radii) * np.array([m, m + abs(self.bend) * m ** 2, m])
        return np.abs(self.rot) @ local

    def _wobble_scale(self) -> float:
        return self.wobble_mm / float(np.prod(self.radii)) ** (1 / 3) if self.wobble is not None else 0.0

    @cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Tight (low, high) corners (x, y, z mm) of the blob, from a 32^3 lattice over ``extent()``, padded
        by one lattice step so that no inside point is missed; exact for a plain ellipsoid."""
        if self.exponent == 2.0 and not (len(self.bumps) or self.bend or self.taper or self.wobble is not None):
            half = np.sqrt(((self.rot * np.asarray(self.radii)[None, :]) ** 2).sum(axis=1))  # (x, y, z)
            return np.asarray(self.center) - half, np.asarray(self.center) + half
        return _lattice_bounds(self, self.center, self.extent())

    def z_span(self) -> tuple[float, float]:
        """Lowest and highest z (mm) of the blob (within one lattice step of ``bounds``)."""
        low, high = self.bounds
        step = 2 * self.extent()[2] / 31
        return float(low[2] + step), float(high[2] - step)

    def local(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit-radius local coordinates of broadcastable patient coordinates (z, y, x)."""
        d = (x - self.center[0], y - self.center[1], z - self.center[2])
        r = self.rot
        return tuple(sum(float(r[j, i]) * d[j] for j in range(3)) / self.radii[i] for i in range(3))

    def level(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The level function at patient coordinates; inside where it is below 1."""
        ux, uy, uz = self.local(z, y, x)
        uy = uy + self.bend * ux ** 2
        scale = 1.0 - self.taper * (np.clip(ux, -1, 1) + 1.0) / 2.0
        uy, uz = uy / scale, uz / scale
        e = self.exponent
        if e == 2.0:
            level = np.sqrt(ux * ux + uy * uy + uz * uz)
        else:
            level = (np.abs(ux) ** e + np.abs(uy) ** e + np.abs(uz) ** e) ** (1.0 / e)
        for wx, wy, wz, phase, amp in self.bumps:
            level = level - amp * np.sin(wx * ux + wy * uy + wz * uz + phase)
        if self.wobble is not None:
            f = self.wobble(np.ravel(z), np.ravel(y), np.ravel(x))  # (Z, Y, X) on separable coordinates
            level = level - self._wobble_scale() * np.clip(f, -3, 3)
        return level


def _lattice_bounds(shape, center, ext) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) corners (x, y, z) of where ``shape.level < 1`` on a 32^3 lattice over centre +- ext."""
    samples = 32
    axes = [np.linspace(c - e, c + e, samples, dtype=np.float32) for c, e in zip(center, ext)]
    inside = shape.level(axes[2][:, None, None], axes[1][None, :, None], axes[0][None, None, :]) < 1
    if not inside.any():
        return np.asarray(center, float), np.asarray(center, float)
    low, high = [], []
    for axis, reduce in ((0, (0, 1)), (1, (0, 2)), (2, (1, 2))):  # x, y, z
        hit = np.flatnonzero(inside.any(axis=reduce))
        step = 2 * ext[axis] / (samples - 1)
        low.append(axes[axis][hit[0]] - step)
        high.append(axes[axis][hit[-1]] + step)
    return np.array(low), np.array(high)


def random_bumps(rng: np.random.Generator, n: int = 5, amplitude: float = 0.06) -> np.ndarray:
    """``n`` low-frequency sine bumps (1.5-3.5 radians per unit radius) with amplitudes up to ``amplitude``."""
    directions = rng.normal(size=(n, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    freq = rng.uniform(1.5, 3.5, size=(n, 1))
    return np.hstack([directions * freq, rng.uniform(0, 2 * np.pi, (n, 1)), rng.uniform(0.3, 1.0, (n, 1)) * amplitude])


@dataclass(frozen=True)
class Shape:
    """An organ made of several blobs joined smoothly, with other blobs carved out of it.

        level = smin_k(level_k) = m - b log sum_k exp(-(level_k - m) / b),   m = min_k level_k
        level = max(level, 2 - level_c)   for each carved blob c (outside c means level_c >= 1)

    The smooth minimum (blend ``b``) rounds the creases where the parts meet, as a liver's lobes or a stomach's
    fundus and body merge; a carve leaves the impression of a neighbour (the kidney in the liver's under-surface).
    """

    parts: tuple[Blob, ...]
    blend: float = 0.1  # smooth-union width, in level units (a tenth of a radius)
    carves: tuple[Blob, ...] = ()

    def level(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        levels = [p.level(z, y, x) for p in self.parts]
        out = levels[0]
        if len(levels) > 1:
            m = np.minimum.reduce(levels)
            out = m - self.blend * np.log(sum(np.exp(-(lv - m) / self.blend) for lv in levels))
        for carve in self.carves:  # only inside the carve's box (outside it, level_c >= 1 changes nothing)
            box = box_slices(carve.bounds, z, y, x)
            if box is not None:
                zb, yb, xb = z[box[0]], y[:, box[1]], x[:, :, box[2]]
                out[box] = np.maximum(out[box], 2.0 - carve.level(zb, yb, xb))
        return out

    @cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Corners (x, y, z mm) of a box holding the union; the smooth union reaches a little beyond its parts."""
        low = np.min([p.bounds[0] for p in self.parts], axis=0)
        high = np.max([p.bounds[1] for p in self.parts], axis=0)
        pad = self.blend * np.log(len(self.parts)) * max(max(p.radii) for p in self.parts)
        return low - pad, high + pad

    @cached_property
    def _z_span(self) -> tuple[float, float]:
        c, e = (self.bounds[0] + self.bounds[1]) / 2, (self.bounds[1] - self.bounds[0]) / 2
        low, high = _lattice_bounds(self, c, e)
        step = 2 * e[2] / 31
        return float(low[2] + step), float(high[2] - step)

    def z_span(self) -> tuple[float, float]:
        """Lowest and highest z (mm) of the shape (within a lattice step, about 1/30 of its height)."""
        return self._z_span


def box_slices(bounds, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Index slices (z, y, x) of separable, ascending coordinates ((Z, 1, 1), (1, Y, 1), (1, 1, X)) that fall
    inside ``bounds`` ((low, high) corners, (x, y, z) mm); None when the box misses them."""
    low, high = bounds
    box = []
    for axis, values in ((2, z[:, 0, 0]), (1, y[0, :, 0]), (0, x[0, 0, :])):
        i0, i1 = np.searchsorted(values, low[axis]), np.searchsorted(values, high[axis], side="right")
        if i1 <= i0:
            return None
        box.append(slice(int(i0), int(i1)))
    return tuple(box)


@dataclass
class Tubes:
    """Straight tube segments (start, end (x, y, z mm), start radius, end radius mm), painted as one tissue:
    vessels, pancreas, colon. ``depth`` says how deep (mm) a point lies inside their union."""

    tissue: str
    segments: list
    label: int = 0  # structure id painted with the tissue (0: leave the label alone)
    within: tuple[str, ...] | None = None  # paint only over these tissues (None: the phantom's soft tissues)
    wall: str | None = None  # a wall of this tissue, ``wall_mm`` thick, around a content of ``tissue``
    wall_mm: float = 0.0
    haustra_mm: float = 0.0  # colon: the radius swells and shrinks by 12 % with this period along the tube

    def boxes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(low, high) corners (x, y, z mm) of each segment with its radius."""
        grow = 1.12 if self.haustra_mm else 1.0
        return [(np.minimum(p, q) - max(r0, r1) * grow, np.maximum(p, q) + max(r0, r1) * grow)
                for p, q, r0, r1 in self.segments]

    def depth(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """max over segments of (radius - distance to the segment's axis), on separable ascending coordinates
        ((Z, 1, 1), (1, Y, 1), (1, 1, X)); -inf away from every segment's box. Inside where positive."""
        depth = np.full((z.shape[0], y.shape[1], x.shape[2]), -np.inf, np.float32)
        s0 = 0.0  # arc length at the segment's start (for the haustra)
        for (p, q, r0, r1), bounds in zip(self.segments, self.boxes()):
            d = q - p
            length = float(np.sqrt(d @ d))
            box = box_slices(bounds, z, y, x)
            if box is not None:
                zb, yb, xb = z[box[0]], y[:, box[1]], x[:, :, box[2]]
                t = np.clip(((xb - p[0]) * d[0] + (yb - p[1]) * d[1] + (zb - p[2]) * d[2]) / max(length ** 2, 1e-9),
                            0, 1)  # position of the nearest axis point along the segment
                dist = np.sqrt((xb - p[0] - t * d[0]) ** 2 + (yb - p[1] - t * d[1]) ** 2 + (zb - p[2] - t * d[2]) ** 2)
                r = r0 + t * (r1 - r0)
                if self.haustra_mm:
                    r = r * (1 + 0.12 * np.cos(2 * np.pi * (s0 + t * length) / self.haustra_mm))
                depth[box] = np.maximum(depth[box], r - dist)
            s0 += length
        return depth


def tube_path(points, radii) -> list:
    """Segments joining ``points`` (x, y, z mm) in order, radii going linearly between the given ones."""
    points = [np.asarray(p, float) for p in points]
    return [(p, q, r0, r1) for p, q, r0, r1 in zip(points[:-1], points[1:], radii[:-1], radii[1:])]


def tube_tree(rng: np.random.Generator, start, direction, length: float, radius: float, depth: int) -> list:
    """A branching vessel: one segment, then two children turned 20-40 degrees apart in a random plane,
    0.6-0.8 as long and 0.75 as wide, ``depth`` times (2^(depth+1) - 1 segments)."""
    start = np.asarray(start, float)
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    end = start + direction * length
    segments = [(start, end, radius, radius * 0.85)]
    if depth:
        side = np.cross(direction, rng.normal(size=3))
        side /= np.linalg.norm(side)
        for sign in (-1, 1):
            angle = np.deg2rad(rng.uniform(20, 40))
            child = np.cos(angle) * direction + sign * np.sin(angle) * side
            segments += tube_tree(rng, end, child, length * rng.uniform(0.6, 0.8), radius * 0.75, depth - 1)
    return segments


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
