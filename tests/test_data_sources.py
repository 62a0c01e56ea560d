"""ctl.data.sources: the phantom generated and prepared once and reused while complete, prepared again when its
folder is of an older format or a file is truncated; the real data must be present."""
import json
import shutil

import pytest

from ctl.data import (DATA_SOURCES, check_data_source, ensure_phantom_prepared, ensure_prepared, ensure_real_prepared,
                      load_paired_mr, load_volume, read_meta, subject_ids)
from ctl.data.prepared import FORMAT_VERSION
from ctl.presets import get_preset

CI = get_preset("ci", env={})


@pytest.fixture
def data_dir(ci_prepared, tmp_path):
    """A scratch copy of the session's ci data folder (raw phantom and prepared folder), which a test may change."""
    return shutil.copytree(ci_prepared.parent.parent, tmp_path / "data")


def test_reuse_and_rebuild(data_dir):
    prepared = data_dir / "prepared" / "phantom-ci-seed0"
    stamp = (prepared / "meta.json").stat().st_mtime_ns
    assert ensure_phantom_prepared(prepared.parent.parent, CI, seed=0, progress=False) == prepared
    assert (prepared / "meta.json").stat().st_mtime_ns == stamp
    other = ensure_phantom_prepared(prepared.parent.parent, CI.replace(image_size=24), seed=0, progress=False)
    assert other == prepared  # same name: the folder is rebuilt for the new size, the raw phantom reused
    assert read_meta(other)["image_size"] == 24
    assert load_volume(other, "ct", subject_ids(other, "ct", "train")[0]).image.shape[1:] == (24, 24)


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


def test_the_phantom_cache_is_prepared_again_when_old_or_truncated(data_dir):
    cache = ensure_phantom_prepared(data_dir, CI, seed=0, progress=False)
    stamp = (cache / "meta.json").stat().st_mtime_ns
    assert ensure_phantom_prepared(data_dir, CI, seed=0, progress=False) == cache
    assert (cache / "meta.json").stat().st_mtime_ns == stamp  # whole: reused
    victim = cache / "ct" / f"{subject_ids(cache, 'ct', 'train')[0]}.npz"
    victim.write_bytes(victim.read_bytes()[:500])
    assert ensure_phantom_prepared(data_dir, CI, seed=0, progress=False) == cache
    assert (cache / "meta.json").stat().st_mtime_ns != stamp  # truncated: prepared again
    for sid in subject_ids(cache, "ct", "train"):
        load_volume(cache, "ct", sid)  # every file whole again
    meta = read_meta(cache)
    (cache / "meta.json").write_text(json.dumps({**meta, "format_version": 1}))
    ensure_phantom_prepared(data_dir, CI, seed=0, progress=False)
    assert read_meta(cache)["format_version"] == FORMAT_VERSION
