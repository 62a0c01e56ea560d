"""Everything that makes a training run repeat bit for bit on a CPU, also across an interruption.

- **Seeding.** ``seed_everything`` seeds Python, NumPy and torch: the training loop calls it before it builds a
  method, and every notebook's setup cell (``ctl.teach.context``) before its first random draw.
- **Data order as a function of (seed, iteration).** ``EpochBatchSampler`` yields batch ``k`` of the run from a
  permutation of the epoch drawn by a generator seeded with (seed, epoch); started at iteration ``k`` it yields
  exactly what an uninterrupted run yields from ``k`` on. The loader's position is therefore the iteration count.
- **Per-item randomness.** ``SeededItems`` draws each item (the MR slice paired with a CT slice, the augmentation)
  under its own seed (seed, epoch, index) and puts the global RNGs back, whichever worker loads it.
- **The global RNGs** (torch, CUDA, NumPy, Python), which only the methods then consume, are captured and
  restored by ``rng_state`` / ``set_rng_state`` in every checkpoint (``ctl.training.checkpoints``).
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run repeats on the same machine."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _seed_for(*numbers: int) -> int:
    """A 63-bit seed mixed from integers (NumPy's SeedSequence: nearby inputs give unrelated seeds)."""
    return int(np.random.SeedSequence([int(n) for n in numbers]).generate_state(2, np.uint64)[0] >> 1)


class EpochBatchSampler(Sampler[list[int]]):
    """Batches forever, from ``start_iteration`` on; each epoch reshuffled by a generator seeded with (seed, epoch).

    Yields keys ``epoch * n_items + index`` so that ``SeededItems`` can give each draw its own seed. An epoch has
    ``n_items // batch_size`` full batches (the remainder is left out of that epoch, a different one each epoch).
    """

    def __init__(self, n_items: int, batch_size: int, seed: int, start_iteration: int = 0):
        if batch_size < 1 or n_items < batch_size:
            raise ValueError(f"need at least one full batch: {n_items} training slices, batch size {batch_size}")
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.batches_per_epoch = n_items // batch_size
        self.start_iteration = start_iteration

    def position(self, iteration: int) -> tuple[int, int]:
        """(epoch, batch within the epoch) of the batch used by ``iteration`` (0-based)."""
        return divmod(iteration, self.batches_per_epoch)

    def epoch_order(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(_seed_for(self.seed, epoch, 0x5EED))
        return torch.randperm(self.n_items, generator=generator)

    def __iter__(self):
        epoch, first = self.position(self.start_iteration)
        while True:
            order = self.epoch_order(epoch)
            for b in range(first, self.batches_per_epoch):
                indices = order[b * self.batch_size:(b + 1) * self.batch_size]
                yield [epoch * self.n_items + int(i) for i in indices]
            epoch, first = epoch + 1, 0


class SeededItems(Dataset):
    """Wraps a dataset so that item key ``epoch * n + i`` is drawn under its own seed (seed, epoch, i).

    The global torch, NumPy and Python RNGs are put back afterwards, so loading data never moves the streams the
    methods use, whichever process loads it and wherever a run resumes.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed, self.n = dataset, seed, len(dataset)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: int):
        epoch, index = divmod(int(key), self.n)
        item_seed = _seed_for(self.seed, epoch, index)
        numpy_state, python_state = np.random.get_state(), random.getstate()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed)
            np.random.seed(item_seed % 2**32)
            random.seed(item_seed)
            item = self.dataset[index]
        np.random.set_state(numpy_state)
        random.setstate(python_state)
        return item


def make_loader(dataset: Dataset, batch_size: int, seed: int, start_iteration: int, device: torch.device,
                num_workers: int | None = None) -> DataLoader:
    """An endless loader whose batch ``k`` depends only on (seed, k)."""
    if num_workers is None:
        num_workers = 0 if device.type != "cuda" else min(4, os.cpu_count() or 1)
    sampler = EpochBatchSampler(len(dataset), batch_size, seed, start_iteration)
    return DataLoader(SeededItems(dataset, seed), batch_sampler=sampler, num_workers=num_workers,
                      pin_memory=device.type == "cuda")


def rng_state() -> dict:
    """Every global RNG, in a form ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached": float(cached)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(x if not isinstance(x, list) else tuple(x) for x in state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
