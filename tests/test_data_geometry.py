"""ctl.data.geometry: smooth fields defined in millimetres, organ shapes and vessel tubes."""
import numpy as np
import pytest

from ctl.data.geometry import Blob, Shape, SmoothField, Tubes, rotation


def test_smooth_field_is_defined_in_millimetres():
    field = SmoothField(np.random.default_rng(0), spacing_mm=20.0)
    zs, ys, xs = (np.linspace(-100, 100, 41, dtype=np.float32),) * 3
    full = field(zs, ys, xs)
    part = field(zs[10:20], ys[::2], xs[5:7])
    assert np.allclose(full[10:20, ::2, 5:7], part, atol=1e-5)
    assert 0.5 < full.std() < 1.5
    with pytest.raises(ValueError, match="leave the field's box"):
        field(np.array([900.0], np.float32), ys, xs)


def test_shapes_and_tubes_by_hand():
    # an ellipsoid rotated 90 degrees about z: its local x axis (radius 20) points along patient y
    blob = Blob(center=(0.0, 0.0, 0.0), radii=(20.0, 10.0, 5.0), rot=rotation(yaw_deg=90))
    z, y, x = np.zeros((1, 1, 1)), np.array([19.0, 21.0]).reshape(1, 2, 1), np.zeros((1, 1, 1))
    assert (blob.level(z, y, x) < 1).ravel().tolist() == [True, False]
    assert np.allclose(blob.bounds[1], [10, 20, 5]) and np.allclose(blob.grown(2).radii, (22, 12, 7))
    # carving the right half out of a sphere: level = max(level, 2 - level_carve)
    sphere = Blob(center=(0.0, 0.0, 0.0), radii=(10.0, 10.0, 10.0))
    half = Shape(parts=(sphere,), carves=(Blob(center=(10.0, 0.0, 0.0), radii=(10.0, 30.0, 30.0)),))
    xs = np.array([-5.0, 5.0]).reshape(1, 1, 2)
    assert (half.level(np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), xs) < 1).ravel().tolist() == [True, False]
    # a tube of radius 3 along x: depth = 3 - distance to the axis; -inf outside the segment's box (+-3 mm)
    tube = Tubes("vein", [(np.zeros(3), np.array([10.0, 0, 0]), 3.0, 3.0)])
    depth = tube.depth(np.array([0.0]).reshape(1, 1, 1), np.array([0.0, 2.0, 2.5, 4.0]).reshape(1, 4, 1),
                       np.array([5.0]).reshape(1, 1, 1))
    assert np.allclose(depth.ravel()[:3], [3.0, 1.0, 0.5]) and depth.ravel()[3] == -np.inf
