"""Time one translation training step (D, then G and F, as CUT orders them): iterations/s and peak memory.

Usage:
    python benchmarks/translation_step.py --presets ci cpu                 # the presets' sizes
    python benchmarks/translation_step.py --batch 1 --size 128 --ngf 64 --blocks 9 \\
        --patches 256 --layers input stem down1 res0 res4 --identity       # explicit settings
    python benchmarks/translation_step.py --reference                      # CUT's two reference settings
    python benchmarks/translation_step.py --reference --schedule both --precisions float32 auto --channels-last
                                                                           # as training runs (bf16 on CPUs with it)
Add ``--schedule both`` to time, next to ``ctl.translate.translation_step`` ("ctl"), the same networks run in
the order CUT's own code computes a step ("cut-order", ``cut_order_step`` below): G on [x^s; x^t], then for
each NCE term the encoder run again on the source image (the keys) as well as on the translation, F applied to
the keys with a graph, patches gathered after a permute of the whole feature map. This is a re-implementation
of CUT's schedule for comparison, not CUT's code (for CUT itself, see the end of this text).

Each setting runs in its own subprocess so its peak memory is its own: on CUDA ``max_memory_allocated``
(tensors only), on CPU the process's maximum resident set size (Python and torch included, about 300 MB before
any network). Inputs are random (B, 1, H, W) slices in [0, 1]; the time is the median of ``--steps`` steps after
``--warmup`` untimed ones. Writes benchmarks/results/translation_step_<device>[_<label>].json.

Side by side with CUT's own code (github.com/taesungp/contrastive-unpaired-translation, not vendored here): in a
checkout of it, build the model with ``models.create_model(opt)`` from options such as ``--model cut --input_nc 1
--output_nc 1 --crop_size 128 --batch_size 1 --ngf 64 --netG resnet_9blocks --num_patches 256 --nce_idt True
--no_antialias --no_antialias_up --gpu_ids -1``, call ``model.data_dependent_initialize(batch)`` and
``model.setup(opt)`` once, then time ``model.set_input(batch); model.optimize_parameters()`` on random
1-channel batches with the same warm-up and median as here, on the same machine and thread count.
``--no_antialias`` matches ``TranslationConfig.antialias=False``; CUT's layers 0,4,8,12,16 are close to
input, stem, down1, res0, res4 (CUT's anti-aliased default) but not identical without anti-aliasing.
"""
import argparse
import json
import os
from pathlib import Path

import torch
from step_timing import machine_record, median_step_seconds, peak_memory, run_one  # benchmarks/step_timing.py
from torch.nn import functional as nnf

from ctl.device import Amp, pick_device
from ctl.presets import PRESETS
from ctl.translate import TranslationConfig, Translator, translation_step

RESULTS = Path(__file__).resolve().parent / "results"
# Two reference settings of CUT: (batch 1, 128 x 128, ngf 64, 9 blocks) and (batch 4, 64 x 64, ngf 16, 6 blocks),
# 256 patches on 5 layers, identity NCE on. Our 5 layers mirror CUT's default 0,4,8,12,16 (see ctl.translate.cut).
REFERENCE = [
    dict(label="cut-128-ngf64-9blocks", batch=1, size=128, ngf=64, blocks=9, ndf=64, patches=256,
         layers=["input", "stem", "down1", "res0", "res4"], identity=True, mlp_width=256),
    dict(label="cut-64-ngf16-6blocks", batch=4, size=64, ngf=16, blocks=6, ndf=64, patches=256,
         layers=["input", "stem", "down1", "res0", "res4"], identity=True, mlp_width=256),
]


def settings_of_preset(name: str) -> dict:
    p = PRESETS[name]
    return dict(label=f"preset-{name}", batch=p.batch_size, size=p.image_size, ngf=p.ngf, blocks=p.n_blocks,
                ndf=p.ndf, patches=p.num_patches, layers=list(p.nce_layers), identity=True, mlp_width=p.mlp_width)


def _cut_patch_nce(feat_q, feat_k, tau):
    """PatchNCE computed as CUT's PatchNCELoss does: positives and negatives apart, diagonal masked with -10."""
    batch, patches, dim = feat_q.shape
    feat_k = feat_k.detach()
    l_pos = (feat_q * feat_k).sum(-1).reshape(-1, 1)  # (B*S, 1)
    l_neg = torch.bmm(feat_q, feat_k.transpose(1, 2))  # (B, S, S)
    eye = torch.eye(patches, dtype=torch.bool, device=feat_q.device)[None]
    l_neg = l_neg.masked_fill(eye, -10.0).reshape(-1, patches)  # (B*S, S)
    logits = torch.cat([l_pos, l_neg], dim=1) / tau
    return nnf.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


def _cut_project(translator, feats, num_patches, ids=None):
    """F as CUT's PatchSampleF: permute + flatten each whole map, then index the sampled positions."""
    out, used = {}, {}
    for name, feat in feats.items():
        flat = feat.permute(0, 2, 3, 1).flatten(1, 2)  # (B, H*W, C): a copy of the whole map
        idx = ids[name] if ids is not None else torch.randperm(flat.shape[1], device=feat.device)[:num_patches]
        out[name] = nnf.normalize(translator.F.mlps[name](flat[:, idx, :]), dim=-1)  # (B, S, W)
        used[name] = idx
    return out, used


def cut_order_step(translator, opt_g, opt_d, real_ct, real_mr, amp: Amp | None = None) -> dict:
    """One step with CUT's order of computation (for comparison with ``translation_step``): same losses, the
    forward passes under ``amp``'s autocast (plain float32 when None), the backward passes outside it."""
    amp = amp or Amp()
    cfg = translator.config
    n = real_ct.shape[0]
    with amp.autocast():
        fake = translator.G(torch.cat([real_ct, real_mr]) if cfg.nce_identity else real_ct)
    fake_mr, idt_mr = fake[:n], fake[n:]
    for p in translator.D.parameters():
        p.requires_grad_(True)
    opt_d.zero_grad()
    with amp.autocast():
        d_fake, d_real = translator.D(fake_mr.detach()).float(), translator.D(real_mr).float()
        loss_d = d_fake.pow(2).mean() + (d_real - 1).pow(2).mean()
    amp.backward(loss_d)
    amp.step(opt_d)
    for p in translator.D.parameters():  # CUT freezes D for the G step too
        p.requires_grad_(False)
    opt_g.zero_grad()

    def nce(src, tgt):
        feat_q = translator.G.encode(tgt, cfg.nce_layers)
        feat_k = translator.G.encode(src, cfg.nce_layers)  # encoded again, with a graph
        k, ids = _cut_project(translator, feat_k, cfg.num_patches)
        q, _ = _cut_project(translator, feat_q, cfg.num_patches, ids)
        return sum(_cut_patch_nce(q[name].float(), k[name].float(), cfg.tau)
                   for name in cfg.nce_layers) / len(cfg.nce_layers)

    with amp.autocast():
        loss_gan = (translator.D(fake_mr).float() - 1).pow(2).mean()
        loss_nce = nce(real_ct, fake_mr)
        if cfg.nce_identity:
            loss_nce = loss_nce + nce(real_mr, idt_mr)
        total = cfg.lambda_gan * loss_gan + cfg.lambda_nce * loss_nce
    amp.backward(total)
    amp.step(opt_g)
    amp.update()
    for p in translator.D.parameters():
        p.requires_grad_(True)
    return {"d": loss_d.item(), "total": total.item()}


def time_one(settings: dict, schedule: str, steps: int, warmup: int, device_name: str | None,
             threads: int | None, precision: str = "float32", channels_last: bool = False) -> dict:
    """Median seconds per step at one setting with one schedule (run in a subprocess).

    ``precision``: "auto" runs the step under ``Amp.for_device`` as training does (bfloat16 on a CPU with native
    bfloat16, mixed precision on CUDA), "float32" never. ``channels_last``: networks and inputs in NHWC layout, as
    the training loop puts them (``ctl.training.loop.memory_format``). Both apply to either schedule."""
    if threads:
        torch.set_num_threads(threads)
    device = pick_device(device_name)
    amp = Amp.for_device(device, enabled=precision == "auto")
    layout = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    config = TranslationConfig(ngf=settings["ngf"], n_blocks=settings["blocks"], ndf=settings["ndf"],
                               nce_layers=tuple(settings["layers"]), num_patches=settings["patches"],
                               mlp_width=settings["mlp_width"], nce_identity=settings["identity"])
    translator = Translator(config).to(device, memory_format=layout)
    shape = (settings["batch"], 1, settings["size"], settings["size"])
    real_ct = torch.rand(shape, device=device).contiguous(memory_format=layout)
    real_mr = torch.rand(shape, device=device).contiguous(memory_format=layout)
    translator.build_projection(real_ct)
    opt_g = torch.optim.Adam(translator.generator_parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(translator.discriminator_parameters(), lr=2e-4, betas=(0.5, 0.999))
    step = translation_step if schedule == "ctl" else cut_order_step
    step_s = median_step_seconds(lambda: step(translator, opt_g, opt_d, real_ct, real_mr, amp), device, steps,
                                 warmup)
    peak_mb, memory = peak_memory(device)
    return {**settings, "schedule": schedule, "torch_threads": torch.get_num_threads(),
            "precision": str(amp.dtype).removeprefix("torch.") if amp.enabled else "float32",
            "channels_last": channels_last,
            "seconds_per_iteration": round(step_s, 5),
            "iterations_per_s": round(1 / step_s, 3), "peak_memory_mb": round(peak_mb, 1), "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=None, help="preset names (default: ci cpu without "
                        "explicit settings, plus gpu on CUDA)")
    parser.add_argument("--reference", action="store_true", help="CUT's two reference settings")
    parser.add_argument("--batch", type=int, help="explicit setting: batch size")
    parser.add_argument("--size", type=int, default=128, help="explicit setting: image side (pixels)")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=9, help="residual blocks")
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--patches", type=int, default=256, help="patches per layer and image")
    parser.add_argument("--layers", nargs="+", default=["input", "stem", "down1", "res0", "res4"])
    parser.add_argument("--identity", action=argparse.BooleanOptionalAction, default=True,
                        help="the identity NCE term on G(x^t) (default on)")
    parser.add_argument("--mlp-width", type=int, default=256)
    parser.add_argument("--schedule", choices=["ctl", "cut-order", "both"], default="ctl")
    parser.add_argument("--precisions", nargs="+", default=["float32"], choices=["auto", "float32"],
                        help="auto: mixed precision where the device has it, as training does; float32: never")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=False,
                        help="NHWC layout for networks and inputs, as the training loop uses on CPU and CUDA")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best present)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice); "
                        "1 gives steadier numbers on a machine shared with other jobs")
    parser.add_argument("--note", default="", help="free text kept in the JSON, e.g. whether the machine was idle")
    parser.add_argument("--label", default="", help="suffix of the JSON file name")
    parser.add_argument("--one", nargs=3, metavar=("SETTINGS_JSON", "SCHEDULE", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # the subprocess: one setting, JSON on the last line of stdout
        print(json.dumps(time_one(json.loads(args.one[0]), args.one[1], args.steps, args.warmup, args.device,
                                  args.threads, args.one[2], args.channels_last)))
        return

    device = pick_device(args.device)
    settings = []
    if args.batch is not None:
        settings.append(dict(label="explicit", batch=args.batch, size=args.size, ngf=args.ngf, blocks=args.blocks,
                             ndf=args.ndf, patches=args.patches, layers=args.layers, identity=args.identity,
                             mlp_width=args.mlp_width))
    if args.reference:
        settings += REFERENCE
    if args.presets or not settings:
        names = args.presets or (["ci", "cpu", "gpu"] if device.type == "cuda" else ["ci", "cpu"])
        settings += [settings_of_preset(name) for name in names]
    schedules = ["ctl", "cut-order"] if args.schedule == "both" else [args.schedule]
    load_at_start = [round(x, 2) for x in os.getloadavg()]  # other jobs on the machine skew the timings
    rows = []
    for setting in settings:
        for precision in args.precisions:
            for schedule in schedules:
                arguments = [json.dumps(setting), schedule, precision, "--steps", str(args.steps),
                             "--warmup", str(args.warmup)] \
                    + (["--device", args.device] if args.device else []) \
                    + (["--threads", str(args.threads)] if args.threads else []) \
                    + (["--channels-last"] if args.channels_last else [])
                r = run_one(__file__, arguments, f"{setting['label']} / {schedule} / {precision}")
                rows.append(r)
                print(f"{r['label']:24s} {schedule:9s} {r['precision']:9s} {r['iterations_per_s']:8.2f} it/s  "
                      f"{r['peak_memory_mb']:8.0f} MB", flush=True)
    record = {**machine_record(device), "steps": args.steps, "warmup": args.warmup,
              "load_average_at_start": load_at_start, "note": args.note, "results": rows}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"translation_step_{device.type}{'_' + args.label if args.label else ''}.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
