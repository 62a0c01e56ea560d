"""Evaluation: trained networks applied to test volumes (``inference``), 3D Dice and ASSD (``metrics``), Table 1
(``table1``), image similarity (``similarity``), translation fidelity (``fidelity``, ``translation_fidelity``),
and the scoring of run folders with their metrics files and tables (``runs``, ``python -m ctl evaluate``).

The names below are the ones notebooks and the command line use; the measures themselves are imported from
their modules (``from ctl.evaluate.metrics import dice, assd``).
"""
from ctl.evaluate.inference import predict_volume, translate_volume, translator_of
from ctl.evaluate.runs import (EvalConfig, Evaluation, comparison, data_label, evaluate_folder, evaluate_method,
                               evaluate_run, evaluate_segmenter, find_runs, is_run_folder, load_trained, preset_of,
                               read_metrics, records_in_unit, table_methods, write_metrics, write_tables)

__all__ = ["predict_volume", "translate_volume", "translator_of", "EvalConfig", "Evaluation", "comparison",
           "data_label", "evaluate_folder", "evaluate_method", "evaluate_run", "evaluate_segmenter", "find_runs",
           "is_run_folder", "load_trained", "preset_of", "read_metrics", "records_in_unit", "table_methods",
           "write_metrics", "write_tables"]
