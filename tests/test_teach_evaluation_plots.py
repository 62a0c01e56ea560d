"""ctl.teach.evaluation_plots: the arrows of the surface-distance picture are the surface distances; the pictures
of notebook 05 draw what they are given."""
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ctl.evaluate.metrics import assd, surface, surface_distances  # noqa: E402
from ctl.teach.evaluation_plots import (anisotropy_picture, box_plots, fidelity_scatter,  # noqa: E402
                                        nearest_surface_arrows, surface_distance_picture)


def test_nearest_surface_arrows_match_the_surface_distances():
    source = np.zeros((9, 12), bool)
    source[2:6, 2:6] = True
    target = np.roll(source, (1, 3), axis=(0, 1))
    spacing = (2.0, 0.5)
    starts, ends, distances = nearest_surface_arrows(source, target, spacing)
    np.testing.assert_allclose(distances, surface_distances(source, target, spacing)[0])
    assert surface(target)[ends[:, 0], ends[:, 1]].all()  # every arrow ends on the other surface
    lengths = np.hypot((ends[:, 0] - starts[:, 0]) * spacing[0], (ends[:, 1] - starts[:, 1]) * spacing[1])
    np.testing.assert_allclose(lengths, distances)


def test_the_pictures_draw_their_panels():
    truth = np.zeros((12, 12), bool)
    truth[3:8, 3:8] = True
    pred = np.roll(truth, 2, axis=1)
    fig = surface_distance_picture(pred, truth, (1.0, 1.0))
    assert fig.get_suptitle().endswith(f"Pooled ASSD = {assd(pred, truth, (1.0, 1.0)).value:.2f} mm")
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == [
        "truth only", "prediction only", "both", "truth surface", "prediction surface", "on both surfaces"]
    fig = anisotropy_picture(truth, {"down": (1, 0), "right": (0, 1)}, (2.0, 0.5))
    assert fig.axes[-1].get_legend() is not None and max(fig.get_size_inches() * fig.dpi) >= 480
    titles = [ax.get_title().splitlines()[1] for ax in fig.axes]  # "ASSD <voxels> voxel = <mm> mm"
    (down_voxel, down_mm), (right_voxel, right_mm) = [[float(x) for x in re.findall(r"\d+\.\d+", t)]
                                                      for t in titles]
    assert down_voxel == right_voxel and down_mm > down_voxel > right_mm  # the same in voxels, not in mm
    records = [{"method": m, "organ": o, "assd_unit": "mm", "dice": 0.5, "assd": None if o == "spleen" else 1.0}
               for m in ("a", "b") for o in ("spleen", "left_kidney", "right_kidney", "liver")]
    fig = box_plots(records, ["a", "b"], "mm")
    assert fig.axes[4].get_title() == "Spleen (2 undefined)"
    fig = fidelity_scatter({"a": {"kid": 1.0}, "b": {"kid": 2.0}}, {"a": 60.0, "b": 50.0},
                           {"kid": ("kernel distance", False)})
    assert fig.axes[0].get_title().startswith("rho undefined")
    plt.close("all")
