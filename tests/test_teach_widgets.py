"""ctl.teach.widgets: every viewer builds headless without drawing into its output area (the nbclient deadlock),
draws there once a control moves, its controls span the data, and its static frame draws what the notebooks say
it draws; the toy predictions and InfoNCE numbers by hand."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ctl.data import Volume  # noqa: E402
from ctl.teach.widgets import (dice_assd_explorer, infonce_explorer, prediction_viewer,  # noqa: E402
                               shifted_and_eroded, slice_viewer, translation_viewer)


def volume(domain="ct", depth=5):
    label = np.zeros((depth, 16, 16), np.uint8)
    label[1:4, 2:6, 2:6], label[2, 8:10, 2:4], label[2, 8:10, 12:14], label[2:4, 2:5, 10:14] = 1, 2, 3, 4
    image = np.linspace(0, 1, depth * 256).reshape(depth, 16, 16)
    return Volume(image=image, label=label, spacing=(3.0, 2.0, 2.0), subject=f"{domain}0001", domain=domain)


def controls(widget):
    return {child.description: child for child in widget.children if hasattr(child, "description")}


def output_area(widget):
    return widget.children[-1]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_slice_viewer():
    ct = volume()
    widget, draw = slice_viewer({"ct": ct})
    assert set(controls(widget)) == {"volume", "slice", "organs"}
    fig = draw("ct", position=1.0, overlay=True)
    assert fig.axes[0].get_title() == "ct: slice 4 of 5" and len(fig.legends) == 1
    assert "z = 12.0 mm" in fig.axes[0].get_xlabel()
    assert len(draw("ct", position=0.0, overlay=False).legends) == 0  # no overlay, no legend


def test_translation_viewer_shows_every_column_with_the_ct_outlines():
    ct = volume()
    widget, draw = translation_viewer(ct, {"LSGAN": ct.image * 0.5, "ours": ct.image * 0.8}, truth=ct.image)
    slider = controls(widget)["slice"]
    assert (slider.min, slider.max, slider.value) == (0, 4, 2)  # starts at the slice with the most organ pixels
    assert output_area(widget).outputs == ()  # nothing drawn while no one moves a control: a headless run is safe
    slider.value = 3
    (shown,) = output_area(widget).outputs  # one figure, as an image, after the move
    assert set(shown["data"]) & {"image/png", "image/jpeg"}
    fig = draw(2)
    assert [ax.get_title() for ax in fig.axes] == ["CT", "LSGAN", "ours", "paired MR truth"]
    assert all(len(ax.collections) == 4 for ax in fig.axes)  # the four organs outlined on every panel
    assert len(fig.legends) == 1 and "slice 2 of 5, z = 6 mm" in fig._suptitle.get_text()
    assert max(fig.get_size_inches() * fig.dpi) >= 480


def test_prediction_viewer_scores_each_prediction_on_the_slice():
    mr = volume("mr")
    half = mr.label.copy()
    half[2, 8:10, 2:4] = 0  # the right kidney (4 of the 36 organ pixels of slice 2) missed
    widget, draw = prediction_viewer(mr, {"perfect": mr.label, "missed kidney": half})
    fig = draw(2)
    titles = [ax.get_title() for ax in fig.axes]
    organ_pixels = int((mr.label[2] > 0).sum())  # 16 liver + 4 + 4 kidneys + 12 spleen = 36
    assert organ_pixels == 36
    assert titles[:2] == ["MR", "truth"] and titles[2] == "perfect\n100% of organ pixels right"
    assert titles[3] == f"missed kidney\n{32 / 36:.0%} of organ pixels right"
    assert len(fig.legends) == 1


def test_infonce_explorer_marks_tau_and_counts_the_negatives_that_beat_the_positive():
    widget, draw = infonce_explorer(dim=4, pool=63, positive=0.8, seed=1)
    assert set(controls(widget)) == {"tau", "negatives N"}
    fig = draw(tau=0.5, negatives=10)
    left, right = fig.axes[:2]
    sims = left.collections[0].get_offsets()[:, 0]
    weights = left.collections[0].get_offsets()[:, 1]
    assert len(sims) == 10
    # softmax weights by hand: exp(s_n / tau) / (exp(0.8 / tau) + sum exp(s_m / tau))
    expected = np.exp(sims / 0.5) / (np.exp(0.8 / 0.5) + np.exp(sims / 0.5).sum())
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    loss = -np.log(np.exp(0.8 / 0.5) / (np.exp(0.8 / 0.5) + np.exp(sims / 0.5).sum()))
    assert f"L_q = {loss:.2f} nats" in right.get_title()
    assert f"{int((sims > 0.8).sum())} negatives beat the positive" in left.get_title()


def test_shifted_and_eroded_toy_predictions():
    truth = np.zeros((10, 10), bool)
    truth[3:7, 3:7] = True
    assert shifted_and_eroded(truth, 1, 0, 0)[4:8, 3:7].all() and shifted_and_eroded(truth, 1, 0, 0).sum() == 16
    assert shifted_and_eroded(truth, 0, 0, 1).sum() == 4  # a 4 x 4 square eroded once: 2 x 2
    assert shifted_and_eroded(truth, 0, 0, -1).sum() == 6 * 6 - 4  # dilated once (cross element): corners stay out


def test_dice_assd_explorer_titles_its_scores():
    truth = np.zeros((12, 12), bool)
    truth[4:8, 4:8] = True
    widget, draw = dice_assd_explorer(truth, spacing=(3.0, 1.0))
    assert set(controls(widget)) == {"shift rows", "shift cols", "erode"}
    fig = draw(shift_rows=0, shift_cols=0, erode=0)
    assert fig.axes[0].get_title() == "Dice 1.000, ASSD 0.00 mm"
    fig = draw(shift_rows=0, shift_cols=2, erode=0)
    # shifted 2 columns: overlap 4 x 2, Dice = 2 * 8 / 32 = 0.5
    assert fig.axes[0].get_title().startswith("Dice 0.500") and fig.axes[0].get_legend() is not None
