"""The compute device and how to compute on it: CUDA, then Apple MPS, then CPU (nothing in ctl hard-codes
``cuda``), and ``Amp``, the mixed-precision switch every training step goes through."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

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
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'' if threads == 1 else 's'})"


def full_precision(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in float32 if it is float16 or bfloat16, unchanged otherwise (gradients flow through the cast).

    Under mixed precision (``Amp``) D's scores, U's logits and F's embeddings can arrive in half precision, and
    so can the maps a norm layer receives. A mean of squares over a score map, a log-softmax, similarities divided
    by a temperature of 0.07, a normalised activation: each keeps only about 3 significant digits in bfloat16.
    Every loss (``ctl.losses``) and norm layer (``ctl.nets.norms``) therefore lifts half-precision inputs to
    float32 first; float32 and float64 inputs are left as they are (notebook 03 checks a bound in float64).
    """
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def cpu_has_native_bfloat16() -> bool:
    """True when this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX), where bfloat16 convolutions run
    about twice as fast as float32 ones; elsewhere torch emulates bfloat16 and it is slower than float32."""
    try:  # private helpers of torch.cpu (torch >= 2.1); a torch without them is treated as having no support
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


@dataclass
class Amp:
    """Mixed precision switch used by every ``train_step``.

    On CUDA, autocast runs convolutions in bfloat16 where the GPU supports it (no loss scaling needed) and in
    float16 otherwise, with one ``GradScaler`` shared by all optimizers of the step (PyTorch's recipe for several
    losses and optimizers: scale each loss, step each optimizer, update the scale once per iteration). On a CPU
    with native bfloat16 arithmetic (``cpu_has_native_bfloat16``) convolutions and matrix products run in
    bfloat16; elsewhere, and on MPS, everything stays float32. Normalisation layers (``ctl.nets.norms``) and every
    loss (``ctl.losses.precision``) compute in float32 in all cases, and the weights and optimizer states are
    always float32.
    """

    device_type: str = "cpu"
    dtype: torch.dtype | None = None  # None: mixed precision off
    scaler: torch.amp.GradScaler = field(default_factory=lambda: torch.amp.GradScaler("cpu", enabled=False))

    @classmethod
    def for_device(cls, device: torch.device, enabled: bool = True) -> "Amp":
        """Mixed precision when ``enabled``: on CUDA, and on a CPU with native bfloat16; off on MPS."""
        if enabled and device.type == "cpu" and cpu_has_native_bfloat16():
            return cls(device_type="cpu", dtype=torch.bfloat16)
        if not enabled or device.type != "cuda":
            return cls(device_type=device.type)
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
        return cls(device_type="cuda", dtype=dtype, scaler=scaler)

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    def autocast(self):
        """Context for the forward pass and the loss."""
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, **options) -> None:
        """``loss.backward(**options)``, scaled when float16 needs it (SIFA passes ``inputs`` and
        ``retain_graph``: each of its networks gets the gradient of its own loss)."""
        self.scaler.scale(loss).backward(**options)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``, skipped by the scaler if float16 gradients overflowed."""
        self.scaler.step(optimizer)

    def update(self) -> None:
        """Once per iteration, after every optimizer of the step has stepped."""
        self.scaler.update()
