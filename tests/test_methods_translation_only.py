"""ctl.methods.translation_only: the translators of notebook 02 (lsgan, cut) are methods without a segmenter that
train through the shared loop; from one seed both start from the same G and D and see the same batches."""
import pytest
import torch

import ctl.methods.translation_only as translation_only
from conftest import TINY, built, tiny_batch
from ctl.methods import CUTOnly, LSGANOnly
from ctl.presets import PRESETS
from ctl.training import TrainConfig, load_history, train
from ctl.translate import TranslationConfig


def test_lsgan_drops_patchnce_and_cut_keeps_the_presets_settings():
    lsgan, cut = LSGANOnly.from_preset(TINY).config, CUTOnly.from_preset(TINY).config
    assert lsgan.translation == TranslationConfig.from_preset(TINY, lambda_nce=0.0, nce_identity=False)
    assert cut.translation == TranslationConfig.from_preset(TINY)
    assert lsgan.lr == cut.lr == TINY.lr and lsgan.betas == cut.betas == (0.5, 0.999)
    assert not LSGANOnly.in_table1 and not CUTOnly.in_table1
    assert LSGANOnly.batch_keys == CUTOnly.batch_keys == ("ct", "mr")  # images only, no labels


def test_translate_is_the_generator():
    method, batch = built("cut")
    method.eval()
    with torch.no_grad():
        torch.testing.assert_close(method.translate(batch["ct"]), method.translator.G(batch["ct"]))


def test_both_translators_start_alike_and_see_the_same_batches_through_the_loop(ci_prepared, tmp_path, monkeypatch):
    seen = {}
    real_step = translation_only.translation_step

    def recording(translator, opt_g, opt_d, real_ct, real_mr, amp):
        record = seen.setdefault(type(translator).__name__ + str(translator.config.lambda_nce), {"batches": []})
        record.setdefault("G", {k: v.clone() for k, v in translator.G.state_dict().items()})
        record["batches"].append((real_ct.clone(), real_mr.clone()))
        return real_step(translator, opt_g, opt_d, real_ct, real_mr, amp)

    monkeypatch.setattr(translation_only, "translation_step", recording)
    preset = PRESETS["ci"].replace(iterations=3, checkpoint_every=3)
    for name in ("lsgan", "cut"):
        train(name, ci_prepared, preset, tmp_path / name, seed=0, device="cpu", config=TrainConfig(progress=False))
        history = load_history(tmp_path / name)
        assert list(history["iteration"]) == [1, 2, 3]
        assert ("nce_source" in history) == (name == "cut")
    lsgan, cut = seen["Translator0.0"], seen["Translator1.0"]
    assert len(lsgan["batches"]) == len(cut["batches"]) == 3
    for (ct_a, mr_a), (ct_b, mr_b) in zip(lsgan["batches"], cut["batches"]):
        assert torch.equal(ct_a, ct_b) and torch.equal(mr_a, mr_b)
    for key, value in lsgan["G"].items():
        assert torch.equal(value, cut["G"][key]), key


def test_a_translation_only_method_has_no_segmenter():
    method, _ = built("lsgan")
    with pytest.raises(TypeError, match="'lsgan' trains a CT -> MR translator only"):
        method.segmenter
    assert set(method.train_step(tiny_batch())) == {"d", "gan", "total"}
