"""`glacier-edge evaluate`: leave-one-sequence-out evaluation against baselines.

Frames of one sequence are never on both sides of a split. Each fold trains the GraphSAGE model
and a no-graph MLP on the same embeddings and compares them, on the held-out sequence, with two
baselines that need no learning: persistence (the last measured melt) and the training mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glacier_edge.contracts import TrainConfig
from glacier_edge.errors import BadInputError
from glacier_edge.fileio import atomic_directory, write_json_atomic
from glacier_edge.frames import IMAGE_SUFFIXES
from glacier_edge.mask import mask_from_record, mask_record
from glacier_edge.melt import align_to_frames
from glacier_edge.metrics import melt_metrics
from glacier_edge.plot import MeltPanel, plot_melt
from glacier_edge.schema import to_json
from glacier_edge.training.dataset import SequenceExample, build_example
from glacier_edge.training.encoder import build_encoder
from glacier_edge.training.loop import predict, train_model
from glacier_edge.training.models import FrameMLP
from glacier_edge.training.pipeline import read_sequences

METHODS = ("graph_model", "mlp_no_graph", "persistence", "train_mean")
Echo = Callable[[str], None]


def expand_sequences(paths: Sequence[Path]) -> list[Path]:
    """A single folder holding sequences (GIFs or sub-folders) instead of frames is expanded."""
    if len(paths) == 1 and paths[0].is_dir():
        entries = sorted(p for p in paths[0].iterdir() if not p.name.startswith("."))
        has_frames = any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES - {".gif"} for p in entries)
        children = [p for p in entries if p.is_dir() or p.suffix.lower() == ".gif"]
        if children and not has_frames:
            return children
    return list(paths)


def persistence(melt: np.ndarray, task: str, fallback: float) -> np.ndarray:
    """Predict each target with the last melt measured before it (``fallback`` when none is)."""
    predictions = np.full(len(melt), fallback, dtype=np.float64)
    if task == "nowcast":
        predictions[2:] = melt[1:-1]   # melt_t ≈ melt_{t-1}; melt_1 has no measured predecessor
    else:
        predictions[1:-1] = melt[1:-1]  # melt_{t+1} ≈ melt_t; at t = 0 nothing is measured yet
    return predictions


def _fold(held: SequenceExample, train: list[SequenceExample], config: TrainConfig) -> dict[str, np.ndarray]:
    targets_train = np.concatenate([t[v] for t, v in (e.targets_and_valid for e in train)])
    train_mean = float(targets_train.mean())
    graph_model = train_model(train, config).model
    mlp = train_model(train, config, model_class=FrameMLP).model
    return {
        "graph_model": predict(graph_model, held.inputs(0), held.task),
        "mlp_no_graph": predict(mlp, held.inputs(0), held.task),
        "persistence": persistence(held.melt, held.task, train_mean),
        "train_mean": np.full(len(held.melt), train_mean),
    }


def run_evaluation(paths: Sequence[Path], *, config: TrainConfig, cache_dir: Path | None, out_dir: Path | None,
                   echo: Echo) -> dict[str, Any]:
    """Leave-one-sequence-out over ``paths``; returns per-fold and pooled metrics per method."""
    paths = expand_sequences(list(paths))
    if len(paths) < 2:
        raise BadInputError("evaluate needs at least 2 sequences (one is held out while the others train)")
    sequences = read_sequences(paths, config.max_pixels)
    mask_info = mask_record(config.mask_specs)
    encoder, weights_info = build_encoder(config.weights)
    echo(f"encoder: {weights_info.label()}")
    examples = [build_example(seq, encoder, weights_info, config, augmentations=config.augmentations,
                              cache_dir=cache_dir, mask=mask_from_record(mask_info))
                for seq in sequences]
    folds, pooled_pred, pooled_true, panels = [], {m: [] for m in METHODS}, [], []
    for index, held in enumerate(examples):
        name = Path(held.sequence.source).name
        echo(f"fold {index + 1}/{len(examples)}: holding out {name}")
        predictions = _fold(held, examples[:index] + examples[index + 1:], config)
        targets, valid = held.targets_and_valid
        folds.append({"held_out": held.sequence.source, "frames": held.sequence.num_frames, "n": int(valid.sum()),
                      "metrics": {m: melt_metrics(p[valid], targets[valid]) for m, p in predictions.items()}})
        for method, values in predictions.items():
            pooled_pred[method].append(values[valid])
        pooled_true.append(targets[valid])
        panels.append(MeltPanel(f"held out: {name} ({config.task})", held.melt,
                                align_to_frames(predictions["graph_model"], held.task), held.sequence.dates))
    truth = np.concatenate(pooled_true)
    result = {
        "task": config.task, "arch": config.arch, "encoder": weights_info.label(),
        "pretrained": weights_info.pretrained,
        "split": "leave-one-sequence-out", "train_config": to_json(config),
        "melt_mask": mask_info and {k: v for k, v in to_json(mask_info).items() if k != "bitmap"},
        "folds": folds,
        "pooled": {m: melt_metrics(np.concatenate(v), truth) for m, v in pooled_pred.items()},
    }
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
    header = f"{'held-out sequence':30s} {'n':>3s}  " + "  ".join(f"{m:>22s}" for m in METHODS)
    sub = f"{'':30s} {'':>3s}  " + "  ".join(f"{'MAE':>7s} {'RMSE':>7s} {'r':>5s}" for _ in METHODS)
    lines = [f"task: {result['task']}; graph model: {result['arch']}; split: {result['split']}; "
             f"encoder: {result['encoder']}", header, sub,
             "-" * len(header)]
    rows = [(Path(f["held_out"]).name, f["n"], f["metrics"]) for f in result["folds"]]
    rows.append(("POOLED", sum(f["n"] for f in result["folds"]), result["pooled"]))
    for name, n, metrics in rows:
        cells = "  ".join(f"{metrics[m]['mae']:7.4f} {metrics[m]['rmse']:7.4f} {_r(metrics[m]['pearson_r'])}"
                          for m in METHODS)
        lines.append(f"{name[-30:]:30s} {n:3d}  {cells}")
    best = min(METHODS, key=lambda m: result["pooled"][m]["mae"])
    lines.append(f"lowest pooled MAE: {best}")
    return "\n".join(lines)
