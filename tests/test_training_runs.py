"""ctl.training.runs: run folders apart for phantom and real data, what config.json holds and how a changed
configuration is found, histories as columns."""
import json

import numpy as np
import pytest

from conftest import LOOP_PRESET, QUIET
from ctl.training import config_differences, load_history, read_run_config, read_summary, run_folder, train


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
    assert config["train"] == {"augment": True, "amp": True, "decay_from": 0.5}
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
