"""ctl.device: the device choice and its errors, and the mixed-precision switch every training step uses."""
import contextlib

import pytest
import torch

import ctl.device as device_module
from ctl.device import Amp, cpu_has_native_bfloat16, describe_device, pick_device


def test_a_requested_device_is_used_and_a_missing_one_is_refused(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="'cuda' was requested but CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="'mps' was requested but Apple MPS is not available"):
        pick_device("mps")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert describe_device(torch.device("cpu")) == "cpu (2 threads)"
        torch.set_num_threads(1)
        assert describe_device(torch.device("cpu")) == "cpu (1 thread)"
    finally:
        torch.set_num_threads(threads)


def test_mixed_precision_on_a_cpu_only_with_native_bfloat16_never_on_mps_and_plain_autograd(monkeypatch):
    for native, expected in ((True, torch.bfloat16), (False, None)):
        monkeypatch.setattr(device_module, "cpu_has_native_bfloat16", lambda native=native: native)
        assert Amp.for_device(torch.device("cpu")).dtype == expected
        assert Amp.for_device(torch.device("cpu"), enabled=False).dtype is None
    amp = Amp.for_device(torch.device("mps"))
    assert not amp.enabled and amp.device_type == "mps"
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


def test_native_bfloat16_follows_the_cpu_flags():
    flags = open("/proc/cpuinfo").read().split() if __import__("os").path.exists("/proc/cpuinfo") else []
    if flags:  # Linux: torch's answer agrees with the CPU's own flags
        assert cpu_has_native_bfloat16() == ("avx512_bf16" in flags or "amx_bf16" in flags)
    else:
        assert isinstance(cpu_has_native_bfloat16(), bool)
