"""The teaching layer: what only the notebooks need. It imports the library (``ctl.data``, ``ctl.evaluate``,
``ctl.training``, ...); nothing in the library imports it.

- ``context``: ``setup_notebook`` for the cell after ``parameters``; ``ctx.record``, ``ctx.save_figure``;
- ``series``: runs the notebook series with papermill (``make test``, ``make demo``) and writes the run summary;
- ``colab``: the Colab setup cell of every notebook and what it does there; ``measurements``: the measured
  timings shipped with the package (``measured/*.json``);
- ``plots``: slices with organ overlays and outlines, the organ legend, Figures 2 and 3, compact display;
- ``widgets``: the interactive viewers, each with a static frame for headless runs;
- ``exercises``, ``exercises_results``: the checkers of the exercises; ``student``: ``make student``;
  ``short_runs``: the short training runs some exercises ask for;
- ``overview`` (notebook 00, every notebook's time line, the instructors' times table), ``lsgan`` (02),
  ``infonce`` and ``cycle_vs_patchnce`` (03), ``evaluation_plots`` and ``discussion`` (05).
"""
