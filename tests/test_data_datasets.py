"""SliceDataset and UnpairedSliceDataset: item contract, values, seeding, and no paired-MR reads."""
import json
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ctl.data import SliceDataset, UnpairedSliceDataset, load_volume, paired_mr_reads, subject_ids
from ctl.presets import get_preset

CI = get_preset("ci", env={})


@pytest.fixture
def prepared(ci_prepared):
    return ci_prepared


def test_slice_dataset_items(prepared):
    ds = SliceDataset(prepared, "ct", "train")
    volumes = [load_volume(prepared, "ct", s) for s in subject_ids(prepared, "ct", "train")]
    assert len(ds) == sum(v.image.shape[0] for v in volumes)
    item = ds[len(ds) - 1]
    assert set(item) == {"image", "label", "subject", "slice"}
    assert item["image"].shape == (1, CI.image_size, CI.image_size) and item["image"].dtype == torch.float32
    assert item["label"].shape == (CI.image_size, CI.image_size) and item["label"].dtype == torch.int64
    last = volumes[-1]
    assert item["subject"] == last.subject and item["slice"] == last.image.shape[0] - 1
    assert np.array_equal(item["image"][0].numpy(), last.image[-1])
    assert np.array_equal(item["label"].numpy(), last.label[-1])


def test_items_are_copies(prepared):
    ds = SliceDataset(prepared, "mr", "test")
    ds[0]["image"].fill_(5.0)
    assert ds[0]["image"].max() <= 1.0


def test_unpaired_items_and_target_labels(prepared):
    ds = UnpairedSliceDataset(prepared)
    assert len(ds) == len(SliceDataset(prepared, "ct", "train"))
    item = ds[0]
    assert set(item) == {"ct", "ct_label", "mr"}
    assert item["ct"].shape == item["mr"].shape == (1, CI.image_size, CI.image_size)
    oracle = UnpairedSliceDataset(prepared, target_labels=True)
    assert set(oracle[0]) == {"ct", "ct_label", "mr", "mr_label"}


def test_mr_slice_is_drawn_independently_and_reproducibly(prepared):
    ds = UnpairedSliceDataset(prepared)
    mr = SliceDataset(prepared, "mr", "train")
    torch.manual_seed(3)
    first = [ds[0]["mr"] for _ in range(20)]
    torch.manual_seed(3)
    second = [ds[0]["mr"] for _ in range(20)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert len({float(m.sum()) for m in first}) > 5, "the same CT slice meets many MR slices"
    pool = {float(mr[i]["image"].sum()) for i in range(len(mr))}
    assert {float(m.sum()) for m in first} <= pool, "MR slices come from the MR training split"


def test_augmented_loader_batches_and_never_reads_paired_mr(prepared):
    before = paired_mr_reads()
    torch.manual_seed(0)
    loader = DataLoader(UnpairedSliceDataset(prepared, augment=True), batch_size=4, shuffle=True)
    batch = next(iter(loader))
    assert batch["ct"].shape == (4, 1, CI.image_size, CI.image_size) and batch["ct_label"].dtype == torch.int64
    assert 0 <= batch["mr"].min() and batch["mr"].max() <= 1
    for _ in SliceDataset(prepared, "ct", "train", augment=True):
        pass
    assert paired_mr_reads() == before


def test_empty_split_is_an_error(prepared, tmp_path):
    copy = shutil.copytree(prepared, tmp_path / "p")
    split = json.loads((copy / "split.json").read_text())
    split["mr"]["test"] = []
    (copy / "split.json").write_text(json.dumps(split))
    with pytest.raises(ValueError, match="no mr subjects in split 'test'"):
        SliceDataset(copy, "mr", "test")
