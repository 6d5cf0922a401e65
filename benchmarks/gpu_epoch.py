"""One LeNet epoch: raysha's `LeNetTrainable.train_epoch` against a bare PyTorch loop.

Both train the same model from the same initial weights on the same batches
(the same shuffling permutation each repeat), with the data resident on the
device, and both evaluate on the test split once per epoch (one large batch
under ``torch.no_grad``), so the ratio measures what the trainable adds: the
loss accumulated on the device, the epoch bookkeeping, the metrics dict.
Cases: batch size 32 and 256, fp32 and bf16 autocast. Repeats alternate
raysha / bare so drift hits both; the figures are medians.

    python benchmarks/gpu_epoch.py                      # on the GPU: full Fashion-MNIST
    python benchmarks/gpu_epoch.py --n-train 2048 --n-test 1000 --repeats 3   # CPU smoke

Writes ``benchmarks/results/gpu_epoch.json`` (``gpu_epoch_cpu.json`` when no
GPU is used), after every case, so an interrupted run keeps what it measured.
No Ray import: runs on a machine with PyTorch only.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_epoch(model, opt, x, y, xt, yt, batch_size, perm, amp, device):
    """The reference: the shortest loop that trains one epoch and evaluates."""
    import torch
    from torch.nn import functional as F

    ctx = (lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)) if amp \
        else contextlib.nullcontext
    model.train()
    n = len(y)
    for s in range(0, n, batch_size):
        idx = perm[s:s + batch_size]
        with ctx():
            loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad(), ctx():
        correct = (model(xt).argmax(1) == yt).sum().item()
    return 1.0 - correct / len(yt)


def measure(args, batch_size, amp, data, device):
    import torch

    from raysha.workloads.lenet import LeNet, LeNetTrainable

    cfg = {"learning_rate": 0.1, "batch_size": batch_size, "seed": 0, "device": str(device),
           "amp": amp, "eval_batch_size": args.n_test or 10_000}
    t = LeNetTrainable()
    t.shared = {"fashion_mnist": data}
    t.setup(cfg)
    init = t.state_dict()

    torch.manual_seed(0)
    bare_model = LeNet().to(device)
    bare_model.load_state_dict(init["model"])
    bare_opt = torch.optim.SGD(bare_model.parameters(), lr=0.1)

    times = {"raysha": [], "bare": []}
    errors = {"raysha": [], "bare": []}
    for rep in range(args.warmup + args.repeats):
        # the same permutation for both: restore the trainable's generator state
        gen_state = t.generator.get_state()
        order = ("raysha", "bare") if rep % 2 == 0 else ("bare", "raysha")
        for who in order:
            sync(device)
            t0 = time.perf_counter()
            if who == "raysha":
                t.generator.set_state(gen_state)
                m = t.train_epoch(rep + 1)
                err = m["validation_error"]
            else:   # the bare loop shuffles inside the timed region too
                perm = torch.randperm(t.n_train, generator=torch.Generator().set_state(gen_state)).to(device)
                err = bare_epoch(bare_model, bare_opt, t.train_x, t.train_y, t.test_x, t.test_y,
                                 batch_size, perm, amp, device)
            sync(device)
            dt_ = time.perf_counter() - t0
            if rep >= args.warmup:
                times[who].append(dt_)
                errors[who].append(err)
    t.cleanup()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "batch_size": batch_size, "precision": "bf16-autocast" if amp else "fp32",
        "raysha_median_s": med["raysha"], "bare_median_s": med["bare"],
        "ratio_raysha_over_bare": med["raysha"] / med["bare"],
        "raysha_s": times["raysha"], "bare_s": times["bare"],
        "raysha_validation_error": errors["raysha"], "bare_validation_error": errors["bare"],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    import torch

    from raysha.workloads.fashion_mnist import load_cached
    from raysha.workloads.lenet import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / (
        "gpu_epoch.json" if device.type == "cuda" else "gpu_epoch_cpu.json")
    data = load_cached(args.data_dir).subset(args.n_train, args.n_test)
    result = {
        "benchmark": "one LeNet epoch (train + test-split evaluation): LeNetTrainable.train_epoch "
                     "vs a bare PyTorch loop, same model, same batches, data on the device",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)",
        "n_train": len(data.train_y), "n_test": len(data.test_y),
        "repeats": args.repeats, "warmup": args.warmup,
        "torch": torch.__version__, "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/gpu_epoch.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "loadavg_1min_at_start": os.getloadavg()[0],
        "cases": [],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"device: {result['device']}, train {result['n_train']}, test {result['n_test']}", flush=True)
    print(f"{'batch':>5} {'precision':>14} {'raysha s':>9} {'bare s':>9} {'ratio':>6}", flush=True)
    for prec in args.precisions:
        for bs in args.batch_sizes:
            r = measure(args, bs, prec == "bf16", data, device)
            result["cases"].append(r)
            print(f"{bs:>5} {r['precision']:>14} {r['raysha_median_s']:9.4f} {r['bare_median_s']:9.4f} "
                  f"{r['ratio_raysha_over_bare']:6.3f}", flush=True)
            result["loadavg_1min_at_end"] = os.getloadavg()[0]
            result["max_ratio"] = max(c["ratio_raysha_over_bare"] for c in result["cases"])
            out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}; worst ratio raysha/bare = {result['max_ratio']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
