"""Reference weights: methods trained far longer than a notebook run, shipped with the package.

A notebook at the ``cpu`` preset trains each method for a few minutes; a GAN is far from converged by then.
So that students also see what the method does when it *is* trained, the package ships weights that its own
code trained for much longer on the same phantom, at the same network sizes (``cpu`` preset, more iterations).
The notebooks show them beside the student's own run, each labelled as what it is.

    python -m ctl reference --method ours --preset cpu --iterations 10000

trains the method with the shared loop (``ctl.training.train``: the same data, losses, schedule and seeding as
every run, only longer) into ``runs/reference/<method>-<preset>-<iterations>``, then writes
``ctl/reference/<method>-<preset>.pt`` with ``export_reference``. The file keeps only what a notebook shows,
the segmenter U and the CT->MR generator G (their weights stored as float16 to keep the package small; they
are used in float32), and a record of how they were made: iterations, seconds, device, phantom version, data
and training seeds, the losses at the end. ``load_reference`` rebuilds the method at the preset's sizes and
refuses weights made for other sizes or another phantom, saying how to make new ones.
"""
from __future__ import annotations

import dataclasses
import json
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ctl.data import ensure_phantom_prepared
from ctl.data.write import PHANTOM_VERSION
from ctl.methods import Method, method_class
from ctl.presets import Preset, get_preset
from ctl.training.loop import load_or_train
from ctl.training.runs import load_history, read_run_config, read_summary

REFERENCE_DIR = Path(str(files("ctl") / "reference"))  # package data (the checkout's ctl/reference when editable)
# Preset fields that decide the networks' shapes and the data: reference weights fit only where these agree.
SHAPE_FIELDS = ("image_size", "phantom_size", "ngf", "n_blocks", "ndf", "nce_layers", "num_patches", "mlp_width",
                "unet_base", "unet_depth")


def reference_path(method: str, preset: str) -> Path:
    """Where the reference weights of ``method`` at ``preset`` live (inside the installed package)."""
    return REFERENCE_DIR / f"{method}-{preset}.pt"


def shown_networks(method: Method) -> dict[str, nn.Module]:
    """The networks a notebook shows: "segmenter" (U, for a Table 1 method) and "generator" (G, if it translates)."""
    networks = {}
    if method.in_table1:
        networks["segmenter"] = method.segmenter
    if method.generator is not None:
        networks["generator"] = method.generator
    if not networks:
        raise ValueError(f"{method.name!r} has neither a segmenter nor a generator to keep")
    return networks


def train_reference(method: str, preset: str, iterations: int, seed: int = 0, data_dir: Path | str = "data",
                    runs_root: Path | str = "runs", device: torch.device | str | None = None,
                    out: Path | str | None = None) -> Path:
    """Train ``method`` at ``preset``'s sizes for ``iterations`` (resuming an interrupted run) and export it.

    The data are the preset's phantom with data seed 0 (what the notebooks use); checkpoints every 1000
    iterations, so a long run survives an interruption (run the same command again). Returns the file written.
    """
    chosen = get_preset(preset, env={})
    if iterations < chosen.iterations:
        raise ValueError(f"iterations={iterations} is fewer than the preset's own {chosen.iterations}: reference "
                         f"weights are meant to be trained longer than a notebook run")
    prepared = ensure_phantom_prepared(data_dir, chosen, seed=0)
    longer = chosen.replace(iterations=iterations, checkpoint_every=min(1000, iterations))
    run = Path(runs_root) / "reference" / f"{method}-{preset}-{iterations}-seed{seed}"
    load_or_train(method, prepared, longer, run, seed=seed, device=device)
    return export_reference(run, out)


def export_reference(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Write the reference file of the finished run in ``run_dir`` (see the module docstring); returns its path.

    Raises:
        FileNotFoundError: the run has no final.pt (training did not finish).
    """
    run_dir = Path(run_dir)
    final = run_dir / "final.pt"
    if not final.exists():
        raise FileNotFoundError(f"{final} does not exist: finish the training first (ctl train ... --resume)")
    config = read_run_config(run_dir)
    preset = Preset(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["preset"].items()})
    method = method_class(config["method"]).from_preset(preset)
    state = torch.load(final, map_location="cpu", weights_only=True)["method"]
    method.load_state_dict(state, strict=False)  # F of ``ours`` is built from a first batch: not needed here
    history = load_history(run_dir)
    last = {k: float(np.nanmean(v[-100:])) for k, v in history.items() if k != "iteration"}
    summary = read_summary(run_dir)
    record = {"method": config["method"], "preset": config["preset"], "seed": config["seed"],
              "iterations": summary["iterations"], "seconds": summary["seconds"], "device": summary["device"],
              "phantom": config["data"].get("phantom"), "data_source": config["data"]["source"],
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "final_losses": last,
              "command": f"python -m ctl reference --method {config['method']} --preset {preset.name} "
                         f"--iterations {summary['iterations']} --seed {config['seed']}"}
    networks = {name: {k: v.half() if v.is_floating_point() else v for k, v in module.state_dict().items()}
                for name, module in shown_networks(method).items()}
    out = Path(out) if out is not None else reference_path(config["method"], preset.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"record": json.loads(json.dumps(record)), "networks": networks}, out)
    return out


@dataclasses.dataclass
class Reference:
    """Reference weights loaded into their method (eval mode) and the record of how they were trained."""

    method: Method
    record: dict

    @property
    def label(self) -> str:
        """How figures and tables name it: method, iterations, and that it is the shipped reference."""
        return f"{self.record['method']} (reference, {self.record['iterations']} it.)"


def load_reference(method: str, preset: str = "cpu", device: torch.device | str = "cpu",
                   path: Path | str | None = None) -> Reference:
    """The shipped reference weights of ``method`` at ``preset``, in a method built at the preset's sizes.

    Raises:
        FileNotFoundError: no reference file for this method and preset (the message lists the ones there are).
        ValueError: the file was made for other network sizes or another phantom version than the current ones.
    """
    path = Path(path) if path is not None else reference_path(method, preset)
    if not path.exists():
        there = sorted(p.stem for p in REFERENCE_DIR.glob("*.pt"))
        raise FileNotFoundError(f"no reference weights {path.name} in {path.parent}; there are {there}. Make them "
                                f"with: python -m ctl reference --method {method} --preset {preset}")
    content = torch.load(path, map_location="cpu", weights_only=True)
    record = content["record"]
    trained = Preset(**{k: tuple(v) if isinstance(v, list) else v for k, v in record["preset"].items()})
    current = get_preset(preset, env={})
    differ = [f for f in SHAPE_FIELDS if getattr(trained, f) != getattr(current, f)]
    stale_phantom = record["data_source"] == "phantom" and (record.get("phantom") or {}).get("version") != \
        PHANTOM_VERSION
    if differ or stale_phantom:
        why = f"the preset's {differ} changed" if differ else \
            f"the phantom is now version {PHANTOM_VERSION}, they were trained on {record.get('phantom')}"
        raise ValueError(f"{path.name} no longer fits: {why}. Make new ones with: {record['command']}")
    built = method_class(record["method"]).from_preset(trained)
    for name, module in shown_networks(built).items():
        module.load_state_dict({k: v.float() if v.is_floating_point() else v
                                for k, v in content["networks"][name].items()})
    return Reference(built.to(device).eval(), record)
