"""The teaching layer: what only the notebooks need. It imports the library (``ctl.data``, ``ctl.evaluate``,
``ctl.training``, ...); nothing in the library imports it.

- ``context``: ``setup_notebook`` for the cell after ``parameters``; ``ctx.record``, ``ctx.save_figure``;
- ``series``: runs the notebook series with papermill (``make test``, ``make demo``) and writes the run summary;
- ``colab``: the Colab setup cell of every notebook and what it does there; ``measurements``: the measured
  timings shipped with the package (``measured/*.json``);
- ``plots``: slices with organ overlays and outlines, the organ legend, the slice viewer, Figures 2 and 3;
- ``overview`` (notebook 00), ``lsgan`` (02), ``infonce`` (03), ``evaluation_plots`` and ``discussion`` (05).
"""
