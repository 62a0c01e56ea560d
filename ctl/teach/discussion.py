"""Statements about one run's Table 1, computed from its numbers: what agrees with the paper and what does not.

Notebook 05 ends with a discussion. Fixed sentences ("ours beats SIFA") could be false in the next run, so every
sentence here is generated from the ``ctl.evaluate.table1.MethodResult`` values of the run at hand and from the
paper's printed rows (``ctl.evaluate.table1.PAPER_TABLE1``, labelled as the paper's). The comparisons:

- the ordering of methods by mean Dice, ours against the paper's, pair by pair (the share of method pairs
  ordered the same way is (1 + Kendall's tau) / 2 when there are no ties);
- where the paper's method ranks among the compared methods, here and in the paper;
- how much of the gap between the two bounds each method closes: (Dice_m - Dice_source) / (Dice_oracle -
  Dice_source) (0 % = no better than training on CT only, 100 % = as good as training on MR labels);
- whether Dice and ASSD rank the methods alike; the hardest organ; how far apart the top two are compared with
  the spread across volumes;
- which methods missed an organ in a volume (predicted none of it): their ASSD means leave those volumes out
  (or count them as the chosen penalty), which the reader must know before comparing ASSDs.
"""
from __future__ import annotations

import itertools
import math
from typing import Mapping

from ctl.evaluate.table1 import BOUNDS, PAPER_TABLE1, MethodResult
from ctl.organs import ORGAN_ORDER, ORGAN_TITLES

PAPER_DICE = {row.method: row.dice_mean for row in PAPER_TABLE1}  # the paper's printed Mean Dice, in %


def _ranked(values: Mapping[str, float], higher_is_better: bool = True) -> list[str]:
    finite = {m: v for m, v in values.items() if not math.isnan(v)}
    return sorted(finite, key=finite.get, reverse=higher_is_better)


def _chain(order: list[str], values: Mapping[str, float], digits: int = 1) -> str:
    """"`a` (3.0) > `b` (2.0) = `c` (2.0)": methods in order, "=" where the shown values are equal."""
    text = ""
    for i, m in enumerate(order):
        if i:
            text += " = " if f"{values[m]:.{digits}f}" == f"{values[order[i - 1]]:.{digits}f}" else " > "
        text += f"`{m}` ({values[m]:.{digits}f})"
    return text


def pair_agreement(first: Mapping[str, float], second: Mapping[str, float], *, same_direction: bool = True
                   ) -> tuple[int, int]:
    """(pairs ordered alike, pairs compared) over the methods both give; ties in either are not compared.

    ``same_direction=False`` compares a higher-is-better score with a lower-is-better one (Dice with ASSD).
    """
    common = [m for m in first if m in second and not math.isnan(first[m]) and not math.isnan(second[m])]
    agree = total = 0
    for a, b in itertools.combinations(common, 2):
        d1, d2 = first[a] - first[b], second[a] - second[b]
        if d1 == 0 or d2 == 0:
            continue
        total += 1
        agree += (d1 > 0) == (d2 > 0) if same_direction else (d1 > 0) != (d2 > 0)
    return agree, total


def gap_closed(results: Mapping[str, MethodResult]) -> dict[str, float] | None:
    """Method -> share (%) of the Dice gap between source_only and oracle it closes; None without both bounds
    or when the oracle is not above source_only (the bounds do not bracket anything)."""
    if "source_only" not in results or "oracle" not in results:
        return None
    low, high = results["source_only"].dice_mean, results["oracle"].dice_mean
    if not high > low:
        return None
    return {m: 100.0 * (r.dice_mean - low) / (high - low) for m, r in results.items() if m not in BOUNDS}


def discussion(results: Mapping[str, MethodResult], seed_spread: Mapping | None = None) -> list[str]:
    """Markdown bullet sentences about this run's Table 1 (pass the mm results); every number is computed.
    ``seed_spread``: ``ctl.teach.measurements.seed_spread(preset)``, the standard deviation over training seeds
    measured elsewhere, to judge the gap between the top two methods by. Notebook 05's closing section."""
    dice = {m: r.dice_mean for m, r in results.items()}
    assd = {m: r.assd_mean for m, r in results.items()}
    compared = {m: v for m, v in dice.items() if m in PAPER_DICE}
    lines = [f"By mean Dice (%), this run orders the methods {_chain(_ranked(dice), dice)}."]

    if len(compared) >= 2:
        paper = {m: PAPER_DICE[m] for m in compared}
        agree, total = pair_agreement(compared, paper)
        lines.append(f"The paper orders the same methods {_chain(_ranked(paper), paper)} (its printed Means). "
                     f"{agree} of {total} pairs of these methods are ordered the same way here.")
    else:
        lines.append("Fewer than two of the paper's compared methods were evaluated here, so their ordering cannot "
                     "be compared with the paper's.")
    if "ours" in compared and len(compared) >= 2:
        rank = _ranked(compared).index("ours") + 1
        lines.append(f"The paper's method has the highest mean Dice of the {len(PAPER_DICE)} methods in the paper; "
                     f"here it ranks {rank} of the {len(compared)} compared methods evaluated.")

    closed = gap_closed(results)
    if closed is None and "source_only" in results and "oracle" in results:
        lines.append(f"The oracle ({dice['oracle']:.1f}) is not above source_only ({dice['source_only']:.1f}): the "
                     "bounds do not bracket the methods, which usually means training was far too short.")
    elif closed:
        shares = ", ".join(f"`{m}` {v:.0f} %" for m, v in sorted(closed.items(), key=lambda kv: -kv[1]))
        lines.append(f"Share of the Dice gap between source_only ({dice['source_only']:.1f}) and the oracle "
                     f"({dice['oracle']:.1f}, which reads MR labels) closed: {shares}.")
        below = [m for m, v in closed.items() if v < 0]
        if below:
            lines.append(f"Below the lower bound (worse than a U-Net trained on CT alone): "
                         f"{', '.join(f'`{m}`' for m in below)}.")

    missed = {m: r.missed() for m, r in results.items() if r.missed()}
    if missed:
        cases = "; ".join(f"`{m}`: " + ", ".join(f"{ORGAN_TITLES[o]} in {k} of {n} volume(s)" for o, (k, n) in
                                                 organs.items()) for m, organs in missed.items())
        penalties = {results[m].assd_miss_penalty for m in missed}
        treated = ("left out of its ASSD mean, so that mean covers only the volumes where the organ was found and "
                   "flatters the method (the tables' [n/N])" if penalties == {None} else
                   "counted in the ASSD mean as the penalty for a miss (the tables' [k pen.])")
        lines.append(f"Organs missed entirely (nothing predicted where the organ is, or an organ predicted where "
                     f"there is none): {cases}. Each such case is {treated}.")

    agree, total = pair_agreement(dice, assd, same_direction=False)
    if total and agree == total:
        lines.append(f"Dice and ASSD (lower is better) rank all {total} method pairs alike.")
    elif total:
        split = [f"`{a}`/`{b}`" for a, b in itertools.combinations([m for m in dice if m in assd], 2)
                 if pair_agreement({a: dice[a], b: dice[b]}, {a: assd[a], b: assd[b]}, same_direction=False) == (0, 1)]
        lines.append(f"Dice and ASSD (lower is better) rank {agree} of {total} method pairs alike. They disagree on "
                     f"{', '.join(split)}: in each pair one method overlaps more, the other has fewer far-off "
                     "boundary errors.")

    methods = [m for m in results if m not in BOUNDS] or list(results)
    organ_dice = {o: sum(results[m].dice[o].mean for m in methods) / len(methods) for o in ORGAN_ORDER}
    hardest = min((o for o in ORGAN_ORDER if not math.isnan(organ_dice[o])), key=organ_dice.get, default=None)
    if hardest is not None:
        paper_organ = {o: sum(row.dice[i][0] for row in PAPER_TABLE1) / len(PAPER_TABLE1)  # printed means, %
                       for i, o in enumerate(ORGAN_ORDER)}
        paper_hardest = min(paper_organ, key=paper_organ.get)
        lines.append(f"Hardest organ (lowest Dice averaged over {', '.join(f'`{m}`' for m in methods)}): "
                     f"{ORGAN_TITLES[hardest]} ({organ_dice[hardest]:.1f}); in the paper, averaged over its five "
                     f"rows: {ORGAN_TITLES[paper_hardest]} ({paper_organ[paper_hardest]:.1f}).")

    top = _ranked({m: dice[m] for m in methods})
    if len(top) >= 2:
        a, b = top[0], top[1]
        spread = max(results[a].dice[o].std for o in ORGAN_ORDER)
        volumes = min(results[a].dice[o].n for o in ORGAN_ORDER)
        lines.append(f"The top two (`{a}`, `{b}`) differ by {dice[a] - dice[b]:.1f} points of mean Dice; across "
                     f"volumes the Dice of `{a}` has a standard deviation of up to {spread:.1f} points (its largest "
                     f"over the four organs), from {volumes} volume(s). Is the difference larger than what another "
                     f"seed or other test subjects could change?")
        known = (seed_spread or {}).get("methods", {})
        if a in known and b in known:
            noise = max(known[a]["std"], known[b]["std"])
            verdict = ("more than twice the larger of the two: another training seed is unlikely to swap them"
                       if dice[a] - dice[b] > 2 * noise else
                       "not more than twice the larger of the two: another training seed could swap them")
            phantoms = seed_spread["phantom_seeds"]
            where = (f"phantom seed {phantoms[0]}" if len(phantoms) == 1 else
                     f"phantom seeds {', '.join(map(str, phantoms[:-1]))} and {phantoms[-1]}, the spread within "
                     f"each phantom pooled")
            lines.append(f"Training seeds alone, measured outside this run (`benchmarks/heldout.py`, {where}; "
                         f"{known[a]['n']} and {known[b]['n']} training seeds): the mean Dice of `{a}` moves by a "
                         f"standard deviation of {known[a]['std']:.1f} points, that of `{b}` by "
                         f"{known[b]['std']:.1f}. The gap here, {dice[a] - dice[b]:.1f} points, is {verdict}. "
                         f"Averaged over those training seeds{'' if len(phantoms) == 1 else ' and phantoms'}, "
                         f"`{a}` scored {known[a]['mean']:.1f} and `{b}` {known[b]['mean']:.1f} there.")
    return lines
