"""Checkers of the exercises of notebooks 04-05: reading trained results and their uncertainty.

Same contract as ``ctl.teach.exercises`` (which has the ``Verdict`` they return): one printed line, "Not answered
yet", "Right" or "Not yet" with a hint that never gives the value away. The truth is computed from the inputs the
exercise passes (a table of this run's Dice, the masks of a toy, per-volume differences), so the checkers agree
with whatever numbers the run produced.

The bootstrap checker computes the exact percentile-bootstrap distribution of a mean by enumerating every
resample (as multiset counts) when there are at most ``EXACT_BOOTSTRAP_MAX`` values, so that a student's Monte
Carlo interval is judged against the true quantiles, with a tolerance in probability for Monte Carlo noise.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ctl.evaluate.metrics import assd, dice
from ctl.teach.exercises import RIGHT, WRONG, Verdict, as_number, as_vector, close, unanswered, verdict

NETWORKS = ("G", "D", "F", "U")  # the names notebook 04 uses for the generator, discriminator, head, segmenter
EXACT_BOOTSTRAP_MAX = 10  # values: C(2n-1, n) resamples, 92,378 at n = 10
QUANTILE_SLACK = 0.01  # probability: how far from the exact 2.5 % / 97.5 % levels a Monte Carlo bound may land


# --- notebook 04 -----------------------------------------------------------------------------------------------
def check_seg_gradient_reach(answer, seg_grad_to_generator: bool) -> Verdict:
    """Exercise 04.1: which of G, D, F, U receive a gradient from L_seg in ``ours`` (``OursConfig``)."""
    if answer is None:
        return unanswered(f"a set of names out of {NETWORKS}")
    if isinstance(answer, str) or not isinstance(answer, Iterable):
        return verdict(WRONG, f"give a set of names such as {{'D', 'F'}}, got {answer!r}.")
    names = {str(a).strip().upper() for a in answer}
    unknown = names - set(NETWORKS)
    if unknown:
        return verdict(WRONG, f"{sorted(unknown)} are not among the networks {NETWORKS}.")
    truth = {"U", "G"} if seg_grad_to_generator else {"U"}
    if names == truth:
        return verdict(RIGHT, f"with seg_grad_to_generator={seg_grad_to_generator}, L_seg updates "
                              f"{', '.join(sorted(truth))}.")
    problems = []
    if "D" in names:
        problems.append("L_seg never passes through D: D only scores images for eq. 2-3")
    if "F" in names:
        problems.append("F only embeds encoder features for PatchNCE; U reads the image G(x^s)")
    if "U" not in names:
        problems.append("the segmenter computes L_seg itself")
    if ("G" in names) != ("G" in truth):
        problems.append("look at where U's input comes from: is G(x^s) detached before U sees it with "
                        f"seg_grad_to_generator={seg_grad_to_generator}?")
    return verdict(WRONG, "; ".join(problems) + ".")


def check_gap_closed(answer, source_only: float, method: float, oracle: float) -> Verdict:
    """Exercise 04.2: the share (%) of the Dice gap between the two bounds that a method closes."""
    if answer is None:
        return unanswered("a percentage")
    value = as_number(answer)
    if value is None:
        return verdict(WRONG, f"give one number (%), got {answer!r}.")
    if not oracle > source_only:
        return verdict(WRONG, "the oracle is not above source_only in this run, so the share is undefined: train "
                              "longer (a larger preset) before reading it.")
    truth = 100 * (method - source_only) / (oracle - source_only)
    if close(value, truth, 0.5):
        return verdict(RIGHT, f"{value:.0f} % of the way from CT-only training to MR-label training.")
    if close(100 * value, truth, 0.5):
        return verdict(WRONG, "give a percentage (0-100), not a fraction.")
    if close(value, 100 * (method - source_only) / oracle, 0.5) or close(value, 100 * method / oracle, 0.5):
        return verdict(WRONG, "divide by the gap between the bounds (oracle - source_only), not by the oracle.")
    return verdict(WRONG, "Hint: (method - lower bound) / (upper bound - lower bound), in %.")


def check_variant_reading(answer, dice_means: Mapping[str, float], baseline: str, repeat: str) -> Verdict:
    """Exercise 04.3: is the largest effect of a variant (|variant - baseline|) larger than the difference between
    two seeds of the baseline (|repeat - baseline|)? ``dice_means``: run name -> mean Dice."""
    if answer is None:
        return unanswered("True or False")
    if not isinstance(answer, (bool, np.bool_)):
        return verdict(WRONG, f"answer True or False, got {answer!r}.")
    missing = [name for name in (baseline, repeat) if name not in dice_means]
    effects = {k: abs(v - dice_means[baseline]) for k, v in dice_means.items() if k not in (baseline, repeat)
               and not missing}
    if missing or not effects:
        return verdict(WRONG, f"the table needs the runs {baseline!r} and {repeat!r} and at least one variant; it has "
                              f"{sorted(dice_means)}.")
    noise = abs(dice_means[repeat] - dice_means[baseline])
    truth = max(effects.values()) > noise
    if bool(answer) == truth:
        extra = ("" if truth else " With one seed per variant, a difference smaller than the seed-to-seed spread "
                 "says nothing about the variant.")
        return verdict(RIGHT, f"the largest effect is {max(effects.values()):.1f} points, the seed difference "
                              f"{noise:.1f}.{extra}")
    return verdict(WRONG, "compare the largest |variant - baseline| with |baseline at the other seed - baseline|.")


# --- notebook 05 -----------------------------------------------------------------------------------------------
def check_assd_modes(pooled, mean_of_means, pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float]) -> Verdict:
    """Exercise 05.1: pooled ASSD and the mean of the two directed means (mm) of a toy prediction."""
    if pooled is None or mean_of_means is None:
        return unanswered("the two ASSD values in mm")
    a, b = as_number(pooled), as_number(mean_of_means)
    if a is None or b is None:
        return verdict(WRONG, "give two numbers (mm).")
    want_a = assd(pred, truth, spacing).value
    want_b = assd(pred, truth, spacing, mode="mean_of_means").value
    ok_a, ok_b = close(a, want_a, 0.005), close(b, want_b, 0.005)
    if ok_a and ok_b:
        return verdict(RIGHT, f"they differ by {abs(a - b):.3f} mm: the larger surface weighs more in the pooled "
                              "mean.")
    if close(a, want_b, 0.005) and close(b, want_a, 0.005):
        return verdict(WRONG, "the two are swapped: pooled divides the sum of all distances by the total number of "
                              "surface voxels.")
    problems = []
    if not ok_a:
        problems.append("pooled: (sum of P->T distances + sum of T->P distances) / (|dP| + |dT|)")
    if not ok_b:
        problems.append("mean of means: the average of the two directed mean distances")
    return verdict(WRONG, "; ".join(problems) + ". Are the distances in mm (the spacing)?")


def check_dice_and_assd(dice_value, assd_value, pred: np.ndarray, truth: np.ndarray,
                        spacing: Sequence[float]) -> Verdict:
    """Exercise 05.3: Dice (a fraction) and pooled ASSD (mm) of a prediction of the toy organ."""
    if dice_value is None or assd_value is None:
        return unanswered("Dice as a fraction and ASSD in mm")
    d, s = as_number(dice_value), as_number(assd_value)
    if d is None or s is None:
        return verdict(WRONG, "give two numbers.")
    want_d, want_s = dice(pred, truth), assd(pred, truth, spacing).value
    problems = []
    if close(d, 100 * want_d, 0.05):
        problems.append("give Dice as a fraction in [0, 1]")
    elif not close(d, want_d, 0.002):
        problems.append("Dice = 2 |P and T| / (|P| + |T|)")
    if close(s, assd(pred, truth, unit="voxel").value, 0.005) and not close(s, want_s, 0.005):
        problems.append("ASSD is asked in mm: use the spacing")
    elif not close(s, want_s, 0.005):
        problems.append("ASSD: the mean over both surfaces of the distance to the other surface")
    if not problems:
        return verdict(RIGHT, f"Dice {d:.3f}, ASSD {s:.2f} mm.")
    return verdict(WRONG, "; ".join(problems) + ".")


def bootstrap_distribution(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Every possible bootstrap mean of ``values`` and its probability, sorted by value (exact enumeration)."""
    x = np.asarray(values, dtype=float)
    n = x.size
    if not 1 <= n <= EXACT_BOOTSTRAP_MAX:
        raise ValueError(f"exact enumeration needs 1 to {EXACT_BOOTSTRAP_MAX} values, got {n}")
    means, probs = [], []
    for combo in itertools.combinations_with_replacement(range(n), n):  # one resample as a multiset
        counts = np.bincount(combo, minlength=n)
        ways = math.factorial(n) / np.prod([math.factorial(c) for c in counts])
        means.append(float(counts @ x) / n)
        probs.append(ways / n ** n)
    order = np.argsort(means, kind="stable")
    return np.asarray(means)[order], np.asarray(probs)[order]


def quantile(means: np.ndarray, probs: np.ndarray, level: float) -> float:
    """The smallest bootstrap mean whose cumulative probability reaches ``level``."""
    cumulative = np.cumsum(probs)
    return float(means[min(np.searchsorted(cumulative, min(max(level, 0.0), 1.0) - 1e-12), len(means) - 1)])


def check_bootstrap_interval(interval, excludes_zero, differences: Sequence[float], level: float = 0.95) -> Verdict:
    """Exercise 05.2: a percentile-bootstrap ``level`` interval of the mean of ``differences`` (one per test volume,
    e.g. Dice of ours minus Dice of the runner-up), and whether it excludes 0."""
    if interval is None or excludes_zero is None:
        return unanswered("(low, high) and True or False")
    bounds = as_vector(interval, 2)
    if bounds is None or bounds[0] > bounds[1]:
        return verdict(WRONG, f"give (low, high) with low <= high, got {interval!r}.")
    x = np.asarray(differences, dtype=float).ravel()
    if x.size == 0 or not np.isfinite(x).all():
        return verdict(WRONG, "the per-volume differences must be finite numbers, at least one.")
    if x.size > EXACT_BOOTSTRAP_MAX:  # too many resamples to list: a large Monte Carlo sample stands in
        rng = np.random.default_rng(0)
        means, probs = np.sort(rng.choice(x, (200_000, x.size)).mean(1)), np.full(200_000, 1 / 200_000)
    else:
        means, probs = bootstrap_distribution(x)
    alpha = (1 - level) / 2
    tol = 1e-9 * max(1.0, float(np.abs(x).max()))
    low_ok = quantile(means, probs, alpha - QUANTILE_SLACK) - tol <= bounds[0] <= quantile(
        means, probs, alpha + QUANTILE_SLACK) + tol
    high_ok = quantile(means, probs, 1 - alpha - QUANTILE_SLACK) - tol <= bounds[1] <= quantile(
        means, probs, 1 - alpha + QUANTILE_SLACK) + tol
    exact = (quantile(means, probs, alpha), quantile(means, probs, 1 - alpha))
    truth_excludes = exact[0] > 0 or exact[1] < 0
    problems = []
    if not bounds[0] <= x.mean() <= bounds[1]:
        problems.append("the interval should contain the observed mean difference")
    elif not (low_ok and high_ok):
        problems.append(f"resample the {x.size} values with replacement many times, take the mean of each "
                        f"resample, and read the {100 * alpha:g} and {100 * (1 - alpha):g} percentiles of those means")
    if not isinstance(excludes_zero, (bool, np.bool_)):
        problems.append("`excludes_zero` must be True or False")
    elif bool(excludes_zero) != truth_excludes:
        problems.append("look again at whether 0 lies inside the interval")
    if not problems:
        note = (" With so few volumes the interval is coarse; more seeds or subjects narrow it."
                if x.size < 6 else "")
        return verdict(RIGHT, f"({bounds[0]:.1f}, {bounds[1]:.1f}).{note}")
    return verdict(WRONG, "; ".join(problems) + ".")
