"""`glacier-edge evaluate`: grouped held-out evaluation that cannot flatter.

Sequences are split into folds (leave-one-out up to ``config.folds`` sequences, grouped k-fold
beyond); frames of one sequence are never on both sides. Each outer fold runs the whole default
recipe (:func:`glacier_edge.training.recipe.fit`, its own inner calibration folds included) for the
graph model and for a no-graph MLP, and compares them on the held-out sequences with baselines
that need no learning, each using only what is known before its target is measured:
persistence (the last measured melt), the causal running mean, and the training mean.
skill = 1 − MAE_model / MAE_best_baseline (> 0: better than the best naive answer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glacier_edge.contracts import TrainConfig
from glacier_edge.edge.plot import MeltPanel, plot_melt
from glacier_edge.errors import BadInputError
from glacier_edge.fileio import atomic_directory, write_json_atomic
from glacier_edge.ingest.frames import expand_sequences
from glacier_edge.ingest.layout import majority_kind, scene_kind_of
from glacier_edge.ingest.regions import region_groups, sequence_regions
from glacier_edge.schema import to_json
from glacier_edge.signals.features import available_metadata
from glacier_edge.signals.history import NAIVE, naive
from glacier_edge.signals.mask import mask_from_record, mask_record
from glacier_edge.signals.melt import align_to_frames
from glacier_edge.signals.metrics import melt_metrics
from glacier_edge.signals.online import ONLINE_EXPERTS, OnlineReplay, replay, station_trust
from glacier_edge.signals.ood import colour_features, ood_scores, window_is_ood
from glacier_edge.training.dataset import SequenceExample, build_example, defined_targets
from glacier_edge.training.encoder import encoder_for
from glacier_edge.training.loop import output_range, predict
from glacier_edge.training.models import FrameMLP
from glacier_edge.training.pipeline import open_store, read_sequences
from glacier_edge.training.recipe import fit, grouped_folds
from glacier_edge.training.regional import build_regional_example, sequence_cells
from glacier_edge.training.regional_evaluation import evaluate_with_ablation, regions_table

MODELS = ("graph_model", "mlp_no_graph", "station_online")
"""station_online: the graph model's served answer and the naive answers combined online, one scored
forecast at a time, as a new station would (:mod:`glacier_edge.signals.online`)."""
WARM_UP = 10
"""Scored forecasts after which a station's running skill is judged (issue 19's goal: ≥ −0.05)."""
BASELINES = NAIVE
METHODS = MODELS + BASELINES
Echo = Callable[[str], None]


def _quiet(message: str) -> None:
    """Inner calibration progress is not printed for every outer fold."""


def fold_results(examples: list[SequenceExample], group: np.ndarray, config: TrainConfig,
                 metadata: list[str]) -> list[dict[str, Any]]:
    """One outer fold: fit on the other sequences, predict the held-out ones (positions in ``group``).

    A plain function of its inputs, so `evaluate --ray` runs it as a Ray task unchanged."""
    held_positions = set(group.tolist())
    train = [e for i, e in enumerate(examples) if i not in held_positions]
    results = _held_out([examples[i] for i in group], train, config, metadata)
    return [{**{k: v for k, v in result.items() if k != "example"}, "position": int(index)}
            for index, result in zip(group, results)]


def _held_out(held: list[SequenceExample], train: list[SequenceExample], config: TrainConfig,
              metadata: list[str]) -> list[dict[str, Any]]:
    train_mean = float(defined_targets(train).mean())
    graph = fit(train, config, metadata, echo=_quiet)
    mlp = fit(train, config, metadata, echo=_quiet, model_class=FrameMLP)
    halfwidth = graph.calibration.halfwidth if graph.calibration is not None else float("inf")
    kind = majority_kind(np.concatenate([e.sequence.perspectives() for e in train]))[0]
    out = []
    for example in held:
        predictions = {
            "graph_model": predict(graph.model, example.inputs(0, graph.features), example.task),
            "mlp_no_graph": predict(mlp.model, example.inputs(0, mlp.features), example.task),
            **{kind: naive(kind, example.melt, example.task, train_mean) for kind in BASELINES},
        }
        melt_range = (graph.calibration.melt_range if graph.calibration is not None and graph.calibration.melt_range
                      else output_range(defined_targets(train)))
        flagged = scene_kind_of(example.sequence.perspectives()) != kind  # as the edge guard does
        if graph.calibration is not None and graph.calibration.ood_threshold is not None:
            scores = ood_scores(graph.summary, example.views[0], colour_features(example.sequence.frames))
            flagged = flagged | (scores > graph.calibration.ood_threshold)
        out.append({"example": example, "predictions": predictions, "halfwidth": halfwidth,
                    "gain": graph.calibration.gain if graph.calibration is not None else None,
                    "image_inputs": graph.calibration.image_inputs if graph.calibration is not None else None,
                    "image_skill": graph.calibration.image_skill if graph.calibration is not None else None,
                    "melt_range": tuple(melt_range), "ood_flagged": int(flagged.sum()),
                    "ood_window": window_is_ood(flagged, graph.calibration.ood_window_majority
                                                if graph.calibration is not None else None)})
    return out


def _skill(metrics: dict[str, dict[str, float]]) -> dict[str, Any]:
    best = min(BASELINES, key=lambda kind: metrics[kind]["mae"])
    reference = metrics[best]["mae"]
    return {"best_baseline": best, **{m: (1 - metrics[m]["mae"] / reference) if reference > 0 else float("nan")
                                      for m in MODELS}}


def station_replay(predictions: dict[str, np.ndarray], targets: np.ndarray, valid: np.ndarray,
                   result: dict[str, Any]) -> OnlineReplay:
    """A new station on this held-out sequence: the graph model's answer and the naive answers,
    combined causally with the fold's calibration as the prior (its interval, its melt range)."""
    answers = np.stack([predictions[name if name != "model" else "graph_model"] for name in ONLINE_EXPERTS], axis=1)
    low, high = result["melt_range"]
    return replay(answers, targets, valid, station_trust(low, high, result["halfwidth"]))


def _replay_inputs(predictions: dict[str, np.ndarray], targets: np.ndarray, valid: np.ndarray,
                   result: dict[str, Any]) -> dict[str, Any]:
    """What a station's online rule is replayed from, per frame of the held-out sequence (null where
    undefined), so another rule can be measured on the same folds without training again
    (``benchmarks/online_rules.py``)."""
    def column(values: np.ndarray) -> list[float | None]:
        return [None if not np.isfinite(v) else round(float(v), 7) for v in values]

    return {"answers": {name: column(predictions[name]) for name in ("graph_model", "persistence", "running_mean")},
            "targets": column(targets), "valid": [bool(v) for v in valid], "melt_range": list(result["melt_range"]),
            "halfwidth": result["halfwidth"]}


def running_skill(served: np.ndarray, persistence: np.ndarray, truth: np.ndarray) -> list[float]:
    """The station's running skill against persistence after each scored forecast (nan while
    persistence has made no error yet)."""
    served_error, naive_error = np.cumsum(np.abs(served - truth)), np.cumsum(np.abs(persistence - truth))
    with np.errstate(divide="ignore", invalid="ignore"):
        return [float(v) for v in np.where(naive_error > 0, 1 - served_error / naive_error, np.nan)]


FoldRunner = Callable[[list[SequenceExample], list[np.ndarray], TrainConfig, list[str]], Iterable[list[dict[str, Any]]]]
"""Runs the outer folds elsewhere (e.g. as Ray tasks: ``glacier_edge.archive.ray_jobs``) and yields each
fold's :func:`fold_results` as it finishes. Passed in by the caller, so this wing never imports Ray."""


def run_folds(examples: list[SequenceExample], groups: list[np.ndarray], config: TrainConfig, metadata: list[str],
              echo: Echo, fold_runner: FoldRunner | None = None) -> list[dict[str, Any]]:
    """Every outer fold, one after the other here, or by ``fold_runner`` (a cluster)."""
    def report(fold: list[dict[str, Any]]) -> None:
        names = ", ".join(Path(examples[r["position"]].sequence.source).name for r in fold)
        images, skill = (fold[0]["image_inputs"], fold[0]["image_skill"]) if fold else (None, None)
        choice = "" if images is None else f", image embedding {'read' if images else 'left out'}"
        if skill:
            choice += f" (calibration folds' worst skill with it {skill[0]:+.3f}, without {skill[1]:+.3f})"
        echo(f"  held out {names}: residual gain {fold[0]['gain'] if fold else None}, "
             f"interval ± {fold[0]['halfwidth'] if fold else float('nan'):.4f}{choice}")

    results: list[dict[str, Any]] = []
    if fold_runner is not None:
        for fold in fold_runner(examples, groups, config, metadata):
            report(fold)
            results += fold
        return results
    for number, group in enumerate(groups, start=1):
        echo(f"outer fold {number}/{len(groups)}")
        fold = fold_results(examples, group, config, metadata)
        report(fold)
        results += fold
    return results


def outer_groups(count: int, config: TrainConfig, group_by: str,
                 regions: list[str] | None) -> tuple[list[np.ndarray], str]:
    """The held-out groups of sequence positions and the split's name: by sequence (leave-one-out
    up to ``config.folds`` sequences, grouped k-fold beyond) or one region at a time."""
    if group_by == "region":
        if regions is None:
            raise BadInputError("evaluate --group-by region: the sequences' regions are unknown: give --regions CSV "
                                "(columns sequence,region) or sequences named by GLIMS ID (e.g. gv_g007281e45526n)")
        names = sorted(set(regions))
        if len(names) < 2:
            raise BadInputError(f"evaluate --group-by region needs sequences from at least 2 regions; all are in "
                                f"{names[0]}")
        groups = [np.array(group) for group in region_groups(regions)]
        return groups, f"leave-one-region-out ({len(names)} regions)"
    groups = grouped_folds(count, config.folds, config.seed)
    return groups, "leave-one-sequence-out" if all(len(g) == 1 for g in groups) else f"grouped {len(groups)}-fold"


def region_summaries(folds: list[dict[str, Any]], predictions: list[dict[str, np.ndarray]],
                     truths: list[np.ndarray], inside: list[np.ndarray],
                     online_inside: list[np.ndarray]) -> list[dict[str, Any]]:
    """Pooled metrics, skill and interval coverage of each region's held-out sequences, worst skill first."""
    summaries = []
    for region in sorted({f["region"] for f in folds}):
        members = [i for i, f in enumerate(folds) if f["region"] == region]
        truth = np.concatenate([truths[i] for i in members])
        metrics = {m: melt_metrics(np.concatenate([predictions[i][m] for i in members]), truth) for m in METHODS}
        coverage = float(np.concatenate([inside[i] for i in members]).mean())
        online_coverage = float(np.concatenate([online_inside[i] for i in members]).mean())
        after_warm_up = [folds[i]["online_running_skill"][WARM_UP - 1:] for i in members]
        frames = sum(folds[i]["frames"] for i in members)
        flagged = sum(folds[i]["ood_flag_share"] * folds[i]["frames"] for i in members)
        summaries.append({"region": region, "sequences": len(members), "n": int(truth.size), "metrics": metrics,
                          "skill": _skill(metrics), "coverage": coverage, "online_coverage": online_coverage,
                          "ood_flag_share": flagged / frames,
                          "ood_sequences_as_a_whole": sum(folds[i]["ood_as_a_whole"] for i in members),
                          "online_worst_running_skill_after_warm_up": min(
                              (min(s) for s in after_warm_up if s), default=float("nan"))})
    return sorted(summaries, key=lambda s: s["skill"]["graph_model"])


def run_evaluation(paths: Sequence[Path], *, config: TrainConfig, cache_dir: Path | None, out_dir: Path | None,
                   echo: Echo, store: Path | None = None, fold_runner: FoldRunner | None = None,
                   group_by: str = "sequence", regions_csv: Path | None = None,
                   device: str | None = None) -> dict[str, Any]:
    """Grouped held-out evaluation over ``paths`` (a folder of sequences counts as its sequences).

    ``group_by="region"`` holds out one region at a time (regions from ``regions_csv`` or from
    GLIMS-style names, :mod:`glacier_edge.ingest.regions`); whenever the regions are known, each is
    also reported on its own, beside the per-sequence and pooled figures. ``device`` (e.g. "cuda")
    runs the encoder there; the graph models train on the CPU either way."""
    paths = expand_sequences(list(paths))
    if len(paths) < 2:
        raise BadInputError("evaluate needs at least 2 sequences (one is held out while the others train)")
    regions = sequence_regions(paths, regions_csv)
    groups, split = outer_groups(len(paths), config, group_by, regions)
    sequences = read_sequences(paths, config, echo)
    metadata = available_metadata(sequences) if config.metadata else []
    mask_info = mask_record(config.mask_specs)
    encoder, weights_info = encoder_for(config)
    if device is not None:
        encoder = encoder.to(device)
    echo(f"encoder: {weights_info.label()}")
    stored = open_store(store, weights_info, config, echo)
    examples = []
    for number, seq in enumerate(sequences, start=1):
        echo(f"embedding {number}/{len(sequences)} {seq.source}: {seq.num_frames} frames × "
             f"{config.augmentations + 1} views")
        examples.append(build_example(seq, encoder, weights_info, config, augmentations=config.augmentations,
                                      cache_dir=cache_dir, mask=mask_from_record(mask_info), store=stored))
    held_results = run_folds(examples, groups, config, metadata, echo, fold_runner)
    held_results.sort(key=lambda r: r["position"])  # report in input order
    folds, pooled_pred, pooled_true, inside, panels, kept = [], {m: [] for m in METHODS}, [], [], [], []
    online_inside: list[np.ndarray] = []
    for result in held_results:
        example, predictions = examples[result["position"]], result["predictions"]
        targets, valid = example.targets_and_valid
        online = station_replay(predictions, targets, valid, result)
        predictions = {**predictions, "station_online": online.value}
        metrics = {m: melt_metrics(p[valid], targets[valid]) for m, p in predictions.items()}
        covered = np.abs(targets[valid] - predictions["graph_model"][valid]) <= result["halfwidth"]
        folds.append({"held_out": example.sequence.source, "frames": example.sequence.num_frames,
                      "n": int(valid.sum()), "metrics": metrics, "skill": _skill(metrics),
                      "coverage": float(covered.mean()), "interval_halfwidth": result["halfwidth"],
                      "residual_gain": result["gain"], "image_inputs": result["image_inputs"],
                      "image_skill": result["image_skill"],
                      "online_coverage": float(online.inside[valid].mean()),
                      "ood_flag_share": result["ood_flagged"] / example.sequence.num_frames,
                      "ood_as_a_whole": bool(result["ood_window"]),
                      "online_final_weights": dict(zip(ONLINE_EXPERTS, online.final.weights().round(4).tolist())),
                      "online_running_skill": running_skill(online.value[valid], predictions["persistence"][valid],
                                                            targets[valid]),
                      "region": regions[result["position"]] if regions is not None else None,
                      "replay": _replay_inputs(predictions, targets, valid, result)})
        kept.append({m: p[valid] for m, p in predictions.items()})
        online_inside.append(online.inside[valid])
        for method, values in predictions.items():
            pooled_pred[method].append(values[valid])
        pooled_true.append(targets[valid])
        inside.append(covered)
        panels.append(MeltPanel(f"held out: {Path(example.sequence.source).name} ({config.task})", example.melt,
                                align_to_frames(predictions["graph_model"], example.task), example.sequence.dates))
    truth = np.concatenate(pooled_true)
    pooled = {m: melt_metrics(np.concatenate(v), truth) for m, v in pooled_pred.items()}
    result = {
        "task": config.task, "arch": config.arch, "encoder": weights_info.label(),
        "pretrained": weights_info.pretrained, "split": split, "train_config": to_json(config),
        "melt_mask": mask_info and {k: v for k, v in to_json(mask_info).items() if k != "bitmap"},
        "folds": folds, "pooled": pooled, "pooled_skill": _skill(pooled),
        "pooled_coverage": float(np.concatenate(inside).mean()), "nominal_coverage": 0.9,
        "group_by": group_by,
        "pooled_online_coverage": float(np.concatenate(online_inside).mean()),
        "regions": region_summaries(folds, kept, pooled_true, inside, online_inside) if regions is not None else [],
        "frame_regions": None,
    }
    if config.frame_regions:
        regional = [build_regional_example(e.sequence, sequence_cells(e.sequence, e.frames_sha256, encoder,
                                                                      weights_info, config.seed, cache_dir),
                                           config, mask_from_record(mask_info)) for e in examples]
        result["frame_regions"] = evaluate_with_ablation(regional, groups, config, echo)
    if out_dir is not None:
        with atomic_directory(out_dir) as staging:
            write_json_atomic(staging / "evaluation.json", result)
            plot_melt(staging / "evaluation.png", panels,
                      suptitle=f"held-out sequences — {config.arch} (red dashed) vs measured; "
                               f"{weights_info.label()}")
    return result


def _r(value: float) -> str:
    return "  n/a" if value != value else f"{value:5.2f}"


def evaluation_table(result: dict[str, Any]) -> str:
    header = f"{'held-out sequence':26s} {'n':>3s}  " + "  ".join(f"{m:>20s}" for m in METHODS) + \
        f"  {'skill':>6s} {'cover':>5s}  {'online':>6s} {'cover':>5s}"
    sub = f"{'':26s} {'':>3s}  " + "  ".join(f"{'MAE':>7s} {'RMSE':>6s} {'r':>5s}" for _ in METHODS)
    lines = [f"task: {result['task']}; graph model: {result['arch']}; split: {result['split']}; "
             f"encoder: {result['encoder']}", header, sub, "-" * len(header)]
    rows = [(Path(f["held_out"]).name, f["n"], f["metrics"], f["skill"], f["coverage"], f["online_coverage"])
            for f in result["folds"]]
    rows.append(("POOLED", sum(f["n"] for f in result["folds"]), result["pooled"], result["pooled_skill"],
                 result["pooled_coverage"], result["pooled_online_coverage"]))
    for name, n, metrics, skill, coverage, online_coverage in rows:
        cells = "  ".join(f"{metrics[m]['mae']:7.4f} {metrics[m]['rmse']:6.4f} {_r(metrics[m]['pearson_r'])}"
                          for m in METHODS)
        lines.append(f"{name[-26:]:26s} {n:3d}  {cells}  {skill['graph_model']:6.3f} {coverage:5.2f}  "
                     f"{skill['station_online']:6.3f} {online_coverage:5.2f}")
    skill = result["pooled_skill"]
    regions = result.get("regions") or []
    if regions:
        lines += ["", f"{'region (worst skill first)':26s} {'seqs':>4s} {'n':>5s}  {'model MAE':>9s}  "
                      f"{'best naive':>14s} {'MAE':>7s}  {'skill':>6s} {'cover':>5s}  {'online':>6s} {'cover':>5s} "
                      f"{'worst run. skill after ' + str(WARM_UP):>26s}  {'OOD':>5s}"]
        for region in regions:
            best = region["skill"]["best_baseline"]
            lines.append(f"{region['region'][:26]:26s} {region['sequences']:4d} {region['n']:5d}  "
                         f"{region['metrics']['graph_model']['mae']:9.4f}  {best:>14s} "
                         f"{region['metrics'][best]['mae']:7.4f}  {region['skill']['graph_model']:6.3f} "
                         f"{region['coverage']:5.2f}  {region['skill']['station_online']:6.3f} "
                         f"{region['online_coverage']:5.2f} "
                         f"{region['online_worst_running_skill_after_warm_up']:26.3f}  {region['ood_flag_share']:5.1%}")
        worst = regions[0]
        worst_online = min(regions, key=lambda r: r["skill"]["station_online"])
        lines.append(f"worst region: {worst['region']}, skill {worst['skill']['graph_model']:.3f} "
                     f"(pooled {skill['graph_model']:.3f}); online station: worst region {worst_online['region']}, "
                     f"skill {worst_online['skill']['station_online']:.3f} (pooled {skill['station_online']:.3f})")
    if result.get("frame_regions"):
        lines += ["", regions_table(result["frame_regions"])]
    chosen = [f.get("image_inputs") for f in result["folds"] if f.get("image_inputs") is not None]
    if chosen:
        lines.append(f"image embedding read by the melt model for {sum(chosen)} of {len(chosen)} held-out sequences "
                     f"(left out for the others: their outer fold's calibration folds did better without it)")
    lines.append(f"pooled skill vs the best baseline ({skill['best_baseline']}): graph model "
                 f"{skill['graph_model']:.3f}, no-graph MLP {skill['mlp_no_graph']:.3f}, online station "
                 f"{skill['station_online']:.3f} (≥ 0: never worse than the naive answer); interval coverage "
                 f"{result['pooled_coverage']:.1%} (online: {result['pooled_online_coverage']:.1%}) of nominal "
                 f"{result['nominal_coverage']:.0%}")
    return "\n".join(lines)
