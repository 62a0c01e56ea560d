"""Shared fixtures and helpers of the tests (test files import the helpers from here, never from each other).

- Methods at a tiny size: ``TINY``, ``tiny_batch``, ``built``, ``assert_optimizers_move_only_their_own``,
  ``NoTargetLabels``, ``TinyUnpaired``.
- Prepared data: ``ci_prepared`` (the ci phantom, prepared once per session; do not modify it),
  ``written_phantom`` / ``phantom_copy`` (a tiny phantom in the BTCV and CHAOS layouts), ``rendered_subjects``.
- The training loop on stand-ins: ``Toy`` (a miniature of ``ours``), ``FakeUnpaired``, the ``toy`` fixture,
  ``LOOP_PRESET``, ``QUIET``, ``history_rows``.
- A second process holding a run folder's lock: ``hold_run_lock``.
- Evaluation with known answers: ``scored_prepared`` (a hand-made prepared folder), ``LabelReader`` (a segmenter
  that reads the label written into the image), ``Reader`` and the ``reader`` fixture, ``organs``, ``SPACING``.
- Downloads and archives: ``phantom_zips`` (``written_phantom`` zipped as ``RawData.zip`` and
  ``CHAOS_Train_Sets.zip`` are laid out, with members that must be left in the archive), ``http_server`` (a real
  HTTP server on 127.0.0.1 with Range support, that can break a response or ignore ranges).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import ctl.training.loop as loop
from ctl import data
from ctl.data.prepared import FORMAT_VERSION, GENERATOR
from ctl.data.write import generate_phantom
from ctl.data.phantom import sample_anatomy, sample_grid, voxelise
from ctl.data.render import render_ct, render_mr
from ctl.methods import METHODS, Method, method_class, register
from ctl.organs import ORGAN_LABELS
from ctl.presets import PRESETS
from ctl.training import TrainConfig


# --- methods at a tiny size ------------------------------------------------------------------------------------
TINY = PRESETS["ci"].replace(image_size=32, ngf=4, n_blocks=1, ndf=4, num_patches=8, mlp_width=8, unet_base=4,
                             unet_depth=2, batch_size=2, nce_layers=("input", "stem", "down1", "res0"))


def tiny_batch(size: int = 32, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Every key a method may read: CT and MR slices in [0, 1] with organ-like squares as labels."""
    g = torch.Generator().manual_seed(seed)
    ct_label = torch.zeros(batch, size, size, dtype=torch.long)
    ct_label[:, 4:16, 4:16], ct_label[:, 20:26, 4:10] = 1, 2  # liver, right kidney (on the image's left)
    ct_label[:, 20:26, 22:28], ct_label[:, 6:14, 20:28] = 3, 4  # left kidney, spleen
    mr_label = torch.roll(ct_label, shifts=1, dims=-1)
    # the organs alike in CT (as liver and spleen are), told apart by their grey value in MR
    ct = 0.2 + 0.3 * (ct_label > 0).float() + 0.05 * torch.rand(batch, size, size, generator=g)
    mr = 0.1 + 0.15 * mr_label.float() + 0.05 * torch.rand(batch, size, size, generator=g)
    return {"ct": ct[:, None], "ct_label": ct_label, "mr": mr[:, None], "mr_label": mr_label}


def built(name: str, seed: int = 0, preset=TINY) -> tuple[Method, dict[str, torch.Tensor]]:
    """The method at the tiny size, set up on the keys it declares."""
    torch.manual_seed(seed)
    cls = method_class(name)
    method = cls.from_preset(preset)
    batch = {k: tiny_batch()[k] for k in cls.batch_keys}
    method.setup(batch)
    return method.train(), batch


def assert_optimizers_move_only_their_own(method: Method, batch: dict, owners: dict[str, list[nn.Module]]) -> None:
    """Run one step with every optimizer's ``step`` spied on; each must change parameters of ``owners[name]``
    and of nothing else (e.g. D's step leaves G and U alone, and the G/U step leaves D alone)."""
    params = dict(method.named_parameters())
    changed: dict[str, set[str]] = {}
    for name, optimizer in method.optimizers.items():
        original = optimizer.step

        def spy(*args, _name=name, _original=original, **kwargs):
            before = {k: p.detach().clone() for k, p in params.items()}
            result = _original(*args, **kwargs)
            changed[_name] = {k for k, p in params.items() if not torch.equal(before[k], p.detach())}
            return result

        optimizer.step = spy
    method.train_step(batch)
    assert set(changed) == set(owners), f"optimizers that stepped: {sorted(changed)}"
    for name, modules in owners.items():
        own = {k for k, p in params.items() if any(p is q for m in modules for q in m.parameters())}
        assert changed[name], f"optimizer {name!r} moved nothing"
        assert changed[name] <= own, f"optimizer {name!r} moved {sorted(changed[name] - own)}"
        for module in modules:  # every network an optimizer owns really moves
            assert any(k in changed[name] for k, p in params.items() if any(p is q for q in module.parameters()))


class NoTargetLabels(dict):
    """A batch that holds "mr_label" but fails the test if a step reads it."""

    def __getitem__(self, key):
        if key == "mr_label":
            raise AssertionError("the training step read the MR labels")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default


class TinyUnpaired(torch.utils.data.Dataset):
    """The contract of ctl.data.UnpairedSliceDataset at 32 x 32: 6 CT slices, MR drawn at random, MR labels only
    when asked for (``target_labels``, as the loop does for the oracle alone)."""

    def __init__(self, target_labels: bool):
        self.target_labels = target_labels
        self.batches = [tiny_batch(seed=k) for k in range(3)]  # 6 CT and 6 MR slices

    def __len__(self):
        return 6

    def __getitem__(self, i):
        source, j = self.batches[i // 2], int(torch.randint(6, ()))  # MR drawn at random, as the real one does
        noise = 0.01 * torch.randn(1, 32, 32)  # stands in for the augmentation's randomness
        item = {"ct": (source["ct"][i % 2] + noise).clamp(0, 1), "ct_label": source["ct_label"][i % 2],
                "mr": self.batches[j // 2]["mr"][j % 2]}
        if self.target_labels:
            item["mr_label"] = self.batches[j // 2]["mr_label"][j % 2]
        return item


# --- prepared data ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ci_prepared(tmp_path_factory):
    """The ci phantom, prepared once for the session (seed 0). Tests read it; a test that changes it copies it."""
    return data.ensure_phantom_prepared(tmp_path_factory.mktemp("data"), PRESETS["ci"], seed=0, progress=False)


@pytest.fixture(scope="session")
def cpu_prepared_small(tmp_path_factory):
    """A few subjects at the cpu preset's image sizes, from a phantom seed no notebook uses (seed 3)."""
    small = PRESETS["cpu"].replace(n_ct=5, n_mr=5)
    return data.ensure_phantom_prepared(tmp_path_factory.mktemp("data"), small, seed=3, progress=False)


PHANTOM_SEED, PHANTOM_SIZE = 4, 32


@pytest.fixture(scope="session")
def written_phantom(tmp_path_factory):
    """A phantom of 2 CT and 2 MR subjects at 32 px, written in BTCV's and CHAOS's layouts."""
    return generate_phantom(tmp_path_factory.mktemp("phantom"), n_ct=2, n_mr=2, seed=PHANTOM_SEED, size=PHANTOM_SIZE)


@pytest.fixture
def phantom_copy(written_phantom, tmp_path):
    """A scratch copy of ``written_phantom`` that a test may break."""
    return shutil.copytree(written_phantom, tmp_path / "copy")


RENDER_SEEDS = (0, 1, 2)


@pytest.fixture(scope="session")
def rendered_subjects():
    """Three CT subjects at 64 px: (anatomy, grid, tissue ids, BTCV-style labels, CT in HU, the paired MR)."""
    out = []
    for seed in RENDER_SEEDS:
        rng = np.random.default_rng(seed)
        anatomy = sample_anatomy(rng)
        grid = sample_grid(anatomy, rng, 64, "ct")
        tissue, label = voxelise(anatomy, grid)
        out.append((anatomy, grid, tissue, label, render_ct(tissue, grid, rng), render_mr(tissue, grid, rng)))
    return out


# --- the training loop on stand-ins ---------------------------------------------------------------------------
LOOP_PRESET = PRESETS["ci"].replace(iterations=7, checkpoint_every=2, batch_size=3)
QUIET = TrainConfig(progress=False)


class FakeUnpaired(torch.utils.data.Dataset):
    """Contract of ctl.data.UnpairedSliceDataset: 10 CT slices, MR drawn at random, noise as 'augmentation'."""

    def __init__(self, target_labels=False, n=10, size=8):
        g = torch.Generator().manual_seed(123)
        self.ct = torch.rand(n, 1, size, size, generator=g)
        self.mr = torch.rand(n + 3, 1, size, size, generator=g)
        self.target_labels = target_labels

    def __len__(self):
        return len(self.ct)

    def __getitem__(self, i):
        j = int(torch.randint(len(self.mr), ()))  # the MR slice is drawn independently of the CT slice
        item = {"ct": self.ct[i] + 0.01 * torch.randn(1, 8, 8), "ct_label": (self.ct[i, 0] * 5).long().clamp(0, 4),
                "mr": self.mr[j]}
        if self.target_labels:
            item["mr_label"] = (self.mr[j, 0] * 5).long().clamp(0, 4)
        return item


@dataclass(frozen=True)
class ToyConfig:
    lr: float = 1e-2  # large, so that a few steps visibly change the losses


class Toy(Method):
    """Two networks, two optimizers, a part built from the first batch, dropout: a miniature of ``ours``."""

    name = "toy"

    def __init__(self, config=ToyConfig()):
        super().__init__()
        self.config = config
        self.seg = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Dropout(0.3), nn.Conv2d(4, 5, 1))
        self.critic = nn.Conv2d(1, 1, 3, padding=1)
        self.head = None

    @classmethod
    def from_preset(cls, preset):
        return cls()

    @property
    def segmenter(self):
        return self.seg

    def setup(self, batch):
        self.head = nn.Linear(batch["ct"].shape[-1], 2)  # created from the first batch, like CUT's F
        super().setup(batch)

    def configure_optimizers(self):
        return {"critic": torch.optim.Adam(self.critic.parameters(), lr=self.config.lr),
                "main": torch.optim.Adam(list(self.seg.parameters()) + list(self.head.parameters()),
                                         lr=self.config.lr)}

    def train_step(self, batch):
        opt_c, opt_m = self.optimizers["critic"], self.optimizers["main"]
        opt_c.zero_grad()
        loss_c = (self.critic(batch["mr"]) - 1).pow(2).mean() + self.critic(batch["ct"]).pow(2).mean()
        loss_c.backward()
        opt_c.step()
        opt_m.zero_grad()
        seg = nn.functional.cross_entropy(self.seg(batch["ct"]), batch["ct_label"])
        loss_m = seg + self.head(batch["ct"]).pow(2).mean()
        loss_m.backward()
        opt_m.step()
        return {"critic": loss_c.item(), "seg": seg.item()}


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """Registers ``Toy``, points the loop at ``FakeUnpaired`` and makes a prepared folder with meta.json."""
    register(Toy)
    monkeypatch.setattr(loop, "training_dataset", lambda prepared, cls, augment: FakeUnpaired(cls.uses_target_labels))
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "meta.json").write_text(json.dumps({"source": "phantom", "image_size": 8}))
    yield prepared
    METHODS.pop("toy")


def history_rows(run_dir):
    """history.json of a run folder: one dict of losses per iteration."""
    return json.loads((run_dir / "history.json").read_text())


HOLD = ("import sys\nfrom ctl.training.runs import run_lock\nwith run_lock(sys.argv[1]):\n"
        "    print('locked', flush=True)\n    sys.stdin.readline()\n")


def hold_run_lock(run_dir) -> subprocess.Popen:
    """A real second process that takes ``run_dir``'s training lock and keeps it until it reads a line from its
    stdin or is killed (``.kill()``); returns once it holds the lock."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # this checkout's ctl
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "locked"
    return process


# --- evaluation with known answers ------------------------------------------------------------------------------
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
def scored_prepared(tmp_path):
    """MR test mr0001 (predictions chosen per organ) and mr0002 (perfect), MR train mr0003; CT test ct0001 with
    its paired MR, CT train ct0002. With ``LabelReader`` as segmenter, the prediction is what the image holds."""
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
    (root / "meta.json").write_text(json.dumps({"generator": GENERATOR, "format_version": FORMAT_VERSION,
                                                "source": "phantom", "image_size": SIZE, "paired_mr": True}))
    return root


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
    """Registers ``Reader`` (its scores are known whatever training does) and points the loop at ``FakeItems``."""
    register(Reader)
    monkeypatch.setattr(loop, "training_dataset", lambda prepared, cls, augment: FakeItems())
    monkeypatch.setenv("CTL_PRESET", "ci")
    yield
    METHODS.pop("reader")


@pytest.fixture(scope="module")
def subjects():
    """Three CT subjects (with the paired MR) at 64 px, and their anatomies on the same grids."""
    out = []
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        anatomy = sample_anatomy(rng)
        grid = sample_grid(anatomy, rng, 64, "ct")
        tissue, label = voxelise(anatomy, grid)
        out.append((anatomy, grid, tissue, label, render_ct(tissue, grid, rng), render_mr(tissue, grid, rng)))
    return out


# --- downloads and archives ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def phantom_zips(written_phantom, tmp_path_factory):
    """``written_phantom`` zipped in the layouts of the real archives: ``RawData.zip`` (RawData/Training/img and
    label, plus a Testing/ volume that must stay in the archive) and ``CHAOS_Train_Sets.zip`` (Train_Sets/MR/<id>/
    T2SPIR, plus T1DUAL and CT files that must stay in it). Returns (btcv zip, chaos zip)."""
    out = tmp_path_factory.mktemp("zips")
    btcv, chaos = out / "RawData.zip", out / "CHAOS_Train_Sets.zip"
    with zipfile.ZipFile(btcv, "w") as zf:
        for path in sorted((written_phantom / "btcv").rglob("*.nii.gz")):
            zf.write(path, f"RawData/Training/{path.relative_to(written_phantom / 'btcv').as_posix()}")
        zf.write(written_phantom / "btcv/img/img0001.nii.gz", "RawData/Testing/img/img0061.nii.gz")
    with zipfile.ZipFile(chaos, "w") as zf:
        for path in sorted((written_phantom / "chaos").rglob("*")):
            if path.is_file():
                zf.write(path, f"Train_Sets/{path.relative_to(written_phantom / 'chaos').as_posix()}")
        zf.writestr("Train_Sets/MR/1/T1DUAL/DICOM_anon/InPhase/IMG-0001-00001.dcm", b"not used")
        zf.writestr("Train_Sets/CT/1/DICOM_anon/i0000,0000b.dcm", b"not used")
    return btcv, chaos


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1 in a thread: ``(base_url, state)``. Put bytes in ``state["files"][name]``;
    ``state["cut_after"] = n`` sends only n bytes of the next response's body and closes the connection (an
    interrupted download); ``state["ignore_range"] = True`` answers every request with the whole file (200);
    ``state["ranges"]`` records each request's Range header (None without)."""
    state = {"files": {}, "cut_after": None, "ignore_range": False, "ranges": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

        def do_GET(self):
            data = state["files"].get(self.path.lstrip("/").split("?")[0])
            asked = self.headers.get("Range")
            state["ranges"].append(asked)
            if data is None:
                self.send_error(404)
                return
            start = 0
            if asked and not state["ignore_range"]:
                start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            cut, state["cut_after"] = state["cut_after"], None
            self.wfile.write(body if cut is None else body[:cut])
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
