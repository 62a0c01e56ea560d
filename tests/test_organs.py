"""ctl.organs: the one organ table (ids, names, Table 1's order, the colours) and what is derived from it."""
import itertools

import numpy as np
from matplotlib.colors import to_rgb

from ctl.organs import (CLASS_NAMES, NUM_CLASSES, ORGAN_COLOURS, ORGAN_LABELS, ORGAN_ORDER, ORGAN_TITLES, ORGANS,
                        Organ)


def test_class_ids_are_the_prepared_data_contract():
    # CONTRIBUTING.md, "Prepared data": 0 background, 1 liver, 2 right kidney, 3 left kidney, 4 spleen
    assert CLASS_NAMES == ("background", "liver", "right_kidney", "left_kidney", "spleen") and NUM_CLASSES == 5
    assert {name: CLASS_NAMES.index(name) for name in ORGAN_LABELS} == ORGAN_LABELS
    assert [organ.label for organ in ORGANS] == [1, 2, 3, 4]


def test_table_1_order_and_titles_are_the_papers():
    assert [ORGAN_TITLES[o] for o in ORGAN_ORDER] == ["Spleen", "Left Kidney", "Right Kidney", "Liver"]
    assert sorted(ORGAN_ORDER) == sorted(ORGAN_LABELS)


# Machado, Oliveira, Fernandes 2009, severity 1.0: linear-RGB matrices that simulate each colour-vision deficiency
CVD = {"normal": np.eye(3),
       "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
       "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
       "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]}


def _lab(colour, simulation) -> np.ndarray:
    """CIELAB (D65) of a matplotlib colour as seen under ``simulation``."""
    c = np.asarray(to_rgb(colour))
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    linear = np.clip(np.asarray(simulation) @ linear, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def smallest_distance(colours) -> float:
    """The smallest CIELAB distance between two of ``colours``, over normal vision and the three simulations."""
    return min(float(np.linalg.norm(_lab(a, m) - _lab(b, m)))
               for m in CVD.values() for a, b in itertools.combinations(colours, 2))


def test_colours_keep_the_papers_hues_and_colour_blind_readers_can_tell_them_apart():
    assert ORGAN_COLOURS == {"liver": "cyan", "right_kidney": "#2266FF", "left_kidney": "#AA3377", "spleen": "red"}
    assert round(smallest_distance(ORGAN_COLOURS.values()), 1) == 44.9  # the value the docstring of ctl.organs gives
    # the paper's own colours fail: deuteranopes see its cyan and hotpink as nearly the same grey
    assert round(smallest_distance(["cyan", "hotpink"]), 1) == 23.5
    assert smallest_distance(["cyan", "blue", "hotpink", "red"]) < 25
    okabe_ito = ["#56B4E9", "#0072B2", "#CC79A7", "#D55E00"]  # sky blue, blue, reddish purple, vermillion
    assert round(smallest_distance(okabe_ito), 1) == 20.7


def test_every_mapping_is_derived_from_the_one_table():
    for organ in ORGANS:
        assert isinstance(organ, Organ)
        assert (ORGAN_LABELS[organ.name], ORGAN_TITLES[organ.name], ORGAN_COLOURS[organ.name]) == \
            (organ.label, organ.title, organ.colour)
        assert CLASS_NAMES[organ.label] == organ.name
