"""ctl.organs: the one organ table (ids, names, Table 1's order, the paper's colours) and what is derived from it."""
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


def test_colours_are_those_of_the_papers_figure_3():
    assert ORGAN_COLOURS == {"liver": "cyan", "right_kidney": "blue", "left_kidney": "hotpink", "spleen": "red"}


def test_every_mapping_is_derived_from_the_one_table():
    for organ in ORGANS:
        assert isinstance(organ, Organ)
        assert (ORGAN_LABELS[organ.name], ORGAN_TITLES[organ.name], ORGAN_COLOURS[organ.name]) == \
            (organ.label, organ.title, organ.colour)
        assert CLASS_NAMES[organ.label] == organ.name
