"""The shipped reference weights in the notebooks: what each is, or why it is not shown (notebooks 02, 04, 05).

A notebook run at the ``cpu`` preset trains each method for minutes; the package also ships weights its own code
trained far longer on the same phantom at the same sizes (``ctl.training.reference``). The notebooks put them
beside the run's own models, always labelled, and always say where they come from: they are evaluated in the
notebook's run, not trained in it.
"""
from __future__ import annotations

import torch

from ctl.presets import Preset
from ctl.training.reference import Reference, load_reference


def reference_or_reason(method: str, preset: Preset, device: torch.device | str = "cpu",
                        data_source: str = "phantom") -> tuple[Reference | None, str]:
    """The reference weights of ``method`` for ``preset`` and a sentence saying what they are; or None and a
    sentence saying why none are shown (real data, another preset's sizes, weights that no longer fit)."""
    if data_source != "phantom":
        return None, (f"No reference weights of `{method}` on real data: the shipped ones were trained on the "
                      f"phantom.")
    try:
        reference = load_reference(method, preset.name, device)
    except (FileNotFoundError, ValueError) as err:
        return None, f"No reference weights of `{method}` at the `{preset.name}` preset: {err}"
    record = reference.record
    return reference, (f"`{reference.label}`: trained by this package for {record['iterations']:,} iterations "
                       f"({record['iterations'] / preset.iterations:.0f} x this preset's {preset.iterations:,}; "
                       f"{record['seconds'] / 60:.0f} min on {record['device']}, {record['date']}) on this "
                       f"preset's phantom (data seed 0) at its sizes, with `{record['command']}`. Not trained in "
                       f"this run; every number shown for it is computed here.")
