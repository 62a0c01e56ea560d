"""ctl.data.geometry: smooth fields defined in millimetres."""
import numpy as np
import pytest

from ctl.data.geometry import SmoothField


def test_smooth_field_is_defined_in_millimetres():
    field = SmoothField(np.random.default_rng(0), spacing_mm=20.0)
    zs, ys, xs = (np.linspace(-100, 100, 41, dtype=np.float32),) * 3
    full = field(zs, ys, xs)
    part = field(zs[10:20], ys[::2], xs[5:7])
    assert np.allclose(full[10:20, ::2, 5:7], part, atol=1e-5)
    assert 0.5 < full.std() < 1.5
    with pytest.raises(ValueError, match="leave the field's box"):
        field(np.array([900.0], np.float32), ys, xs)
