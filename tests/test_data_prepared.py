"""The prepared folder: layout and dtypes, splits by subject, reuse, paired MR kept apart."""
import json

import numpy as np
import pytest

from ctl.data import (DATA_SOURCES, check_data_source, ensure_phantom_prepared, ensure_prepared, ensure_real_prepared,
                      load_paired_mr, load_volume, paired_mr_reads, read_meta, subject_ids)
from ctl.data.prepared import random_split, sifa_split
from ctl.organs import CLASS_NAMES
from ctl.presets import get_preset

CI = get_preset("ci", env={})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A ci phantom of this module's own (test_reuse_and_rebuild rebuilds it at another size)."""
    return ensure_phantom_prepared(tmp_path_factory.mktemp("data"), CI, seed=0, progress=False)


def test_layout_and_arrays(prepared):
    assert prepared.name == "phantom-ci-seed0" and prepared.parent.name == "prepared"
    assert (prepared.parent.parent / "phantom" / "ci-seed0" / "phantom.json").exists()
    meta = read_meta(prepared)
    assert meta["source"] == "phantom" and meta["image_size"] == CI.image_size and meta["classes"] == list(CLASS_NAMES)
    for domain, folder in (("ct", "ct"), ("mr", "mr"), ("ct", "paired_mr")):
        for subject in subject_ids(prepared, domain, "train") + subject_ids(prepared, domain, "test"):
            with np.load(prepared / folder / f"{subject}.npz") as data:
                assert sorted(data.files) == ["image", "label", "spacing"]
                image, label, spacing = data["image"], data["label"], data["spacing"]
            assert image.dtype == np.float32 and label.dtype == np.uint8 and spacing.dtype == np.float64
            assert image.ndim == 3 and image.shape[1:] == (CI.image_size, CI.image_size) and label.shape == image.shape
            assert 0.0 <= image.min() and image.max() <= 1.0 and spacing.shape == (3,)
            assert set(np.unique(label)) <= {0, 1, 2, 3, 4}


def test_split_is_by_subject(prepared):
    split = json.loads((prepared / "split.json").read_text())
    for domain, n in (("ct", CI.n_ct), ("mr", CI.n_mr)):
        train, test = set(split[domain]["train"]), set(split[domain]["test"])
        assert not train & test and len(train | test) == n
        assert len(test) == round(CI.test_fraction * n)


def test_reuse_and_rebuild(prepared):
    stamp = (prepared / "meta.json").stat().st_mtime_ns
    assert ensure_phantom_prepared(prepared.parent.parent, CI, seed=0, progress=False) == prepared
    assert (prepared / "meta.json").stat().st_mtime_ns == stamp
    other = ensure_phantom_prepared(prepared.parent.parent, CI.replace(image_size=24), seed=0, progress=False)
    assert other == prepared  # same name: the folder is rebuilt for the new size, the raw phantom reused
    assert read_meta(other)["image_size"] == 24
    assert load_volume(other, "ct", subject_ids(other, "ct", "train")[0]).image.shape[1:] == (24, 24)


def test_random_split_by_hand():
    ids = [f"ct{i:04d}" for i in range(1, 11)]
    a, b = random_split(ids, 0.2, seed=3), random_split(ids, 0.2, seed=3)
    assert a == b and len(a["test"]) == 2 and sorted(a["train"] + a["test"]) == ids
    assert len(random_split(ids[:2], 0.2, seed=0)["test"]) == 1  # at least one test subject
    with pytest.raises(ValueError, match="at least 2"):
        random_split(ids[:1], 0.2, seed=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        random_split(ids, 1.0, seed=0)


def test_sifa_split():
    btcv = [f"ct{i:04d}" for i in list(range(1, 11)) + list(range(21, 41))]  # BTCV's 30 labelled cases
    split = sifa_split(btcv, "ct")
    assert split["test"] == ["ct0001", "ct0009", "ct0030", "ct0032", "ct0033", "ct0039"] and len(split["train"]) == 24
    chaos = [f"mr{i:04d}" for i in (1, 2, 3, 5, 8, 10, 13, 15, 19, 20, 21, 22, 31, 32, 33, 34, 36, 37, 38, 39)]
    assert sifa_split(chaos, "mr")["test"] == ["mr0001", "mr0013", "mr0032", "mr0038"]
    with pytest.raises(ValueError, match="needs CT subjects"):
        sifa_split(btcv[:5], "ct")


def test_load_volume_and_errors(prepared):
    subject = subject_ids(prepared, "mr", "test")[0]
    vol = load_volume(prepared, "mr", subject)
    assert vol.subject == subject and vol.domain == "mr" and vol.spacing[0] >= 5.5
    with pytest.raises(FileNotFoundError, match="available"):
        load_volume(prepared, "ct", "ct9999")
    with pytest.raises(ValueError, match="domain"):
        load_volume(prepared, "paired_mr", subject)
    with pytest.raises(ValueError, match="split"):
        subject_ids(prepared, "ct", "validation")
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        subject_ids(prepared.parent / "missing", "ct", "train")


def test_paired_mr_is_the_ct_anatomy_on_the_ct_grid(prepared):
    before = paired_mr_reads()
    subject = subject_ids(prepared, "ct", "test")[0]
    ct, paired = load_volume(prepared, "ct", subject), load_paired_mr(prepared, subject)
    assert paired_mr_reads() == before + 1
    assert paired.image.shape == ct.image.shape and np.array_equal(paired.spacing, ct.spacing)
    assert np.array_equal(paired.label, ct.label) and paired.domain == "mr"
    # the same organ, different contrast: the spleen is brighter than the liver in MR, not in CT
    liver, spleen = ct.label == 1, ct.label == 4
    assert paired.image[spleen].mean() - paired.image[liver].mean() > 0.15
    assert abs(ct.image[spleen].mean() - ct.image[liver].mean()) < 0.1


def test_real_data_has_no_paired_mr_and_must_be_present(tmp_path):
    with pytest.raises(FileNotFoundError, match="real data not found"):
        ensure_real_prepared(tmp_path, 64)
    with pytest.raises(FileNotFoundError, match="only for the phantom"):
        load_paired_mr(tmp_path, "ct0001")
    with pytest.raises(ValueError, match="data_source"):
        ensure_prepared(tmp_path, CI, data_source="synthetic")


def test_a_data_source_outside_the_two_is_named_with_the_choices():
    for source in DATA_SOURCES:
        check_data_source(source)
    with pytest.raises(ValueError, match=r"DATA_SOURCE='btcv'; choose one of \('phantom', 'real'\)"):
        check_data_source("btcv", name="DATA_SOURCE")
