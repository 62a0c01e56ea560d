"""ctl.methods.cyclegan (M1): U learns from the detached translation, so L_seg never reaches G_ct2mr; SynSeg-Net
(M2) differs from it in exactly that."""
import pytest
import torch

from conftest import TINY, built
from ctl.methods import CycleGANConfig


@pytest.mark.parametrize("name, reaches_generator", [("cyclegan", False), ("synseg", True)])
def test_the_ct_labels_reach_the_generator_in_synseg_only(name, reaches_generator):
    """Same images, other labels: G_ct2mr's update changes exactly when L_seg's gradient flows into it."""
    generators = []
    for shift in (0, 3):
        method, batch = built(name)
        batch = {**batch, "ct_label": torch.roll(batch["ct_label"], shifts=shift, dims=-1)}
        method.train_step(batch)
        generators.append(torch.cat([p.detach().flatten() for p in method.translator.G_ct2mr.parameters()]))
    assert torch.equal(generators[0], generators[1]) != reaches_generator


def test_cyclegan_keeps_cyclegans_identity_term_and_learning_rate():
    config = CycleGANConfig.from_preset(TINY)
    assert config.cycle.lambda_identity == 0.5 and config.cycle.lambda_cycle == 10.0 and config.lr == TINY.lr
