"""The prepared folder: layout and dtypes, splits by subject, reuse, paired MR kept apart; folders of the user's
never replaced, old formats and damaged files refused with what to do, a damaged cache prepared again."""
import json
import re
import shutil

import numpy as np
import pytest

from ctl.data import ensure_phantom_prepared, load_paired_mr, load_volume, paired_mr_reads, prepare, read_meta, subject_ids
from ctl.data.prepared import FORMAT_VERSION, GENERATOR, is_complete, made_by_prepare, random_split, sifa_split
from ctl.organs import CLASS_NAMES
from ctl.presets import get_preset

CI = get_preset("ci", env={})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A ci phantom of this module's own."""
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


# ---------------------------------------------------------------- never lose the user's data, never trust stale files
def test_prepare_refuses_the_raw_data_folder_and_a_folder_of_the_users(phantom_copy, tmp_path):
    (phantom_copy / "notes.txt").write_text("mine")
    before = sorted(p.relative_to(phantom_copy) for p in phantom_copy.rglob("*"))
    with pytest.raises(ValueError, match=r"refusing to write the prepared folder into .*copy: it holds the input data"):
        prepare(phantom_copy / "btcv", phantom_copy / "chaos", phantom_copy, 16)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("x")
    with pytest.raises(ValueError, match=r"refusing to replace .*mine: it is not empty \(it holds thesis.tex\)"):
        prepare(phantom_copy / "btcv", phantom_copy / "chaos", mine, 16)
    assert sorted(p.relative_to(phantom_copy) for p in phantom_copy.rglob("*")) == before
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]


def test_prepare_replaces_its_own_folder_and_an_error_leaves_it_as_it_was(phantom_copy, tmp_path):
    out = tmp_path / "prepared"
    prepare(phantom_copy / "btcv", phantom_copy / "chaos", out, 16, test_fraction=0.5, progress=False)
    assert read_meta(out)["generator"] == GENERATOR and made_by_prepare(out)
    prepare(phantom_copy / "btcv", phantom_copy / "chaos", out, 24, test_fraction=0.5, progress=False)
    assert read_meta(out)["image_size"] == 24  # replaced: it was ctl's
    image = phantom_copy / "btcv/img/img0002.nii.gz"
    image.write_bytes(image.read_bytes()[:400])  # the second case is truncated: prepare stops there
    with pytest.raises(ValueError, match=r"img0002.nii.gz cannot be read"):
        prepare(phantom_copy / "btcv", phantom_copy / "chaos", out, 16, test_fraction=0.5, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "prepared"]  # no temporary folder left
    assert read_meta(out)["image_size"] == 24  # the previous folder, untouched


def test_an_older_format_is_refused_with_the_command_that_makes_it_again(phantom_copy, tmp_path):
    out = prepare(phantom_copy / "btcv", phantom_copy / "chaos", tmp_path / "p", 16, test_fraction=0.5,
                  paired_dir=phantom_copy / "paired_mr", progress=False)
    meta = read_meta(out)
    del meta["generator"]
    (out / "meta.json").write_text(json.dumps({**meta, "format_version": 1}))  # as ctl wrote it before
    command = (f"re-prepare it with: python -m ctl prepare --btcv {phantom_copy / 'btcv'} --chaos "
               f"{phantom_copy / 'chaos'} --out {out} --size 16 --split random --seed 0 --test-fraction 0.5 "
               f"--paired {phantom_copy / 'paired_mr'}")
    with pytest.raises(ValueError, match=r"is of format_version 1, but this ctl reads prepared folders of "
                                         rf"format_version {FORMAT_VERSION}.*{re.escape(command)}"):
        subject_ids(out, "ct", "train")
    assert made_by_prepare(out)  # a format-1 folder is still ctl's: the command above may replace it
    prepare(phantom_copy / "btcv", phantom_copy / "chaos", out, 16, test_fraction=0.5, progress=False)
    assert read_meta(out)["format_version"] == FORMAT_VERSION


def _rewrite(path, **arrays):
    with np.load(path) as data:
        content = dict(data)
    content.update(arrays)
    np.savez(path, **content)


@pytest.mark.parametrize("damage, match", [
    (lambda p, d: _rewrite(p, image=d["image"] * 255), r"image values span \[0, 255\], not \[0, 1\]"),
    (lambda p, d: _rewrite(p, image=d["image"].astype(np.float64)), "image is float64 with 3 dimensions, not float32"),
    (lambda p, d: _rewrite(p, label=d["label"].astype(np.int64)), "label is int64 .*not uint8 of the image's shape"),
    (lambda p, d: _rewrite(p, label=d["label"][:-1]), r"label is uint8 \(5, 32, 32\), not uint8 of the image's shape"),
    (lambda p, d: _rewrite(p, spacing=np.array([3.0, 0.0, 0.8])), r"spacing is \[3.0, 0.0, 0.8\], not three positive"),
    (lambda p, d: np.savez(p, image=d["image"], label=d["label"]), r"lacks the array\(s\) \['spacing'\]"),
    (lambda p, d: p.write_bytes(p.read_bytes()[:300]), r"cannot be read \(BadZipFile: File is not a zip file\); "
                                                        r"the file is damaged or truncated: re-prepare it with"),
    (lambda p, d: p.write_bytes(b""), r"cannot be read .* damaged or truncated"),
])
def test_a_damaged_or_foreign_volume_is_named(scored_prepared, damage, match):
    path = scored_prepared / "mr" / "mr0002.npz"
    with np.load(path) as data:
        damage(path, dict(data))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*{match}"):
        load_volume(scored_prepared, "mr", "mr0002")


def test_is_complete_opens_each_file_index_only(scored_prepared):
    expected = {"format_version": FORMAT_VERSION, "source": "phantom"}
    paired = scored_prepared / "paired_mr" / "ct0001.npz"
    assert not is_complete(scored_prepared, expected)  # meta.json says paired_mr, and ct0002's file is missing
    shutil.copy(paired, paired.with_name("ct0002.npz"))
    assert is_complete(scored_prepared, expected)
    paired.write_bytes(paired.read_bytes()[:-30])  # the zip index is at the end: a truncated file fails
    assert not is_complete(scored_prepared, expected)
    (scored_prepared / "meta.json").write_text("{")
    assert not is_complete(scored_prepared, expected)
    with pytest.raises(ValueError, match=r"meta.json is damaged"):
        read_meta(scored_prepared)
