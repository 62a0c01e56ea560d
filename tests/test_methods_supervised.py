"""ctl.methods.supervised (and the bounds source_only and oracle): U learns the domain it is given."""
import pytest

from conftest import TINY, built
from ctl.methods import Oracle, SourceOnly, UNetConfig
from ctl.organs import NUM_CLASSES


@pytest.mark.parametrize("name", ["source_only", "oracle"])
def test_the_bounds_learn_their_own_domain(name):
    method, batch = built(name, preset=TINY.replace(lr=1e-2))  # a large rate: a visible drop in 40 steps
    first = method.train_step(batch)["seg"]
    for _ in range(40):
        last = method.train_step(batch)["seg"]
    assert last < 0.5 * first


def test_the_bounds_read_their_own_domain_with_the_shared_unet():
    assert (SourceOnly.image_key, SourceOnly.label_key, SourceOnly.batch_keys) == ("ct", "ct_label", ("ct", "ct_label"))
    assert (Oracle.image_key, Oracle.label_key) == ("mr", "mr_label") and Oracle.uses_target_labels
    config = UNetConfig.from_preset(TINY)
    assert (config.n_classes, config.base, config.depth) == (NUM_CLASSES, TINY.unet_base, TINY.unet_depth)
