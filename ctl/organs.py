"""The four organs of the paper: their label ids, names, titles and colours, in one table.

Every other module takes organ names, ids and colours from here: the data layer (``ctl.data.labels`` maps the
BTCV and CHAOS encodings onto these ids), the metrics and Table 1 (``ctl.evaluate``), and every figure
(``ctl.teach``).

    id  name           title          colour (the paper's Fig. 3)
    0   background
    1   liver          Liver          cyan
    2   right_kidney   Right Kidney   blue
    3   left_kidney    Left Kidney    hotpink
    4   spleen         Spleen         red

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
    colour: str  # matplotlib colour of the paper's Fig. 3


# In label order.
ORGANS: tuple[Organ, ...] = (
    Organ(1, "liver", "Liver", "cyan"),
    Organ(2, "right_kidney", "Right Kidney", "blue"),
    Organ(3, "left_kidney", "Left Kidney", "hotpink"),
    Organ(4, "spleen", "Spleen", "red"),
)

CLASS_NAMES: tuple[str, ...] = ("background", *(organ.name for organ in ORGANS))  # index = class id
NUM_CLASSES = len(CLASS_NAMES)
ORGAN_LABELS: dict[str, int] = {organ.name: organ.label for organ in ORGANS}  # name -> id, in label order
ORGAN_ORDER: tuple[str, ...] = ("spleen", "left_kidney", "right_kidney", "liver")  # the paper's Table 1 columns
ORGAN_TITLES: dict[str, str] = {organ.name: organ.title for organ in ORGANS}
ORGAN_COLOURS: dict[str, str] = {organ.name: organ.colour for organ in ORGANS}  # name -> colour
