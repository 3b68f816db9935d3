#!/usr/bin/env python3
"""The next speed, evaluated the way `evaluate` scores melt: held out, glacier by glacier.

On every motion sequence at hand — Perito Moreno (Sentinel-2, 15-day baselines, m/day), Columbia
(camera AK10, daily, px/day) and the generated camera station (its glacier and its serac) — each
field is cut into 4 × 4 blocks, and every block, the glacier and each named region is a speed
series (glacier_edge/motion/speed_corpus.py). Then:

1. **The learnt speed model** (glacier_edge/motion/speed_model.py), leave one glacier out: fitted
   and calibrated on the other two, scored on the third — skill against persistence, coverage of
   its split-conformal 90 % interval, share of inputs refused as out of range, beside the naive
   trend and running mean on the same forecasts.
2. **What a station serves** — the online trust replayed causally over every series of a glacier,
   for a grid of priors (model slot = trend, persistence, running mean), and with the held-out
   speed model in the model slot. The prior is chosen leave one glacier out too: on the other two
   glaciers by their worst skill, scored on the third.

Saved to benchmarks/results/speed_model.{txt,json}.

    python benchmarks/speed_model.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed_forecast import camera, columbia, perito  # noqa: E402  (the same measurements)

from glacier_edge.bench.system import system_info  # noqa: E402
from glacier_edge.fileio import write_json_atomic, write_text_atomic  # noqa: E402
from glacier_edge.motion.speed import MIN_EXCESS_PX, SPEED_PRIOR, forecast_speeds  # noqa: E402
from glacier_edge.motion.speed_corpus import result_series  # noqa: E402
from glacier_edge.motion.speed_model import SpeedSeries, evaluate_speed_model, fit_speed_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PRIORS = [(t, 1 - t - m, m) for t in (1 / 3, 0.2, 0.1, 0.05, 0.02) for m in (1 / 3, 0.1, 0.02, 0.001)]


def replay(series: list[SpeedSeries], prior: tuple[float, ...], model=None) -> dict:
    """The online trust over every series of one glacier: pooled skill and coverage, and the
    skill of each named (non-block) series."""
    errors = naive = 0.0
    inside = scored = 0
    named = {}
    for one in series:
        precision = np.full(len(one.speeds), one.floor)  # the floor is 0.2 px over the typical pair
        trust = forecast_speeds(one.times, one.speeds, precision, model, prior).trust
        errors, naive = errors + trust.error_sum, naive + trust.persistence_error_sum
        inside, scored = inside + trust.inside_count, scored + trust.scored
        if not one.name.startswith("block") and trust.persistence_error_sum > 0:
            named[one.name] = 1 - trust.error_sum / trust.persistence_error_sum
    return {"skill": 1 - errors / naive, "coverage": inside / scored, "forecasts": scored, "named": named}


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        runs = {"Perito Moreno": perito(), "Columbia AK10": columbia(Path(scratch)),
                "generated camera": camera(Path(scratch))}
    series = {name: result_series(result, name) for name, result in runs.items() if result is not None}
    for name in [n for n, r in runs.items() if r is None]:
        print(f"skipping {name}: its data is absent")
    if len(series) < 3:
        print("needs three glaciers for leave-one-glacier-out; stopping")
        return
    everything = [s for group in series.values() for s in group]
    print({name: len(group) for name, group in series.items()}, "series")
    model_scores = evaluate_speed_model(everything)
    for score in model_scores:
        print(score)
    online = {str(prior): {name: replay(group, prior) for name, group in series.items()} for prior in PRIORS}
    chosen = {}
    for held in series:
        others = [g for g in series if g != held]
        best = max(PRIORS, key=lambda prior: min(online[str(prior)][g]["skill"] for g in others))
        chosen[held] = {"prior": best, **online[str(best)][held]}
    with_model = {}
    for held, group in series.items():
        model = fit_speed_model([s for s in everything if s.group != held])
        with_model[held] = replay(group, SPEED_PRIOR, model) | {"gain": model.gain,
                                                                "trend": replay(group, SPEED_PRIOR)}
    counts = ", ".join(f"{n}: {len(g)}" for n, g in series.items())
    lines = [system_info(None).line(), "",
             f"{sum(len(g) for g in series.values())} speed series ({counts}): the glacier, each named region, "
             "and 4 × 4 blocks of the field with enough valid windows.", "",
             "### The learnt speed model, leave one glacier out", "",
             "| held-out glacier | forecasts | skill vs persistence | 90 % interval coverage | inputs refused | gain | "
             "naive trend's skill | running mean's skill |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in model_scores:
        lines.append(f"| {s.group} | {s.forecasts} | {s.skill:+.3f} | {s.coverage:.0%} | {s.refused:.0%} | "
                     f"{s.gain:.2f} | {s.trend_skill:+.3f} | {s.mean_skill:+.3f} |")
    lines += ["", "### What a station serves: the online trust over every series of each glacier", "",
              "| prior (model slot, persistence, mean) | " + " | ".join(series) + " | worst | named series |",
              "|---|" + "---:|" * (len(series) + 1) + "---|"]
    for prior in PRIORS:
        row = online[str(prior)]
        named = ", ".join(f"{g.split()[0]}/{k} {v:+.2f}" for g in series for k, v in row[g]["named"].items())
        lines.append(f"| {', '.join(f'{p:.3f}' for p in prior)} | "
                     + " | ".join(f"{row[g]['skill']:+.3f} ({row[g]['coverage']:.0%})" for g in series)
                     + f" | {min(row[g]['skill'] for g in series):+.3f} | {named} |")
    lines += ["", "Prior chosen on the other two glaciers (their worst skill), scored on the held-out one:", "",
              "| held-out glacier | prior chosen | skill | coverage | named series |", "|---|---|---:|---:|---|"]
    for held, row in chosen.items():
        named = ", ".join(f"{k} {v:+.2f}" for k, v in row["named"].items())
        lines.append(f"| {held} | {', '.join(f'{p:.3f}' for p in row['prior'])} | {row['skill']:+.3f} | "
                     f"{row['coverage']:.0%} | {named} |")
    lines += ["", "What a station serves (prior SPEED_PRIOR) with the held-out speed model in the model slot, and "
              "with the trend there (the default):", "",
              "| held-out glacier | gain | skill, speed model | coverage | named series | skill, trend | named |",
              "|---|---:|---:|---:|---|---:|---|"]
    for held, row in with_model.items():
        named = ", ".join(f"{k} {v:+.2f}" for k, v in row["named"].items())
        trend = row["trend"]
        named_trend = ", ".join(f"{k} {v:+.2f}" for k, v in trend["named"].items())
        lines.append(f"| {held} | {row['gain']:.2f} | {row['skill']:+.3f} | {row['coverage']:.0%} | {named} | "
                     f"{trend['skill']:+.3f} | {named_trend} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "speed_model.txt", table + "\n")
    write_json_atomic(RESULTS / "speed_model.json", {
        "floor_px": MIN_EXCESS_PX, "series": {n: len(g) for n, g in series.items()},
        "model_held_out": [s.__dict__ for s in model_scores], "online": online,
        "prior_chosen_held_out": chosen, "model_in_slot": with_model})


if __name__ == "__main__":
    sys.exit(main())
