"""A seeded synthetic abdomen: organ shapes in millimetres, and their voxelisation on any scanner grid.

The anatomy is a list of smooth closed surfaces placed in patient coordinates (LPS, millimetres): ``x`` grows
towards the patient's **left**, ``y`` towards the **posterior**, ``z`` towards the **head**. Because the shapes live
in millimetres and not in voxels, one subject can be voxelised on a CT grid (fine slices) and on an MR grid
(coarse slices), and its "paired MR" can be rendered on the CT grid itself for exact comparisons.

Each organ is a superellipsoid in its own frame, bent and tapered, with a few low-frequency sine bumps on its
level function so that no two subjects have the same shape:

    u = R^T (p - c) / r                        local, unit-radius coordinates
    level(u) = (|u_x|^e + |u_y|^e + |u_z|^e)^(1/e) - sum_k a_k sin(w_k . u + phi_k)
    inside  <=>  level(u) < 1

Placement follows the anatomy the segmenter must learn: the liver on the patient's right (image left in
radiological display) under the diaphragm, the spleen posterior on the left, the kidneys beside the spine with
the right one lower, plus body wall, spine, aorta, vena cava, stomach, gallbladder, bowel and the lung bases
as distractors.
Everything is drawn from one ``numpy.random.Generator``: same seed, same subject, bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ctl.data.geometry import Grid, SmoothField, rotation

# Tissues the renderers know (``render.py`` gives each a CT and an MR value); the id is the position here.
TISSUES = ("air", "gas", "lung", "subcutaneous_fat", "visceral_fat", "muscle", "bowel", "stomach_content", "liver",
           "liver_vessel", "gallbladder", "spleen", "kidney", "renal_sinus_fat", "aorta", "ivc",
           "bone_cortex", "bone_marrow", "disc", "csf")
T = {name: i for i, name in enumerate(TISSUES)}

# Structures carry BTCV label ids so the phantom can be written exactly as BTCV is (see ``labels.py``).
SPLEEN_ID, RKIDNEY_ID, LKIDNEY_ID, GALLBLADDER_ID, LIVER_ID, STOMACH_ID, AORTA_ID, IVC_ID = 1, 2, 3, 4, 6, 7, 8, 9


@dataclass(frozen=True)
class Blob:
    """One smooth organ surface (see the module docstring for the level function)."""

    center: tuple[float, float, float]  # (x, y, z) mm, LPS
    radii: tuple[float, float, float]  # semi-axes (mm) along the local x, y, z axes
    rot: np.ndarray = field(default_factory=lambda: np.eye(3))  # (3, 3) local -> patient
    exponent: float = 2.0  # 2: ellipsoid; larger: boxier
    taper: float = 0.0  # local y and z radii shrink by this fraction from u_x = -1 to u_x = +1
    bend: float = 0.0  # u_y is shifted by bend * u_x^2 (a crescent)
    bumps: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))  # rows: w_x, w_y, w_z, phase, amplitude

    def extent(self) -> np.ndarray:
        """Half-size (mm) of an axis-aligned box that surely holds the blob, in (x, y, z).

        Inside, the norm is below m = 1 + sum |a_k|, so |u_x|, |u_z| < m and the bent u_y stays within
        m + |bend| m^2; the box of that local box, rotated, bounds the blob.
        """
        m = 1.0 + np.abs(self.bumps[:, 4]).sum()
        local = np.asarray(self.radii) * np.array([m, m + abs(self.bend) * m ** 2, m])
        return np.abs(self.rot) @ local

    @cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Tight (low, high) corners (x, y, z mm) of the blob, from a 32^3 lattice over ``extent()``, padded
        by one lattice step so that no inside point is missed."""
        ext, samples = self.extent(), 32
        axes = [np.linspace(c - e, c + e, samples) for c, e in zip(self.center, ext)]
        inside = self.level(axes[2][:, None, None], axes[1][None, :, None], axes[0][None, None, :]) < 1
        if not inside.any():
            return np.asarray(self.center, float), np.asarray(self.center, float)
        low, high = [], []
        for axis, reduce in ((0, (0, 1)), (1, (0, 2)), (2, (1, 2))):  # x, y, z
            hit = np.flatnonzero(inside.any(axis=reduce))
            step = 2 * ext[axis] / (samples - 1)
            low.append(axes[axis][hit[0]] - step)
            high.append(axes[axis][hit[-1]] + step)
        return np.array(low), np.array(high)

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
        level = (np.abs(ux) ** e + np.abs(uy) ** e + np.abs(uz) ** e) ** (1.0 / e)
        for wx, wy, wz, phase, amp in self.bumps:
            level = level - amp * np.sin(wx * ux + wy * uy + wz * uz + phase)
        return level


def random_bumps(rng: np.random.Generator, n: int = 5, amplitude: float = 0.06) -> np.ndarray:
    """``n`` low-frequency sine bumps (1.5-3.5 radians per unit radius) with amplitudes up to ``amplitude``."""
    directions = rng.normal(size=(n, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    freq = rng.uniform(1.5, 3.5, size=(n, 1))
    return np.hstack([directions * freq, rng.uniform(0, 2 * np.pi, (n, 1)), rng.uniform(0.3, 1.0, (n, 1)) * amplitude])


@dataclass
class Anatomy:
    """One subject: body outline, spine and vessels as per-slice shapes, organs as ``Blob`` s."""

    body: dict  # a, b (mm): outer semi-axes in x and y; fat, muscle (mm) layer thicknesses; exponent
    spine: dict  # vertebral body centre y, radii; canal radius; disc period/phase (mm)
    vessels: dict  # aorta and IVC centres (x, y) and radii (mm)
    organs: dict[str, Blob]  # liver, spleen, right_kidney, left_kidney, stomach, optional gallbladder
    sinus: dict[str, Blob]  # renal sinus fat carved out of each kidney
    liver_vessels: list[tuple[np.ndarray, np.ndarray, float]]  # tube start, end (x, y, z mm), radius
    gas: list[Blob]  # bowel gas bubbles
    bowel_field: SmoothField  # bowel loops vs mesenteric fat
    psoas_top: float  # z (mm) where the psoas muscles begin
    dome_drop: float  # how much lower (mm) the left diaphragm dome is than the right one

    def z_range(self) -> tuple[float, float]:
        """z (mm) of the lowest kidney pole and of the top of the liver."""
        low = min(self.organs[k].z_span()[0] for k in ("right_kidney", "left_kidney"))
        return low, self.organs["liver"].z_span()[1]


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw one subject. Sizes follow adult abdominal anatomy; the comments give each range in mm."""
    u = rng.uniform
    a, b = u(140, 175), u(100, 130)  # body half-width and half-depth
    fat, muscle = u(10, 32), u(8, 14)  # subcutaneous fat and muscle wall thickness
    a_in, b_in = a - fat - muscle, b - fat - muscle  # the abdominal cavity
    body = dict(a=a, b=b, fat=fat, muscle=muscle, exponent=u(2.1, 2.6), y_shift=u(-5, 5))
    vy = b - u(70, 85)  # vertebral body centre, posterior
    vrx, vry = u(20, 25), u(15, 19)
    spine = dict(y=vy, rx=vrx, ry=vry, canal=u(7, 9.5), disc_period=u(30, 36), disc_phase=u(0, 36), disc=u(7, 10))
    front = vy - vry  # anterior surface of the vertebral body
    vessels = dict(aorta=(u(8, 18), front - u(11, 15), u(9.5, 13)),  # centre x, y and radius
                   ivc=(u(-30, -20), front - u(10, 14), u(10, 14), u(7, 10)))  # centre x, y and two radii

    zl = u(30, 55)  # liver centre height
    lrx, lry, lrz = u(85, 98), u(70, 85), u(78, 95)  # the bulk (right lobe) fills the right upper abdomen
    liver = Blob(center=(-a_in + 8 + lrx, u(-12, 0), zl), radii=(lrx, lry, lrz),
                 rot=rotation(yaw_deg=u(-38, -25), roll_deg=-u(8, 18)), exponent=u(2.0, 2.4), taper=u(0.6, 0.75),
                 bend=u(0.0, 0.25), bumps=random_bumps(rng, 6, 0.07))
    srx, sry, srz = u(48, 62), u(20, 28), u(40, 55)  # long axis along the ribs, thin, tall
    spleen = Blob(center=(a_in - u(28, 36), b_in * u(0.25, 0.45), zl + u(5, 25)), radii=(srx, sry, srz),
                  rot=rotation(yaw_deg=-u(45, 65)), bend=u(0.25, 0.45), bumps=random_bumps(rng, 5, 0.06))
    zk = u(-5, 15)  # left kidney centre; the right one sits lower, under the liver
    kidneys, sinus = {}, {}
    for side, sign, zc in (("right_kidney", -1, zk - u(10, 25)), ("left_kidney", 1, zk)):
        krx, kry, krz = u(25, 30), u(18, 23), u(50, 60)
        rot = rotation(yaw_deg=sign * u(25, 40), roll_deg=-sign * u(8, 15))  # hilum forward-inward, poles apart
        center = (sign * (vrx + u(38, 48)), vy + u(0, 12), zc)
        kidneys[side] = Blob(center=center, radii=(krx, kry, krz), rot=rot, bumps=random_bumps(rng, 4, 0.04))
        hilum = np.asarray(center) + rot @ np.array([-sign * krx * 0.85, 0.0, 0.0])  # on the medial side
        sinus[side] = Blob(center=tuple(hilum), radii=(krx * 0.5, kry * 0.45, krz * 0.35), rot=rot)
    stomach = Blob(center=(u(35, 55), u(-45, -25), zl + u(0, 20)), radii=(u(35, 50), u(28, 38), u(40, 55)),
                   rot=rotation(yaw_deg=u(-30, 10)), bumps=random_bumps(rng, 5, 0.08))
    organs = {"liver": liver, "spleen": spleen, **kidneys, "stomach": stomach}
    if u() < 0.7:  # most subjects show a gallbladder under the liver
        organs["gallbladder"] = Blob(center=(u(-50, -30), u(-40, -25), zl - lrz * 0.5),
                                     radii=(u(11, 16), u(11, 16), u(25, 38)), rot=rotation(tilt_deg=u(-30, -10)),
                                     bumps=random_bumps(rng, 3, 0.05))
    hilum = np.array([u(-35, -20), u(-5, 10), zl - u(5, 15)])  # portal vein enters the liver here
    tubes = [(hilum, hilum + np.array([-u(40, 80), u(-30, 30), u(-10, 50)]), u(3, 6))  # branches into the right lobe
             for _ in range(rng.integers(3, 6))]
    gas = [Blob(center=(u(-a_in * 0.7, a_in * 0.7), u(-b_in * 0.8, -b_in * 0.1), u(zk - 60, zl)),
                radii=tuple(u(6, 18, 3)), bumps=random_bumps(rng, 3, 0.1)) for _ in range(rng.integers(3, 9))]
    return Anatomy(body=body, spine=spine, vessels=vessels, organs=organs, sinus=sinus, liver_vessels=tubes, gas=gas,
                   bowel_field=SmoothField(rng, spacing_mm=u(14, 20)), psoas_top=zk + u(0, 20),
                   dome_drop=u(5, 20))


def _box(blob: Blob, grid: Grid):
    """Index slices of the grid box holding ``blob`` and the coordinates inside it (None when empty)."""
    low, high = blob.bounds
    lows, highs = low[::-1], high[::-1]  # (z, y, x)
    slices, coords = [], []
    for lo, hi, axis in zip(lows, highs, grid.axes()):
        i0, i1 = np.searchsorted(axis, lo), np.searchsorted(axis, hi, side="right")
        if i1 <= i0:
            return None
        slices.append(slice(i0, i1))
        coords.append(axis[i0:i1])
    z, y, x = coords
    return tuple(slices), (z[:, None, None], y[None, :, None], x[None, None, :])


def voxelise(anatomy: Anatomy, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Tissue ids (``TISSUES``) and BTCV-style structure ids of ``anatomy`` on ``grid``, each (Z, H, W) uint8.

    Later structures overwrite earlier ones: body layers, bowel, muscles, stomach, liver, spleen, kidneys,
    vessels, spine. The organs' label follows their drawn voxels, so a kidney pressing into the liver takes its
    voxels from the liver's label too.
    """
    zs, ys, xs = grid.axes()
    z, y, x = zs[:, None, None], ys[None, :, None], xs[None, None, :]
    tissue = np.zeros(grid.shape, np.uint8)
    label = np.zeros(grid.shape, np.uint8)
    bd, sp, vs = anatomy.body, anatomy.spine, anatomy.vessels

    def ellipse(cx, cy, rx, ry, e=2.0):  # (1, H, W) in-plane mask, the same on every slice
        return (np.abs((x - cx) / rx) ** e + np.abs((y - cy) / ry) ** e) < 1

    # Body wall: an outer superellipse, fat, then muscle, then the cavity (all shrink slightly towards the feet).
    taper = 1.0 + 0.0006 * (z - 50.0)  # (Z, 1, 1)
    yb = y - bd["y_shift"]
    for thick, name in ((0.0, "subcutaneous_fat"), (bd["fat"], "muscle"), (bd["fat"] + bd["muscle"], "bowel")):
        inside = (np.abs(x / (bd["a"] * taper - thick)) ** bd["exponent"]
                  + np.abs(yb / (bd["b"] * taper - thick)) ** bd["exponent"]) < 1
        tissue[np.broadcast_to(inside, grid.shape)] = T[name]
    cavity = tissue == T["bowel"]
    fat = anatomy.bowel_field(zs, ys, xs) > 0.35  # about 36 % of the bowel region is mesenteric fat
    tissue[cavity & fat] = T["visceral_fat"]
    # Lungs above the diaphragm: two domes, the right one at the top of the liver, lower at the sides and back.
    top = anatomy.organs["liver"].z_span()[1] - 5
    a_in = bd["a"] - bd["fat"] - bd["muscle"]
    dome = (np.where(x < 0, top, top - anatomy.dome_drop) - 40 * ((np.abs(x) - 0.45 * a_in) / a_in) ** 2
            - 25 * np.clip(y / a_in, 0, None))  # (1, H, W)
    tissue[cavity & (z > dome)] = T["lung"]
    for blob in anatomy.gas:
        _draw(blob, grid, tissue, label, "gas", 0, only=cavity)

    # Paraspinal and psoas muscles.
    cx = sp["rx"] + 18
    paraspinal = ellipse(-38, sp["y"] + 38, 30, 26) | ellipse(38, sp["y"] + 38, 30, 26)
    tissue[np.broadcast_to(paraspinal, grid.shape)] = T["muscle"]
    psoas_r = np.clip(6 + 0.25 * (anatomy.psoas_top - z), 0, 24)  # (Z, 1, 1): grows towards the pelvis
    psoas = ((x - cx) ** 2 + (y - sp["y"]) ** 2 < psoas_r ** 2) | ((x + cx) ** 2 + (y - sp["y"]) ** 2 < psoas_r ** 2)
    tissue[psoas & (psoas_r > 0)] = T["muscle"]

    # Stomach (content, with a gas cap at the front: the patient lies on the back).
    st = anatomy.organs["stomach"]
    box = _box(st, grid)
    if box is not None:
        idx, (bz, by, bx) = box
        inside = st.level(bz, by, bx) < 1
        cap = st.local(bz, by, bx)[1] < -0.55
        tissue[idx][inside] = T["stomach_content"]
        tissue[idx][inside & cap] = T["gas"]
        label[idx][inside] = STOMACH_ID

    _draw(anatomy.organs["liver"], grid, tissue, label, "liver", LIVER_ID)
    for start, end, radius in anatomy.liver_vessels:
        _tube(start, end, radius, grid, tissue, "liver_vessel", only_tissue=T["liver"])
    if "gallbladder" in anatomy.organs:
        _draw(anatomy.organs["gallbladder"], grid, tissue, label, "gallbladder", GALLBLADDER_ID)
    _draw(anatomy.organs["spleen"], grid, tissue, label, "spleen", SPLEEN_ID)
    for side, lid in (("right_kidney", RKIDNEY_ID), ("left_kidney", LKIDNEY_ID)):
        _draw(anatomy.organs[side], grid, tissue, label, "kidney", lid)
        _draw(anatomy.sinus[side], grid, tissue, label, "renal_sinus_fat", 0, only_label=lid)

    # Great vessels run the whole height; the vena cava passes through the back of the liver.
    ax, ay, ar = vs["aorta"]
    ix, iy, irx, iry = vs["ivc"]
    for mask, name, lid in ((ellipse(ax, ay, ar, ar), "aorta", AORTA_ID), (ellipse(ix, iy, irx, iry), "ivc", IVC_ID)):
        mask = np.broadcast_to(mask, grid.shape)
        tissue[mask], label[mask] = T[name], lid

    # Spine: vertebral body (cortex ring, marrow, discs at regular heights), canal, spinous process.
    outer, inner = ellipse(0, sp["y"], sp["rx"], sp["ry"]), ellipse(0, sp["y"], sp["rx"] - 2.5, sp["ry"] - 2.5)
    disc = ((z - sp["disc_phase"]) % sp["disc_period"]) < sp["disc"]  # (Z, 1, 1)
    canal_y = sp["y"] + sp["ry"] + sp["canal"] + 2
    process = ellipse(0, canal_y + sp["canal"] + 10, 6, 13) | (ellipse(0, canal_y, sp["canal"] + 4, sp["canal"] + 4))
    for mask, name in ((process, "bone_cortex"), (outer & ~disc, "bone_cortex"), (inner & ~disc, "bone_marrow"),
                       (outer & disc, "disc"), (ellipse(0, canal_y, sp["canal"], sp["canal"]), "csf")):
        mask = np.broadcast_to(mask, grid.shape)
        tissue[mask], label[mask] = T[name], 0
    return tissue, label


def _draw(blob: Blob, grid: Grid, tissue, label, name: str, label_id: int, only=None, only_label=None) -> None:
    """Paint ``blob`` into ``tissue`` and ``label`` (restricted to ``only`` mask / voxels of ``only_label``)."""
    box = _box(blob, grid)
    if box is None:
        return
    idx, (bz, by, bx) = box
    inside = blob.level(bz, by, bx) < 1
    if only is not None:
        inside &= only[idx]
    if only_label is not None:
        inside &= label[idx] == only_label
    tissue[idx][inside] = T[name]
    label[idx][inside] = label_id


def _tube(start, end, radius, grid: Grid, tissue, name: str, only_tissue: int) -> None:
    """Paint a straight tube (a vessel) of ``radius`` mm from ``start`` to ``end`` (x, y, z mm)."""
    lo, hi = np.minimum(start, end) - radius, np.maximum(start, end) + radius
    idx, coords = [], []
    for axis, l, h in zip(grid.axes(), (lo[2], lo[1], lo[0]), (hi[2], hi[1], hi[0])):
        i0, i1 = np.searchsorted(axis, l), np.searchsorted(axis, h, side="right")
        if i1 <= i0:
            return
        idx.append(slice(i0, i1))
        coords.append(axis[i0:i1])
    z, y, x = coords[0][:, None, None], coords[1][None, :, None], coords[2][None, None, :]
    d = end - start
    t = np.clip(((x - start[0]) * d[0] + (y - start[1]) * d[1] + (z - start[2]) * d[2]) / (d @ d), 0, 1)
    dist2 = (x - start[0] - t * d[0]) ** 2 + (y - start[1] - t * d[1]) ** 2 + (z - start[2] - t * d[2]) ** 2
    region = tissue[tuple(idx)]
    region[(dist2 < radius ** 2) & (region == only_tissue)] = T[name]


def sample_grid(anatomy: Anatomy, rng: np.random.Generator, size: int, modality: str) -> Grid:
    """A scanner grid over the upper abdomen of ``anatomy``: ``size`` x ``size`` pixels in-plane.

    The field of view is what BTCV (CT: 512 px at 0.7-0.9 mm, about 360-460 mm) and CHAOS (MR: 256 px at
    1.4-1.9 mm, about 360-490 mm) cover, so the pixel spacing is FOV / ``size``. Slice spacing: CT 2.5-5 mm,
    MR 5.5-9 mm (T2-SPIR). The stack runs from below the lower kidney pole to above the liver dome.
    """
    if modality not in ("ct", "mr"):
        raise ValueError(f"modality must be 'ct' or 'mr', got {modality!r}")
    if size < 16:
        raise ValueError(f"size={size} is too small to draw an abdomen; use at least 16 pixels")
    u = rng.uniform
    fov = u(360, 460) if modality == "ct" else u(360, 480)
    fov = max(fov, 2 * anatomy.body["a"] + 20)  # the whole body always fits
    dz = round(u(2.5, 5.0) if modality == "ct" else u(5.5, 9.0), 1)
    low, high = anatomy.z_range()
    low, high = low - u(10, 30), high + u(5, 20)
    nz = int(np.ceil((high - low) / dz)) + 1
    d = fov / size
    x0 = -fov / 2 + d / 2 + u(-10, 10)
    y0 = -fov / 2 + d / 2 + u(-10, 10)
    return Grid(shape=(nz, size, size), spacing=(dz, d, d), origin=(low, y0, x0))


SIX = np.array([[[0, 0, 0], [0, 1, 0], [0, 0, 0]], [[0, 1, 0], [1, 1, 1], [0, 1, 0]], [[0, 0, 0], [0, 1, 0], [0, 0, 0]]],
               bool)  # the 6-neighbourhood as a 3x3x3 structuring element


def _touching(mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with at least one 6-neighbour in ``other`` (both (Z, H, W) bool)."""
    near = np.zeros_like(other)
    near[1:] |= other[:-1]
    near[:-1] |= other[1:]
    near[:, 1:] |= other[:, :-1]
    near[:, :-1] |= other[:, 1:]
    near[:, :, 1:] |= other[:, :, :-1]
    near[:, :, :-1] |= other[:, :, 1:]
    return mask & near


def anatomy_report(tissue: np.ndarray, label: np.ndarray, grid: Grid, tissues: tuple[str, ...] = TISSUES) -> dict:
    """Where the organs sit, measured on voxels: the checks behind ``tests/test_data_phantom.py`` and
    ``benchmarks/phantom_anatomy.py``.

    For each kidney (``right_kidney``, ``left_kidney``), over its surface voxels (kidney voxels with a 6-neighbour
    outside the kidney's label):
    - ``liver_spleen_contact``: the fraction that touches (6-neighbourhood) a liver or spleen voxel;
    - ``perirenal_fat_contact``: the fraction that touches perirenal fat (0 where ``tissues`` has none);
    - ``lowest_contact``: the lowest such liver/spleen contact as a fraction of the kidney's height from its lower
      pole (0 = lower pole, 1 = upper pole; ``None`` without contact);
    - ``shell_liver_spleen``: the fraction of the voxels within 10 mm outside the kidney that are liver or spleen
      (how far the kidney is *wrapped*, whether or not fat separates it).
    For the aorta: ``aorta_liver_contact``, the fraction of its surface touching liver. ``volume_ml``: liver,
    spleen and both kidneys. ``centroid_mm``: their (x, y, z) LPS centroids. ``tissues`` names the tissue ids
    (pass an older phantom's list to measure it).
    """
    from scipy.ndimage import distance_transform_edt

    if tissue.shape != label.shape or tissue.shape != tuple(grid.shape):
        raise ValueError(f"tissue {tissue.shape}, label {label.shape} and grid {grid.shape} must have one shape")
    zs, ys, xs = grid.axes()
    voxel_ml = float(np.prod(grid.spacing)) / 1000.0
    liver_spleen = np.isin(label, [LIVER_ID, SPLEEN_ID])
    fat = tissue == tissues.index("perirenal_fat") if "perirenal_fat" in tissues else np.zeros_like(liver_spleen)
    report = {"volume_ml": {}, "centroid_mm": {}}
    for name, lid in (("liver", LIVER_ID), ("spleen", SPLEEN_ID), ("right_kidney", RKIDNEY_ID),
                      ("left_kidney", LKIDNEY_ID)):
        k, j, i = np.nonzero(label == lid)
        report["volume_ml"][name] = round(k.size * voxel_ml, 1)
        report["centroid_mm"][name] = [round(float(c[n].mean()), 1) if k.size else None
                                       for c, n in ((xs, i), (ys, j), (zs, k))]
    for name, lid in (("right_kidney", RKIDNEY_ID), ("left_kidney", LKIDNEY_ID)):
        kidney = label == lid
        if not kidney.any():
            report[name] = None
            continue
        surface = _touching(kidney, ~kidney)
        contact = _touching(surface, liver_spleen)
        slices = np.flatnonzero(kidney.any(axis=(1, 2)))
        low, high = zs[slices[0]], zs[slices[-1]]
        hit = np.flatnonzero(contact.any(axis=(1, 2)))
        lowest = float((zs[hit[0]] - low) / max(high - low, 1e-6)) if hit.size else None
        # wrapping: voxels within 10 mm outside the kidney, in a box around it
        box = tuple(slice(max(int(v.min()) - m, 0), int(v.max()) + m + 1)
                    for v, m in zip(np.nonzero(kidney), np.ceil(10.0 / np.asarray(grid.spacing)).astype(int) + 1))
        dist = distance_transform_edt(~kidney[box], sampling=grid.spacing)
        shell = (dist > 0) & (dist <= 10.0)
        report[name] = {
            "liver_spleen_contact": round(float(contact.sum() / surface.sum()), 4),
            "perirenal_fat_contact": round(float(_touching(surface, fat).sum() / surface.sum()), 4),
            "lowest_contact": None if lowest is None else round(lowest, 3),
            "shell_liver_spleen": round(float(liver_spleen[box][shell].mean()), 4),
        }
    aorta = label == AORTA_ID
    surface = _touching(aorta, ~aorta)
    report["aorta_liver_contact"] = (round(float(_touching(surface, label == LIVER_ID).sum() / surface.sum()), 4)
                                     if surface.any() else None)
    return report
