"""ctl.teach.infonce (notebook 03): the Gaussian InfoNCE bound against its known limits; the patch squares; the
organs under sampled positions, their order, the overlap of receptive fields by hand; the similarity figure."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ctl.teach.infonce import (draw_patch_sizes, gaussian_infonce_bound, overlapping_share,  # noqa: E402
                               position_organs, sample_by_organ, similarity_figure, sorted_by_organ)


def test_gaussian_bound_is_zero_without_dependence_and_tracks_small_information():
    g = torch.Generator().manual_seed(0)
    true_mi, bound = gaussian_infonce_bound(0.0, dim=3, negatives=15, queries=256, generator=g)
    assert true_mi == 0.0 and bound == pytest.approx(0.0, abs=1e-12)  # all scores equal: L = log(N+1)
    true_mi, bound = gaussian_infonce_bound(0.6, dim=2, negatives=255, queries=4096, generator=g)
    assert true_mi == pytest.approx(-math.log(1 - 0.36))
    assert bound == pytest.approx(true_mi, abs=0.1)  # far below log 256: the bound is nearly tight


def test_gaussian_bound_saturates_at_log_n_plus_1():
    g = torch.Generator().manual_seed(1)
    true_mi, bound = gaussian_infonce_bound(0.999, dim=4, negatives=7, queries=1024, generator=g)
    assert true_mi > 10 and math.log(8) - 0.05 < bound <= math.log(8)
    with pytest.raises(ValueError, match="rho"):
        gaussian_infonce_bound(1.0, 2, 3, 10, g)
    with pytest.raises(ValueError, match="more queries"):
        gaussian_infonce_bound(0.5, 2, 10, 10, g)


def test_one_square_per_layer_around_the_centre():
    label = np.zeros((16, 16), np.uint8)
    label[4:8, 4:8] = 1
    image = np.random.default_rng(0).random((16, 16))
    fig, ax = plt.subplots()
    draw_patch_sizes(ax, image, (8, 8), {"stem": 7, "res0": 29}, label)
    assert [p.get_width() for p in ax.patches] == [7, 29]
    assert ax.patches[0].get_xy() == (8 - 3.5, 8 - 3.5)
    plt.close(fig)


def test_positions_find_the_organ_under_their_centre_and_sort_into_organ_blocks():
    label = np.zeros((16, 16), np.uint8)
    label[0:4, 0:4], label[8:12, 12:16] = 1, 4  # liver top left, spleen right
    # a 4 x 4 map with neighbours 4 px apart: position p = row * 4 + col, centre (4 row + 2, 4 col + 2)
    organs = position_organs(label, np.array([0, 11, 5, 3]), map_width=4, jump=4)
    assert organs.tolist() == [1, 4, 0, 0]  # (2, 2) liver, (10, 14) spleen, (6, 6) and (2, 14) nothing
    assert sorted_by_organ(np.array([0, 4, 1, 0, 2, 1])).tolist() == [2, 5, 4, 1, 0, 3]


def test_overlapping_share_by_hand():
    # on a map 10 wide, neighbours 4 px apart, fields 9 px: positions 0, 1 (4 px right of 0) and 22 (row 2, col 2)
    # pairs (0, 1) overlap (4 < 9 in both directions); (0, 22): 8 < 9, 8 < 9 overlap; (1, 22): 8 rows, 4 cols
    # overlap: every ordered pair overlaps
    assert overlapping_share(np.array([0, 1, 22]), map_width=10, jump=4, field=9) == 1.0
    # fields of 5 px: only (0, 1) and (1, 0) overlap, 2 of the 6 ordered pairs
    assert overlapping_share(np.array([0, 1, 22]), map_width=10, jump=4, field=5) == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="at least two"):
        overlapping_share(np.array([3]), 10, 4, 5)


def test_similarity_figure_has_a_colour_bar_and_an_organ_legend():
    organs = np.array([1, 1, 2, 4, 0])
    fig = similarity_figure({"a": np.eye(5), "b": -np.eye(5)}, organs, {"a": "same", "b": "moved"})
    heat_maps = [ax for ax in fig.axes if ax.get_title() in ("same", "moved")]
    colour_bars = [ax for ax in fig.axes if ax.get_ylabel() == "cosine similarity q.k"]
    assert len(heat_maps) == 2 and len(colour_bars) == 2 and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()][:2] == ["no organ", "Liver"]
    plt.close(fig)


def test_sample_by_organ_balances_the_groups_and_sorts_them():
    organs = np.array([1] * 10 + [4] * 2 + [0] * 10)  # a large liver, a small spleen, much body
    positions = np.arange(100, 122)
    picked, picked_organs = sample_by_organ(positions, organs, 7, np.random.default_rng(0))
    assert picked_organs.tolist() == [1, 1, 1, 4, 4, 0, 0]  # 3 + 2 (all the spleen has) + 2, in organ order
    assert len(set(picked.tolist())) == 7 and all(organs[p - 100] == o for p, o in zip(picked, picked_organs))
    everything, _ = sample_by_organ(positions, organs, 50, np.random.default_rng(0))
    assert sorted(everything.tolist()) == positions.tolist()  # fewer candidates than asked: all of them
