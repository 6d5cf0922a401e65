"""Record real LeNet learning curves on Fashion-MNIST for the simulator.

Trains the d2l initial configuration (learning_rate 0.1, batch_size 128) and
``--n-configs`` configurations sampled from d2l's space (learning_rate
loguniform(1e-2, 1), batch_size randint(32, 256), seeded) for ``--epochs``
epochs each with `raysha.workloads.lenet.LeNetTrainable`, and writes one row
per (configuration, epoch) to ``raysha/data/lenet_curves.parquet``: config_id,
learning_rate, batch_size, epoch, validation_error, train_loss, epoch_time,
device. The settings (subset sizes, seeds, machine, versions, command) go into
the parquet's key-value metadata under ``raysha``.

Progress is appended to a JSON-lines file as each configuration finishes, so an
interrupted run keeps its work and a rerun with the same arguments resumes.

    # GPU machine (the intended setting: full data)
    python benchmarks/record_lenet_curves.py --out raysha/data/lenet_curves.parquet
    # 2-core CPU (reduced: training subset), two single-threaded processes
    python benchmarks/record_lenet_curves.py --n-train 12000 --n-test 5000 --procs 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLUMNS = ["config_id", "learning_rate", "batch_size", "epoch", "validation_error",
           "train_loss", "epoch_time", "device", "wall_time"]


def make_configs(n_configs: int, seed: int) -> list[dict]:
    from raysha.space import loguniform, randint, sample_config

    space = {"learning_rate": loguniform(1e-2, 1), "batch_size": randint(32, 256)}
    rng = np.random.default_rng(seed)
    configs = [{"learning_rate": 0.1, "batch_size": 128}]
    configs += [sample_config(space, rng) for _ in range(n_configs)]
    return [{"config_id": i, **c} for i, c in enumerate(configs)]


_WORKER: dict = {}


def _init_worker(args_dict: dict) -> None:
    import torch

    if args_dict["threads"]:
        torch.set_num_threads(args_dict["threads"])
    _WORKER.update(args_dict)


def run_config(cfg: dict) -> list[dict]:
    import torch

    from raysha.workloads.fashion_mnist import load_cached
    from raysha.workloads.lenet import LeNetTrainable

    a = _WORKER
    data = load_cached(a["data_dir"]).subset(a["n_train"], a["n_test"])
    t = LeNetTrainable()
    t.shared = {"fashion_mnist": data}
    t.setup({"learning_rate": cfg["learning_rate"], "batch_size": cfg["batch_size"],
             "seed": a["trial_seed"] + cfg["config_id"], "device": a["device"], "amp": a["amp"]})
    dev = t.device
    dev_name = (f"cuda:{torch.cuda.get_device_name(dev)}" if dev.type == "cuda"
                else f"cpu:{a['threads'] or torch.get_num_threads()}thread")
    # On a CPU with one torch thread per process, the epoch's time is its CPU time
    # (thread_time): on a shared machine the wall-clock time measures the
    # neighbours' load, not the configuration. On a GPU it is the wall-clock time.
    cpu_clock = dev.type == "cpu" and torch.get_num_threads() == 1
    rows = []
    for epoch in range(1, a["epochs"] + 1):
        c0 = time.thread_time()
        m = t.train_epoch(epoch)
        cpu_s = time.thread_time() - c0
        wall = float(m["epoch_time"])
        rows.append({"config_id": cfg["config_id"], "learning_rate": float(cfg["learning_rate"]),
                     "batch_size": int(cfg["batch_size"]), "epoch": epoch,
                     "validation_error": float(m["validation_error"]),
                     "train_loss": float(m["train_loss"]),
                     "epoch_time": cpu_s if cpu_clock else wall,
                     "device": dev_name, "wall_time": wall})
    t.cleanup()
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-configs", type=int, default=64, help="sampled configurations (plus d2l's initial one)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0, help="seed of the configuration sampler")
    p.add_argument("--trial-seed", type=int, default=1000, help="trial i trains with seed trial_seed + i")
    p.add_argument("--n-train", type=int, default=None, help="training subset (default: all 60,000)")
    p.add_argument("--n-test", type=int, default=None, help="test subset (default: all 10,000)")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    p.add_argument("--amp", action="store_true", help="bf16 autocast")
    p.add_argument("--procs", type=int, default=1, help="parallel worker processes")
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch default)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=str(ROOT / "raysha" / "data" / "lenet_curves.parquet"))
    p.add_argument("--progress", default=None, help="JSON-lines progress file (default: <out>.progress.jsonl)")
    p.add_argument("--summary", default=None, help="also write a JSON summary here")
    p.add_argument("--time-budget", type=float, default=None,
                   help="stop handing out configurations after this many seconds")
    args = p.parse_args(argv)

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    progress = Path(args.progress or str(out) + ".progress.jsonl")
    configs = make_configs(args.n_configs, args.seed)
    done: dict[int, list] = {}
    if progress.exists():
        for line in progress.read_text().splitlines():
            rows = json.loads(line)
            done[rows[0]["config_id"]] = rows
    todo = [c for c in configs if c["config_id"] not in done]
    print(f"{len(configs)} configurations, {len(done)} already recorded, {len(todo)} to run", flush=True)

    wargs = {"data_dir": args.data_dir, "n_train": args.n_train, "n_test": args.n_test,
             "device": args.device, "amp": args.amp, "epochs": args.epochs,
             "trial_seed": args.trial_seed, "threads": args.threads}
    t_start = time.perf_counter()
    with progress.open("a") as fh:
        def record(rows):
            done[rows[0]["config_id"]] = rows
            fh.write(json.dumps(rows) + "\n")
            fh.flush()
            last = rows[-1]
            print(f"[{time.perf_counter() - t_start:7.1f}s] config {last['config_id']:3d} "
                  f"lr={last['learning_rate']:.4f} bs={last['batch_size']:3d} "
                  f"err={last['validation_error']:.4f} loss={last['train_loss']:.4f} "
                  f"epoch_time={np.mean([r['epoch_time'] for r in rows]):.2f}s "
                  f"({len(done)}/{len(configs)})", flush=True)

        def over_budget():
            return args.time_budget is not None and time.perf_counter() - t_start > args.time_budget

        if args.procs <= 1:
            _init_worker(wargs)
            for cfg in todo:
                if over_budget():
                    break
                record(run_config(cfg))
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            with ctx.Pool(args.procs, initializer=_init_worker, initargs=(wargs,)) as pool:
                pending = [pool.apply_async(run_config, (cfg,)) for cfg in todo]
                for res in pending:
                    record(res.get())
                    if over_budget():
                        pool.terminate()
                        break
    wall = time.perf_counter() - t_start

    rows = [r for cid in sorted(done) for r in done[cid]]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df = df.astype({"config_id": "int32", "batch_size": "int32", "epoch": "int32",
                    "learning_rate": "float64", "validation_error": "float32",
                    "train_loss": "float32", "epoch_time": "float32", "wall_time": "float32"})
    cpu = platform.processor() or platform.machine()
    meta = {
        "description": "LeNet (d2l) on Fashion-MNIST, SGD, per-epoch validation error (1 - accuracy "
                       "on the test split), recorded with raysha.workloads.lenet.LeNetTrainable",
        "n_configs": int(df.config_id.nunique()), "epochs": args.epochs,
        "config_seed": args.seed, "trial_seed": args.trial_seed,
        "n_train": args.n_train or 60000, "n_test": args.n_test or 10000,
        "subset": bool(args.n_train or args.n_test),
        "device": sorted(df.device.unique().tolist()), "amp": args.amp,
        "epoch_time": ("CPU seconds of the training process's thread for the epoch (training + "
                       "evaluation), torch with 1 thread; wall_time is the wall-clock time, inflated "
                       "by other load on the shared machine")
        if (args.threads == 1 and not str(df.device.iloc[0]).startswith("cuda"))
        else "wall-clock seconds of the epoch (training + evaluation), device synchronised",
        "procs": args.procs, "threads_per_proc": args.threads or torch.get_num_threads(),
        "machine": f"{platform.node()} {cpu} {os.cpu_count()} cores",
        "torch": torch.__version__, "python": platform.python_version(),
        "recorded": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/record_lenet_curves.py " + " ".join(argv or sys.argv[1:]),
        "wall_seconds_this_run": round(wall, 1),
    }
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"raysha": json.dumps(meta).encode()})
    tmp = out.with_suffix(".tmp.parquet")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, out)
    final = df[df.epoch == df.epoch.max()]
    summary = {**meta, "rows": len(df), "bytes": out.stat().st_size,
               "best_final_validation_error": float(final.validation_error.min()),
               "median_final_validation_error": float(final.validation_error.median()),
               "median_epoch_time": float(df.epoch_time.median())}
    print(json.dumps(summary, indent=1), flush=True)
    if args.summary:
        Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
