"""ctl.teach.plots: organ overlays, outlines and the one legend in the organ colours, the crops and slice picks of
the figures, the image grids, and the compact display of noisy figures, on tiny inputs."""
import base64
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ctl.data import Volume  # noqa: E402
import ctl.teach.plots as plots  # noqa: E402
from ctl.organs import ORGAN_COLOURS  # noqa: E402
from ctl.teach.plots import (body_box, busiest_slice, organ_legend, organ_medians, outline_organs,  # noqa: E402
                             representative_slices, segmentation_grid, show_compact, show_slice, translation_grid,
                             translation_rows)

IN_LABEL_ORDER = [ORGAN_COLOURS[o] for o in ("liver", "right_kidney", "left_kidney", "spleen")]


def labelled_slice():
    label = np.zeros((16, 16), np.uint8)
    label[2:6, 2:6], label[8:10, 2:4], label[8:10, 12:14], label[2:5, 10:14] = 1, 2, 3, 4
    return np.linspace(0, 1, 256).reshape(16, 16), label


def test_the_one_organ_legend_lists_the_organs_in_table_1_order_in_their_colours():
    for outlines in (False, True):
        fig = plt.figure()
        organ_legend(fig, outlines=outlines)
        (legend,) = fig.legends
        assert [t.get_text() for t in legend.get_texts()] == ["Spleen", "Left Kidney", "Right Kidney", "Liver"]
        handles = legend.legend_handles
        colours = [h.get_color() if outlines else h.get_facecolor() for h in handles]
        expected = IN_LABEL_ORDER[::-1]  # Table 1's order: spleen, left kidney, right kidney, liver
        assert [matplotlib.colors.to_hex(c) for c in colours] == [matplotlib.colors.to_hex(c) for c in expected]
        plt.close(fig)


def test_overlays_and_outlines_use_each_organs_colour():
    image, label = labelled_slice()
    fig, (a, b) = plt.subplots(1, 2)
    show_slice(a, image, label, "x")
    assert a.images[1].cmap.colors == IN_LABEL_ORDER  # label ids 1..4
    outline_organs(b, label)
    assert [matplotlib.colors.to_hex(c.get_edgecolor()[0]) for c in b.collections] == \
        [matplotlib.colors.to_hex(c) for c in IN_LABEL_ORDER]
    plt.close(fig)


def test_organ_medians_and_the_busiest_slice_by_hand():
    image, label = labelled_slice()
    volume = Volume(image=np.stack([image, image]), label=np.stack([label * 0, label]), spacing=(2.0, 1.0, 1.0),
                    subject="ct0001", domain="ct")
    medians = organ_medians(volume)
    assert list(medians) == ["liver", "right_kidney", "left_kidney", "spleen"]
    assert medians["liver"] == pytest.approx(np.median(image[2:6, 2:6]))
    assert busiest_slice(volume.label) == 1


def test_body_box_crops_to_the_body_with_its_margin_and_ignores_a_noise_pixel():
    image = np.zeros((40, 50))
    image[10:20, 5:30] = 0.6  # the body
    image[35, 45] = 0.9  # one noisy pixel far from it
    rows, cols = body_box(image, margin=2)
    assert (rows, cols) == (slice(8, 22), slice(3, 32))
    assert body_box(np.zeros((8, 8))) == (slice(None), slice(None))
    with pytest.raises(ValueError, match="one slice"):
        body_box(np.zeros((2, 8, 8)))


def test_representative_slices():
    labels = np.zeros((12, 4, 4), np.uint8)
    labels[2:10, 1, 1] = 1  # organs on slices 2..9
    assert representative_slices(labels, 3) == [4, 6, 7]  # inner quantiles 1.75, 3.5, 5.25 of the 8 slices
    assert representative_slices(labels, 1) == [6]
    with pytest.raises(ValueError, match="no slice"):
        representative_slices(np.zeros((3, 4, 4)), 2)


def test_the_figure_grids_have_one_panel_per_image_outlines_and_a_legend():
    image, label = labelled_slice()
    fig = translation_grid({"CT": [image, image], "ours": [image, image], "truth": [image, image]}, [label, label],
                           ["a", "b"])
    assert len(fig.axes) == 2 * 3 and len(fig.legends) == 1
    assert [ax.get_title() for ax in fig.axes[:3]] == ["CT", "ours", "truth"] and fig.axes[3].get_ylabel() == "b"
    assert all(len(ax.collections) == 4 for ax in fig.axes)  # one outline per organ on every panel
    assert max(fig.get_size_inches() * fig.dpi) >= 480  # readable: at least 480 px on the long side
    fig = segmentation_grid([image], [label], {"ours": [label], "sifa": [label]})
    assert len(fig.axes) == 4 and len(fig.legends) == 1
    plt.close("all")


def test_translation_rows_puts_each_subjects_slice_in_its_row_and_each_image_kind_in_its_column():
    image, label = labelled_slice()
    ct = SimpleNamespace(image=np.stack([image, image * 0.5]), label=np.stack([label, label]))
    other = SimpleNamespace(image=np.stack([image * 0.25, image * 0.75]), label=np.stack([label, 0 * label]))
    translated = {"ours": {"a": ct.image + 1, "b": other.image + 1}}
    fig = translation_rows([("a", 1), ("b", 0)], {"a": ct, "b": other}, translated, {"a": ct.image + 2,
                                                                                       "b": other.image + 2})
    assert [ax.get_title() for ax in fig.axes[:3]] == ["CT $x^s$", "ours", "paired MR truth"]
    assert [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()] == ["a, slice 1", "b, slice 0"]
    shown = [ax.images[0].get_array() for ax in fig.axes]
    expected = [ct.image[1], ct.image[1] + 1, ct.image[1] + 2, other.image[0], other.image[0] + 1, other.image[0] + 2]
    assert all(np.array_equal(a, b) for a, b in zip(shown, expected))
    assert all(len(ax.collections) == 4 for ax in fig.axes)  # row b's outlines come from b's label, slice 0
    fig = translation_rows([("a", 0)], {"a": ct}, translated, ct_title="CT input")
    assert [ax.get_title() for ax in fig.axes] == ["CT input", "ours"]  # no truth column without truths
    plt.close("all")


def test_show_compact_keeps_small_figures_png_and_turns_noisy_ones_into_jpeg(monkeypatch):
    shown = []
    monkeypatch.setattr(plots, "display", shown.append)  # what the notebook would receive
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    show_compact(fig)
    assert shown[-1].format == "png" and shown[-1].data.startswith(b"\x89PNG")
    assert not plt.fignum_exists(fig.number)  # closed: the inline backend will not show it again
    noisy, ax = plt.subplots(figsize=(8, 8))
    ax.imshow(np.random.default_rng(0).random((400, 400)), cmap="gray", interpolation="nearest")
    show_compact(noisy, dpi=80)
    assert shown[-1].format == "jpeg" and len(base64.b64encode(shown[-1].data)) < plots.MAX_PNG_BYTES
