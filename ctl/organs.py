"""The four organs of the paper: their label ids, names, titles and colours, in one table.

Every other module takes organ names, ids and colours from here: the data layer (``ctl.data.labels`` maps the
BTCV and CHAOS encodings onto these ids), the metrics and Table 1 (``ctl.evaluate``), and every figure
(``ctl.teach``).

    id  name           title          colour (the paper's Fig. 3 -> ours)
    0   background
    1   liver          Liver          cyan -> cyan
    2   right_kidney   Right Kidney   blue -> blue #2266FF
    3   left_kidney    Left Kidney    hotpink -> reddish purple #AA3377
    4   spleen         Spleen         red -> red

The colours keep the paper's hue for each organ, with two changes for readers with colour-vision deficiency.
Simulated deuteranopia (Machado et al. 2009, severity 1) makes the paper's cyan and hotpink nearly the same
light grey (CIELAB distance 23.5): liver and left kidney could not be told apart in a legend. Paul Tol's
reddish purple #AA3377 for the left kidney raises the smallest distance between any two organ colours, under
normal vision and simulated protanopia, deuteranopia and tritanopia alike, to 44.9; the pure blue #0000FF is
lightened to #2266FF (CIELAB L 32 -> 48) so that its outlines show on dark MR. (Okabe-Ito's sky blue, blue,
reddish purple and vermillion were tried too: their smallest simulated distance is lower, 20.7.)
``tests/test_organs.py`` recomputes these distances.

"Right" and "left" are the patient's: the right kidney lies on the image's left in radiological display, which
is why no augmentation may flip an image left-right. Table 1 of the paper orders its columns Spleen, Left
Kidney, Right Kidney, Liver (``ORGAN_ORDER``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Organ:
    """One organ: its label id in every label volume after loading, and how tables and figures show it."""

    label: int  # class id in prepared label volumes and in the segmenter's output channels
    name: str  # key in records, metrics files and dicts (snake case)
    title: str  # as the paper's Table 1 prints it
    colour: str  # matplotlib colour: the paper's Fig. 3 hue, made safe for colour-blind readers (above)


# In label order.
ORGANS: tuple[Organ, ...] = (
    Organ(1, "liver", "Liver", "cyan"),
    Organ(2, "right_kidney", "Right Kidney", "#2266FF"),
    Organ(3, "left_kidney", "Left Kidney", "#AA3377"),
    Organ(4, "spleen", "Spleen", "red"),
)

CLASS_NAMES: tuple[str, ...] = ("background", *(organ.name for organ in ORGANS))  # index = class id
NUM_CLASSES = len(CLASS_NAMES)
ORGAN_LABELS: dict[str, int] = {organ.name: organ.label for organ in ORGANS}  # name -> id, in label order
ORGAN_ORDER: tuple[str, ...] = ("spleen", "left_kidney", "right_kidney", "liver")  # the paper's Table 1 columns
ORGAN_TITLES: dict[str, str] = {organ.name: organ.title for organ in ORGANS}
ORGAN_COLOURS: dict[str, str] = {organ.name: organ.colour for organ in ORGANS}  # name -> colour
