"""Data: the synthetic CT/MR phantom, BTCV and CHAOS loaders, preprocessing, prepared data, datasets.

The path every notebook takes: ``ensure_prepared(data_dir, preset, data_source)`` (``ctl.data.sources``; or
``prepare(...)`` on the real data) writes a prepared folder; ``SliceDataset`` / ``UnpairedSliceDataset`` serve slices from it for
training; ``subject_ids`` and ``load_volume`` give whole volumes for evaluation; ``load_paired_mr`` (phantom
only) is for evaluation only. Arrays are (Z, H, W) on LPS axes: patient right on the image's left.
"""
from ctl.data.augment import AugmentConfig, augment_slice
from ctl.data.btcv import load_btcv_case
from ctl.data.chaos import load_chaos_case
from ctl.data.datasets import SliceDataset, UnpairedSliceDataset
from ctl.data.geometry import Volume
from ctl.data.prepared import load_paired_mr, load_volume, paired_mr_reads, prepare, read_meta, subject_ids
from ctl.data.preprocess import normalise_mr, preprocess_volume, window_ct
from ctl.data.sources import (DATA_SOURCES, check_data_source, ensure_phantom_prepared, ensure_prepared,
                              ensure_real_prepared)
from ctl.data.write import generate_phantom

__all__ = [
    "DATA_SOURCES", "check_data_source", "Volume", "AugmentConfig", "augment_slice", "SliceDataset",
    "UnpairedSliceDataset", "ensure_phantom_prepared", "ensure_prepared", "ensure_real_prepared", "prepare",
    "read_meta", "subject_ids", "load_volume", "load_paired_mr", "paired_mr_reads", "generate_phantom",
    "load_btcv_case", "load_chaos_case", "window_ct", "normalise_mr", "preprocess_volume",
]
