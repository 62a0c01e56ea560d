"""ctl.training.reference: weights trained longer, exported with their record, refused where they no longer fit,
and the reference files shipped with the package load and do what they were trained for."""
import json

import numpy as np
import pytest
import torch

from ctl.data import load_paired_mr, load_volume, subject_ids
from ctl.data.write import PHANTOM_VERSION
from ctl.evaluate.inference import predict_volume, translate_volume
from ctl.organs import ORGAN_LABELS
from ctl.presets import PRESETS
from ctl.training import load_or_train
from ctl.training.reference import (REFERENCE_DIR, SHAPE_FIELDS, export_reference, load_reference, reference_path,
                                    shown_networks)

CI = PRESETS["ci"]


@pytest.fixture(scope="module")
def trained_ours(ci_prepared, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "ours"
    method = load_or_train("ours", ci_prepared, CI, run, seed=0, device="cpu")
    return run, method


def test_export_keeps_the_segmenter_and_the_generator_in_float16(trained_ours, tmp_path):
    run, method = trained_ours
    path = export_reference(run, tmp_path / "ours-ci.pt")
    content = torch.load(path, weights_only=True)
    assert set(content["networks"]) == {"segmenter", "generator"}
    weights = content["networks"]["generator"]
    assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
    original = method.translator.G.state_dict()
    for key, value in weights.items():  # the stored values are the trained ones, rounded to float16
        assert torch.equal(value, original[key].half())
    record = content["record"]
    assert record["method"] == "ours" and record["iterations"] == CI.iterations and record["seed"] == 0
    assert record["phantom"]["version"] == PHANTOM_VERSION
    assert record["command"] == f"python -m ctl reference --method ours --preset ci --iterations {CI.iterations} " \
                                f"--seed 0"
    assert set(record["final_losses"]) >= {"seg", "gan", "nce_source", "d"}


def test_loaded_weights_give_the_trained_networks_outputs(trained_ours, tmp_path, ci_prepared):
    run, method = trained_ours
    path = export_reference(run, tmp_path / "ours-ci.pt")
    reference = load_reference("ours", "ci", path=path)
    ct = load_volume(ci_prepared, "ct", subject_ids(ci_prepared, "ct", "test")[0]).image
    ours = translate_volume(method.eval().translate, ct)
    again = translate_volume(reference.method.translate, ct)
    assert np.abs(ours - again).max() < 0.01  # float16 storage: close, not bit-identical
    agree = (predict_volume(method.segmenter, ct, "cpu") == predict_volume(reference.method.segmenter, ct, "cpu"))
    assert agree.mean() > 0.99
    assert reference.label == f"ours (reference, {CI.iterations} it.)"


def test_weights_for_other_sizes_or_another_phantom_are_refused(trained_ours, tmp_path):
    run, _ = trained_ours
    path = export_reference(run, tmp_path / "ours-ci.pt")
    content = torch.load(path, weights_only=True)
    content["record"]["preset"]["ngf"] += 1
    torch.save(content, tmp_path / "wider.pt")
    with pytest.raises(ValueError, match=r"\['ngf'\] changed.*python -m ctl reference --method ours"):
        load_reference("ours", "ci", path=tmp_path / "wider.pt")
    content["record"]["preset"]["ngf"] -= 1
    content["record"]["phantom"]["version"] = PHANTOM_VERSION - 1
    torch.save(content, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=f"phantom is now version {PHANTOM_VERSION}"):
        load_reference("ours", "ci", path=tmp_path / "old.pt")


def test_a_missing_reference_names_the_command_that_makes_it():
    with pytest.raises(FileNotFoundError, match="python -m ctl reference --method sifa --preset ci"):
        load_reference("sifa", "ci")


def test_an_unfinished_run_cannot_be_exported(tmp_path):
    with pytest.raises(FileNotFoundError, match="final.pt does not exist"):
        export_reference(tmp_path)


def test_shown_networks_of_each_kind_of_method():
    from ctl.methods import method_class

    assert set(shown_networks(method_class("oracle").from_preset(CI))) == {"segmenter"}
    assert set(shown_networks(method_class("cut").from_preset(CI))) == {"generator"}
    assert set(shown_networks(method_class("sifa").from_preset(CI))) == {"segmenter", "generator"}


# --- the files shipped with the package ----------------------------------------------------------------------
SHIPPED = sorted(REFERENCE_DIR.glob("*.pt"))


def test_the_shipped_reference_weights_stay_under_20_mb():
    assert sum(p.stat().st_size for p in SHIPPED) <= 20 * 2 ** 20


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_shipped_reference_fits_its_preset_and_says_how_it_was_made(path):
    method, preset = path.stem.rsplit("-", 1)
    assert path == reference_path(method, preset)
    reference = load_reference(method, preset)
    record = reference.record
    assert record["iterations"] > PRESETS[preset].iterations  # trained longer than a notebook run
    assert record["command"].startswith(f"python -m ctl reference --method {method} --preset {preset}")
    assert all(record["preset"][f] == (list(v) if isinstance(v := getattr(PRESETS[preset], f), tuple) else v)
               for f in SHAPE_FIELDS)
    json.dumps(record)  # a plain record


@pytest.mark.parametrize("path", [p for p in SHIPPED if load_reference(*p.stem.rsplit("-", 1)).method.generator
                                  is not None], ids=lambda p: p.stem)
def test_each_shipped_translator_gives_mr_contrast(path, cpu_prepared_small):
    """What the weights were trained for, checked on a phantom subject: in T2-SPIR MR the spleen and the kidneys
    are brighter than the liver (in CT liver and spleen look alike), so a trained G(CT) must show that order."""
    reference = load_reference(*path.stem.rsplit("-", 1))
    sid = subject_ids(cpu_prepared_small, "ct", "test")[0]
    ct = load_volume(cpu_prepared_small, "ct", sid)
    fake = translate_volume(reference.method.translate, ct.image)
    truth = load_paired_mr(cpu_prepared_small, sid).image
    for image in (truth, fake):
        liver = image[ct.label == ORGAN_LABELS["liver"]].mean()
        assert image[ct.label == ORGAN_LABELS["spleen"]].mean() > liver
        assert image[ct.label == ORGAN_LABELS["right_kidney"]].mean() > liver
