"""Translation fidelity of each CT->MR translation method on the CT test subjects, and how it relates to Dice.

The paper leaves to future work a measure of (a) how well a translation G(x^s) keeps the content of the CT slice
x^s and (b) how close translated slices come to the distribution of real MR (Section 4).
``ctl.evaluate.fidelity`` has the three measures; this module applies them to every trained translation method
in the same way:

===================  ====================================================================  =================
measure              what is compared                                                      data
===================  ====================================================================  =================
paired truth         SSIM and PSNR of G(x^s) against the MR rendering of the same anatomy   phantom only
                     (``ctl.data.load_paired_mr``), inside the body and inside each organ
content (labels)     Dice/ASSD of the oracle's segmentation of G(x^s) against y^s           phantom and real
distribution         kernel distance (KID-style MMD^2) between features of G(x^s) slices   phantom and real
                     and of real MR test slices (``fidelity.RandomFeatures``)
===================  ====================================================================  =================

On real data no MR of the CT patient's anatomy exists, so only the label and distribution measures apply:
``translation_fidelity(..., data_source="real")`` never reads paired MR and leaves the paired measure out.

Methods that translate CT to MR (``ours``, ``cyclegan``, ``synseg``, ``sifa``) expose ``translate(ct)``:
(B, 1, H, W) in [0, 1] -> (B, 1, H, W) in [0, 1]; ``ctl.evaluate.inference.translator_of`` finds it. Two
reference rows frame the methods: "no translation" (the CT itself) and, on the phantom, "paired MR truth" (what
a perfect translation would give: its content score is the oracle's own ceiling, its distance the floor set by
different anatomy).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from scipy.stats import spearmanr

from ctl import data
from ctl.evaluate.fidelity import FeatureConfig, KernelDistance, image_features, kernel_distance, paired_fidelity
from ctl.evaluate.inference import predict_volume, translate_volume
from ctl.evaluate.metrics import OrganScore, score_volume
from ctl.organs import ORGAN_LABELS

NO_TRANSLATION = "no translation (CT)"
PAIRED_TRUTH = "paired MR truth"


@dataclass(frozen=True)
class FidelityConfig:
    """Settings of the fidelity measures."""

    batch: int = 16  # slices per forward pass of G and of the oracle segmenter; memory only
    features: FeatureConfig = FeatureConfig()  # the fixed random network of the distribution measure
    subsets: int = 50  # random subsets averaged by the kernel distance (KID uses 100 of 1000 images)
    subset_size: int = 100  # slices per subset, or all slices when there are fewer
    unit: str = "mm"  # ASSD unit of the content score


@dataclass
class MethodFidelity:
    """The three measures for one translation method (or reference row) over the CT test subjects."""

    name: str
    paired: dict[str, dict[str, dict]] | None  # subject -> region -> {"ssim", "psnr_db", "voxels"}; None if real
    content: dict[str, dict[str, OrganScore]]  # subject -> organ -> oracle(G(x^s)) against y^s
    distance: KernelDistance  # G(x^s) slices against real MR test slices
    translated: dict[str, np.ndarray] = field(repr=False)  # subject -> G(x^s) (Z, H, W), for Figure 2

    def summary(self) -> dict[str, float | None]:
        """One number per measure, averaged over subjects (and organs): the row of the fidelity table.

        Keys: ``ssim_body``, ``psnr_body_db``, ``ssim_<organ>`` (phantom only), ``content_dice`` (%, mean over
        organs and subjects), ``content_assd`` (in ``content_assd_unit``), ``kid`` and ``kid_std``.
        """
        row: dict[str, float | None] = {}
        if self.paired is not None:
            for region in ("body", *ORGAN_LABELS):
                row[f"ssim_{region}"] = _mean(r[region]["ssim"] for r in self.paired.values())
            row["psnr_body_db"] = _mean(r["body"]["psnr_db"] for r in self.paired.values())
        scores = [s for organs in self.content.values() for s in organs.values()]
        dice = _mean(s.dice for s in scores)
        row["content_dice"] = None if dice is None else 100.0 * dice
        row["content_assd"] = _mean(s.assd for s in scores)
        row["kid"], row["kid_std"] = self.distance.mean, self.distance.std
        return row


def _mean(values) -> float | None:
    """Mean of the defined values (inf kept: an exact PSNR); None when there is none (absent organ, no ASSD)."""
    defined = [float(v) for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(defined)) if defined else None


def translation_fidelity(translators: Mapping[str, Callable[[torch.Tensor], torch.Tensor]], prepared: Path | str,
                         oracle_segmenter: torch.nn.Module, *, data_source: str,
                         device: torch.device | str = "cpu", config: FidelityConfig = FidelityConfig(),
                         references: bool = True) -> dict[str, MethodFidelity]:
    """Measure every translator on the CT test subjects of ``prepared``.

    Args:
        translators: name -> ``translate`` (see ``ctl.evaluate.inference.translator_of``); every one is
            measured the same way.
        oracle_segmenter: the fixed MR segmenter of the content score (the oracle's, trained on MR labels);
            the same network for every method, or the scores are not comparable.
        data_source: "phantom" (all three measures) or "real" (no paired truth exists: label and distribution
            measures only; paired MR is never read).
        references: add the rows ``NO_TRANSLATION`` and, on the phantom, ``PAIRED_TRUTH``.
    Returns:
        name -> ``MethodFidelity``, references first.
    Raises:
        ValueError: an unknown ``data_source``, no CT test subject, no translator and no reference.
        FileNotFoundError: "phantom" on a prepared folder without paired MR.
    """
    data.check_data_source(data_source)
    if not translators and not references:
        raise ValueError("nothing to measure: give at least one translator or references=True")
    subjects = data.subject_ids(prepared, "ct", "test")
    if not subjects:
        raise ValueError(f"{prepared}/split.json lists no CT test subject")
    ct = {s: data.load_volume(prepared, "ct", s) for s in subjects}
    paired = {s: data.load_paired_mr(prepared, s).image for s in subjects} if data_source == "phantom" else None
    mr_slices = np.concatenate([data.load_volume(prepared, "mr", s).image
                                for s in data.subject_ids(prepared, "mr", "test")])  # (N_mr, H, W)
    mr_features = _features(mr_slices, config)

    def segment(volume: np.ndarray) -> np.ndarray:
        return predict_volume(oracle_segmenter, volume, device, config.batch)

    outputs: dict[str, dict[str, np.ndarray]] = {}
    if references:
        outputs[NO_TRANSLATION] = {s: v.image.astype(np.float32) for s, v in ct.items()}
        if paired is not None:
            outputs[PAIRED_TRUTH] = dict(paired)
    for name, translate in translators.items():
        outputs[name] = {s: translate_volume(translate, v.image, device, config.batch) for s, v in ct.items()}

    report = {}
    for name, translated in outputs.items():
        report[name] = MethodFidelity(
            name=name,
            paired=None if paired is None else {s: paired_fidelity(translated[s], paired[s], ct[s].label)
                                                for s in subjects},
            content={s: score_volume(segment(translated[s]), ct[s].label, ct[s].spacing, unit=config.unit)
                     for s in subjects},
            distance=kernel_distance(_features(np.concatenate(list(translated.values())), config), mr_features,
                                     subsets=config.subsets, subset_size=config.subset_size,
                                     seed=config.features.seed),
            translated=translated)
    return report


def _features(slices: np.ndarray, config: FidelityConfig) -> np.ndarray:
    """One descriptor per slice, (N, D): the stages of ``image_features`` side by side."""
    return np.concatenate(list(image_features(slices, config.features).values()), axis=1)


# --- relating fidelity to segmentation -----------------------------------------------------------------------
MEASURES = {  # summary key -> (label with unit, True when larger is better)
    "ssim_body": ("SSIM in the body vs paired truth", True),
    "psnr_body_db": ("PSNR in the body vs paired truth (dB)", True),
    "content_dice": ("content Dice: oracle(G(CT)) vs CT labels (%)", True),
    "kid": ("kernel distance to real MR (MMD^2)", False),
}


def rank_correlations(summaries: Mapping[str, Mapping[str, float | None]], dice: Mapping[str, float]
                      ) -> dict[str, dict]:
    """Spearman's rank correlation between each fidelity measure and the final mean Dice, across methods.

    Args:
        summaries: method -> ``MethodFidelity.summary()`` (reference rows are skipped if not in ``dice``).
        dice: method -> mean Dice (%) of its segmenter on MR (Table 1's Mean column).
    Returns:
        measure key -> {"rho": float or None, "n": methods used, "methods": [...]}; rho is None with fewer than 3
        methods or when a measure is constant (a rank correlation needs some ranking).
    """
    out = {}
    for key in MEASURES:
        names = [m for m in summaries if m in dice and summaries[m].get(key) is not None
                 and math.isfinite(summaries[m][key]) and math.isfinite(dice[m])]
        x, y = [summaries[m][key] for m in names], [dice[m] for m in names]
        rho = None
        if len(names) >= 3 and len(set(x)) > 1 and len(set(y)) > 1:
            rho = float(spearmanr(x, y).statistic)
        out[key] = {"rho": rho, "n": len(names), "methods": names}
    return out
