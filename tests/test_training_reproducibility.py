"""ctl.training.reproducibility: seeding, data order as a function of (seed, iteration), per-item seeds that
leave the global generators alone, and the RNG state kept in checkpoints."""
import random

import numpy as np
import pytest
import torch

from conftest import FakeUnpaired
from ctl.training import seed_everything
from ctl.training.reproducibility import EpochBatchSampler, SeededItems, make_loader, rng_state, set_rng_state


def test_each_epoch_is_a_permutation_in_full_batches():
    sampler = EpochBatchSampler(n_items=10, batch_size=3, seed=0)
    assert sampler.batches_per_epoch == 3
    it = iter(sampler)
    for epoch in range(3):
        keys = [k for _ in range(3) for k in next(it)]
        epochs, indices = np.divmod(keys, 10)
        assert set(epochs) == {epoch}
        assert len(set(indices)) == 9  # 9 distinct slices, one left out of this epoch
    assert sampler.position(7) == (2, 1)


def test_starting_at_an_iteration_continues_the_same_sequence():
    full = iter(EpochBatchSampler(10, 3, seed=5))
    expected = [next(full) for _ in range(11)]
    resumed = iter(EpochBatchSampler(10, 3, seed=5, start_iteration=4))
    assert [next(resumed) for _ in range(7)] == expected[4:]
    other = iter(EpochBatchSampler(10, 3, seed=6))
    assert [next(other) for _ in range(3)] != expected[:3]


def test_sampler_refuses_a_batch_larger_than_the_data():
    with pytest.raises(ValueError, match="4 training slices, batch size 5"):
        EpochBatchSampler(4, 5, seed=0)


def test_seeded_items_repeat_and_leave_the_global_rng_alone():
    items = SeededItems(FakeUnpaired(), seed=1)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a, b = items[13], items[13]  # epoch 1, slice 3: same draw twice
    assert torch.equal(a["ct"], b["ct"]) and torch.equal(a["mr"], b["mr"])
    assert torch.equal(torch.get_rng_state(), before)
    assert not torch.equal(items[3]["ct"], items[13]["ct"])  # same slice, other epoch: other noise


def test_rng_state_round_trip(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    state = rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3))
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])


def test_seed_everything_seeds_python_numpy_and_torch():
    draws = []
    for _ in range(2):
        seed_everything(7)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(()))))
    assert draws[0] == draws[1]
    seed_everything(8)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) != draws[0]


def test_a_loader_started_at_an_iteration_gives_the_batches_of_an_uninterrupted_one():
    items = FakeUnpaired()
    full = iter(make_loader(items, batch_size=3, seed=2, start_iteration=0, device=torch.device("cpu")))
    expected = [next(full) for _ in range(5)]
    resumed = iter(make_loader(items, batch_size=3, seed=2, start_iteration=3, device=torch.device("cpu")))
    for want in expected[3:]:
        got = next(resumed)
        assert all(torch.equal(got[k], want[k]) for k in want)
