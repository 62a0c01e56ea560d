"""ctl.teach.overview (notebook 00, every notebook's header, notebooks/INSTRUCTORS.md): the series map agrees with the
notebooks, times are read from the measured records shipped as package data and nowhere else, the table is well
formed whatever was measured, the guide's times table is the generated one, the pipeline figure draws both
PatchNCE paths and the test-time path."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import ctl.teach.overview as overview  # noqa: E402
from ctl.teach.overview import (SERIES, TIMES_END, TIMES_START, draw_pipeline, instructor_times,  # noqa: E402
                                measured_times, series_table, time_and_hardware, write_instructor_times)
from ctl.series import notebook_paths  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_the_series_map_names_every_notebook_and_shows_measured_minutes():
    assert [name for name, _ in SERIES] == [p.stem for p in notebook_paths(ROOT / "notebooks")]
    times = measured_times()
    lines = series_table().splitlines()
    assert len(lines) == 2 + len(SERIES)
    assert _cells(lines[0]) == ["notebook", "teaches", "ci (min)", "cpu (min)"]  # the records shipped today
    row = _cells(lines[6])
    assert row[0] == "`04_segmentation_training`" and row[3] == f"{times['04_segmentation_training']['cpu'] / 60:.1f}"


def test_the_table_has_as_many_cells_in_every_row_as_in_its_header():
    """The bug of a wheel without the records: a 3-cell header over a 2-cell separator."""
    for times in ({}, {"00_overview": {"cpu": 60.0}},
                  {"00_overview": {"gpu": 30.0}, "05_dice_assd_comparison": {"ci": 6}}):
        lines = series_table(times).splitlines()
        widths = {line.count("|") for line in lines}
        assert len(widths) == 1, (times, lines)
    assert series_table({}).splitlines()[:2] == ["| notebook | teaches |", "|---|---|"]
    lines = series_table({"00_overview": {"cpu": 90.0}}).splitlines()
    assert _cells(lines[2])[2] == "1.5" and _cells(lines[3])[2] == "-"


@pytest.fixture
def fake_times(monkeypatch):
    """The measured records replaced by one cpu record of known seconds (90 s and 30 s)."""
    record = {"preset": "cpu", "date": "2030-01-02", "cpu_count": 2, "cuda": False, "note": "a note",
              "notebooks": [{"notebook": "00_overview.ipynb", "seconds": 30.0},
                            {"notebook": "04_segmentation_training.ipynb", "seconds": 90.0}]}
    monkeypatch.setattr(overview, "read_records", lambda prefix: [record] if prefix == "notebook_times" else [])
    return record


def test_each_notebooks_time_line_comes_from_the_measured_file(fake_times):
    line = time_and_hardware("04_segmentation_training")
    assert "**1.5 min** at the `cpu` preset on a 2-core CPU (measured 2030-01-02" in line
    assert "the series from an empty data folder: 2.0 min" in line and "Colab GPU: not measured" in line
    assert "not measured yet" in time_and_hardware("02_lsgan_translation")
    with pytest.raises(ValueError, match="unknown notebook"):
        time_and_hardware("07_nothing")


def test_the_instructors_times_table_is_generated_between_its_markers(fake_times, tmp_path):
    table = instructor_times()
    assert "| `04_segmentation_training` | 1.5 min | not measured | not measured |" in table
    assert "| `02_lsgan_translation` | not measured | not measured | not measured |" in table
    assert "| whole series | 2.0 min |" in table and "a note." in table
    guide = tmp_path / "GUIDE.md"
    guide.write_text(f"# Guide\n\n{TIMES_START}\nold\n{TIMES_END}\n\nmore text\n")
    assert write_instructor_times(guide) is True
    assert guide.read_text() == f"# Guide\n\n{table}\n\nmore text\n"
    assert write_instructor_times(guide) is False
    (tmp_path / "BARE.md").write_text("# no markers\n")
    with pytest.raises(ValueError, match="no generated times section"):
        write_instructor_times(tmp_path / "BARE.md")


def test_the_committed_guide_shows_the_measured_times():
    text = (ROOT / "notebooks" / "INSTRUCTORS.md").read_text(encoding="utf-8")
    assert instructor_times() in text, "run `python -m ctl.teach.overview` to regenerate the guide's times table"


def test_the_pipeline_figure_draws_both_patchnce_paths_and_the_test_time_path():
    fig = draw_pipeline()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for needed in ("U-Net", "(eq. 5)", "(eq. 8)", "L^T_{PatchNCE}", "$G(x^t)$", "Test time", "trained $U$",
                   "(eq. 2-3)", "(eq. 12-14)"):
        assert needed in texts, needed
    width, height = fig.get_size_inches() * fig.dpi
    assert width >= 480
    plt.close(fig)
