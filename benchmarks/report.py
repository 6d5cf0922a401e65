"""Write ``benchmarks/REPORT.md`` and its PNG figures from the JSON under ``benchmarks/results/``.

Only reads results: nothing is measured here. A section whose JSON is missing
is listed as not run. Figures drawn here: overhead, decision cost,
utilization, any-time bands, scale; the learning-curve figures come from the
sections that hold the raw reports (``anytime``, ``real_run``).

Usage: python -m benchmarks.report [--results-dir ...] [--figures-dir ...] [--report ...]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
PEER_METHODS = ("optuna-tpe-hyperband", "synetune-bohb", "synetune-mobster", "synetune-hypertune", "dehb")
TOOL_LABELS = {"raysha": "raysha", "raytune": "Ray Tune", "optuna": "Optuna", "synetune": "Syne Tune"}
DEFAULT_COMMANDS = {
    "overhead": "python -m benchmarks.peers", "decision_cost": "python -m benchmarks.decision_cost",
    "utilization": "python -m benchmarks.utilization", "anytime": "python -m benchmarks.anytime",
    "real_run": "python -m benchmarks.real_run", "scale": "python -m benchmarks.scale",
    "search_quality": "nice python -m benchmarks.search_quality",
}


def _load(results: Path, name: str) -> Optional[dict]:
    p = results / name
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _save(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _fmt(v, spec=".3g", none="–"):
    if v is None:
        return none
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return str(v)


def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


class Report:
    def __init__(self, results: Path, figures: Path, report: Path):
        self.results, self.figures, self.report = results, figures, report
        self.suite = _load(results, "suite.json") or {}
        self.lines: list[str] = []
        self.fig_rel = os.path.relpath(figures, report.parent)

    def add(self, *text: str) -> None:
        self.lines.extend(text)

    def figure(self, name: Optional[str], caption: str) -> None:
        if name and (self.figures / name).exists():
            self.add(f"![{caption}]({self.fig_rel}/{name})", "")

    def provenance(self, section: str, data: Optional[dict]) -> None:
        sec = (self.suite.get("sections") or {}).get(section, {})
        cmd = sec.get("command") or DEFAULT_COMMANDS[section]
        date = (data or {}).get("date") or sec.get("finished") or "?"
        machine = (data or {}).get("machine")
        if isinstance(machine, dict):
            machine = machine.get("platform")
        cpus = (data or {}).get("cpu_count") or (isinstance((data or {}).get("machine"), dict)
                                                  and data["machine"].get("cpus"))
        wall = f", section took {sec['wall_s']:.0f} s" if sec.get("wall_s") is not None else ""
        quick = " **(quick sizes: a smoke test, not a measurement)**" if sec.get("quick") else ""
        self.add(f"*Command:* `{cmd}` — *date:* {date} — *machine:* {machine or '?'}, "
                 f"{cpus or '?'} CPUs{wall}{quick}", "")

    # -- sections ----------------------------------------------------------------------
    def overhead(self) -> None:
        d = _load(self.results, "peers.json")
        self.add("## 1. Overhead: N trials × 27 epochs, zero-cost objective", "")
        if d is None:
            self.add("Not run (no `results/peers.json`).", "")
            return
        self.provenance("overhead", d)
        self.add(f"Workload: {d['workload']}. Every tool runs in the same suite run, one after the other, "
                 f"so the ratios compare like with like on this shared machine. Wall time starts when the "
                 f"tool's run starts and ends when it returns; `ray.init` ({d.get('ray_init_s')} s) is not "
                 f"counted. Optuna runs in-process (threads, no Ray, no processes per trial); Syne Tune's "
                 f"local backend starts one Python process per trial; Ray Tune and raysha run on local Ray "
                 f"with 2 CPUs.", "")
        rows = []
        for n in d["sizes"]:
            base = d["tools"].get("raysha", {}).get(str(n))
            for tool, runs in d["tools"].items():
                r = runs.get(str(n))
                if not r:
                    continue
                ratio = "1 (baseline)" if tool == "raysha" else \
                    (_fmt(r["wall_s"] / base["wall_s"], ".3g") + "×" if base else "–")
                rows.append([n, TOOL_LABELS.get(tool, tool), _fmt(r["wall_s"], ".2f"), r["trials"], r["reports"],
                             _fmt(r["reports_per_s"], ".0f"), _fmt(r["overhead_ms_per_trial"], ".1f"), ratio])
        self.add(_table(["N", "tool", "wall s", "trials", "reports", "reports/s", "ms per trial",
                         "wall / raysha wall"], rows), "")
        self.add("Report counts differ between tools at the same N because a stop decision takes effect at "
                 "different moments: raysha and Optuna decide each rung report before the trial goes on; Ray "
                 "Tune's decision reaches a trial a few reports late; Syne Tune's reaches a trial's process "
                 "after it has sent most of its 27 epochs (a zero-cost trial outruns the tuner's polling).", "")
        if d.get("synetune_python"):
            self.add(f"Syne Tune ran from its own virtual environment (`{d['synetune_python'].replace(str(Path.home()), '~')}`, created by "
                     f"`python -m benchmarks.peers --install-synetune`): installing it into the project's "
                     f"environment would add xgboost, scikit-learn, statsmodels and psutil beside Ray.", "")
        if d.get("skipped"):
            self.add("Skipped (never faked):", "")
            self.add(*[f"- `{k}`: {v}" for k, v in d["skipped"].items()], "")
        # figure
        tools = list(d["tools"])
        sizes = d["sizes"]
        fig, ax = plt.subplots(figsize=(7, 3.8))
        width = 0.8 / max(1, len(tools))
        for i, tool in enumerate(tools):
            xs, ys = [], []
            for j, n in enumerate(sizes):
                r = d["tools"][tool].get(str(n))
                if r:
                    xs.append(j + i * width)
                    ys.append(r["wall_s"])
            bars = ax.bar(xs, ys, width, label=TOOL_LABELS.get(tool, tool), color=f"C{i}")
            for b, y in zip(bars, ys):
                ax.annotate(f"{y:.3g}", (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom", fontsize=7)
        ax.set_xticks([j + width * (len(tools) - 1) / 2 for j in range(len(sizes))])
        ax.set_xticklabels([f"N = {n:,} trials" for n in sizes])
        ax.set_yscale("log")
        ax.set_ylabel("wall seconds (log)")
        ax.set_title("N trials × 27 epochs, zero-cost objective, ASHA, 2 workers", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        self.figure(_save(fig, self.figures / "overhead_wall.png"), "overhead: wall seconds per tool")

    def decision_cost(self) -> None:
        d = _load(self.results, "decision_cost.json")
        self.add("## 2. Decision cost: one ASHA stop/continue decision", "")
        if d is None:
            self.add("Not run (no `results/decision_cost.json`).", "")
            return
        self.provenance("decision_cost", d)
        self.add("Both schedulers get the same stream: N trials already in the first rung, then fresh trials "
                 "reporting at that rung (grace 1, η 3). Ray Tune's `ASHAScheduler` is called directly, no "
                 "trials run (`benchmarks/decision_cost.py`).", "")
        rows = [[f"{r['trials_in_rung']:,}", _fmt(r["raysha_us"], ".2f"), _fmt(r["raytune_us"], ".1f"),
                 _fmt(r["ratio_raytune_over_raysha"], ".0f") + "×" if r["ratio_raytune_over_raysha"] else "–"]
                for r in d["rows"]]
        self.add(_table(["trials in the rung", "raysha µs/decision", "Ray Tune µs/decision",
                         "Ray Tune / raysha"], rows), "")
        self.add(f"Growth over the sizes: raysha {_fmt(d.get('raysha_growth'), '.2f')}×, Ray Tune "
                 f"{_fmt(d.get('raytune_growth'), '.1f')}×.", "")
        fig, ax = plt.subplots(figsize=(6, 3.6))
        n = [r["trials_in_rung"] for r in d["rows"]]
        ax.plot(n, [r["raysha_us"] for r in d["rows"]], "o-", label="raysha (sorted rung, O(log n))")
        if all(r["raytune_us"] for r in d["rows"]):
            ax.plot(n, [r["raytune_us"] for r in d["rows"]], "s-", label="Ray Tune ASHAScheduler (O(n))")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("trials already in the rung")
        ax.set_ylabel("µs per decision")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        self.figure(_save(fig, self.figures / "decision_cost.png"), "decision cost against rung size")

    def utilization(self) -> None:
        d = _load(self.results, "utilization.json")
        self.add("## 3. Utilization: synchronous vs asynchronous, simulated workers", "")
        if d is None:
            self.add("Not run (no `results/utilization.json`).", "")
            return
        self.provenance("utilization", d)
        st = d["settings"]
        self.add(f"Straggler objective (lognormal per-trial epoch times), η {st['reduction_factor']}, grace "
                 f"{st['grace_period']}, {st['max_epochs']} epochs max, a budget of {st['budget_s']:.0f} "
                 f"simulated seconds per run, {st['seeds']} seed(s) per cell (medians). Busy fraction = "
                 f"worker-seconds training / (workers × budget). Time to target = first simulated time a "
                 f"report reaches validation error ≤ {st['target']}; \"not reached\" when a seed missed it.", "")
        rows = []
        for r in d["summary"]:
            ttt = r["time_to_target_median_s"]
            ttt_s = f"{ttt:,.0f} s" if ttt is not None else f"not reached ({r['reached']}/{r['seeds']} seeds)"
            rows.append([r["workers"], r["label"], f"{100 * r['busy_fraction_median']:.1f} %", ttt_s,
                         _fmt(r["best_median"], ".4f"), _fmt(r["trials_median"], ",.0f")])
        self.add(_table(["workers", "scheduler", "busy", "time to target", "best at budget", "trials"], rows), "")
        self.add("The synchronous baselines run two ways. `sync SH` / `sync Hyperband` (the default, as Syne "
                 "Tune runs them): a worker with nothing to do in the open brackets opens the next bracket, so "
                 "no worker idles, but each bracket's promotions still wait for its slowest trial. `…, strict` "
                 "(`strict=True`): one bracket at a time with sizes fixed by η and the rung levels (sync SH: 27 "
                 "trials at 1 epoch, 9 at 3, 3 at 9, 1 at 27), so free workers wait, and at 64 and 512 workers "
                 "most have no job at all: the textbook synchronisation cost, exaggerated by brackets not sized "
                 "to the cluster. Compare ASHA with the default variant for a fair figure.", "")
        workers = sorted({r["workers"] for r in d["summary"]})
        labels = list(dict.fromkeys(r["label"] for r in d["summary"]))
        for key, fname, ylabel, title in (
                ("busy_fraction_median", "utilization_busy.png", "busy fraction", "worker busy fraction"),
                ("time_to_target_median_s", "utilization_time_to_target.png", "simulated seconds (log)",
                 f"time to validation error ≤ {st['target']} (missing bar: not reached)")):
            fig, ax = plt.subplots(figsize=(7.5, 3.8))
            width = 0.8 / len(labels)
            plotted = 0
            for i, lab in enumerate(labels):
                xs, ys = [], []
                for j, w in enumerate(workers):
                    r = next((x for x in d["summary"] if x["workers"] == w and x["label"] == lab), None)
                    if r and r[key] is not None:
                        xs.append(j + i * width)
                        ys.append(r[key])
                ax.bar(xs, ys, width, label=lab, color=f"C{i}")
                plotted += len(ys)
            ax.set_xticks([j + width * (len(labels) - 1) / 2 for j in range(len(workers))])
            ax.set_xticklabels([f"{w} workers" for w in workers])
            if key.startswith("time") and plotted:
                ax.set_yscale("log")
            elif not plotted:
                ax.text(0.5, 0.5, "no run reached the target", transform=ax.transAxes, ha="center")
            ax.set_ylabel(ylabel)
            ax.set_title(title, fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            from matplotlib.patches import Patch
            ax.legend(handles=[Patch(color=f"C{i}", label=lab) for i, lab in enumerate(labels)], fontsize=7, ncol=2)
            self.figure(_save(fig, self.figures / fname), title)

    def anytime(self) -> None:
        d = _load(self.results, "anytime.json")
        self.add("## 4. Any-time quality on the LeNet curves", "")
        if d is None:
            self.add("Not run (no `results/anytime.json`).", "")
            return
        self.provenance("anytime", d)
        st = d["settings"]
        if not d["objective"].startswith("recorded"):
            self.add(f"**The recorded LeNet curves (`raysha/data/lenet_curves.parquet`) were missing when this "
                     f"ran: the synthetic curve objective stood in** (`{d['objective_repr']}`, metric "
                     f"`{d['metric']}`).", "")
        else:
            self.add(f"Objective: `{d['objective_repr']}` (real per-epoch errors and epoch times).", "")
            pl = d.get("recorded_plateau")
            if pl:
                self.add(f"In this CPU recording (12,000 training images per epoch, see `raysha/data/README.md`) "
                         f"{pl['at_chance_after_last_epoch']} of {pl['configs']} configurations are still at "
                         f"chance level (error ≥ 0.85) after {d['settings']['max_epochs']} epochs, and the best "
                         f"10-epoch error is {pl['best_after_last_epoch']:.4f}: d2l's sigmoid LeNet leaves its "
                         f"0.9 plateau late, which makes early rungs poor judges. The numbers below are about "
                         f"this table, not d2l's full-data curves.", "")
        self.add(f"d2l's settings: {st['max_epochs']} epochs, grace {st['grace_period']}, η "
                 f"{st['reduction_factor']}, {st['workers']} workers; budget {st['budget_s']:.0f} simulated "
                 f"seconds (= {st['budget_trials']:g} median full trials of {st['median_trial_time_s']:.1f} s "
                 f"per worker); {st['seeds']} scheduler seeds each. Best {d['metric']} so far: median "
                 f"[interquartile range] over seeds at a quarter, half and all of the budget.", "")
        rows = []
        for r in d["summary"]:
            cells = [r["label"]]
            for k in ("best_at_25pct", "best_at_50pct", "best_at_100pct"):
                b = r[k]
                cells.append(f"{_fmt(b['median'], '.4f')} [{_fmt(b['q1'], '.4f')}, {_fmt(b['q3'], '.4f')}]")
            tt = r.get("time_to_target")
            if tt is not None:
                cells.append(f"{tt['median']:.0f} s ({tt['reached']}/{tt['seeds']})" if tt["median"] is not None
                             else f"– ({tt['reached']}/{tt['seeds']})")
            cells.append(_fmt(r["trials_median"], ".0f"))
            rows.append(cells)
        head = ["scheduler", "25 % of budget", "50 %", "100 %"]
        if "target" in st:
            head.append(f"time to ≤ {st['target']:.4f} (seeds reaching it)")
        self.add(_table(head + ["trials (median)"], rows), "")
        if "target" in st:
            self.add(f"The target {st['target']:.4f} is the median final best over all schedulers and seeds. "
                     "The recorded table has a finite set of configurations (a sampled configuration is answered "
                     "with the nearest recorded curve), so several schedulers end on the same best recorded "
                     "curve; they differ in how soon they find it.", "")
        grid = np.array(d["grid_s"])
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        for r in d["summary"]:
            b = d["bands"][r["scheduler"]]
            med = np.array([np.nan if v is None else v for v in b["median"]], dtype=float)
            q1 = np.array([np.nan if v is None else v for v in b["q1"]], dtype=float)
            q3 = np.array([np.nan if v is None else v for v in b["q3"]], dtype=float)
            line, = ax.plot(grid, med, label=r["label"], linewidth=1.5)
            ax.fill_between(grid, q1, q3, color=line.get_color(), alpha=0.15)
        finite = [v for r in d["summary"] for v in d["bands"][r["scheduler"]]["q3"][len(grid) // 8:] if v]
        if finite:
            lo = min(v for r in d["summary"] for v in d["bands"][r["scheduler"]]["q1"] if v)
            ax.set_ylim(lo * 0.98, max(finite) * 1.02)
        ax.set_xlabel("simulated wall-clock time (s)")
        ax.set_ylabel(f"best {d['metric']} so far")
        ax.set_title(f"median and interquartile band over {st['seeds']} seeds", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        self.figure(_save(fig, self.figures / "anytime_bands.png"), "any-time quality, median and IQR")
        figs = d.get("figures", {})
        self.add("d2l's figures on the same data (seed 0): ASHA's learning curves against wall-clock time, and "
                 "the best-so-far of asynchronous random search against ASHA.", "")
        self.figure(figs.get("asha_learning_curves"), "ASHA learning curves against wall-clock")
        self.figure(figs.get("random_vs_asha"), "best so far: async random search vs ASHA")

    def real_run(self) -> None:
        d = _load(self.results, "real_run.json")
        self.add("## 5. Real run: d2l's LeNet experiment on local Ray (CPU, shortened)", "")
        if d is None:
            self.add("Not run (no `results/real_run.json`).", "")
            return
        self.provenance("real_run", d)
        st = d["settings"]
        self.add(f"**Shortened CPU run, not comparable with d2l in absolute terms**: {st['n_train']:,} training "
                 f"images (of 60,000), {st['n_test']:,} validation images (of 10,000), {st['budget_s']:.0f} s per "
                 f"scheduler (d2l: 12 minutes), {st['workers']} trial actors on CPU slots, torch {st['torch']}. "
                 f"GPUs visible to Ray: {st['ray_cluster_gpus']:g} — this machine has no GPU, and the GPU "
                 f"machine lent to some tasks has no Ray, so no GPU run was made. d2l's numbers: "
                 f"{d['d2l_source']}.", "")
        rows = []
        for k, r in d["runs"].items():
            cfg = r.get("best_config") or {}
            cfg_s = ", ".join(f"{n}={_fmt(v, '.3g')}" for n, v in cfg.items() if n in ("learning_rate", "batch_size"))
            rows.append([r["label"], r["trials"], r["epochs_trained"], _fmt(r["best_validation_error"], ".4f"),
                         f"{cfg_s} (epoch {r['best_epoch']})" if cfg_s else "–",
                         _fmt((r.get("d2l") or {}).get("best"), ".4f"), (r.get("d2l") or {}).get("trials", "–")])
        self.add(_table(["scheduler", "trials", "epochs trained", "best validation error", "best config",
                         "d2l best", "d2l trials"], rows), "")
        self.add("One run per scheduler (seed 0): an illustration of the runtime doing d2l's job end to end, not "
                 "a distribution. Code path: " + ", ".join(sorted({f"`{r['code_path']}`" for r in d["runs"].values()}))
                 + ". As in the recorded curves, most configurations sit at chance level (0.9) for their first "
                 "epochs on this training subset.", "")
        for n in d.get("notes", []):
            self.add(f"- note: {n}")
        self.add("")
        figs = d.get("figures", {})
        self.figure(figs.get("asha_learning_curves"), "real run: ASHA learning curves")
        self.figure(figs.get("random_vs_asha"), "real run: best so far")

    def d2l_searchers(self) -> None:
        d = _load(self.results, "d2l_searchers.json")
        if d is None:
            return
        st = d["settings"]
        self.add("## 5b. d2l's experiment in full: ASHA with and without a model-based searcher (CPU)", "")
        self.add(f"*Command:* `{d['command']}` (not part of `make bench`; {d['wall_seconds'] / 60:.0f} min) — "
                 f"*date:* {d['date']} — *machine:* {d['machine']}, {d['cpu_count']} CPUs", "")
        self.add(f"Each run is `raysha run lenet --scheduler {st['scheduler']} --searcher S --seed K` with d2l's "
                 f"settings: full Fashion-MNIST ({st['n_train']:,} / {st['n_test']:,} images), {st['workers']} "
                 f"workers, {st['budget_s'] / 60:.0f} minutes, {st['max_epochs']} epochs, grace period "
                 f"{st['grace_period']}, η {st['reduction_factor']}, stopping ASHA with the exact tie rule; "
                 f"{st['device']}. Seeds and searchers alternate within one invocation, so drift in the machine's load hits them alike.", "")
        if d.get("note"):
            self.add(d["note"], "")
        rows = [[r["searcher"], r["seed"], _fmt(r.get("best_validation_error"), ".4f"), r.get("best_epoch", "–"),
                 _fmt(r.get("best_found_at_s"), ".0f"), r.get("trials", "–"), r.get("epochs_trained", "–"),
                 " / ".join(str(r["reached"][k]) for k in ("2", "4", "8", "10")) if r.get("reached") else "–",
                 r["exit_code"]] for r in d["runs"]]
        self.add(_table(["searcher", "seed", "best validation error", "at epoch", "found at (s)", "trials",
                         "epochs trained", "trials reaching epoch 2 / 4 / 8 / 10", "exit"], rows), "")
        rows = [[s, v["runs"], _fmt(v["median_best_validation_error"], ".4f"), _fmt(v["median_trials"], "g"),
                 " / ".join(_fmt(v["median_reached"][k], "g") for k in ("2", "4", "8", "10"))]
                for s, v in d["summary"].items()]
        ref = d.get("main_before") or {}
        if ref:
            rows.append(["main before the exact tie rules (one run)", 1, _fmt(ref["best"], ".4f"), ref["trials"],
                         " / ".join(str(ref["reached"][k]) for k in ("2", "4", "8")) + " / –"])
        for k, v in (d.get("d2l") or {}).items():
            rows.append([f"d2l's figure ({v['source']})", 1, _fmt(v["best"], ".4f"), v["trials"], "–"])
        self.add(_table(["searcher", "runs", "median best validation error", "median trials",
                         "median trials reaching epoch 2 / 4 / 8 / 10"], rows), "")

    def scale(self) -> None:
        d = _load(self.results, "scale.json")
        self.add("## 6. Scale: the scheduler actor with many workers, memory to 10,000 trials", "")
        if d is None:
            self.add("Not run (no `results/scale.json`).", "")
            return
        self.provenance("scale", d)
        self.add(f"The real runtime with {d['workers']} trial actors (`resources_per_trial={d['resources_per_trial']}` "
                 f"on a 2-CPU local Ray), {d['workload']}, until {d['trials_target']:,} trials started. RSS "
                 f"sampled from `/proc` at each status poll (about once a second).", "")
        dr = d["driver_rss_mib"]
        rows = [
            ["trial actors up after", f"{d['actor_startup_s']:.1f} s"],
            ["run loop (after the actors are up)", f"{d['run_loop_s']:.1f} s"],
            ["trials / reports", f"{d['trials']:,} / {d['reports']:,}"],
            ["trials/s through the scheduler actor (run loop)", _fmt(d["trials_per_s"], ".0f")],
            ["trials/s, steady state (10–90 % of the trials)", _fmt(d["steady_trials_per_s"], ".0f")],
            ["reports/s (run loop)", _fmt(d["reports_per_s"], ".0f")],
            ["driver RSS before fit / peak during / after (results loaded)",
             f"{dr['before_fit']:.0f} / {_fmt(dr['peak_during_fit'], '.0f')} / {dr['after_fit']:.0f} MiB"],
            ["scheduler actor RSS, peak", f"{_fmt(d['controller_rss_mib_peak'], '.0f')} MiB"],
        ]
        self.add(_table(["", "value"], rows), "")
        s = [x for x in d["samples"] if x["trials_started"] > 0]
        if s:
            fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
            n = [x["trials_started"] for x in s]
            a1.plot(n, [x["driver_rss_mib"] for x in s], "o-", ms=3, label="driver")
            a1.plot(n, [x["controller_rss_mib"] or np.nan for x in s], "s-", ms=3, label="scheduler actor")
            a1.set_xlabel("trials started")
            a1.set_ylabel("RSS (MiB)")
            a1.set_ylim(bottom=0)
            a1.legend(fontsize=8)
            a1.grid(alpha=0.3)
            a1.set_title("memory as trials grow", fontsize=10)
            a2.plot([x["elapsed"] for x in s], n, "o-", ms=3)
            a2.set_xlabel("seconds since the scheduler actor started")
            a2.set_ylabel("trials started")
            a2.set_title(f"{d['workers']} workers: {_fmt(d['steady_trials_per_s'], '.0f')} trials/s steady",
                         fontsize=10)
            a2.grid(alpha=0.3)
            self.figure(_save(fig, self.figures / "scale.png"), "scale: RSS and trials over time")

    def search_quality(self) -> None:
        d = _load(self.results, "search_quality.json")
        if d is None:
            return
        st = d["settings"]
        self.add("## 7. Search quality: any-time regret, raysha's searchers against peers", "")
        self.add(f"*Command:* `{d.get('command', DEFAULT_COMMANDS['search_quality'])}` (not part of `make bench`) — "
                 f"*date:* {d['date']} — *machine:* {d['machine']}, {d['cpu_count']} CPUs — "
                 f"{d['wall_seconds']:.0f} s wall, {d['cpu_seconds']:.0f} CPU s", "")
        self.add(f"Every method runs with {st['workers']} simulated workers, the same simulated-time budget "
                 f"({st['budget_trials']:g} median full trials per worker), grace period {st['grace_period']} and "
                 f"η {st['reduction_factor']}, over {st['seeds']} seeds. Regret: {st['regret']}. Table: regret at "
                 f"the budget, median [q1, q3] over seeds (a seed with no full-fidelity result counts as worst). "
                 f"Problems and peers: see `benchmarks/search_quality.py`'s docstring.", "")
        for name, p in d["problems"].items():
            rho = p.get("rank_correlation_first_rung")
            self.add(f"**{name}** (optimum {p['optimum']:.6g}, budget {p['budget_s']:.0f} simulated s"
                     + (f", noise sd {p['noise']}" if p.get("noise") else "")
                     + (f"; rank correlation of the epoch-1 loss with the full-fidelity loss over random "
                        f"configurations: {rho:.2f}" if rho is not None else "") + ")", "")
            rows = [[m, _fmt(r["final_median"], ".4g"), f"[{_fmt(r['final_q1'], '.4g')}, {_fmt(r['final_q3'], '.4g')}]",
                     _fmt(r["trials_median"], ".0f"), _fmt(r["cpu_s"], ".1f")] for m, r in p["methods"].items()]
            self.add(_table(["method", "regret (median)", "[q1, q3]", "trials", "CPU s (all seeds)"], rows), "")
        rows = []
        for name, p in d["problems"].items():
            g = p.get("goal") or {}
            if not g:
                continue
            frac = g["fraction_of_budget"]
            rows.append([name, g["best_model_based"], f"{_fmt(g['random_asha_final'], '.4g')}",
                         "never" if frac is None else f"{100 * frac:.0f} %", "met" if g["goal_speed"] else "**not met**",
                         f"{g.get('best_peer', '–')} {_fmt(g.get('best_peer_final'), '.4g')}",
                         _fmt(p["methods"][g["best_model_based"]]["final_median"], ".4g"),
                         "met" if g.get("goal_quality") else "**not met**"])
        if rows:
            self.add("Goals: the best model-based raysha method (lowest median regret at the budget) reaches "
                     "random-search ASHA's final median regret within ⅓ of the budget, and ends at or below the "
                     "best peer's median regret.", "")
            self.add(_table(["problem", "best model-based raysha", "random ASHA final", "reached at (of budget)",
                             "≤ ⅓", "best peer (final)", "raysha final", "≤ best peer"], rows), "")
        self.search_quality_shortfalls(d)
        self.figure(d.get("figure"), "median regret against simulated wall-clock, IQR bands")
        if d.get("skipped"):
            self.add("Skipped (never faked):", "")
            self.add(*[f"- `{k}`: {v}" for k, v in d["skipped"].items()], "")

    def search_quality_shortfalls(self, d: dict) -> None:
        """Where a goal is not met, the numbers that say so, and what the methods do differently."""
        out = []
        for name, p in d["problems"].items():
            g, rho = p.get("goal") or {}, p.get("rank_correlation_first_rung")
            if rho is not None and rho < 0.3:
                out.append(f"{name}: the loss after epoch 1 barely ranks configurations (ρ {rho:.2f}), so every "
                           f"method that stops most trials at the first rung (ASHA with any searcher, Syne Tune's "
                           f"BOHB and MOBSTER, both ASHA-based) keeps the wrong ones; Hyperband's brackets that "
                           f"start later, and DEHB's, do not.")
            if g and not g.get("goal_quality", True):
                own = p["methods"][g["best_model_based"]]["final_median"]
                better = [m for m, r in p["methods"].items() if m in PEER_METHODS and r["final_median"] < own]
                out.append(f"{name}: {', '.join(better)} end below raysha's best model-based method "
                           f"({g['best_model_based']}, {_fmt(own, '.4g')}; best peer {_fmt(g['best_peer_final'], '.4g')}).")
            if g and not g.get("goal_speed", True):
                frac = g["fraction_of_budget"]
                out.append(f"{name}: {g['best_model_based']} reaches random ASHA's final regret "
                           + ("never" if frac is None else f"at {100 * frac:.0f} % of the budget") + " (goal ⅓)"
                           + self._speed_context(p, g) + ".")
        if out:
            self.add("Reading the goals (where one is not met, and what stands in the way):", "")
            self.add(*[f"- {x}" for x in out], "")
            self.add("What differs: raysha's `kde` and `optuna-tpe` searchers model one rung level at a time (the "
                     "highest with enough results: `optuna-tpe` waits for 10 at a level), so with a short budget "
                     "most proposals are still random or fitted on a few noisy low-rung values. `gp` (like "
                     "MOBSTER) fits one Gaussian process over configuration and epoch, pooling every report and "
                     "smoothing the noise; Optuna's TPE with its pruner fits one model over all its trials (a "
                     "pruned one by its last reported value). Regret only counts configurations trained to the "
                     "largest resource, so no method can score before the first trial has run the whole budget "
                     "of one full trial.", "")

    @staticmethod
    def _speed_context(p: dict, g: dict) -> str:
        """When the first full-budget result can exist, and when random ASHA and the best peer reach the target."""
        grid, budget, target = p["grid_s"], p["budget_s"], g["random_asha_final"]

        def first(curve, level=None):
            return next((t for t, v in zip(grid, curve) if v is not None and (level is None or v <= level)), None)

        own = first(p["methods"][g["best_model_based"]]["median"])
        parts = [f"the first trial trained to the largest resource ends at {100 * own / budget:.0f} %"] if own else []
        for label, m in (("random ASHA itself", "asha+random"), (g.get("best_peer"), g.get("best_peer"))):
            t = first(p["methods"][m]["median"], target) if m in p["methods"] else None
            if m in p["methods"]:
                parts.append(f"{label} gets there " + ("never" if t is None else f"at {100 * t / budget:.0f} %"))
        return f"; for scale: {', '.join(parts)}" if parts else ""

    def others(self) -> None:
        rows = []
        d = _load(self.results, "scheduler_throughput.json")
        if d:
            r = d["rows"][-1]
            rows.append(["`benchmarks/scheduler_throughput.py`", f"{r['trials_in_rungs']:,} trials in the rungs: "
                         f"{r['us_per_rung_decision']:.2f} µs per rung decision", d.get("date", "?")])
        d = _load(self.results, "simulate_scale.json")
        if d:
            r = d["rows"][0]
            rows.append(["`benchmarks/simulate_scale.py`", f"{r['trials']:,} simulated trials, {d['workers']} workers: "
                         f"{r['wall_s']} s wall (record={r['record']})", d.get("date", "?")])
        d = _load(self.results, "pasha_vs_asha.json")
        if d:
            rows.append(["`benchmarks/pasha_vs_asha.py`", f"PASHA against ASHA, objective {d.get('objective', '?')} "
                         f"(see `results/pasha_vs_asha.json`)", d.get("date", "?")])
        d = _load(self.results, "tie_rule_cost.json")
        if d:
            rs = d["rows"]
            cells = lambda rule: " / ".join(  # noqa: E731
                f"{r[rule + '_before_us']:.2g} → {r[rule + '_after_us']:.2g}" for r in rs)
            sizes = " / ".join(f"{r['values_in_rung']:,}" for r in rs)
            rows.append(["`benchmarks/tie_rule_cost.py`", f"µs per rung decision before ({d['before_ref']}) → after "
                         f"the exact tie rules, same run, with {sizes} values in the rung: stopping "
                         f"{cells('stopping')}; promotion {cells('promotion')}", d.get("date", "?")])
        d = _load(self.results, "runtime_refactor_ab.json")
        if d and "simulate_scale" in d:
            s, o = d["simulate_scale"], d.get("overhead") or {}
            text = (f"the runtime refactor, before ({d['revisions']['before'][:7]}) → after ({d['revisions']['after'][:7]}), "
                    f"same run: {s['trials']:,}-trial simulation {s['before']['median_cpu_s']:.1f} → "
                    f"{s['after']['median_cpu_s']:.1f} s CPU (median wall {s['before']['median_wall_s']:.1f} → "
                    f"{s['after']['median_wall_s']:.1f} s)")
            if "asha_100x27" in o.get("before", {}):
                text += (f"; Ray overhead, 100 trials x 27: {o['before']['asha_100x27']['median_wall_s']:.2f} → "
                         f"{o['after']['asha_100x27']['median_wall_s']:.2f} s wall (medians)")
            rows.append(["`benchmarks/runtime_refactor_ab.py`", text, d.get("date", "?")])
        if rows:
            self.add("## Other measurements kept in `results/` (not rerun by the suite)", "")
            self.add(_table(["script", "headline", "date"], rows), "")

    def headlines(self) -> None:
        """A few sentences computed from the JSON: the ratios, each from one run."""
        out = []
        d = _load(self.results, "peers.json")
        if d:
            for n in d["sizes"]:
                base = d["tools"].get("raysha", {}).get(str(n))
                if not base:
                    continue
                parts = []
                for tool in ("raytune", "synetune", "optuna"):
                    r = d["tools"].get(tool, {}).get(str(n))
                    if r:
                        ratio = r["wall_s"] / base["wall_s"]
                        parts.append(f"{TOOL_LABELS[tool]} {ratio:.3g}× raysha's wall time" if ratio >= 1 else
                                     f"{TOOL_LABELS[tool]} {1 / ratio:.3g}× faster than raysha"
                                     + (" (in-process threads, no Ray)" if tool == "optuna" else ""))
                if parts:
                    out.append(f"Overhead, {n:,} zero-cost trials × 27 epochs, 2 workers: raysha "
                               f"{base['wall_s']:.3g} s ({base['overhead_ms_per_trial']:.3g} ms per trial); "
                               + "; ".join(parts) + ".")
        d = _load(self.results, "decision_cost.json")
        if d and d["rows"][-1].get("ratio_raytune_over_raysha"):
            r = d["rows"][-1]
            out.append(f"Decision cost with {r['trials_in_rung']:,} trials in the rung: raysha "
                       f"{r['raysha_us']:.2g} µs, Ray Tune's ASHAScheduler {r['raytune_us']:,.0f} µs "
                       f"({r['ratio_raytune_over_raysha']:,.0f}×).")
        d = _load(self.results, "utilization.json")
        if d:
            cell = {(r["scheduler"], r["workers"]): r for r in d["summary"]}
            tts = lambda r: f"{r['time_to_target_median_s']:,.0f} s" if r["time_to_target_median_s"] else \
                f"not reached ({r['reached']}/{r['seeds']} seeds)"  # noqa: E731
            for w in sorted({r["workers"] for r in d["summary"]}):
                a, sy, st = cell.get(("asha", w)), cell.get(("sync-sh", w)), cell.get(("sync-sh-strict", w))
                if a and sy:
                    out.append(f"Simulated {w} workers, time to the target: ASHA {tts(a)}, synchronous SH "
                               f"{tts(sy)} (both busy {100 * a['busy_fraction_median']:.0f} % / "
                               f"{100 * sy['busy_fraction_median']:.0f} %)"
                               + (f"; strict synchronous SH (one bracket at a time) is busy "
                                  f"{100 * st['busy_fraction_median']:.1f} %" if st else "") + ".")
        d = _load(self.results, "anytime.json")
        if d:
            fin = {r["scheduler"]: r["best_at_100pct"]["median"] for r in d["summary"]}
            tt = {r["scheduler"]: r.get("time_to_target") for r in d["summary"]}
            if tt.get("asha") and tt.get("random") and "target" in d["settings"]:
                src = "recorded LeNet curves" if d["objective"].startswith("recorded") else "synthetic curves"
                f = lambda t: f"{t['median']:.0f} s" if t["median"] is not None else "– (under half the seeds)"  # noqa: E731
                out.append(f"Any-time ({src}, {d['settings']['seeds']} seeds, 2 workers): median time to best "
                           f"{d['metric']} ≤ {d['settings']['target']:.4f}: ASHA {f(tt['asha'])} "
                           f"({tt['asha']['reached']}/{tt['asha']['seeds']} seeds), async random search "
                           f"{f(tt['random'])} ({tt['random']['reached']}/{tt['random']['seeds']}); median best at "
                           f"the budget {fin['asha']:.4f} vs {fin['random']:.4f}.")
            elif "asha" in fin and "random" in fin:
                src = "recorded LeNet curves" if d["objective"].startswith("recorded") else "synthetic curves"
                out.append(f"Any-time ({src}, {d['settings']['seeds']} seeds): median "
                           f"best {d['metric']} at the budget {fin['asha']:.4f} (ASHA) vs {fin['random']:.4f} "
                           f"(async random search).")
        d = _load(self.results, "scale.json")
        if d:
            out.append(f"Real runtime, {d['workers']} actors on 2 CPUs: {_fmt(d['steady_trials_per_s'], '.0f')} trials/s "
                       f"steady through the scheduler actor; {d['trials']:,} trials with the scheduler actor at "
                       f"{_fmt(d['controller_rss_mib_peak'], '.0f')} MiB peak RSS and the driver at "
                       f"{_fmt(d['driver_rss_mib']['peak_during_fit'], '.0f')} MiB.")
        if out:
            self.add("## Headlines", "")
            self.add(*[f"- {x}" for x in out], "")

    def write(self) -> Path:
        m = self.suite.get("machine") or {}
        self.add("# raysha benchmarks", "")
        self.add(f"Generated by `python -m benchmarks.report` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
                 f"from the JSON in `benchmarks/results/`.", "")
        if self.suite:
            secs = self.suite.get("sections", {})
            self.add(f"*Suite command:* `{self.suite.get('command', 'python -m benchmarks')}` (`make bench`) — "
                     f"*started:* {self.suite.get('started', '?')} — *machine:* {m.get('platform', '?')}, "
                     f"{m.get('cpu_count', '?')} CPUs, {m.get('memory_gib', '?')} GiB, Python {m.get('python', '?')}"
                     + (f" — *suite wall time:* {self.suite['wall_s'] / 60:.1f} min" if self.suite.get("wall_s") else ""),
                     "")
            if secs:
                self.add(_table(["section", "command", "exit", "seconds"],
                                [[k, f"`{v['command']}`", v["exit_code"], f"{v['wall_s']:.0f}"]
                                 for k, v in secs.items()]), "")
        self.add("The machine is a shared 2-core VM: other work ran beside the suite, so absolute times are "
                 "noisy; every ratio below is taken between runs of the same suite run, side by side.", "")
        try:
            self.headlines()
        except Exception as e:
            self.add(f"*(headlines could not be computed: {e!r})*", "")
        for section in (self.overhead, self.decision_cost, self.utilization, self.anytime, self.real_run,
                        self.d2l_searchers, self.scale, self.search_quality, self.others):
            try:
                section()
            except Exception as e:  # a JSON in an unexpected shape: say so, keep the rest of the report
                self.add(f"*(this section could not be written from its JSON: {e!r})*", "")
        self.report.parent.mkdir(parents=True, exist_ok=True)
        self.report.write_text("\n".join(self.lines).rstrip() + "\n")
        return self.report


def write_report(results: Path, figures: Path, report: Path) -> Path:
    return Report(Path(results), Path(figures), Path(report)).write()


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results-dir", default=str(HERE / "results"))
    ap.add_argument("--figures-dir", default=str(HERE / "figures"))
    ap.add_argument("--report", default=str(HERE / "REPORT.md"))
    args = ap.parse_args(argv)
    path = write_report(Path(args.results_dir), Path(args.figures_dir), Path(args.report))
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
