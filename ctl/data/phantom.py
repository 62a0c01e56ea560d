"""A seeded synthetic abdomen: organ shapes in millimetres, and their voxelisation on any scanner grid.

The anatomy lives in patient coordinates (LPS, millimetres): ``x`` grows towards the patient's **left**, ``y``
towards the **posterior**, ``z`` towards the **head**. Organs are smooth closed surfaces (``geometry.Blob``:
bent superellipsoids with a lobulated surface; ``geometry.Shape``: several blobs joined smoothly, neighbours
carved out); vessels, bowel and pancreas are tubes. Because the shapes live in millimetres and not in voxels,
one subject can be voxelised on a CT grid (fine slices) and on an MR grid (coarse slices), and its "paired MR"
can be rendered on the CT grid itself.

Placement follows the anatomy the segmenter must learn, built from the back forwards:
- the **kidneys** are retroperitoneal, beside the spine on the psoas, the right one 10-25 mm lower; each sits in
  its **perirenal fat** (a capsule 0-2 mm thick at the antero-superior pole, 8-15 mm at the lower pole and
  behind), upper poles medial and posterior, hilum facing antero-medially, with cortex, medullary pyramids,
  sinus fat, the renal pelvis, and renal veins running to the vena cava (the left one in front of the aorta);
- the **liver** (right lobe, left lobe across the midline in front of the stomach, caudate lobe by the vena
  cava) fills the right upper quadrant under the right dome; the right kidney with its fat is carved out of
  it (the renal impression), and nothing of it is left behind that kidney, so the two touch only at the
  kidney's upper pole; the vena cava runs in its posterior surface, the **aorta** never does: the aorta sits
  directly in front of the vertebral body, slightly left, in its own fat, behind the diaphragm's crura;
- the **spleen** lies postero-laterally on the left under the dome, above and lateral to the left kidney
  (carved like the liver), the **stomach** in front of it, the **pancreas** across the aorta with the splenic
  vein behind it, the portal vein rising to the liver, the **gallbladder** under the liver; small bowel loops
  and the colon below; lung bases, diaphragm, heart and ribs above and around.
Texture that translation has to keep: portal and hepatic vein branches in the liver, hilar vessels in the
spleen, pyramids and sinus in the kidneys, bowel wall and content, and one anatomical texture field (``texture``)
that modulates every parenchyma alike in CT and MR (see ``render.py``).

Two rules are also enforced on the voxels, where a coarse grid could lose a thin fat layer: liver or spleen
never touches a kidney below the kidney's upper 40 % (such voxels become perirenal fat), and never the aorta.
Everything is drawn from one ``numpy.random.Generator``: same seed, same subject, bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctl.data.geometry import Blob, Grid, Shape, SmoothField, Tubes, random_bumps, rotation, tube_path, tube_tree

# Tissues the renderers know (``render.py`` gives each a CT and an MR value); the id is the position here.
TISSUES = ("air", "gas", "lung", "subcutaneous_fat", "visceral_fat", "muscle", "bowel", "stomach_content", "liver",
           "liver_vessel", "gallbladder", "spleen", "kidney", "renal_sinus_fat", "aorta", "ivc",
           "bone_cortex", "bone_marrow", "disc", "csf", "perirenal_fat", "renal_medulla", "urine", "pancreas",
           "vein", "artery", "bowel_wall", "stool", "rib", "heart")
T = {name: i for i, name in enumerate(TISSUES)}
SOFT = tuple(T[n] for n in ("visceral_fat", "bowel", "bowel_wall", "stool", "gas", "perirenal_fat"))  # may be
# overwritten by organs and vessels; muscle, bone and other organs may not

# Structures carry BTCV label ids so the phantom can be written exactly as BTCV is (see ``labels.py``).
SPLEEN_ID, RKIDNEY_ID, LKIDNEY_ID, GALLBLADDER_ID, LIVER_ID, STOMACH_ID, AORTA_ID, IVC_ID = 1, 2, 3, 4, 6, 7, 8, 9
PORTAL_ID, PANCREAS_ID = 10, 11
UPPER_POLE = 0.6  # liver or spleen may touch a kidney only above this fraction of its height


@dataclass
class Anatomy:
    """One subject: body layers, spine and great vessels as per-slice shapes, organs as shapes, tubes."""

    body: dict  # a, b (mm): outer semi-axes in x and y; fat, muscle (mm) layer thicknesses; exponent; y_shift
    spine: dict  # vertebral body centre y, radii; canal radius; disc period/phase (mm)
    vessels: dict  # aorta (x, y, r), ivc (x, y, rx, ry), crus: top z, thickness (mm)
    organs: dict  # liver, spleen, stomach (Shape); right_kidney, left_kidney, optional gallbladder, heart (Blob)
    kidney_parts: dict  # per kidney: capsule, sinus, pelvis (Blob), pyramids (list of Blob)
    tubes: dict  # name -> Tubes: colon, pancreas, veins and arteries (see ``_tubes``)
    bowel_fields: tuple  # three SmoothFields: small-bowel loops (two) and their gas
    bowel_top: float  # z (mm) above which there are no small-bowel loops
    ribs: list  # (z of the posterior end, drop (mm) to the front end, angle where the rib ends)
    texture: SmoothField  # anatomical texture (unit sd): parenchyma is the same in CT and MR
    psoas_top: float  # z (mm) where the psoas muscles begin
    dome_drop: float  # how much lower (mm) the left diaphragm dome is than the right one

    def z_range(self) -> tuple[float, float]:
        """z (mm) of the lowest kidney pole and of the top of the liver."""
        low = min(self.organs[k].z_span()[0] for k in ("right_kidney", "left_kidney"))
        return low, self.organs["liver"].z_span()[1]


def _kidney(rng: np.random.Generator, sign: int, zc: float, spine: dict) -> tuple[Blob, dict]:
    """One kidney (``sign`` -1 right, +1 left, centre height ``zc``) and its parts: perirenal fat capsule, sinus
    fat, pelvis, seven medullary pyramids fanned around the sinus, and the hilum's position."""
    u = rng.uniform
    krx, kry, krz = u(27, 32), u(20, 24), u(52, 61)  # 54-64 wide, 40-48 deep, 104-122 long
    # hilum forwards and inwards (yaw), upper pole medial (roll) and posterior (tilt)
    rot = rotation(yaw_deg=sign * u(25, 40), tilt_deg=-u(8, 18), roll_deg=-sign * u(8, 15))
    center = np.array([sign * (spine["rx"] + u(38, 46)), spine["y"] + u(-2, 8), zc])  # beside spine and psoas
    kidney = Blob(center=tuple(center), radii=(krx, kry, krz), rot=rot, bumps=random_bumps(rng, 4, 0.03))
    t = u(6, 9)  # fat: grown by t and shifted down, back and out: 0-2 mm at the front of the upper pole, 2t below
    capsule = kidney.grown(t, shift=(sign * u(1, 3), u(2, 4), -(t - u(0.5, 2))))
    medial = -sign  # the hilum's side in local x
    hilum = center + rot @ np.array([medial * krx * 0.85, 0.0, 0.0])
    sinus = Blob(center=tuple(hilum), radii=(krx * 0.55, kry * 0.45, krz * 0.38), rot=rot)
    pelvis = Blob(center=tuple(center + rot @ np.array([medial * krx * 0.95, 0, -krz * 0.08])),
                  radii=(krx * 0.45, kry * 0.25, krz * 0.12), rot=rot)
    pyramids = []
    for k, angle in enumerate(np.deg2rad(np.linspace(-125, 125, 7) + u(-10, 10))):
        p = np.array([medial * (0.25 - 0.55 * np.cos(angle)), 0.3 * (-1) ** k, 0.62 * np.sin(angle)])  # local
        pyramids.append(Blob(center=tuple(center + rot @ (p * (krx, kry, krz))), rot=rot,
                             radii=(krx * 0.2, kry * 0.32, krz * 0.14)))
    return kidney, dict(capsule=capsule, sinus=sinus, pelvis=pelvis, pyramids=pyramids, hilum=hilum)


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw one subject. Sizes follow adult abdominal anatomy; the comments give each range in mm."""
    u = rng.uniform
    a_in, b_in = u(112, 135), u(76, 92)  # abdominal cavity: half-width, half-depth (inside the muscle wall)
    fat, muscle = u(10, 32), u(8, 14)  # subcutaneous fat and muscle wall thickness
    ys = u(-5, 5)  # centre of the body outline (y)
    body = dict(a=a_in + fat + muscle, b=b_in + fat + muscle, fat=fat, muscle=muscle, exponent=u(2.1, 2.6),
                y_shift=ys)
    vy = ys + body["b"] - fat - u(60, 72)  # vertebral body centre: 60-72 mm in front of the back's fat
    spine = dict(y=vy, rx=u(20, 25), ry=u(15, 19), canal=u(7, 9.5), disc_period=u(30, 36), disc_phase=u(0, 36),
                 disc=u(7, 10))
    front = vy - spine["ry"]  # anterior surface of the vertebral body
    ar = u(9.5, 12.5)  # aortic radius: 19-25 mm across
    aorta = (u(6, 16), front - ar - u(2, 5), ar)  # directly in front of the vertebral body, slightly left
    ivc = (u(-34, -26), front - u(8, 16), u(11, 15), u(7, 10))  # to its right, flattened: x, y, rx, ry
    zk = u(-5, 15)  # left kidney centre (about L1-L2); the right one sits 10-25 mm lower, under the liver
    vessels = dict(aorta=aorta, ivc=ivc, crus_top=zk + u(10, 25), crus=u(4, 7))
    organs, parts = {}, {}
    for side, sign, zc in (("right_kidney", -1, zk - u(10, 25)), ("left_kidney", 1, zk)):
        organs[side], parts[side] = _kidney(rng, sign, zc, spine)
    # The kidney's fat, and the retroperitoneum behind, beside and below it, stay free of liver and spleen.
    retro = {side: (parts[side]["capsule"].grown(2), parts[side]["capsule"].grown(12, shift=(sign * 10, 14, -14)))
             for side, sign in (("right_kidney", -1), ("left_kidney", 1))}

    # Stomach: fundus under the left dome in front of the spleen, body in front, antrum across the midline.
    sx, sy, sz = a_in - u(32, 42), ys + b_in * u(0.2, 0.4), zk + u(40, 55)  # spleen centre: back, left, high
    stomach_parts = (
        Blob(center=(sx - u(38, 48), sy - u(20, 32), sz + u(5, 20)), radii=(u(32, 40), u(30, 36), u(32, 40)),
             bumps=random_bumps(rng, 3, 0.05)),
        Blob(center=(u(35, 55), ys - b_in * u(0.25, 0.38), zk + u(10, 25)), radii=(u(34, 42), u(26, 34), u(40, 50)),
             rot=rotation(tilt_deg=u(10, 25)), bumps=random_bumps(rng, 3, 0.05)),
        Blob(center=(u(-10, 12), ys - b_in * u(0.45, 0.58), zk + u(-5, 10)), radii=(u(32, 40), u(16, 22), u(16, 22)),
             rot=rotation(yaw_deg=u(-25, 0)), bumps=random_bumps(rng, 3, 0.05)))
    organs["stomach"] = Shape(parts=stomach_parts, blend=0.15, carves=(parts["left_kidney"]["capsule"].grown(4),))
    gastric = tuple(p.grown(3) for p in stomach_parts)  # the stomach's impression on liver and spleen

    # Liver: right lobe against the right wall, tilted (dome at the back, lower edge in front, lower laterally),
    # left lobe across the midline in front of the stomach, caudate lobe beside the vena cava; kept 10 mm
    # from the aorta (crus and fat between).
    lrx, lry, lrz = u(70, 82), b_in * u(0.95, 1.05), u(84, 98)
    zl = zk + u(48, 62)
    lobulation = SmoothField(rng, spacing_mm=u(20, 28))
    right_lobe = Blob(center=(-a_in + lrx - u(0, 6), ys + u(-4, 6), zl), radii=(lrx, lry, lrz),
                      rot=rotation(yaw_deg=u(-10, 5), tilt_deg=-u(15, 25), roll_deg=u(12, 22)), exponent=u(2.2, 2.6),
                      taper=u(0.25, 0.4), bumps=random_bumps(rng, 5, 0.05), wobble=lobulation, wobble_mm=u(2, 4))
    left_lobe = Blob(center=(u(0, 20), ys - b_in * u(0.5, 0.6), zl + u(-5, 10)),
                     radii=(u(60, 74), u(28, 36), u(36, 46)), rot=rotation(yaw_deg=u(-15, 10), tilt_deg=-u(0, 15)),
                     exponent=2.2, taper=0.4,
                     bumps=random_bumps(rng, 4, 0.05), wobble=lobulation, wobble_mm=3.0)
    caudate = Blob(center=(ivc[0] + u(14, 20), ivc[1] - u(16, 22), zl - u(5, 20)),
                   radii=(u(16, 22), u(14, 18), u(24, 32)))
    aorta_zone = Blob(center=(aorta[0], aorta[1], 0.0), radii=(ar + 10, ar + 10, 3000.0))
    organs["liver"] = Shape(parts=(right_lobe, left_lobe, caudate), blend=0.12,
                            carves=retro["right_kidney"] + (aorta_zone,) + gastric)
    organs["spleen"] = Shape(parts=(Blob(center=(sx, sy, sz), radii=(u(58, 70), u(21, 27), u(44, 56)),
                                         rot=rotation(yaw_deg=-u(45, 65), tilt_deg=u(-10, 10)), bend=u(0.25, 0.45),
                                         bumps=random_bumps(rng, 5, 0.05), wobble=SmoothField(rng, u(14, 20)),
                                         wobble_mm=u(1.5, 3)),),  # long axis along the ribs, convex outwards
                             carves=retro["left_kidney"] + gastric)
    top = zl + lrz
    if u() < 0.7:  # most subjects show a gallbladder under the liver, in the fossa between the lobes
        organs["gallbladder"] = Blob(center=(u(-50, -30), ys - b_in * u(0.3, 0.45), zl - lrz * u(0.45, 0.6)),
                                     radii=(u(11, 15), u(11, 15), u(24, 34)), rot=rotation(tilt_deg=-u(15, 35)),
                                     bumps=random_bumps(rng, 3, 0.05))
    organs["heart"] = Blob(center=(u(10, 30), ys - b_in * u(0.15, 0.3), top - u(0, 10)),
                           radii=(u(55, 65), u(45, 52), u(45, 52)), rot=rotation(yaw_deg=u(-30, -15)))
    tubes = _tubes(rng, a_in, b_in, ys, spine, vessels, parts, (sx, sy, sz), zk, zl, top)
    ribs = [(zk + u(20, 35) + k * u(24, 28), u(100, 140), u(1.3, 1.8) if k < 2 else u(2.2, 2.6)) for k in range(8)]
    fields = (SmoothField(rng, u(16, 20)), SmoothField(rng, u(16, 20)), SmoothField(rng, 12.0))
    return Anatomy(body=body, spine=spine, vessels=vessels, organs=organs, kidney_parts=parts, tubes=tubes,
                   bowel_fields=fields, bowel_top=zk + u(25, 45), ribs=ribs, texture=SmoothField(rng, u(6, 9)),
                   psoas_top=zk + u(15, 35), dome_drop=u(5, 20))


def _tubes(rng, a_in, b_in, ys, spine, vessels, parts, spleen_c, zk, zl, top) -> dict[str, Tubes]:
    """Colon, pancreas and vessels. Veins: the splenic vein from the splenic hilum behind the pancreas to the
    confluence, the portal vein up to the liver's hilum, its right and left branches, three hepatic veins
    draining into the vena cava, the renal veins (the left one in front of the aorta). Arteries: the superior
    mesenteric and the renal arteries. Colon: ascending in the right flank, transverse sagging forwards, splenic
    flexure high on the left, descending down the left flank."""
    u = rng.uniform
    (ax, ay, ar), (ix, iy, _, iry) = vessels["aorta"], vessels["ivc"]
    sx, sy, sz = spleen_c
    vy = spine["y"]
    rk, lk = parts["right_kidney"]["hilum"], parts["left_kidney"]["hilum"]
    renal_veins = (tube_path([rk, (ix, iy, rk[2] + 5)], [4.5, 5])
                   + tube_path([lk, (ax + 5, ay - ar - 5, lk[2] + 5), (ix, iy, lk[2] + 8)], [4.5, 4.5, 5]))
    renal_arteries = (tube_path([(ax, ay, rk[2] + 12), (ix, iy + iry + 4, rk[2] + 8), rk], [3, 3, 3])
                      + tube_path([(ax, ay, lk[2] + 10), lk + np.array([0, 6, 0])], [3, 3]))
    sma = tube_path([(ax, ay - ar + 2, zk + u(12, 20)), (ax - 2, ay - ar - 14, zk + 2),
                     (ax - 4, ay - ar - 16, zk - 80)], [4, 3.5, 3.5])
    splenic_hilum = np.array([sx - u(18, 24), sy - u(14, 20), sz - u(0, 10)])
    confluence = np.array([ax - u(18, 26), ay - ar - u(16, 22), zk + u(0, 10)])
    porta = np.array([ix - u(0, 8), iy - u(28, 36), zl - u(25, 35)])
    tail = np.array([sx - u(40, 50), vy - u(22, 30), zk + u(15, 25)])
    body = np.array([ax + u(5, 15), ay - ar - u(24, 30), zk + u(5, 12)])
    head = np.array([ix + u(-5, 5), iy - u(28, 34), zk - u(5, 15)])
    splenic_portal = (tube_path([splenic_hilum, tail + (0, 10, 0), body + (0, 10, 0), confluence, porta],
                                [4.5, 4.5, 5, 6, 6.5])
                      + tube_path([confluence, confluence + (5, -5, -70)], [5.5, 5]))  # and the SMV
    portal = (tube_tree(rng, porta, (-0.8, 0.2, 0.35), u(30, 40), 5.5, 3)
              + tube_tree(rng, porta, (0.75, -0.45, 0.3), u(30, 40), 4.5, 2))
    hv_root = np.array([ix + 4, iy - 4, top - u(25, 35)])
    hepatic = sum((tube_tree(rng, hv_root, d, u(35, 45), r, 2) for d, r in
                   (((-0.75, -0.1, -0.65), 5.0), ((0.1, -0.8, -0.55), 4.5), ((0.7, -0.55, -0.3), 4.0))), [])
    hilar = sum((tube_tree(rng, splenic_hilum, splenic_hilum - spleen_c + rng.normal(0, 8, 3), u(12, 18), 3.5, 1)
                 for _ in range(3)), [])
    pancreas = tube_path([head + (0, 0, -20), head, body, tail, splenic_hilum + (0, -8, -6)], [14, 16, 12, 11, 9])
    lo = zk - 140
    colon = tube_path([(-a_in + u(24, 32), vy - u(20, 35), lo), (-a_in + u(26, 34), vy - u(25, 40), zk - u(0, 15)),
                       (-a_in + u(40, 55), ys - b_in * u(0.35, 0.5), zk + u(0, 10)),
                       (u(-20, 20), ys - b_in * u(0.6, 0.75), zk - u(15, 40)),
                       (a_in - u(30, 40), ys - b_in * u(0.2, 0.35), zk + u(15, 30)),
                       (a_in - u(20, 28), vy - u(0, 15), zk - u(10, 20)), (a_in - u(18, 26), vy + u(-10, 5), lo)],
                      [u(20, 26), u(20, 26), u(18, 22), u(17, 21), u(15, 19), u(14, 17), u(14, 17)])
    fat = ("visceral_fat", "perirenal_fat", "renal_sinus_fat")
    return {
        "colon": Tubes("stool", colon, wall="bowel_wall", wall_mm=2.5, haustra_mm=u(25, 35)),
        "pancreas": Tubes("pancreas", pancreas, PANCREAS_ID),
        "splenic_portal": Tubes("vein", splenic_portal, PORTAL_ID, within=fat + ("bowel", "bowel_wall", "stool", "gas",
                                                                            "pancreas")),
        "renal_veins": Tubes("vein", renal_veins, within=fat + ("urine",)),
        "arteries": Tubes("artery", sma + renal_arteries, within=fat + ("pancreas",)),
        "liver_veins": Tubes("liver_vessel", portal + hepatic, LIVER_ID, within=("liver",)),
        "splenic_hilum": Tubes("vein", hilar, SPLEEN_ID, within=("spleen",)),
    }


def _box(shape, grid: Grid, low=None, high=None):
    """Index slices of the grid box holding ``shape`` (or the box low..high, (x, y, z) mm) and the coordinates
    inside it (None when empty)."""
    if low is None:
        low, high = shape.bounds
    slices, coords = [], []
    for lo, hi, axis in zip(np.asarray(low)[::-1], np.asarray(high)[::-1], grid.axes()):  # (z, y, x)
        i0, i1 = np.searchsorted(axis, lo), np.searchsorted(axis, hi, side="right")
        if i1 <= i0:
            return None
        slices.append(slice(i0, i1))
        coords.append(axis[i0:i1])
    z, y, x = coords
    return tuple(slices), (z[:, None, None], y[None, :, None], x[None, None, :])


def _draw(shape, grid: Grid, tissue, label, name: str, label_id: int | None, over=None) -> np.ndarray | None:
    """Paint ``shape`` as tissue ``name`` (and ``label_id`` unless None) over the tissue ids ``over`` (None:
    over anything); returns the painted mask in the full grid (None when nothing was painted)."""
    box = _box(shape, grid)
    if box is None:
        return None
    idx, (bz, by, bx) = box
    inside = shape.level(bz, by, bx) < 1
    if over is not None:
        inside &= np.isin(tissue[idx], over)
    tissue[idx][inside] = T[name]
    if label_id is not None:
        label[idx][inside] = label_id
    mask = np.zeros(grid.shape, bool)
    mask[idx] = inside
    return mask


def _draw_tubes(tubes: Tubes, grid: Grid, tissue, label) -> None:
    """Paint ``tubes`` (content, wall, label) over their ``within`` tissues (default: ``SOFT``)."""
    boxes = tubes.boxes()
    box = _box(None, grid, np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0))
    if box is None:
        return
    idx, coords = box
    depth = tubes.depth(*coords)
    allowed = np.isin(tissue[idx], [T[n] for n in tubes.within] if tubes.within else SOFT)
    inside = (depth > 0) & allowed
    tissue[idx][inside] = T[tubes.tissue]
    if tubes.wall:
        tissue[idx][inside & (depth < tubes.wall_mm)] = T[tubes.wall]
    if tubes.label:
        label[idx][inside] = tubes.label


def _paint_kidney(kidney: Blob, parts: dict, lid: int, grid: Grid, tissue, label, over, guard: bool) -> None:
    """Perirenal fat (over the tissues ``over``), no liver or spleen behind it (column by column along y), then
    cortex, pyramids, sinus fat and pelvis. With ``guard``, liver or spleen voxels touching the kidney below
    ``UPPER_POLE`` of its height become perirenal fat."""
    capsule = _draw(parts["capsule"], grid, tissue, label, "perirenal_fat", 0, over=over)
    if capsule is not None:
        behind = np.maximum.accumulate(capsule, axis=1) & ~capsule  # posterior to the fat
        organ = np.isin(label, [LIVER_ID, SPLEEN_ID]) & behind
        tissue[organ], label[organ] = T["visceral_fat"], 0
    _draw(kidney, grid, tissue, label, "kidney", lid, over=(T["perirenal_fat"],))
    for pyramid in parts["pyramids"]:
        _draw(pyramid, grid, tissue, label, "renal_medulla", lid, over=(T["kidney"],))
    _draw(parts["sinus"], grid, tissue, label, "renal_sinus_fat", 0,
          over=(T["kidney"], T["renal_medulla"], T["perirenal_fat"]))
    _draw(parts["pelvis"], grid, tissue, label, "urine", 0, over=(T["renal_sinus_fat"],))
    if guard:
        mask = label == lid
        slices = np.flatnonzero(mask.any(axis=(1, 2)))
        if slices.size:
            zs = grid.axes()[0]
            cut = zs[slices[0]] + UPPER_POLE * (zs[slices[-1]] - zs[slices[0]])
            near = _touching(np.isin(label, [LIVER_ID, SPLEEN_ID]), mask & (zs[:, None, None] < cut))
            tissue[near], label[near] = T["perirenal_fat"], 0


def voxelise(anatomy: Anatomy, grid: Grid, guard: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Tissue ids (``TISSUES``) and BTCV-style structure ids of ``anatomy`` on ``grid``, each (Z, H, W) uint8.

    Painted in this order, each over what may lie under it: body layers and ribs, bowel and colon, muscles,
    stomach, pancreas, liver and gallbladder, spleen, lungs and heart above the diaphragm, kidneys in their fat,
    vessels, spine. With ``guard`` (the default), liver and spleen voxels that touch a kidney below its upper
    pole, or the aorta, become fat (see the module docstring); ``guard=False`` shows how rarely that is needed.
    """
    zs, ys, xs = grid.axes()
    z, y, x = zs[:, None, None], ys[None, :, None], xs[None, None, :]
    tissue = np.zeros(grid.shape, np.uint8)
    label = np.zeros(grid.shape, np.uint8)
    bd, sp, vs = anatomy.body, anatomy.spine, anatomy.vessels

    def ellipse(cx, cy, rx, ry, e=2.0):  # (1, H, W) in-plane mask, the same on every slice
        return (np.abs((x - cx) / rx) ** e + np.abs((y - cy) / ry) ** e) < 1

    def put(mask, name, lid=None, over=None):
        mask = np.broadcast_to(mask, grid.shape)
        if over is not None:
            mask = mask & np.isin(tissue, over)
        tissue[mask] = T[name]
        if lid is not None:
            label[mask] = lid

    # Body wall: an outer superellipse, fat, then muscle, then the cavity (all shrink slightly towards the feet).
    taper = 1.0 + 0.0006 * (z - 50.0)  # (Z, 1, 1)
    yb = y - bd["y_shift"]
    for thick, name in ((0.0, "subcutaneous_fat"), (bd["fat"], "muscle"), (bd["fat"] + bd["muscle"], "visceral_fat")):
        put((np.abs(x / (bd["a"] * taper - thick)) ** bd["exponent"]
             + np.abs(yb / (bd["b"] * taper - thick)) ** bd["exponent"]) < 1, name)
    cavity = tissue == T["visceral_fat"]
    wall = tissue == T["muscle"]
    # Ribs in the wall: each runs from beside the spine (angle 0.15 rad from the back) forwards and down.
    angle = np.arctan2(np.abs(x), yb)  # 0 at the back, pi at the front
    for z_back, drop, end in anatomy.ribs:
        put((np.abs(z - (z_back - drop * (angle - 0.15) / np.pi)) < 5) & (angle > 0.15) & (angle < end) & wall, "rib")

    # Small bowel: where two smooth fields are both near zero (a thick random curve), wall around fluid,
    # gas in some loops; only in front of the retroperitoneum, below the stomach.
    f1, f2, f3 = (f(zs, ys, xs) for f in anatomy.bowel_fields)
    ay, ar = vs["aorta"][1], vs["aorta"][2]
    peritoneal = cavity & (y < ay - ar - 8 + 0.004 * x ** 2) & (z < anatomy.bowel_top)
    r = np.sqrt(f1 ** 2 + f2 ** 2) / 1.15  # loops fill 1 - exp(-1.15^2 / 2) = 48 % of the region
    put(peritoneal & (r < 1), "bowel_wall")
    put(peritoneal & (r < 0.72), "bowel")
    put(peritoneal & (r < 0.72) & (f3 > 1.0), "gas")
    _draw_tubes(anatomy.tubes["colon"], grid, tissue, label)
    put((tissue == T["stool"]) & (f3 > 0.7), "gas")

    # Paraspinal, psoas and quadratus lumborum muscles (the last two grow towards the pelvis).
    put(ellipse(-32, sp["y"] + 44, 27, 20, 2.5) | ellipse(32, sp["y"] + 44, 27, 20, 2.5), "muscle")
    psoas_r = np.clip(5 + 0.12 * (anatomy.psoas_top - z), 0, 20)  # (Z, 1, 1): 10-20 mm from L2 down
    cx = sp["rx"] + 12
    put(((np.abs(x) - cx) ** 2 + (y - sp["y"] + 2) ** 2 < psoas_r ** 2) & (psoas_r > 0), "muscle")
    ql = np.clip(0.2 * (anatomy.psoas_top - 20 - z), 0, 14)  # (Z, 1, 1)
    put(((np.abs(x) - sp["rx"] - 50) ** 2 / 1.6 + (y - sp["y"] - 22) ** 2 < ql ** 2) & (ql > 0), "muscle")

    # Stomach: a wall about 4 mm thick (level within 4/30 of the surface), content, and a gas cap in front
    # (the patient lies on the back: gas rises to the anterior quarter).
    stomach = anatomy.organs["stomach"]
    if _draw(stomach, grid, tissue, label, "bowel_wall", STOMACH_ID, over=SOFT) is not None:
        idx, (bz, by, bx) = _box(stomach, grid)
        deep = (stomach.level(bz, by, bx) < 1 - 4.0 / 30) & (label[idx] == STOMACH_ID)
        tissue[idx][deep] = T["stomach_content"]
        low, high = stomach.bounds
        tissue[idx][deep & (by < low[1] + 0.25 * (high[1] - low[1]))] = T["gas"]
    _draw_tubes(anatomy.tubes["pancreas"], grid, tissue, label)

    _draw(anatomy.organs["liver"], grid, tissue, label, "liver", LIVER_ID, over=SOFT)
    if "gallbladder" in anatomy.organs:
        _draw(anatomy.organs["gallbladder"], grid, tissue, label, "gallbladder", GALLBLADDER_ID,
              over=SOFT + (T["liver"],))
    _draw(anatomy.organs["spleen"], grid, tissue, label, "spleen", SPLEEN_ID, over=SOFT)

    # Diaphragm and lungs above the domes: each dome highest near its centre and falling steeply towards the
    # wall, least in front and most at the back (the posterior recess), with a dip in the middle for the heart.
    top = anatomy.organs["liver"].z_span()[1] - 4
    a_in = bd["a"] - bd["fat"] - bd["muscle"]
    b_in = bd["b"] - bd["fat"] - bd["muscle"]
    rn = (np.abs(x / a_in) ** bd["exponent"] + np.abs(yb / b_in) ** bd["exponent"]) ** (1 / bd["exponent"])
    fall = 25 + 75 * (1 + np.cos(angle)) / 2  # mm: 100 at the back, 62 at the side, 25 in front
    dome = (np.where(x < 0, top, top - anatomy.dome_drop) - fall * np.clip(rn, 0, 1) ** 3
            - 25 * np.exp(-((x - 20) / 45) ** 2 - ((yb + 0.4 * b_in) / 40) ** 2))  # (1, H, W)
    organ_like = SOFT + tuple(T[n] for n in ("liver", "spleen", "stomach_content", "gallbladder", "liver_vessel",
                                             "pancreas", "vein"))
    lung = (z > dome) & cavity & np.isin(tissue, SOFT)  # the organs keep their own tops, under the diaphragm
    put(lung, "lung", 0)
    _draw(anatomy.organs["heart"], grid, tissue, label, "heart", 0, over=(T["lung"],))
    put(_touching(lung, np.isin(tissue, organ_like[len(SOFT):]) | (tissue == T["heart"])), "muscle", 0)  # diaphragm

    for side, lid in (("right_kidney", RKIDNEY_ID), ("left_kidney", LKIDNEY_ID)):
        _paint_kidney(anatomy.organs[side], anatomy.kidney_parts[side], lid, grid, tissue, label,
                      over=organ_like + (T["lung"], T["muscle"]), guard=guard)

    # Vessels: the veins and arteries, the vena cava, the crura and fat around the aorta, the aorta.
    for name in ("splenic_portal", "renal_veins", "arteries", "liver_veins", "splenic_hilum"):
        _draw_tubes(anatomy.tubes[name], grid, tissue, label)
    ax, ay, ar = vs["aorta"]
    ix, iy, irx, iry = vs["ivc"]
    put(ellipse(ix, iy, irx, iry), "ivc", IVC_ID, over=organ_like + (T["lung"], T["muscle"], T["perirenal_fat"]))
    ring = ellipse(ax, ay, ar + 3 + vs["crus"], ar + 3 + vs["crus"]) & (y < ay + ar * 0.6)
    put(ring & (z > vs["crus_top"]), "muscle", 0, over=organ_like + (T["lung"],))
    put(ellipse(ax, ay, ar + 3, ar + 3), "visceral_fat", 0, over=organ_like + (T["lung"], T["muscle"]))
    put(ellipse(ax, ay, ar, ar), "aorta", AORTA_ID)
    if guard:
        near = _touching(label == LIVER_ID, label == AORTA_ID)
        tissue[near], label[near] = T["visceral_fat"], 0

    # Spine: vertebral body (cortex ring, marrow, discs at regular heights), canal, spinous process.
    outer, inner = ellipse(0, sp["y"], sp["rx"], sp["ry"]), ellipse(0, sp["y"], sp["rx"] - 2.5, sp["ry"] - 2.5)
    disc = ((z - sp["disc_phase"]) % sp["disc_period"]) < sp["disc"]  # (Z, 1, 1)
    canal_y = sp["y"] + sp["ry"] + sp["canal"] + 2
    process = ellipse(0, canal_y + sp["canal"] + 10, 6, 13) | (ellipse(0, canal_y, sp["canal"] + 4, sp["canal"] + 4))
    for mask, name in ((process, "bone_cortex"), (outer & ~disc, "bone_cortex"), (inner & ~disc, "bone_marrow"),
                       (outer & disc, "disc"), (ellipse(0, canal_y, sp["canal"], sp["canal"]), "csf")):
        put(mask, name, 0)
    return tissue, label


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
