"""``frozen``: a network that passes gradients to its input but collects none itself, for one block of code.

Every adversarial method needs it: in the generator's step, G learns from the gradient *through* D (L_gen,
eq. 2), while D's own parameters must not collect a gradient that its next step would then use.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

from torch import nn


@contextmanager
def frozen(parameters: Iterable[nn.Parameter]) -> Iterator[None]:
    """Within the block, ``parameters`` need no gradient: a backward pass through them fills no ``.grad``.

    Each parameter's previous ``requires_grad`` flag is put back afterwards (also when the block raises), so a
    parameter that was already frozen stays frozen.
    """
    flags = [(p, p.requires_grad) for p in parameters]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
