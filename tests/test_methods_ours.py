"""ctl.methods.ours: the paper's joint objective (eq. 1); where L_seg's gradient goes; bad settings."""
import pytest
import torch

from conftest import TINY, tiny_batch
from ctl.methods import Ours, OursConfig
from ctl.translate import TranslationConfig


@pytest.mark.parametrize("through_generator", [True, False])
def test_ours_segmentation_gradient_reaches_the_generator_only_when_asked(through_generator):
    """Scaling L_seg changes G's update exactly when L_seg's gradient flows through G(x^s) into G."""
    generators = []
    for lambda_seg in (1.0, 1000.0):
        torch.manual_seed(0)
        config = OursConfig.from_preset(TINY)
        config = OursConfig(**{**config.__dict__, "lambda_seg": lambda_seg,
                               "seg_grad_to_generator": through_generator})
        method = Ours(config)
        batch = {k: tiny_batch()[k] for k in Ours.batch_keys}
        method.setup(batch)
        method.train().train_step(batch)
        generators.append(torch.cat([p.detach().flatten() for p in method.translator.G.parameters()]))
    assert torch.equal(generators[0], generators[1]) != through_generator


def test_ours_refuses_a_segmenter_without_loss():
    with pytest.raises(ValueError, match="lambda_seg must be > 0"):
        Ours(OursConfig(**{**OursConfig.from_preset(TINY).__dict__, "lambda_seg": 0.0}))


def test_ours_takes_the_translator_and_the_unet_from_the_preset():
    config = OursConfig.from_preset(TINY)
    assert config.translation == TranslationConfig.from_preset(TINY) and config.lr == TINY.lr
    assert config.seg_grad_to_generator and config.lambda_seg == 1.0
