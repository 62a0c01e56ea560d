"""ctl.evaluate and ctl.translation_fidelity on a hand-made prepared folder whose expected scores are worked out
by hand: metrics.json / metrics.csv, the MR test split read once per subject, paired-truth fidelity at its ideal
and worst, the `evaluate` command end to end on trained run folders.

The segmenter double ``LabelReader`` predicts the label the test wrote into the image (label = 4 x intensity),
so each MR test volume's prediction is chosen here, voxel by voxel.
"""
import csv
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

import ctl.data
import ctl.training as training
from ctl.evaluate import (EvalConfig, comparison, evaluate_folder, evaluate_segmenter, find_runs, read_metrics,
                          records_in_unit, write_metrics)
from ctl.metrics import ORGAN_LABELS
from ctl.methods import METHODS, Method, register
from ctl.translation_fidelity import (NO_TRANSLATION, PAIRED_TRUTH, FidelityConfig, rank_correlations, translate_volume,
                                     translation_fidelity, translator_of)

SPACING = (3.0, 0.8, 0.8)  # (z, y, x) mm: anisotropic, so mm and voxels differ
SIZE, SLICES = 32, 6
LIVER, RIGHT, LEFT, SPLEEN = (ORGAN_LABELS[o] for o in ("liver", "right_kidney", "left_kidney", "spleen"))


class LabelReader(nn.Module):
    """(B, 1, H, W) -> logits (B, 5, H, W) whose argmax is round(4 x intensity)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # something to train and save

    def forward(self, x):
        labels = torch.round(x[:, 0] * 4).long().clamp(0, 4)  # (B, H, W)
        return nn.functional.one_hot(labels, 5).permute(0, 3, 1, 2).float() * self.scale  # (B, 5, H, W)


def organs(liver=True, right=True, left=True, spleen=True, right_z=2, left_z=(1, 5)):
    """A label volume: liver cube 3x4x4, right kidney a one-voxel sheet 3x3 at slice right_z, left kidney a
    4x4 block over slices left_z, spleen 2x3x3."""
    v = np.zeros((SLICES, SIZE, SIZE), np.uint8)
    if liver:
        v[1:4, 8:12, 8:12] = LIVER
    if right:
        v[right_z, 16:19, 8:11] = RIGHT
    if left:
        v[left_z[0]:left_z[1], 16:20, 18:22] = LEFT
    if spleen:
        v[1:3, 8:11, 20:23] = SPLEEN
    return v


def save(path, image, label, spacing=SPACING):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, image=image.astype(np.float32), label=label.astype(np.uint8), spacing=np.asarray(spacing, float))


def mr_like(labels, seed):
    """Body disk at 0.08 and organs at label / 4, with texture small enough that round(4 x value) is the label."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    body = ((yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2 < (SIZE / 2 - 1) ** 2)[None]
    image = np.where(labels > 0, labels / 4.0, 0.08 * body)
    texture = np.random.default_rng(seed).uniform(-0.02, 0.02, labels.shape) * body
    return np.clip(image + texture, 0, 1)


@pytest.fixture
def prepared(tmp_path):
    """MR test mr0001 (predictions chosen per organ) and mr0002 (perfect), MR train mr0003; CT test ct0001 with
    its paired MR, CT train ct0002."""
    root = tmp_path / "prepared"
    truth1 = organs()
    predicted1 = organs(spleen=False, right_z=3, left_z=(1, 3))  # liver exact, right sheet one slice up, ...
    save(root / "mr" / "mr0001.npz", predicted1 / 4.0, truth1)  # the image holds the prediction
    save(root / "mr" / "mr0002.npz", organs() / 4.0, organs())
    save(root / "mr" / "mr0003.npz", organs() / 4.0, organs())
    ct_labels = organs()
    ct_image = 0.3 + 0.05 * ct_labels + 0.01 * np.arange(SLICES)[:, None, None]  # every slice distinct
    save(root / "ct" / "ct0001.npz", ct_image, ct_labels)
    save(root / "ct" / "ct0002.npz", ct_image, ct_labels)
    save(root / "paired_mr" / "ct0001.npz", mr_like(ct_labels, 0), ct_labels)
    split = {"ct": {"train": ["ct0002"], "test": ["ct0001"]}, "mr": {"train": ["mr0003"], "test": ["mr0001", "mr0002"]}}
    (root / "split.json").write_text(json.dumps(split))
    (root / "meta.json").write_text(json.dumps({"source": "phantom", "image_size": SIZE, "paired_mr": True}))
    return root


# Hand-worked values for mr0001 (spacing 3.0 x 0.8 x 0.8 mm):
# - left kidney: truth a 4x4x4 block (64 voxels, 56 on its surface), prediction its lower half 4x4x2 (32 voxels,
#   all on its surface). Dice = 2*32/96. Prediction -> truth: the 4 inner voxels of the upper predicted slice are
#   0.8 mm (one voxel in-plane) from the truth's surface, the rest 0. Truth -> prediction: 12 rim voxels of truth
#   slice 3 are 3 mm away, the 16 voxels of truth slice 4 are 6 mm away. Pooled ASSD = (4*0.8 + 12*3 + 16*6) / 88;
#   in voxels (4 + 12 + 32) / 88; mean of the directed means 0.5 * (3.2/32 + 132/56).
LEFT_ASSD_MM = (4 * 0.8 + 12 * 3 + 16 * 6) / 88
LEFT_ASSD_VOXEL = (4 + 12 + 32) / 88
LEFT_ASSD_MEAN_OF_MEANS = 0.5 * (3.2 / 32 + 132 / 56)
# - right kidney: two one-voxel sheets one slice apart: Dice 0; every surface voxel is 3 mm (1 voxel) away.


def by(records, subject, organ, unit="mm"):
    [record] = [r for r in records if r["subject"] == subject and r["organ"] == organ and r["assd_unit"] == unit]
    return record


def test_records_hold_the_hand_worked_scores(prepared):
    ev = evaluate_segmenter(LabelReader(), prepared, method="reader", seed=7, device="cpu")
    assert ev.subjects == ["mr0001", "mr0002"] and ev.spacing["mr0001"] == SPACING
    assert len(ev.records) == 2 * 4 * 2  # subjects x organs x units
    r = ev.records
    assert by(r, "mr0001", "liver")["dice"] == 1.0 and by(r, "mr0001", "liver")["assd"] == 0.0
    assert by(r, "mr0001", "right_kidney")["dice"] == 0.0
    assert by(r, "mr0001", "right_kidney")["assd"] == pytest.approx(3.0, abs=1e-12)
    assert by(r, "mr0001", "right_kidney", "voxel")["assd"] == pytest.approx(1.0, abs=1e-12)
    assert by(r, "mr0001", "left_kidney")["dice"] == pytest.approx(2 / 3)
    assert by(r, "mr0001", "left_kidney")["assd"] == pytest.approx(LEFT_ASSD_MM, abs=1e-9)
    assert by(r, "mr0001", "left_kidney", "voxel")["assd"] == pytest.approx(LEFT_ASSD_VOXEL, abs=1e-9)
    spleen = by(r, "mr0001", "spleen")
    assert (spleen["dice"], spleen["assd"], spleen["status"]) == (0.0, None, "empty_prediction")
    assert spleen["pred_voxels"] == 0 and spleen["truth_voxels"] == 18
    assert all(x["dice"] == 1.0 and x["assd"] == 0.0 for x in r if x["subject"] == "mr0002")
    assert {(x["method"], x["seed"], x["assd_mode"]) for x in r} == {("reader", 7, "pooled")}
    assert (ev.predictions["mr0001"] == organs(spleen=False, right_z=3, left_z=(1, 3))).all()


def test_mean_of_means_mode_gives_the_other_hand_value(prepared):
    ev = evaluate_segmenter(LabelReader(), prepared, method="reader", config=EvalConfig(units=("mm",),
                                                                                      mode="mean_of_means"))
    assert by(ev.records, "mr0001", "left_kidney")["assd"] == pytest.approx(LEFT_ASSD_MEAN_OF_MEANS, abs=1e-9)
    assert {x["assd_unit"] for x in ev.records} == {"mm"}


def test_metrics_json_and_csv(prepared, tmp_path):
    ev = evaluate_segmenter(LabelReader(), prepared, method="reader", seed=0)
    json_path, csv_path = write_metrics(tmp_path / "run", ev, {"preset": "ci"})
    stored = read_metrics(tmp_path / "run")
    assert stored["records"] == ev.records and stored["preset"] == "ci" and stored["split"] == "mr/test"
    assert stored["subjects"] == ["mr0001", "mr0002"] and stored["spacing_mm"]["mr0001"] == list(SPACING)
    assert "NaN" not in json_path.read_text()
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == len(ev.records)
    spleen = [x for x in rows if x["subject"] == "mr0001" and x["organ"] == "spleen" and x["assd_unit"] == "mm"][0]
    assert spleen["assd"] == "" and spleen["status"] == "empty_prediction" and float(spleen["dice"]) == 0.0
    left = [x for x in rows if x["subject"] == "mr0001" and x["organ"] == "left_kidney" and x["assd_unit"] == "voxel"]
    assert float(left[0]["assd"]) == pytest.approx(LEFT_ASSD_VOXEL)
    with pytest.raises(FileNotFoundError, match="evaluate the run first"):
        read_metrics(tmp_path)


def test_table_from_the_records(prepared):
    ev = evaluate_segmenter(LabelReader(), prepared, method="ours", seed=0)
    results, table = comparison(ev.records, "mm", data_label="test")
    ours = results["ours"]
    assert ours.dice["liver"].mean == 100.0 and ours.dice["right_kidney"].mean == 50.0
    assert ours.dice["left_kidney"].mean == pytest.approx(100 * (2 / 3 + 1) / 2)
    assert (ours.assd["spleen"].n, ours.assd["spleen"].n_missing, ours.assd["spleen"].mean) == (1, 1, 0.0)
    assert ours.assd["left_kidney"].mean == pytest.approx(LEFT_ASSD_MM / 2)
    row = [r for r in table.rows if r[0] == "ours"][0]
    assert row[1] == "test" and row[2] == "50.0 (50.0)" and row[7] == "0.00 (0.00) [1/2]"
    assert table.header[7] == "ASSD mm (STD): Spleen"
    _, voxel_table = comparison(ev.records, "voxel", data_label="test")
    assert voxel_table.header[7] == "ASSD voxel (STD): Spleen"
    with pytest.raises(ValueError, match="choose one of"):
        records_in_unit(ev.records, "cm")
    with pytest.raises(ValueError, match="no record has ASSD in 'voxel'"):
        records_in_unit([r for r in ev.records if r["assd_unit"] == "mm"], "voxel")


def test_only_the_mr_test_split_is_read_each_subject_once(prepared, monkeypatch):
    reads = []
    load_volume = ctl.data.load_volume

    def spy(folder, domain, subject):
        reads.append((domain, subject))
        return load_volume(folder, domain, subject)

    def no_paired(*args):
        raise AssertionError("evaluation of a segmenter must not read paired MR")

    monkeypatch.setattr(ctl.data, "load_volume", spy)
    monkeypatch.setattr(ctl.data, "load_paired_mr", no_paired)
    evaluate_segmenter(LabelReader(), prepared, method="reader")
    assert reads == [("mr", "mr0001"), ("mr", "mr0002")]


def test_the_ct_test_split_is_scored_on_request_only(prepared, monkeypatch):
    reads = []
    load_volume = ctl.data.load_volume
    monkeypatch.setattr(ctl.data, "load_volume", lambda folder, domain, subject: (
        reads.append((domain, subject)), load_volume(folder, domain, subject))[1])
    ev = evaluate_segmenter(LabelReader(), prepared, method="reader", domain="ct")
    assert reads == [("ct", "ct0001")] and ev.subjects == ["ct0001"]
    with pytest.raises(ValueError, match="domain must be"):
        evaluate_segmenter(LabelReader(), prepared, method="reader", domain="paired_mr")


@pytest.mark.parametrize("test_ids, message", [([], "no MR test subject"), (["mr0001", "mr0001"], "twice")])
def test_a_bad_split_is_refused(prepared, test_ids, message):
    split = json.loads((prepared / "split.json").read_text())
    split["mr"]["test"] = test_ids
    (prepared / "split.json").write_text(json.dumps(split))
    with pytest.raises(ValueError, match=message):
        evaluate_segmenter(LabelReader(), prepared, method="reader")


@pytest.mark.parametrize("options, message", [({"units": ("cm",)}, "units="), ({"units": ()}, "units="),
                                              ({"mode": "max"}, "mode="), ({"batch": 0}, "batch")])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        EvalConfig(**options)


# ---------------------------------------------------------------- translation fidelity
class PairedLookup:
    """The ideal translator: maps each CT slice to the paired MR slice of the same anatomy."""

    def __init__(self, ct, paired):
        self.table = {ct_slice.astype(np.float32).tobytes(): mr for ct_slice, mr in zip(ct, paired)}

    def __call__(self, x):  # (B, 1, H, W)
        return torch.stack([torch.from_numpy(self.table[s.numpy().tobytes()].astype(np.float32))[None]
                            for s in x[:, 0]])


def test_fidelity_of_the_ideal_and_of_a_constant_translator(prepared):
    ct, paired = ctl.data.load_volume(prepared, "ct", "ct0001"), ctl.data.load_paired_mr(prepared, "ct0001")
    ideal = PairedLookup(ct.image, paired.image)
    translators = {"ideal": ideal, "constant": lambda x: torch.full_like(x, 0.5), "inverted": lambda x: 1 - ideal(x)}
    report = translation_fidelity(translators, prepared, LabelReader(), data_source="phantom",
                                  config=FidelityConfig(subsets=5))
    assert list(report) == [NO_TRANSLATION, PAIRED_TRUTH, "ideal", "constant", "inverted"]
    ideal, constant, inverted = (report[name].summary() for name in ("ideal", "constant", "inverted"))
    for region in ("body", *ORGAN_LABELS):
        assert ideal[f"ssim_{region}"] == pytest.approx(1.0, abs=1e-9)
        # no structure: covariance 0, so SSIM <= C2 / (var_truth + C2), small wherever the truth has texture
        assert constant[f"ssim_{region}"] < 0.2
        assert inverted[f"ssim_{region}"] < 0  # bright and dark swapped: negative covariance
    assert ideal["psnr_body_db"] == float("inf")  # identical inside the body
    assert ideal["content_dice"] == 100.0 and ideal["content_assd"] == 0.0  # oracle(G(x)) == y^s
    assert constant["content_dice"] < 25
    assert report[PAIRED_TRUTH].summary() == pytest.approx(ideal)  # the reference row is that ideal
    np.testing.assert_array_equal(report["ideal"].translated["ct0001"], paired.image)
    assert constant["kid"] > ideal["kid"]


def test_on_real_data_the_paired_measure_is_skipped_and_never_read(prepared, monkeypatch):
    def no_paired(*args):
        raise AssertionError("real data has no paired MR")

    monkeypatch.setattr(ctl.data, "load_paired_mr", no_paired)
    report = translation_fidelity({"constant": lambda x: torch.full_like(x, 0.5)}, prepared, LabelReader(),
                                  data_source="real")
    assert list(report) == [NO_TRANSLATION, "constant"]
    assert report["constant"].paired is None
    assert set(report["constant"].summary()) == {"content_dice", "content_assd", "kid", "kid_std"}
    with pytest.raises(ValueError, match="data_source"):
        translation_fidelity({}, prepared, LabelReader(), data_source="Phantom")


def test_translate_volume_checks_the_translator():
    volume = np.random.default_rng(0).random((5, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(translate_volume(lambda x: 1 - x, volume, batch=2), 1 - volume)
    with pytest.raises(ValueError, match="must map"):
        translate_volume(lambda x: x[:, :, :4], volume)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        translate_volume(lambda x: 2 * x + 1, volume)
    assert translator_of(nn.Identity()) is None


def test_rank_correlations():
    summaries = {m: {"ssim_body": s, "kid": k, "content_dice": 50.0} for m, s, k in
                 (("a", 0.1, 3.0), ("b", 0.5, 2.0), ("c", 0.9, 1.0), (NO_TRANSLATION, 0.0, 9.0))}
    out = rank_correlations(summaries, {"a": 10.0, "b": 20.0, "c": 30.0})
    assert out["ssim_body"] == {"rho": pytest.approx(1.0), "n": 3, "methods": ["a", "b", "c"]}
    assert out["kid"]["rho"] == pytest.approx(-1.0)
    assert out["content_dice"]["rho"] is None  # constant: no ranking
    assert rank_correlations(summaries, {"a": 1.0, "b": 2.0})["ssim_body"]["rho"] is None  # two methods


# ---------------------------------------------------------------- run folders and the command
@dataclass(frozen=True)
class ReaderConfig:
    lr: float = 1e-3  # any: the reader's prediction does not depend on its one weight's sign-preserving changes


class Reader(Method):
    """A trainable method whose segmenter is ``LabelReader``: its scores are known whatever training does."""

    name = "reader"

    def __init__(self, config=ReaderConfig()):
        super().__init__()
        self.config = config
        self.net = LabelReader()

    @classmethod
    def from_preset(cls, preset):
        return cls()

    @property
    def segmenter(self):
        return self.net

    def configure_optimizers(self):
        return {"segmenter": torch.optim.SGD(self.net.parameters(), lr=self.config.lr)}

    def train_step(self, batch):
        optimizer = self.optimizers["segmenter"]
        optimizer.zero_grad()
        loss = (self.net.scale - 2.0) ** 2  # moves the scale towards 2: the argmax never changes
        loss.backward()
        optimizer.step()
        return {"seg": loss.item()}


class FakeItems(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"ct": torch.zeros(1, 8, 8), "ct_label": torch.zeros(8, 8, dtype=torch.long), "mr": torch.zeros(1, 8, 8)}


@pytest.fixture
def reader(monkeypatch):
    register(Reader)
    monkeypatch.setattr(training, "training_dataset", lambda prepared, cls, augment: FakeItems())
    monkeypatch.setenv("CTL_PRESET", "ci")
    yield
    METHODS.pop("reader")


def test_evaluate_command_end_to_end(prepared, reader, tmp_path, capsys):
    from ctl.__main__ import main

    runs = tmp_path / "runs"
    for seed in (0, 1):
        train = ["train", "--method", "reader", "--data", str(prepared), "--preset", "ci", "--seed", str(seed),
                 "--out", str(runs / "train" / f"reader-ci-seed{seed}"), "--device", "cpu"]
        assert main(train) == 0
    capsys.readouterr()
    assert main(["evaluate", "--run", str(runs), "--data", str(prepared), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Table 1 (ASSD in mm; Dice in %)" in out and "Table 1 (ASSD in voxel; Dice in %)" in out
    assert "ASSD mm (STD): Spleen" in out and "M1 CycleGAN [4]" in out
    assert "this run: phantom, ci preset, 2 MR test vol. x 2 seed(s)" in out
    assert find_runs(runs) == [runs / "train" / "reader-ci-seed0", runs / "train" / "reader-ci-seed1"]
    for seed in (0, 1):
        stored = read_metrics(runs / "train" / f"reader-ci-seed{seed}")
        assert stored["seed"] == seed and stored["preset"] == "ci" and len(stored["records"]) == 16
        assert (runs / "train" / f"reader-ci-seed{seed}" / "metrics.csv").exists()
    table = (runs / "table1.md").read_text()
    assert "## Table 1, ASSD in mm" in table and "## Table 1, ASSD in voxel" in table
    row = [line for line in table.splitlines() if line.startswith("| reader |")][0]
    assert "| 50.0 (50.0) |" in row and "0.00 (0.00) [2/4]" in row  # spleen: seeds pooled, 4 volumes
    summary = list(csv.DictReader(open(runs / "table1.csv")))
    assert {(r["metric"], r["unit"]) for r in summary} == {("dice", "%"), ("assd", "mm"), ("assd", "voxel")}
    assert len(summary) == 4 * 3


def test_evaluate_command_explains_what_is_wrong(prepared, reader, tmp_path, capsys):
    from ctl.__main__ import main

    assert main(["evaluate", "--run", str(tmp_path / "nothing"), "--data", str(prepared)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text(json.dumps({"method": "reader", "seed": 0, "preset": {"name": "ci"}}))
    assert main(["evaluate", "--run", str(unfinished), "--data", str(prepared)]) == 2
    assert "has no final.pt" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(unfinished), "--data", str(prepared), "--preset", "cpu"]) == 2
    assert "no run of preset 'cpu'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no run folder"):
        evaluate_folder(prepared, prepared)


# ---------------------------------------------------------------- the computed discussion
def result(method, dice_percent, assd_mm=2.0, spleen=None):
    """A MethodResult over two volumes with the same Dice for every organ (``spleen`` overrides that organ)."""
    from ctl.table1 import summarize

    records = [{"method": method, "subject": s, "organ": o, "assd_unit": "mm", "status": "ok", "assd": assd_mm,
                "dice": (spleen if o == "spleen" and spleen is not None else dice_percent) / 100}
               for s in ("a", "b") for o in ORGAN_LABELS]
    return summarize(records, method)


def test_pair_agreement_and_gap_by_hand():
    from ctl.discussion import gap_closed, pair_agreement

    assert pair_agreement({"a": 1, "b": 2, "c": 3}, {"a": 3, "b": 2, "c": 1}) == (0, 3)
    assert pair_agreement({"a": 1, "b": 2, "c": 3}, {"a": 3, "b": 2, "c": 1}, same_direction=False) == (3, 3)
    assert pair_agreement({"a": 1, "b": 1, "c": 3}, {"a": 1, "b": 2, "c": 3, "d": 0}) == (2, 2)  # tie a-b skipped
    results = {"source_only": result("source_only", 40), "oracle": result("oracle", 80), "ours": result("ours", 70)}
    assert gap_closed(results) == {"ours": pytest.approx(75.0)}
    assert gap_closed({"ours": results["ours"]}) is None
    assert gap_closed(dict(results, oracle=result("oracle", 30))) is None


def test_discussion_is_computed_from_the_numbers():
    from ctl.discussion import discussion

    results = {m: result(m, d, assd_mm=a) for m, d, a in
               (("cyclegan", 50, 5.0), ("ours", 60, 3.0), ("sifa", 70, 4.0), ("source_only", 40, 6.0),
                ("oracle", 80, 1.0))}
    text = "\n".join(discussion(results))
    assert "`oracle` (80.0) > `sifa` (70.0) > `ours` (60.0) > `cyclegan` (50.0) > `source_only` (40.0)" in text
    assert "`ours` (82.3) > `sifa` (79.2) > `cyclegan` (57.4)" in text  # the paper's printed Means
    assert "2 of 3 pairs of these methods are ordered the same way" in text
    assert "here it ranks 2 of the 3 compared methods" in text
    assert "`sifa` 75 %, `ours` 50 %, `cyclegan` 25 %" in text
    assert "rank 9 of 10 method pairs alike" in text  # only sifa/ours: sifa has the better Dice, ours the ASSD
    assert "differ by 10.0 points" in text
    ties = dict(results, ours=result("ours", 50.02), cyclegan=result("cyclegan", 49.98))
    assert "`ours` (50.0) = `cyclegan` (50.0) > `source_only`" in "\n".join(discussion(ties))
    inverted = dict(results, oracle=result("oracle", 30), ours=result("ours", 20, spleen=10))
    text = "\n".join(discussion(inverted))
    assert "is not above source_only" in text and "Hardest organ" in text
    assert "Below the lower bound" not in text


# ---------------------------------------------------------------- figure helpers
def test_nearest_surface_arrows_match_the_surface_distances():
    from ctl.figures import nearest_surface_arrows
    from ctl.metrics import surface, surface_distances

    source = np.zeros((9, 12), bool)
    source[2:6, 2:6] = True
    target = np.roll(source, (1, 3), axis=(0, 1))
    spacing = (2.0, 0.5)
    starts, ends, distances = nearest_surface_arrows(source, target, spacing)
    np.testing.assert_allclose(distances, surface_distances(source, target, spacing)[0])
    assert surface(target)[ends[:, 0], ends[:, 1]].all()  # every arrow ends on the other surface
    lengths = np.hypot((ends[:, 0] - starts[:, 0]) * spacing[0], (ends[:, 1] - starts[:, 1]) * spacing[1])
    np.testing.assert_allclose(lengths, distances)


def test_representative_slices():
    from ctl.figures import representative_slices

    labels = np.zeros((12, 4, 4), np.uint8)
    labels[2:10, 1, 1] = 1  # organs on slices 2..9
    assert representative_slices(labels, 3) == [4, 6, 7]  # inner quantiles 1.75, 3.5, 5.25 of the 8 slices
    assert representative_slices(labels, 1) == [6]
    with pytest.raises(ValueError, match="no slice"):
        representative_slices(np.zeros((3, 4, 4)), 2)


def test_table_methods_follow_table_1():
    from ctl.evaluate import table_methods
    from ctl.table1 import PAPER_TABLE1

    names = table_methods()
    assert names[-2:] == ["source_only", "oracle"]  # the bounds last
    paper = [row.method for row in PAPER_TABLE1 if row.method in METHODS]
    assert names[:len(paper)] == paper and "ours" in paper
    assert sorted(names) == sorted(METHODS)
