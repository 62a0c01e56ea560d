"""ctl.teach.overview (notebook 00): the series map agrees with the notebooks, measured times are read, the
pipeline figure is drawn."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ctl.teach.overview import SERIES, draw_pipeline, measured_times, series_table  # noqa: E402
from ctl.teach.series import notebook_paths  # noqa: E402


def test_the_series_map_names_every_notebook_and_shows_measured_minutes():
    assert [name for name, _ in SERIES] == [p.stem for p in notebook_paths()]
    times = measured_times()
    table = series_table(present={name for name, _ in SERIES[:2]})
    lines = table.splitlines()
    assert len(lines) == 2 + len(SERIES) and "(not written yet)" in lines[4] and "(not written yet)" not in lines[3]
    for preset in {p for row in times.values() for p in row}:
        assert f"{preset} (min)" in lines[0]
    if "cpu" in times.get("04_segmentation_training", {}):
        assert f"{times['04_segmentation_training']['cpu'] / 60:.1f}" in lines[6]


def test_the_pipeline_figure_draws_the_networks_and_losses():
    fig = draw_pipeline()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("U-Net" in t for t in texts) and any("L_{PatchNCE}" in t for t in texts)
    plt.close(fig)
