"""What the experiment store costs: the overhead workload with storage on local disk and on S3.

The workload is `benchmarks/overhead.py`'s ``asha_100x27`` (100 trials of a zero-cost
objective, up to 27 epochs, ASHA stopping, 2 trial actors), so every second measured is
overhead. Three variants, each in a fresh process with its own ``ray.init(num_cpus=2)``,
run in turns (``--repeats`` rounds) and compared by their medians:

* ``before_local``: raysha as it was before the durable store (git ``--before``, default
  the main commit the store was merged onto), storage on local disk;
* ``after_local``: this tree, storage on local disk (lease, heartbeats, rows durable
  before they count, journal checks, compaction at the end);
* ``after_s3``: this tree, storage on an S3-compatible server (moto's ThreadedMotoServer on
  127.0.0.1, started here): results, journal, checkpoints and lease all in the bucket.
  (The code before the store kept results on the driver's disk with a URI, so it has no
  S3 figure to compare.)

Figures per variant: ``wall_s`` (Tuner start to `fit()` return, actor start-up included:
the overhead figure) and ``run_loop_s`` (the scheduler actor's loop after the first
actor is up). The durability cost is ``after_local / before_local - 1`` on ``wall_s``.

Usage::

    python benchmarks/storage_overhead.py [--repeats 3] [--before acf70b2] \\
        [--out benchmarks/results/storage_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BEFORE = "acf70b24fa55c70a9ac3201cfd1d64eefc16e767"   # main just before the store was merged

CHILD = """
import json, sys, time
sys.path.append(sys.argv[2])   # benchmarks/ (raysha comes from PYTHONPATH)
import ray
t = time.perf_counter()
ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
from benchmarks.overhead import run_raysha
out = run_raysha("asha_100x27", sys.argv[1])
print("RESULT " + json.dumps(out), flush=True)
"""


def _tree(ref: str, into: str) -> str:
    """The raysha package as of git `ref`, extracted under `into`; returns the folder for PYTHONPATH."""
    os.makedirs(into, exist_ok=True)
    archive = subprocess.run(["git", "-C", REPO, "archive", ref, "raysha"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return into


def _run(code_root: str, storage: str, env: dict) -> dict:
    env = dict(env, PYTHONPATH=code_root)
    p = subprocess.run([sys.executable, "-c", CHILD, storage, REPO], capture_output=True, text=True, env=env,
                       timeout=600)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode or not lines:
        raise RuntimeError(f"variant failed (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def _s3_server():
    """(server, storage URI prefix, env with dummy credentials) for a moto S3 server on 127.0.0.1."""
    import logging
    import socket

    import pyarrow.fs as pafs
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)   # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                           allow_bucket_creation=True)
    fs.create_dir("bench")
    return server, f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1", env


def _median(rows: list, key: str) -> float:
    return round(statistics.median(r[key] for r in rows), 3)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--before", default=BEFORE, help="git revision of raysha before the store")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "storage_overhead.json"))
    args = ap.parse_args(argv)
    server, s3_opts, env = _s3_server()
    runs: dict = {"before_local": [], "after_local": [], "after_s3": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            before = _tree(args.before, os.path.join(tmp, "before"))
            for i in range(args.repeats):
                for variant in runs:
                    code = before if variant == "before_local" else REPO
                    storage = f"s3://bench/r{i}?{s3_opts}" if variant == "after_s3" else \
                        os.path.join(tmp, f"{variant}_{i}")
                    res = _run(code, storage, env)
                    runs[variant].append(res)
                    print(f"round {i + 1} {variant:13s} wall {res['wall_s']:6.2f} s   run loop "
                          f"{res['run_loop_s']:5.2f} s   {res['reports']} reports", flush=True)
    finally:
        server.stop()
    summary = {v: {"wall_s": _median(r, "wall_s"), "run_loop_s": _median(r, "run_loop_s"),
                   "reports": r[0]["reports"], "trials": r[0]["trials"]} for v, r in runs.items()}
    cost = summary["after_local"]["wall_s"] / summary["before_local"]["wall_s"] - 1
    s3 = summary["after_s3"]["wall_s"] / summary["after_local"]["wall_s"]
    print(f"\nasha_100x27, median of {args.repeats} (wall = Tuner start to fit() return)")
    print(f"{'variant':14s} {'wall_s':>8s} {'run_loop_s':>11s}")
    for v, s in summary.items():
        print(f"{v:14s} {s['wall_s']:8.2f} {s['run_loop_s']:11.2f}")
    print(f"durability cost on local disk: {cost * 100:+.1f} % of wall time (target < 10 %); "
          f"S3 (moto, local) / local disk: {s3:.2f}x")
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
           "workload": "benchmarks/overhead.py asha_100x27", "before": args.before, "repeats": args.repeats,
           "runs": runs, "median": summary, "durability_cost_local": round(cost, 4), "s3_over_local": round(s3, 3)}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"saved {args.out}")
    return out


if __name__ == "__main__":
    main()
