"""The interface every method implements, so that all of them train and test the same way.

The methods are the seven rows of Table 1 (``in_table1 = True``) and the two translation-only methods of
notebook 02 (``ctl.methods.translation_only``: a translator, no segmenter, not in Table 1). A method is a small
``nn.Module`` that says three things:

1. **what it builds**: its networks (as submodules, so ``state_dict()`` holds them all) in ``__init__``, and its
   optimizers in ``configure_optimizers()`` (called by ``setup(first_batch)``, after any network that is
   created from the first batch, such as CUT's projection head F);
2. **one training step**: ``train_step(batch) -> dict[str, float]``, with ``zero_grad / backward / step``
   written out in the method's own module, in the method's own update order;
3. **which network segments at test time**: the ``segmenter`` property, a module mapping MR slices
   (B, 1, H, W) in [0, 1] to class logits (B, 5, H, W). Evaluation uses nothing else. A method that translates
   CT to MR also has ``translate(ct)``, used for figures and the fidelity measures only.

Everything else is shared and lives in ``ctl.training``: the data (``ctl.data.UnpairedSliceDataset``, the same
for every method), seeding, mixed precision, checkpoints, resume, the loss history and the NaN guard.

Rules a method follows, so that comparisons are fair and resume is exact:

- one call of ``train_step`` updates the segmenter exactly once (the loop counts segmenter updates); for a
  translation-only method, which has no segmenter, it updates the translator exactly once;
- ``batch_keys`` names the keys of the ``UnpairedSliceDataset`` item the step reads; only a method with
  ``uses_target_labels = True`` (the oracle, an upper bound) may list ``"mr_label"``, and the loop only asks the
  dataset for MR labels for such a method;
- randomness comes from torch's global generator (the loop saves and restores it at checkpoints);
- state that is neither a parameter nor a buffer but must survive a resume (an image pool) is returned by a
  submodule's ``get_extra_state`` / ``set_extra_state`` (torch then keeps it in ``state_dict()``);
- losses go through ``self.amp`` (``ctl.device.Amp``: ``autocast()``, ``backward(loss)``, ``step(optimizer)``),
  which is plain float32 autograd on CPU and mixed precision on CUDA; the loop calls ``self.amp.update()``
  after each step; ``train_step`` returns its losses through ``as_floats`` (one device synchronisation).

A new method is one module: subclass ``Method``, decorate it with ``@register``, import it in
``ctl/methods/__init__.py``.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ctl.device import Amp

# The keys of a ``ctl.data.UnpairedSliceDataset`` item; "mr_label" exists only when the dataset is built with
# target_labels=True, which the training loop does for methods with ``uses_target_labels`` alone.
SOURCE_KEYS = ("ct", "ct_label")
TARGET_IMAGE_KEYS = ("mr",)
TARGET_LABEL_KEYS = ("mr_label",)
ALL_BATCH_KEYS = SOURCE_KEYS + TARGET_IMAGE_KEYS + TARGET_LABEL_KEYS

METHODS: dict[str, type["Method"]] = {}


def register(cls: type["Method"]) -> type["Method"]:
    """Class decorator: add a method to ``METHODS`` under ``cls.name`` (checked for clashes and bad keys)."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no `name`; set the class attribute before @register")
    if cls.name in METHODS and METHODS[cls.name] is not cls:
        raise ValueError(f"method name {cls.name!r} is taken by {METHODS[cls.name].__qualname__}")
    unknown = set(cls.batch_keys) - set(ALL_BATCH_KEYS)
    if unknown:
        raise ValueError(f"{cls.__qualname__}.batch_keys has unknown keys {sorted(unknown)}; "
                         f"the dataset gives {list(ALL_BATCH_KEYS)}")
    if "mr_label" in cls.batch_keys and not cls.uses_target_labels:
        raise ValueError(f"{cls.__qualname__} reads 'mr_label' (target labels) but does not declare "
                         f"uses_target_labels = True; only an upper-bound reference method may do that")
    METHODS[cls.name] = cls
    return cls


def method_class(name: str) -> type["Method"]:
    """The registered class called ``name``.

    Raises:
        ValueError: for a name that is not registered, listing the ones that are.
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name]


def as_floats(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """Scalar losses as Python floats, with one device synchronisation for all of them (what ``train_step``
    returns)."""
    values = torch.stack([v.detach().float() for v in losses.values()]).tolist()
    return dict(zip(losses, values))


class Method(nn.Module):
    """Base class of every method; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    uses_target_labels: ClassVar[bool] = False  # True only for the oracle: it reads MR labels (upper bound)
    in_table1: ClassVar[bool] = True  # a row of Table 1 (it has a segmenter); False for translation-only methods
    batch_keys: ClassVar[tuple[str, ...]] = SOURCE_KEYS + TARGET_IMAGE_KEYS
    description: ClassVar[str] = ""  # one line for tables and the command line
    config: object  # the method's config dataclass, set in __init__ (stored in the run folder's config.json)

    def __init__(self) -> None:
        super().__init__()
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.amp = Amp()

    # --- what the method builds -------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, preset) -> "Method":
        """The method with the network sizes and learning rate of a ``ctl.presets.Preset``."""
        raise NotImplementedError(f"{cls.__qualname__} must implement from_preset(preset)")

    def setup(self, batch: dict[str, torch.Tensor]) -> None:
        """Build what needs a first batch (override and call ``super().setup(batch)`` last), then optimizers."""
        self.optimizers = self.configure_optimizers()
        if not self.optimizers:
            raise ValueError(f"{type(self).__qualname__}.configure_optimizers() returned no optimizer")

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers by name, each over its own networks' parameters (no parameter in two optimizers)."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement configure_optimizers()")

    # --- one training step ------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One iteration: every optimizer steps once, the segmenter (or a translation-only method's translator)
        exactly once. Returns the losses as floats (``as_floats``)."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement train_step(batch)")

    # --- test time --------------------------------------------------------------------------------------
    @property
    def segmenter(self) -> nn.Module:
        """The network applied to MR at test time: (B, 1, H, W) in [0, 1] -> logits (B, n_classes, H, W)."""
        raise NotImplementedError(f"{type(self).__qualname__} must say which network segments at test time")

    @property
    def generator(self) -> nn.Module | None:
        """The CT -> MR network G of a method that translates (for figures, fidelity and reference weights); None
        for a method that does not (source_only, oracle, adaptseg)."""
        return None

    def translate(self, ct: torch.Tensor) -> torch.Tensor:
        """x^{s->t} = G(x^s): CT slices (B, 1, H, W) in [0, 1] rendered as MR, same shape, in [0, 1] (the caller
        sets eval mode and no_grad).

        Raises:
            TypeError: for a method without a generator.
        """
        if self.generator is None:
            raise TypeError(f"{self.name!r} does not translate CT to MR (it has no generator)")
        return self.generator(ct)

    def _need_setup(self) -> None:
        if not self.optimizers:
            raise RuntimeError(f"{type(self).__qualname__}: call setup(first_batch) before train_step")

    def check_optimizers_disjoint(self) -> None:
        """Raise if a parameter sits in two optimizers (each optimizer must move only its own networks)."""
        owner: dict[int, str] = {}
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if id(p) in owner and owner[id(p)] != name:
                        raise ValueError(f"a parameter is in both optimizers {owner[id(p)]!r} and {name!r}")
                    owner[id(p)] = name
