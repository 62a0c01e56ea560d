"""ctl.teach.context: the notebooks' setup cell; results and figures recorded for the run summary."""
import json

import numpy as np
import pytest
import torch

from ctl.teach.context import setup_notebook


def test_setup_refuses_an_unknown_data_source(tmp_path):
    with pytest.raises(ValueError, match="DATA_SOURCE='btcv'"):
        setup_notebook("00_x", "ci", "btcv", str(tmp_path), str(tmp_path), 0)


def test_setup_makes_the_folders_and_records_plain_numbers(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CTL_PRESET", raising=False)
    ctx = setup_notebook("07_example", "ci", "phantom", str(tmp_path / "data"), str(tmp_path / "run"), 3,
                         device="cpu")
    assert ctx.preset.name == "ci" and ctx.seed == 3 and ctx.device == torch.device("cpu")
    assert ctx.data_dir.is_dir() and ctx.run_dir.is_dir() and "seed        : 3" in capsys.readouterr().out
    ctx.record("dice", np.float32(0.5), "fraction")
    ctx.record("loss", torch.tensor(2.0))
    stored = json.loads(ctx.results_file.read_text())
    assert stored == {"dice": {"value": 0.5, "unit": "fraction", "preset": "ci"},
                      "loss": {"value": 2.0, "unit": "", "preset": "ci"}}
