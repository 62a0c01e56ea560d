"""ctl.methods.adaptseg (M3): the BCE by hand, and MR reaching U only through the adversarial term."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import TINY, tiny_batch
from ctl.methods import AdaptSeg
from ctl.methods.adaptseg import bce_to


def test_bce_to_a_constant_label_by_hand():
    logits = torch.tensor([0.0, np.log(3.0)])  # sigmoid: 1/2 and 3/4
    assert bce_to(logits, 1.0).item() == pytest.approx((np.log(2) - np.log(0.75)) / 2)
    assert bce_to(logits, 0.0).item() == pytest.approx((np.log(2) - np.log(0.25)) / 2)


@pytest.mark.parametrize("lambda_adv, mr_matters", [(0.0, False), (1e-3, True)])
def test_adaptseg_mr_images_reach_the_segmenter_only_through_the_adversarial_term(lambda_adv, mr_matters):
    weights = []
    for mr_seed in (1, 2):
        torch.manual_seed(0)
        method = AdaptSeg(replace(AdaptSeg.from_preset(TINY).config, lambda_adv=lambda_adv))
        batch = {k: tiny_batch()[k] for k in AdaptSeg.batch_keys}
        batch["mr"] = tiny_batch(seed=mr_seed)["mr"]
        method.setup(batch)
        method.train().train_step(batch)
        weights.append(torch.cat([p.detach().flatten() for p in method.unet.parameters()]))
    assert torch.equal(weights[0], weights[1]) != mr_matters
