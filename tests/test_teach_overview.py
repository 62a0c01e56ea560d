"""ctl.teach.overview (notebook 00): the series map agrees with the notebooks, measured times are read from the
package data, the table is well formed whatever was measured, the pipeline figure is drawn."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ctl.teach.overview import SERIES, draw_pipeline, measured_times, series_table  # noqa: E402
from ctl.teach.series import notebook_paths  # noqa: E402

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


def test_measured_times_from_records():
    records = [{"preset": "cpu", "notebooks": [{"notebook": "00_overview.ipynb", "seconds": 3.9}]},
               {"preset": "ci", "notebooks": [{"notebook": "00_overview.ipynb", "seconds": 1.0}]}]
    assert measured_times(records) == {"00_overview": {"cpu": 3.9, "ci": 1.0}}


def test_the_pipeline_figure_draws_the_networks_and_losses():
    fig = draw_pipeline()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("U-Net" in t for t in texts) and any("L_{PatchNCE}" in t for t in texts)
    plt.close(fig)
