"""ctl.teach.short_runs (the exercises of notebooks 02 and 04): a short run repeats itself from the same seed and
differs from another, variants start from the same weights, the mean Dice is Table 1's Mean on a known case."""
from dataclasses import replace

import pytest
import torch

from ctl.methods.ours import Ours, OursConfig
from ctl.presets import PRESETS
from ctl.teach.short_runs import exercise_preset, mean_dice, train_variant

from conftest import Reader

TWO_STEPS = PRESETS["ci"].replace(iterations=2)


def test_exercise_runs_are_ci_sized_and_tiny_under_ci():
    assert exercise_preset(PRESETS["ci"]).iterations == 4
    small = exercise_preset(PRESETS["cpu"])
    assert small.image_size == PRESETS["ci"].image_size and small.iterations > 4


def test_a_short_run_repeats_from_its_seed_and_variants_share_their_start(ci_prepared):
    build = lambda: Ours(OursConfig.from_preset(TWO_STEPS))  # noqa: E731
    method, history = train_variant(build, ci_prepared, TWO_STEPS, seed=0)
    assert not method.training and set(history) >= {"d", "gan", "nce_source", "seg"}
    assert all(len(v) == 2 for v in history.values())
    assert train_variant(build, ci_prepared, TWO_STEPS, seed=0)[1] == history
    assert train_variant(build, ci_prepared, TWO_STEPS, seed=1)[1] != history
    detached = lambda: Ours(replace(OursConfig.from_preset(TWO_STEPS), seg_grad_to_generator=False))  # noqa: E731
    one_step = TWO_STEPS.replace(iterations=1)
    a = train_variant(build, ci_prepared, one_step, seed=0)[1]
    b = train_variant(detached, ci_prepared, one_step, seed=0)[1]
    # same weights, same first batch: the first step's losses agree (they are computed before any update)
    assert a["seg"] == pytest.approx(b["seg"]) and a["d"] == pytest.approx(b["d"])
    with pytest.raises(ValueError, match="at least one iteration"):
        train_variant(build, ci_prepared, TWO_STEPS.replace(iterations=0))


def test_mean_dice_is_the_mean_over_organs_of_the_mean_over_volumes(scored_prepared):
    # LabelReader predicts what mr0001's image holds: liver exact (1), right kidney one slice off (0), left kidney
    # half of its 4 slices (2 x 32 / (32 + 64) = 2/3), spleen missed (0); mr0002 is perfect (1 everywhere)
    expected = 100 * ((1 + 1) / 2 + (0 + 1) / 2 + (2 / 3 + 1) / 2 + (0 + 1) / 2) / 4
    assert mean_dice(Reader(), scored_prepared, device=torch.device("cpu")) == pytest.approx(expected)
