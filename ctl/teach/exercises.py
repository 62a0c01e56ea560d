"""Checkers of the exercises of notebooks 01-03: each says "right", or what is wrong with a hint, never the answer.

An exercise in a notebook is a markdown cell whose heading starts with ``### Exercise``, a code cell in which the
student sets an answer variable (shipped as ``None``) and calls one checker, and a solution cell tagged
``solution`` (``make student`` removes those, ``ctl.teach.student``). Every checker

- prints one line: "Not answered yet" for ``None`` (it never raises on an unanswered or malformed answer),
  "Right" when the answer agrees with the value it computes itself from the exercise's inputs, or "Not yet"
  with what is wrong and a hint that points at the mistake without giving the value;
- returns a ``Verdict`` (true only when right), which Jupyter does not echo, so the printed line is all the
  student sees.

The correct values come from the library wherever it has the formula (``ctl.data.preprocess.window_ct``,
``ctl.losses.info_nce``, ...), so a checker can never disagree with the code the notebooks teach.
Checkers of notebooks 04-05 (results of trained runs, statistics) are in ``ctl.teach.exercises_results``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ctl.data.preprocess import pad_to_square, window_ct
from ctl.losses import info_nce
from ctl.teach.lsgan import generator_loss_curves

UNANSWERED, RIGHT, WRONG = "unanswered", "right", "wrong"


@dataclass(frozen=True)
class Verdict:
    """What a checker decided: ``status`` is "unanswered", "right" or "wrong"; ``message`` is what it printed."""

    status: str
    message: str

    def __bool__(self) -> bool:
        return self.status == RIGHT

    def _ipython_display_(self) -> None:
        """Show nothing when a checker call ends a cell: the checker has printed its message already."""


def verdict(status: str, message: str) -> Verdict:
    """Print the message with its status word in front and return the ``Verdict`` (used by every checker)."""
    head = {UNANSWERED: "Not answered yet:", RIGHT: "Right:", WRONG: "Not yet:"}[status]
    print(f"{head} {message}")
    return Verdict(status, message)


def as_number(answer) -> float | None:
    """The answer as a float, or None when it is not one number (a list, a string, NaN)."""
    try:
        value = float(np.asarray(answer, dtype=float))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def as_vector(answer, length: int) -> np.ndarray | None:
    """The answer as ``length`` finite floats, or None."""
    try:
        values = np.asarray(answer, dtype=float).ravel()
    except (TypeError, ValueError):
        return None
    return values if values.size == length and np.isfinite(values).all() else None


def close(value: float, truth: float, tolerance: float) -> bool:
    """``value`` agrees with ``truth`` to within ``tolerance`` (absolute) or 1 % of ``truth``, whichever is larger."""
    return abs(value - truth) <= max(tolerance, 0.01 * abs(truth))


def unanswered(what: str) -> Verdict:
    """The verdict on an answer still ``None``: what kind of value the answer cell asks for."""
    return verdict(UNANSWERED, f"replace None with {what}, then run the cell again.")


# --- notebook 01 -----------------------------------------------------------------------------------------------
def check_ct_window(answer, hu: float) -> Verdict:
    """Exercise 01.1: the prepared intensity of a CT voxel of ``hu`` Hounsfield units (the paper's window)."""
    if answer is None:
        return unanswered(f"the prepared intensity of {hu:g} HU, a number in [0, 1]")
    value = as_number(answer)
    if value is None:
        return verdict(WRONG, f"give one number for {hu:g} HU, got {answer!r}.")
    truth = float(window_ct(np.array(hu)))
    if close(value, truth, 0.005):
        return verdict(RIGHT, f"{hu:g} HU becomes {value:.3f}.")
    if not 0 <= value <= 1:
        return verdict(WRONG, f"{value:.3f} for {hu:g} HU is outside [0, 1]. Hint: values outside the window are "
                              "clipped to its edges before scaling.")
    if close(value, (hu + 200) / 300, 0.005) or close(value, hu / 300, 0.005):
        return verdict(WRONG, f"{value:.3f} for {hu:g} HU. Hint: divide by the window's width (high - low), "
                              "after subtracting its lower edge.")
    return verdict(WRONG, f"{value:.3f} for {hu:g} HU. Hint: clip to [-200, 300] HU, subtract the lower edge, "
                          "divide by the width.")


def check_voxel_to_ras(answer, affine: np.ndarray, voxel: Sequence[int]) -> Verdict:
    """Exercise 01.2: the RAS position in mm of voxel (i, j, k) of a NIfTI file with ``affine`` (4 x 4)."""
    if answer is None:
        return unanswered(f"the (x, y, z) position in mm of voxel {tuple(voxel)}")
    value = as_vector(answer, 3)
    if value is None:
        return verdict(WRONG, f"give three numbers (x, y, z) in mm, got {answer!r}.")
    affine = np.asarray(affine, dtype=float)
    homogeneous = np.append(np.asarray(voxel, dtype=float), 1.0)
    truth = (affine @ homogeneous)[:3]
    if np.allclose(value, truth, atol=0.05):
        side = "right" if value[0] > 0 else "left"
        return verdict(RIGHT, f"voxel {tuple(voxel)} lies at x = {value[0]:.1f} mm, on the patient's {side} side.")
    if np.allclose(value, affine[:3, :3] @ homogeneous[:3], atol=0.05):
        return verdict(WRONG, "the position is off by a constant. Hint: the last column of the affine (the "
                              "translation) counts too: use the homogeneous vector (i, j, k, 1).")
    if np.allclose(value, (affine.T @ homogeneous)[:3], atol=0.05):
        return verdict(WRONG, "the affine maps column vectors: multiply A @ (i, j, k, 1), not its transpose.")
    if np.allclose(value, (affine @ np.append(homogeneous[2::-1], 1.0))[:3], atol=0.05):
        return verdict(WRONG, "the voxel's indices are in the wrong order: the affine takes (i, j, k) as stored.")
    return verdict(WRONG, "that is not A @ (i, j, k, 1). Hint: x, y, z are the first three entries of the product.")


def check_prepared_spacing(answer, shape_yx: Sequence[int], spacing_yx: Sequence[float], size: int) -> Verdict:
    """Exercise 01.3: the in-plane spacing (mm) of a slice of ``shape_yx`` pixels at ``spacing_yx`` mm once padded
    to a square field of view and resized to ``size`` x ``size`` (``ctl.data.preprocess``)."""
    if answer is None:
        return unanswered("the prepared pixel size in mm")
    value = as_number(answer)
    if value is None:
        return verdict(WRONG, f"give one number (mm), got {answer!r}.")
    (h, w), (dy, dx) = shape_yx, spacing_yx
    padded, _ = pad_to_square(np.zeros((1, h, w), np.float32), (dy, dx))
    truth = dy * padded.shape[1] / size
    if close(value, truth, 0.005):
        return verdict(RIGHT, f"{value:.3f} mm per pixel: the padded field of view spread over {size} pixels.")
    if close(value, min(h * dy, w * dx) / size, 0.005):
        return verdict(WRONG, "that spreads the smaller side over the new size. Hint: padding first makes the field "
                              "of view square by adding to the smaller side.")
    return verdict(WRONG, "Hint: field of view (mm) = the larger of rows x row spacing and columns x column "
                          "spacing; the new pixel is that divided by the new size.")


# --- notebook 02 -----------------------------------------------------------------------------------------------
def check_gan_gradients(minimax, non_saturating, least_squares, score: float) -> Verdict:
    """Exercise 02.1: d loss / d a of the three generator losses of notebook 02 at D's raw score ``a = score``."""
    answers = {"minimax": minimax, "non_saturating": non_saturating, "least_squares": least_squares}
    if all(a is None for a in answers.values()):
        return unanswered(f"the three derivatives at a = {score:g}")
    curves = generator_loss_curves(np.array([score]))
    truths = dict(zip(answers, (float(curves[k][1][0]) for k in curves)))
    hints = {"minimax": "d/da log(1 - sigmoid(a)) = -sigmoid(a)",
             "non_saturating": "d/da -log sigmoid(a) = -(1 - sigmoid(a))",
             "least_squares": "the chain rule on (a - 1)^2 brings down a factor 2"}
    wrong = []
    for name, answer in answers.items():
        value = as_number(answer)
        if value is None or not close(value, truths[name], 0.002):
            sign = "" if value is None or np.sign(value) == np.sign(truths[name]) else " (check its sign)"
            wrong.append(f"`{name}`{sign}: {hints[name]}")
    if not wrong:
        return verdict(RIGHT, f"all three derivatives at a = {score:g}.")
    return verdict(WRONG, "; ".join(wrong) + ".")


def check_lsgan_landmarks(discriminator, generator, d_output: float = 0.5) -> Verdict:
    """Exercise 02.2: L_dis (eq. 3) and L_gen (eq. 2) when D outputs ``d_output`` for every fake and real slice."""
    if discriminator is None or generator is None:
        return unanswered(f"L_dis and L_gen when D outputs {d_output:g} everywhere")
    l_dis, l_gen = as_number(discriminator), as_number(generator)
    if l_dis is None or l_gen is None:
        return verdict(WRONG, "give two numbers.")
    truth_dis, truth_gen = d_output ** 2 + (d_output - 1) ** 2, (d_output - 1) ** 2
    ok_dis, ok_gen = close(l_dis, truth_dis, 1e-3), close(l_gen, truth_gen, 1e-3)
    if ok_dis and ok_gen:
        return verdict(RIGHT, "these are the landmarks to read the loss curves against.")
    problems = []
    if not ok_dis:
        problems.append("L_dis has two terms, fakes pushed towards 0 and real MR towards 1"
                        + (": you kept only one" if close(l_dis, d_output ** 2, 1e-3)
                           or close(l_dis, (d_output - 1) ** 2, 1e-3) else ""))
    if not ok_gen:
        problems.append("L_gen pushes fakes towards 1 (the target of real MR)")
    return verdict(WRONG, "; ".join(problems) + ".")


def best_key(values: Mapping, higher_is_better: bool = True):
    """The key with the best finite value (ties: the first); None when there is none."""
    finite = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
    if not finite:
        return None
    return (max if higher_is_better else min)(finite, key=finite.get)


def check_lambda_sweep(best_lambda, ncc_agrees, ssim: Mapping[float, float], ncc: Mapping[float, float]) -> Verdict:
    """Exercise 02.3: reading a lambda_NCE sweep: the lambda with the highest SSIM, and whether NCC picks the same.

    ``ssim`` and ``ncc``: lambda -> mean SSIM / NCC against the paired truth, as the student's sweep measured them.
    """
    if best_lambda is None or ncc_agrees is None:
        return unanswered("a lambda of your table and True or False")
    if not ssim or not ncc or set(ssim) != set(ncc):
        return verdict(WRONG, "fill `sweep_ssim` and `sweep_ncc` first, with the same lambdas as keys.")
    best_ssim, best_ncc = best_key(ssim), best_key(ncc)
    value = as_number(best_lambda)
    if value is None or not any(close(value, float(k), 1e-9) for k in ssim):
        return verdict(WRONG, f"`best_lambda` must be one of the lambdas of the sweep, {sorted(ssim)}.")
    problems = []
    if not close(value, float(best_ssim), 1e-9):
        chosen = next(k for k in ssim if close(value, float(k), 1e-9))
        problems.append(f"lambda {value:g} has SSIM {ssim[chosen]:.3f}, and another lambda of your table has more")
    if not isinstance(ncc_agrees, (bool, np.bool_)):
        problems.append("`ncc_agrees` must be True or False")
    elif bool(ncc_agrees) != (best_ncc == best_ssim):
        problems.append("compare the lambda with the highest NCC with the one with the highest SSIM again")
    if not problems:
        return verdict(RIGHT, "and remember: one seed and one short run each; would a second seed agree?")
    return verdict(WRONG, "; ".join(problems) + ".")


# --- notebook 03 -----------------------------------------------------------------------------------------------
def check_infonce(answer, q, k_pos, k_neg, tau: float) -> Verdict:
    """Exercise 03.1: eq. 11 by hand for one query ``q``, its positive ``k_pos`` and negatives ``k_neg`` (rows),
    with the dot products as given (no normalisation)."""
    if answer is None:
        return unanswered("the value of L_q (a number, in nats)")
    value = as_number(answer)
    if value is None:
        return verdict(WRONG, f"give one number, got {answer!r}.")
    q, k_pos, k_neg = (torch.as_tensor(np.asarray(a, dtype=float)) for a in (q, k_pos, k_neg))
    truth = info_nce(q, k_pos, k_neg, tau=tau, normalize=False).item()
    if close(value, truth, 5e-4):
        return verdict(RIGHT, f"L_q = {value:.4f} nats; at chance it would be log(N+1) = {math.log(len(k_neg) + 1):.4f}.")
    logits = np.concatenate([[float(q @ k_pos)], (k_neg @ q).numpy()]) / tau
    p_pos = math.exp(logits[0]) / np.exp(logits).sum()
    if value < 0:
        return verdict(WRONG, "a cross-entropy, -log of a probability, is never negative.")
    if close(value, p_pos, 5e-4):
        return verdict(WRONG, "that is the positive's softmax probability; the loss is its negative logarithm.")
    if close(value, -logits[0] + math.log(np.exp(logits[1:]).sum()), 5e-4):
        return verdict(WRONG, "the denominator of eq. 11 sums over the positive too, not only the negatives.")
    untempered = np.concatenate([[float(q @ k_pos)], (k_neg @ q).numpy()])
    if close(value, -untempered[0] + math.log(np.exp(untempered).sum()), 5e-4):
        return verdict(WRONG, "divide every dot product by the temperature tau before the softmax.")
    return verdict(WRONG, "Hint: logits q.k / tau for the positive and each negative, softmax over all of them, "
                          "-log of the positive's share.")


def check_negatives_for_bound(answer, nats: float) -> Verdict:
    """Exercise 03.2: the fewest negatives N for which the InfoNCE bound can certify ``nats`` of information."""
    if answer is None:
        return unanswered("a whole number of negatives")
    value = as_number(answer)
    if value is None or value != int(value):
        return verdict(WRONG, f"give a whole number of negatives, got {answer!r}.")
    truth = math.ceil(math.exp(nats) - 1 - 1e-12)
    if int(value) == truth:
        return verdict(RIGHT, f"log({truth} + 1) = {math.log(truth + 1):.3f} >= {nats:g} nats, and one fewer is not "
                              "enough.")
    if int(value) == truth + 1:
        return verdict(WRONG, "one too many: the ceiling is log(N + 1), where N counts the negatives only.")
    if value < truth:
        return verdict(WRONG, f"with {int(value)} negatives the bound stops at log({int(value)} + 1) = "
                              f"{math.log(int(value) + 1):.2f} nats: too few.")
    return verdict(WRONG, f"{int(value)} negatives suffice but fewer would do. Hint: solve log(N + 1) >= {nats:g}.")


def check_top1_accuracy(answer, similarity) -> Verdict:
    """Exercise 03.3: the share of query patches (rows) whose most similar key (column) is their own positive
    (the diagonal), from an (S, S) similarity matrix."""
    if answer is None:
        return unanswered("a fraction between 0 and 1")
    value = as_number(answer)
    if value is None:
        return verdict(WRONG, f"give one number, got {answer!r}.")
    try:
        sim = np.asarray(similarity, dtype=float)
    except (TypeError, ValueError):
        sim = np.empty(0)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] < 2:
        return verdict(WRONG, f"the similarity matrix must be square, (S, S) with S >= 2; got {type(similarity).__name__}"
                              f" of shape {np.shape(similarity) if similarity is not None else None}.")
    truth = float(np.mean(sim.argmax(axis=1) == np.arange(len(sim))))
    if close(value, truth, 1e-3):
        return verdict(RIGHT, f"{value:.0%} of the query patches find their own key; chance is {1 / len(sim):.0%}.")
    if close(value, 100 * truth, 0.1):
        return verdict(WRONG, "give a fraction between 0 and 1, not a percentage.")
    if close(value, float(np.mean(sim.argmax(axis=0) == np.arange(len(sim)))), 1e-3):
        return verdict(WRONG, "rows are the query patches: take the largest entry of each row, not of each column.")
    return verdict(WRONG, "Hint: for each row, is the largest entry the diagonal one? Count those rows and divide by "
                          "their number.")
