"""ctl.training.runs: run folders apart for phantom and real data, what config.json holds and how a changed
configuration is found, histories as columns; only run folders are trained into, one process at a time."""
import json

import numpy as np
import pytest

from conftest import LOOP_PRESET, QUIET, hold_run_lock
from ctl.training import (RunFolderBusy, config_differences, load_history, read_run_config, read_summary, run_folder,
                          train)
from ctl.training.runs import LOCK_FILE, check_run_folder, describe_differences, differences


def test_phantom_and_real_runs_get_their_own_folders(tmp_path):
    assert run_folder(tmp_path, "ours", "cpu", 2) == tmp_path / "train" / "ours-cpu-seed2"
    assert run_folder(tmp_path, "ours", "cpu", 2, "real") == tmp_path / "train" / "ours-cpu-real-seed2"
    with pytest.raises(ValueError, match="data_source='btcv'; choose one of"):
        run_folder(tmp_path, "ours", "cpu", 2, "btcv")


def test_config_json_defines_the_run_and_differences_are_named(toy, tmp_path):
    run = tmp_path / "run"
    train("toy", toy, LOOP_PRESET, run, seed=3, device="cpu", config=QUIET)
    config = read_run_config(run)
    assert (config["method"], config["seed"], config["preset"]["iterations"]) == ("toy", 3, 7)
    assert config["train"] == {"augment": True, "amp": True, "decay_from": 0.5, "channels_last": True}
    assert config["data"] == {"source": "phantom", "image_size": 8} and "info" in config
    expected = {k: v for k, v in config.items() if k != "info"}
    assert config_differences(run, expected) == []  # "info" (where it ran) is not compared
    assert config_differences(run, {**expected, "seed": 4, "method": "other"}) == ["method", "seed"]
    assert config_differences(tmp_path / "nothing", expected) == []
    assert read_summary(run)["iterations"] == 7


def test_missing_meta_json_is_explained(toy, tmp_path):
    (toy / "meta.json").unlink()
    with pytest.raises(FileNotFoundError, match="not a prepared data folder"):
        train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)


def test_history_columns_fill_missing_losses_with_nan(tmp_path):
    (tmp_path / "history.json").write_text(json.dumps([{"iteration": 1, "d": 0.5}, {"iteration": 2, "d": 0.25,
                                                                                     "seg": 1.0}]))
    history = load_history(tmp_path)
    assert list(history) == ["iteration", "d", "seg"]
    np.testing.assert_array_equal(history["d"], [0.5, 0.25])
    assert np.isnan(history["seg"][0]) and history["seg"][1] == 1.0


def test_only_run_folders_are_trained_into(toy, tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.json").write_text('{"mine": 1}')
    with pytest.raises(ValueError, match=r"refusing to train into .*mine: it holds summary.json and is not a run "
                                         r"folder"):
        train("toy", toy, LOOP_PRESET, mine, device="cpu", config=QUIET)
    assert [p.name for p in mine.iterdir()] == ["summary.json"] and "mine" in (mine / "summary.json").read_text()
    monkeypatch.chdir(mine)
    with pytest.raises(ValueError, match="current folder or holds it"):
        train("toy", toy, LOOP_PRESET, ".", device="cpu", config=QUIET)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a run folder"):
        check_run_folder(tmp_path / "file")
    started = tmp_path / "started"  # what an interrupted start leaves is still a run folder
    (started / "checkpoints").mkdir(parents=True)
    (started / LOCK_FILE).write_text("")
    check_run_folder(started)


def test_a_damaged_config_json_is_named_with_what_to_do(tmp_path):
    (tmp_path / "config.json").write_text("")
    with pytest.raises(ValueError, match=r"config.json is empty or damaged .* delete the file and run `python -m ctl "
                                         r"train \.\.\. --out .* --resume`"):
        read_run_config(tmp_path)
    (tmp_path / "config.json").write_text('{"mine": 1}')
    with pytest.raises(ValueError, match="is not a ctl run's config.json"):
        check_run_folder(tmp_path)


def test_differences_are_described_one_level_deep():
    stored = {"method": "source_only", "seed": 0, "preset": {"name": "ci", "iterations": 6}, "info": {"device": "a"}}
    asked = {"method": "oracle", "seed": 0, "preset": {"name": "ci", "iterations": 1000}, "info": {"device": "b"}}
    assert differences(stored, asked) == ["method", "preset"]
    assert describe_differences(stored, asked) == ("method: 'source_only' there, 'oracle' asked; "
                                                   "preset.iterations: 6 there, 1000 asked")


def test_a_second_process_is_told_who_holds_the_run_folder(toy, tmp_path):
    run = tmp_path / "run"
    holder = hold_run_lock(run)
    try:
        with pytest.raises(RunFolderBusy, match=rf"run is being trained by process {holder.pid} on .* since "):
            train("toy", toy, LOOP_PRESET, run, device="cpu", config=QUIET)
        assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]  # nothing written by the refused process
    finally:
        holder.kill()  # even kill -9 releases the lock: the kernel holds it, not the file
        holder.wait(timeout=60)
    train("toy", toy, LOOP_PRESET, run, device="cpu", config=QUIET)
    assert (run / "final.pt").exists()
