"""Training: the one loop every method goes through (``loop``), its seeding and data order
(``reproducibility``), its checkpoints (``checkpoints``) and its run folders (``runs``).

``load_or_train(name, prepared, preset, run_folder(...))`` is what the notebooks call; ``python -m ctl train``
calls ``train``; ``parallel.load_or_train_many`` trains several methods side by side on a CPU (notebook 04).
"""
from ctl.training.checkpoints import checkpoints
from ctl.training.loop import AlreadyTrained, TrainConfig, TrainingDiverged, load_or_train, lr_factor, train
from ctl.training.reproducibility import seed_everything
from ctl.training.runs import (RunFolderBusy, config_differences, load_history, read_run_config, read_summary,
                               run_config, run_folder)

__all__ = ["AlreadyTrained", "RunFolderBusy", "TrainConfig", "TrainingDiverged", "load_or_train", "lr_factor", "train",
           "checkpoints",
           "seed_everything", "config_differences", "load_history", "read_run_config", "read_summary", "run_config",
           "run_folder"]
