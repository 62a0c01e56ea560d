"""Pick the compute device: CUDA, then Apple MPS, then CPU. Nothing in ctl hard-codes ``cuda``."""
from __future__ import annotations

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """The device to train on: ``requested`` if given (``"cpu"``, ``"cuda"``, ``"mps"``), else the best present.

    Raises:
        ValueError: when ``requested`` names a device this machine does not have.
    """
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} was requested but CUDA is not available here; use 'cpu'")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {requested!r} was requested but Apple MPS is not available here; use 'cpu'")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """One line naming the device, for the notebooks' settings cell."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"
