"""ctl.methods.synseg (M2): CycleGAN without identity term, U in the generators' optimizer."""
import pytest

from conftest import TINY, built
from ctl.methods import SynSegConfig


def test_synseg_has_no_identity_term():
    assert SynSegConfig.from_preset(TINY).cycle.lambda_identity == 0
    method, batch = built("synseg")
    assert not {"idt_mr", "idt_ct"} & set(method.train_step(batch))
    with pytest.raises(ValueError, match="lambda_seg must be > 0"):
        SynSegConfig(lambda_seg=0.0)
