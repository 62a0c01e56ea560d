"""ctl.device: the device choice and its errors, and the mixed-precision switch every training step uses."""
import contextlib

import pytest
import torch

from ctl.device import Amp, describe_device, pick_device


def test_a_requested_device_is_used_and_a_missing_one_is_refused(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="'cuda' was requested but CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="'mps' was requested but Apple MPS is not available"):
        pick_device("mps")
    assert describe_device(torch.device("cpu")) == f"cpu ({torch.get_num_threads()} threads)"


def test_mixed_precision_is_off_outside_cuda_and_plain_autograd():
    for device in ("cpu", "mps"):
        amp = Amp.for_device(torch.device(device))
        assert not amp.enabled and amp.device_type == device
        assert isinstance(amp.autocast(), contextlib.nullcontext)
    w = torch.nn.Parameter(torch.tensor(3.0))
    optimizer = torch.optim.SGD([w], lr=0.5)
    amp = Amp()
    amp.backward((w - 1) ** 2)  # d/dw = 2 (w - 1) = 4
    assert w.grad.item() == 4.0
    amp.step(optimizer)
    amp.update()
    assert w.item() == 1.0  # 3 - 0.5 * 4


def test_backward_options_reach_autograd():
    """SIFA gives each network the gradient of its own loss with ``inputs=``: the others must get nothing."""
    a, b = torch.nn.Parameter(torch.tensor(2.0)), torch.nn.Parameter(torch.tensor(5.0))
    Amp().backward(a * b, inputs=[a])
    assert a.grad.item() == 5.0 and b.grad is None


def test_bfloat16_autocast_on_the_cpu_when_asked():
    amp = Amp(device_type="cpu", dtype=torch.bfloat16)
    with amp.autocast():
        out = torch.nn.functional.linear(torch.ones(1, 2), torch.ones(3, 2))
    assert amp.enabled and out.dtype == torch.bfloat16
