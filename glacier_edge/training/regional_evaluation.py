"""Held-out evaluation of the per-region model (`evaluate --frame-regions`), and the ablation that says
whether spatial edges earn their place.

The outer folds are the frame evaluation's (grouped by sequence, or one region of the world at a
time); each runs the whole per-region recipe (:func:`.regional.fit_regional`, inner calibration
included) on the other sequences. Per region of the grid and pooled: MAE of the served answer,
of the region's own persistence and causal running mean, skill = 1 − MAE / MAE(best of the two),
and the coverage of the per-region 90 % interval. Run with and without spatial edges on the same
folds, the two skills say what the edges add.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from glacier_edge.contracts import TrainConfig
from glacier_edge.training.regional import (
    RegionalExample,
    defined_region_targets,
    fit_regional,
    predict_regional,
    region_naive,
)

BASELINES = ("persistence", "running_mean")
Echo = Callable[[str], None]


def _quiet(message: str) -> None:
    """Inner calibration progress is not printed for every outer fold."""


def _scores(errors: dict[str, np.ndarray], covered: np.ndarray) -> dict[str, Any]:
    mae = {method: float(np.mean(values)) if len(values) else float("nan") for method, values in errors.items()}
    best = min(BASELINES, key=lambda kind: mae[kind])
    return {"n": int(len(covered)), "mae": mae, "best_baseline": best,
            "skill": 1.0 - mae["model"] / mae[best] if mae[best] > 0 else float("nan"),
            "coverage": float(np.mean(covered)) if len(covered) else float("nan")}


def evaluate_regions(examples: Sequence[RegionalExample], groups: Sequence[np.ndarray], config: TrainConfig,
                     echo: Echo = print) -> dict[str, Any]:
    """Per region and pooled held-out scores of the per-region recipe over the outer ``groups``."""
    count = examples[0].layout.count
    errors: list[dict[str, list[np.ndarray]]] = [{m: [] for m in ("model", *BASELINES)} for _ in range(count)]
    covered: list[list[np.ndarray]] = [[] for _ in range(count)]
    for number, held in enumerate(groups, start=1):
        echo(f"regions ({'with' if config.uses_spatial_edges else 'without'} spatial edges): outer fold "
             f"{number}/{len(groups)}, {len(held)} sequence(s) held out")
        train = [e for i, e in enumerate(examples) if i not in set(held.tolist())]
        fitted = fit_regional(train, config, _quiet)
        train_mean = float(defined_region_targets(train).mean())
        widths = (np.asarray(fitted.calibration.region_halfwidth) if fitted.calibration is not None
                  else np.full(count, np.inf))
        for index in held:
            example = examples[index]
            targets, valid = example.targets_and_valid
            served = predict_regional(fitted.model, example, fitted.features)
            naive_values = {kind: region_naive(kind, example, train_mean) for kind in BASELINES}
            for region in range(count):
                rows = valid[:, region]
                truth = targets[rows, region]
                errors[region]["model"].append(np.abs(served[rows, region] - truth))
                for kind in BASELINES:
                    errors[region][kind].append(np.abs(naive_values[kind][rows, region] - truth))
                covered[region].append(np.abs(served[rows, region] - truth) <= widths[region])
    per_region = []
    for region in range(count):
        joined = {method: np.concatenate(parts) for method, parts in errors[region].items()}
        per_region.append({"region": examples[0].layout.names[region],
                           **_scores(joined, np.concatenate(covered[region]))})
    pooled = _scores({m: np.concatenate([np.concatenate(errors[r][m]) for r in range(count)])
                      for m in ("model", *BASELINES)},
                     np.concatenate([np.concatenate(parts) for parts in covered]))
    return {"spatial_edges": config.uses_spatial_edges, "layout": examples[0].layout.source, "regions": per_region,
            "pooled": pooled}


def evaluate_with_ablation(examples: Sequence[RegionalExample], groups: Sequence[np.ndarray], config: TrainConfig,
                           echo: Echo = print) -> dict[str, Any]:
    """The same folds with spatial edges and without: ``{"with": …, "without": …}``."""
    return {"with": evaluate_regions(examples, groups, replace(config, spatial_edges=True), echo),
            "without": evaluate_regions(examples, groups, replace(config, spatial_edges=False), echo)}


def regions_table(result: dict[str, Any]) -> str:
    """Per region: skill with and without spatial edges, and coverage; pooled last."""
    with_edges, without = result["with"], result["without"]
    lines = [f"per-region model ({with_edges['layout']}), held out; skill vs each region's best naive answer "
             "(its own persistence or running mean)",
             f"{'region':10s} {'n':>6s}  {'model MAE':>9s} {'persist.':>9s} {'run.mean':>9s}  {'skill':>6s} "
             f"{'cover':>5s}  {'no spatial':>10s} {'cover':>5s}"]
    rows = list(zip(with_edges["regions"], without["regions"])) + [(with_edges["pooled"], without["pooled"])]
    for index, (a, b) in enumerate(rows):
        name = a.get("region", "POOLED") if index < len(rows) - 1 else "POOLED"
        lines.append(f"{name:10s} {a['n']:6d}  {a['mae']['model']:9.5f} {a['mae']['persistence']:9.5f} "
                     f"{a['mae']['running_mean']:9.5f}  {a['skill']:6.3f} {a['coverage']:5.2f}  "
                     f"{b['skill']:10.3f} {b['coverage']:5.2f}")
    worst = min(with_edges["regions"], key=lambda r: r["skill"])
    lines.append(f"worst region {worst['region']}: skill {worst['skill']:.3f}; pooled "
                 f"{with_edges['pooled']['skill']:.3f} with spatial edges, {without['pooled']['skill']:.3f} without "
                 "(the ablation)")
    return "\n".join(lines)
