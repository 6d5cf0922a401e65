"""Figures of an experiment, as PNG files (matplotlib, Agg backend: no display needed).

* `learning_curves`: the metric against time, one line per trial, every trial drawn
  (the d2l figure); ``max_curves=k`` draws an even sample of k trials across the run
  instead, and the title says so.
* `best_so_far`: the best metric seen so far against time; several experiments
  on one axis compare schedulers (sync vs async).
* `timeline`: one row per worker, one bar per job; the gaps are idle time.
  Several experiments become stacked panels sharing the time axis.

Time is wall-clock time for runs on Ray and "simulated time (s)" for `simulate`'s
experiments (the axis label says which).

Each function takes an `Experiment` (or a folder path), or for the comparison
plots a list / ``{label: experiment}`` dict, and returns the path written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np
import pandas as pd

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402

from raysha.results import Experiment, as_experiment  # noqa: E402

def _labelled(experiments) -> list[tuple[str, Experiment]]:
    if isinstance(experiments, Mapping):
        return [(str(k), as_experiment(v)) for k, v in experiments.items()]
    if isinstance(experiments, (list, tuple)):
        out = []
        for e in experiments:
            e = as_experiment(e)
            out.append((_name(e), e))
        return out
    e = as_experiment(experiments)
    return [(_name(e), e)]


def _name(e: Experiment) -> str:
    sched = e.metadata.get("scheduler")
    if isinstance(sched, Mapping) and sched.get("class"):
        label = sched["class"]
        if sched.get("type"):
            label += f" ({sched['type']})"
        return label
    return str(e.metadata.get("name", "experiment"))


def _metric(e: Experiment, metric: Optional[str]) -> str:
    metric = metric or e.metric
    if metric is None or metric not in e.results.columns:
        raise ValueError(
            f"metric {metric!r} is not among the results' columns "
            f"({sorted(map(str, e.results.columns))}); pass metric=..."
        )
    return metric


def time_label(e: Experiment) -> str:
    """The time axis' label: simulated or wall-clock seconds."""
    return "simulated time (s)" if e.metadata.get("backend") == "simulated" else "wall-clock time (s)"


def even_sample(trial_ids, k: int) -> list:
    """`k` of the trial ids (in the order given: start order), evenly spaced from the first to the last."""
    ids = list(trial_ids)
    if k >= len(ids):
        return ids
    idx = np.unique(np.linspace(0, len(ids) - 1, num=max(1, k)).round().astype(int))
    return [ids[i] for i in idx]


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def learning_curves(experiment, path, metric: Optional[str] = None, max_curves: Optional[int] = None) -> Path:
    """Metric against tuner time, one line per trial (all of them unless ``max_curves``); the best is marked."""
    return _save(learning_curves_figure(experiment, metric, max_curves), path)


def learning_curves_figure(experiment, metric: Optional[str] = None, max_curves: Optional[int] = None):
    """The `learning_curves` figure (matplotlib), not saved: its axes hold one line per trial drawn."""
    e = as_experiment(experiment)
    metric = _metric(e, metric)
    df = e.results[["trial_id", "tuner_time", metric]].dropna(subset=["tuner_time"])
    df = df.sort_values(["trial_id", "tuner_time"], kind="stable")
    starts = df.groupby("trial_id")["tuner_time"].min().sort_values(kind="stable")
    n_trials = len(starts)
    shown = starts.index if max_curves is None else even_sample(starts.index, max_curves)
    if len(shown) < n_trials:
        df = df[df["trial_id"].isin(shown)]
    fig, ax = plt.subplots(figsize=(7, 4))
    segs = [g[["tuner_time", metric]].to_numpy(dtype=float) for _, g in df.groupby("trial_id")]
    cmap = plt.get_cmap("viridis")
    colors = [cmap(i / max(1, len(segs) - 1)) for i in range(len(segs))]
    thin = len(segs) > 400          # thousands of trials: thinner, fainter lines keep the figure readable
    ax.add_collection(LineCollection(segs, colors=colors, linewidths=0.5 if thin else 0.9,
                                     alpha=0.35 if thin else 0.7))
    # single-report trials are invisible as lines: draw points too
    ax.scatter(df["tuner_time"], df[metric], s=2 if thin else 4, c="0.3", alpha=0.4, linewidths=0)
    best = e.best(metric)
    if best is not None:
        ax.scatter([best["tuner_time"]], [best[metric]], s=60, marker="*", c="crimson", zorder=5,
                   label=f"best {metric} = {float(best[metric]):.4g} (trial {best['trial_id']})")
        ax.legend(loc="upper right", fontsize=8)
    ax.autoscale()
    ax.set_xlabel(time_label(e))
    ax.set_ylabel(metric)
    more = f", an even sample of {len(shown)} across the run shown" if len(shown) < n_trials else ""
    ax.set_title(f"{_name(e)}: learning curves of {n_trials} trials{more}", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def best_so_far_series(e: Experiment, metric: Optional[str] = None) -> pd.DataFrame:
    """(tuner_time, best) pairs: the running best of the metric, NaN reports skipped."""
    metric = _metric(e, metric)
    df = e.results[["tuner_time", metric]].copy()
    df[metric] = pd.to_numeric(df[metric], errors="coerce")
    df = df[np.isfinite(df[metric].to_numpy(dtype=float))].sort_values("tuner_time", kind="stable")
    sign = 1.0 if e.mode == "min" else -1.0
    best = sign * np.minimum.accumulate(sign * df[metric].to_numpy(dtype=float)) if len(df) else np.array([])
    return pd.DataFrame({"tuner_time": df["tuner_time"].to_numpy(dtype=float), "best": best})


def best_so_far(experiments, path, metric: Optional[str] = None, log_y: bool = False,
                ylim: Optional[tuple] = None) -> Path:
    """Best metric so far against time; one step line per experiment (``ylim`` zooms on the end game)."""
    items = _labelled(experiments)
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, e in items:
        s = best_so_far_series(e, metric)
        if len(s):
            end = e.end_time or float(s["tuner_time"].iloc[-1])
            x = np.append(s["tuner_time"].to_numpy(), max(end, float(s["tuner_time"].iloc[-1])))
            y = np.append(s["best"].to_numpy(), s["best"].iloc[-1])
            ax.step(x, y, where="post", label=label, linewidth=1.6)
    m = metric or items[0][1].metric
    ax.set_xlabel(_shared_time_label(items))
    ax.set_ylabel(f"best {m} so far")
    if log_y:
        ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(f"best {m} so far", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def job_spans(e: Experiment) -> pd.DataFrame:
    """The experiment's job spans; derived from report rows when no spans were recorded.

    The derived spans are approximate: a run of consecutive reports of one
    trial on one worker, starting one ``epoch_time`` (when known) before its
    first report.
    """
    if e.jobs is not None and len(e.jobs):
        return e.jobs
    r = e.results
    if not {"worker", "trial_id", "tuner_time"} <= set(r.columns) or r.empty:
        return pd.DataFrame(columns=["worker", "trial_id", "start", "end", "kind"])
    r = r.sort_values(["worker", "tuner_time"], kind="stable")
    w = r["worker"].astype(str).to_numpy()
    t = r["trial_id"].to_numpy()
    new = np.ones(len(r), dtype=bool)
    new[1:] = (w[1:] != w[:-1]) | (t[1:] != t[:-1])
    group = np.cumsum(new)
    first_dt = r["epoch_time"].fillna(0.0) if "epoch_time" in r.columns else pd.Series(0.0, index=r.index)
    g = pd.DataFrame({"g": group, "worker": r["worker"].to_numpy(), "trial_id": t,
                      "time": r["tuner_time"].to_numpy(dtype=float), "dt": first_dt.to_numpy(dtype=float)})
    agg = g.groupby("g").agg(worker=("worker", "first"), trial_id=("trial_id", "first"),
                             first=("time", "min"), end=("time", "max"), dt=("dt", "first"))
    agg["start"] = agg["first"] - agg["dt"]
    agg["kind"] = "job"
    return agg[["worker", "trial_id", "start", "end", "kind"]].reset_index(drop=True)


def busy_fraction(e: Experiment) -> Optional[float]:
    spans = job_spans(e)
    if spans.empty:
        return None
    end = float(e.end_time or spans["end"].max())
    n = e.metadata.get("n_workers") or spans["worker"].nunique()
    return float((spans["end"] - spans["start"]).sum()) / (end * n) if end > 0 else None


def _workers(e: Experiment, spans: pd.DataFrame, max_workers: int) -> list:
    """Timeline rows: every worker of the experiment, also those that never got a job (all idle)."""
    workers = sorted(spans["worker"].unique(), key=_sort_key) if len(spans) else []
    n = e.metadata.get("n_workers")
    if isinstance(n, int) and all(isinstance(w, (int, np.integer)) and 0 <= w < n for w in workers):
        workers = list(range(n))
    return workers[:max_workers]


def timeline(experiments, path, max_workers: int = 64) -> Path:
    """Worker timeline: one row per worker, one bar per job (colour = trial); gaps are idle time."""
    items = _labelled(experiments)
    tmax = 0.0
    panels = []
    for label, e in items:
        spans = job_spans(e)
        end = float(e.end_time or (spans["end"].max() if len(spans) else 0.0))
        tmax = max(tmax, end)
        panels.append((label, e, spans, end, _workers(e, spans, max_workers)))
    heights = [max(1, len(p[4])) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, sharex=True, squeeze=False,
                             figsize=(8, 1.2 + sum(min(0.22 * h, 7) + 0.6 for h in heights)),
                             gridspec_kw={"height_ratios": [min(h, 32) + 2 for h in heights]})
    cmap = plt.get_cmap("tab20")
    for ax, (label, e, spans, end, workers) in zip(axes[:, 0], panels):
        row = {w: i for i, w in enumerate(workers)}
        s = spans[spans["worker"].isin(row)] if len(spans) else spans
        verts, colors, edge = [], [], []
        kinds = s["kind"] if "kind" in s.columns else pd.Series("job", index=s.index)
        for w, tid, a, b, kind in zip(s["worker"], s["trial_id"], s["start"].astype(float),
                                      s["end"].astype(float), kinds):
            y = row[w]
            verts.append([(a, y - 0.38), (a, y + 0.38), (b, y + 0.38), (b, y - 0.38)])
            colors.append(cmap(int(tid) % 20))
            edge.append("black" if kind == "resume" else "none")
        ax.add_collection(PolyCollection(verts, facecolors=colors, edgecolors=edge, linewidths=0.4))
        ax.set_ylim(-0.7, max(1, len(workers)) - 0.3)
        step = max(1, len(workers) // 32)
        ax.set_yticks(range(0, len(workers), step))
        ax.set_yticklabels([str(w) for w in workers[::step]], fontsize=7 if len(workers) > 16 else 9)
        ax.invert_yaxis()
        ax.set_ylabel("worker")
        bf = busy_fraction(e)
        extra = f"  busy {bf:.0%}, idle {1 - bf:.0%}" if bf is not None else ""
        ax.set_title(f"{label}: {len(s)} jobs on {len(workers)} workers{extra}", fontsize=10)
        ax.axvline(end, color="0.5", linewidth=0.8, linestyle=":")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlim(0, tmax * 1.01 if tmax > 0 else 1)
    axes[-1, 0].set_xlabel(f"{_shared_time_label(items)}   (bars: jobs, colour = trial, outlined = resumed; "
                           f"gaps: idle)")
    return _save(fig, path)


def _shared_time_label(items) -> str:
    labels = {time_label(e) for _, e in items}
    return labels.pop() if len(labels) == 1 else "time (s): simulated and wall-clock"


def _sort_key(w):
    try:
        return (0, float(w), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(w))
