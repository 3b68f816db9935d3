#!/usr/bin/env python3
"""Which online rule should a new station start from? Replays candidate priors of the station's
AdaHedge combination (:mod:`glacier_edge.signals.online`) over the held-out folds that
``benchmarks/evaluation.py --group-by region`` saved (each fold's answers per frame: the graph
model, persistence, the running mean), without training again: each held-out sequence is a new
station in a region the bundle never saw.

Reported per rule and task, as issue 19 states its goals: per region the cumulative skill against
persistence at the end (goal ≥ 0), the worst running skill of any sequence after its first 10 scored
forecasts (goal ≥ −0.05) and the coverage of the 90 % interval (goal 85–95 %). Saved to
benchmarks/results/online_rules.{md,json}.

    python benchmarks/online_rules.py [--tasks nowcast forecast] [--suffix _none]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from glacier_edge.bench.system import system_info
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.signals.online import ONLINE_EXPERTS, STATION_PRIOR, OnlineTrust, replay

RESULTS = Path(__file__).resolve().parent / "results"
WARM_UP = 10

PRIORS: dict[str, list[float]] = {
    "STATION_PRIOR (the default)": list(STATION_PRIOR),
    "uniform": [1 / 3, 1 / 3, 1 / 3],
    "persistence 0.8": [0.1, 0.8, 0.1],
    "persistence 0.98": [0.01, 0.98, 0.01],
    "model + persistence": [0.5, 0.5, 0.0],
    "model + persistence 0.9": [0.1, 0.9, 0.0],
}
GAPS = (0.0, 1.0, 3.0, 10.0)
"""Δ₀ as multiples of the bundle's interval half-width (0: AdaHedge as published)."""
RULES: dict[str, tuple[list[float], float]] = {f"{name}, Δ₀ = {gap:g}·h": (prior, gap)
                                               for name, prior in PRIORS.items() for gap in GAPS
                                               if gap == 0 or not name.startswith("STATION")}
"""(prior over ``ONLINE_EXPERTS`` (model, persistence, running mean), Δ₀ in half-widths)."""


def column(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def replay_fold(fold: dict, prior: list[float], gap: float) -> dict:
    data = fold["replay"]
    answers = np.stack([column(data["answers"][name if name != "model" else "graph_model"])
                        for name in ONLINE_EXPERTS], axis=1)
    targets, valid = column(data["targets"]), np.array(data["valid"], dtype=bool)
    low, high = data["melt_range"]
    trust = OnlineTrust(low, high, data["halfwidth"], prior=list(prior), initial_gap=gap * data["halfwidth"])
    result = replay(answers, targets, valid, trust)
    served, naive, truth = result.value[valid], answers[valid, 1], targets[valid]
    served_error, naive_error = np.cumsum(np.abs(served - truth)), np.cumsum(np.abs(naive - truth))
    with np.errstate(divide="ignore", invalid="ignore"):
        running = np.where(naive_error > 0, 1 - served_error / naive_error, np.nan)
    model_leads = np.flatnonzero(result.weights[valid, 0] > 0.5)
    return {"region": fold["region"], "error": float(served_error[-1]), "naive_error": float(naive_error[-1]),
            "model_majority_after": int(model_leads[0]) if len(model_leads) else None,
            "model_error": float(np.abs(answers[valid, 0] - truth).sum()),
            "worst_after_warm_up": float(np.nanmin(running[WARM_UP - 1:])) if len(running) >= WARM_UP else np.nan,
            "inside": int(result.inside[valid].sum()), "n": int(valid.sum())}


def evaluate_rule(folds: list[dict], prior: list[float], gap: float) -> tuple[list[dict], float]:
    """Per region (worst skill first) and the skill pooled over every held-out sequence."""
    replays = [replay_fold(fold, prior, gap) for fold in folds]
    pooled = 1 - sum(r["error"] for r in replays) / sum(r["naive_error"] for r in replays)
    leads = [r["model_majority_after"] for r in replays]
    rows = [{"model_majority_share": sum(v is not None for v in leads) / len(leads),
             "model_majority_after_median": float(np.median([v for v in leads if v is not None]))
             if any(v is not None for v in leads) else None}]
    for region in sorted({r["region"] for r in replays}):
        members = [r for r in replays if r["region"] == region]
        naive = sum(r["naive_error"] for r in members)
        rows.append({"region": region, "sequences": len(members),
                     "skill": 1 - sum(r["error"] for r in members) / naive,
                     "model_skill": 1 - sum(r["model_error"] for r in members) / naive,
                     "worst_after_warm_up": min(r["worst_after_warm_up"] for r in members),
                     "coverage": sum(r["inside"] for r in members) / sum(r["n"] for r in members)})
    return rows[1:], pooled, rows[0]


def _after(median: float | None) -> str:
    return "—" if median is None else f"{median:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["nowcast", "forecast"])
    parser.add_argument("--suffix", default="", help="e.g. _none: the folds of another backbone")
    parser.add_argument("--split", choices=["_regions", ""], default="_regions",
                        help="_regions: leave one region out; '': the grouped 5-fold split")
    args = parser.parse_args()
    report: dict[str, dict] = {}
    lines = [system_info(None).line(), ""]
    for task in args.tasks:
        source = RESULTS / f"evaluation_{task}{args.split}{args.suffix}.json"
        folds = json.loads(source.read_text())["folds"] if source.is_file() else []
        if not folds or "replay" not in folds[0]:
            print(f"skipping {task}: {source} holds no replay inputs (run benchmarks/evaluation.py --group-by region)")
            continue
        lines += [f"### {task} (folds of {source.name})", "",
                  "| rule (prior over model, persistence, running mean; Δ₀ in interval half-widths h) | worst region: "
                  "skill at the end | worst running skill after 10 | coverage per region | pooled skill | "
                  "model holds the majority: sequences, after (median) | goals met |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        report[task] = {}
        for name, (prior, gap) in RULES.items():
            rows, pooled, trust = evaluate_rule(folds, prior, gap)
            report[task][name] = {"prior": prior, "initial_gap_halfwidths": gap, "regions": rows,
                                  "pooled_skill": pooled, **trust}
            worst = min(r["skill"] for r in rows)
            after = min(r["worst_after_warm_up"] for r in rows)
            cover = [r["coverage"] for r in rows]
            met = worst >= 0 and after >= -0.05 and all(0.85 <= c <= 0.95 for c in cover)
            lines.append(f"| {name} | {worst:+.3f} | {after:+.3f} | {min(cover):.2f}–{max(cover):.2f} | "
                         f"{pooled:+.3f} | {trust['model_majority_share']:.0%}, "
                         f"{_after(trust['model_majority_after_median'])} | {'yes' if met else 'no'} |")
        lines.append("")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    name = f"online_rules{args.split}{args.suffix}"
    write_text_atomic(RESULTS / f"{name}.md", table + "\n")
    write_json_atomic(RESULTS / f"{name}.json", report)


if __name__ == "__main__":
    sys.exit(main())
