"""The per-region recipe (`train --regions`): examples, training, held-out calibration and the saved
model — the frame recipe of :mod:`.recipe` applied to region nodes.

A region's node inputs are its embedding (the encoder's feature map over the region: no extra
encoder pass) and its own history (last melt, running mean, embedding change); its target is its
own melt (:func:`glacier_edge.signals.frame_regions.region_melt`). Training uses the original
frames only: the augmented views flip and rotate the frame, which would move a region's pixels
into another region's cell. Calibration is held out by sequence (or region of the world, as the
frame's), and sets the anchor (the best naive answer per region node, pooled), the gain toward the
model and the split-conformal interval, pooled and per region of the grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from glacier_edge.contracts import (
    REGIONS_MODEL_FILE,
    EncoderRecord,
    NodeFeatures,
    RegionalCalibration,
    RegionalRecord,
    TrainConfig,
)
from glacier_edge.errors import ModelBundleError
from glacier_edge.fileio import write_file_atomic
from glacier_edge.ingest.frames import FrameSequence
from glacier_edge.signals.features import region_node_inputs, region_targets
from glacier_edge.signals.frame_regions import RegionLayout, grid_layout, measured_region_melt, region_cells
from glacier_edge.signals.graph import TASK_GRAPHS, dense_adjacency
from glacier_edge.signals.history import (
    HISTORY_COLUMNS,
    HISTORY_FEATURES,
    NAIVE,
    PERSISTENCE_FEATURE,
    history_columns,
    history_neutral,
    naive,
)
from glacier_edge.signals.mask import with_border
from glacier_edge.signals.metrics import COVERAGE, conformal_halfwidth
from glacier_edge.training.encoder import FrameEncoder, encode_cells
from glacier_edge.training.loop import output_range, seed_everything
from glacier_edge.training.models.regional import REGION_HIDDEN, RegionalSAGE
from glacier_edge.training.recipe import calibration_groups, shrinkage
from glacier_edge.training.store import sequence_key

Echo = Callable[[str], None]
MIN_REGION_RESIDUALS = 19
"""Held-out residuals a region needs for its own 90 % half-width (⌈(n+1)·0.9⌉ ≤ n); fewer: pooled."""


@dataclass
class RegionalExample:
    """One sequence as region nodes."""

    sequence: FrameSequence
    embeddings: np.ndarray
    """float32 (T, R, D): the feature map pooled over each region."""
    melt: np.ndarray
    """float64 (T, R): each region's melt (row 0 the placeholder 0; NaN where all pixels are masked)."""
    task: str
    layout: RegionLayout

    def inputs(self, features: NodeFeatures) -> np.ndarray:
        return region_node_inputs(self.embeddings, self.melt, features, self.task)

    @property
    def targets_and_valid(self) -> tuple[np.ndarray, np.ndarray]:
        return region_targets(self.melt, self.task)


def sequence_cells(sequence: FrameSequence, digest: str, encoder: FrameEncoder, weights: EncoderRecord,
                   seed: int, cache_dir: Path | None) -> np.ndarray:
    """float32 (T, C, D) feature-map cells of the original frames, cached beside the embeddings
    (float16 on disk: 64 KB per frame instead of 128)."""
    cache_file = (cache_dir / "embeddings" / f"{sequence_key(digest, weights, 0, seed)}-cells.npy"
                  if cache_dir else None)
    if cache_file is not None and cache_file.is_file():
        try:
            cached = np.load(cache_file)
            if cached.shape[0] == sequence.num_frames:
                return cached.astype(np.float32)
        except (OSError, ValueError):
            pass
    cells = encode_cells(encoder, sequence.frames)
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)

            def save(path: Path) -> None:
                with open(path, "wb") as handle:
                    np.save(handle, cells.astype(np.float16))

            write_file_atomic(cache_file, save)
        except Exception:  # noqa: BLE001 - a cache that cannot be written is only slower
            pass
    return cells


def build_regional_example(sequence: FrameSequence, cells: np.ndarray, config: TrainConfig,
                           mask: np.ndarray | None, layout: RegionLayout | None = None) -> RegionalExample:
    layout = layout or grid_layout()
    melt = measured_region_melt(sequence.frames, layout.labels, with_border(mask, sequence.border),
                                config.normalization)
    return RegionalExample(sequence, region_cells(cells, layout), melt, config.task, layout)


def regional_features(examples: Sequence[RegionalExample]) -> NodeFeatures:
    """The history columns and their neutral values over every training region node."""
    columns = [history_columns(e.embeddings[:, r], e.melt[:, r], e.task)
               for e in examples for r in range(e.layout.count)]
    return NodeFeatures((), (), HISTORY_FEATURES, history_neutral(columns))


def defined_region_targets(examples: Sequence[RegionalExample]) -> np.ndarray:
    return np.concatenate([t[v] for t, v in (e.targets_and_valid for e in examples)])


def _tensors(example: RegionalExample, features: NodeFeatures) -> tuple[torch.Tensor, ...]:
    targets, valid = example.targets_and_valid
    temporal = dense_adjacency(example.sequence.num_frames, TASK_GRAPHS[example.task])
    return (torch.from_numpy(example.inputs(features)), torch.from_numpy(temporal),
            torch.from_numpy(example.layout.adjacency()), torch.from_numpy(targets), torch.from_numpy(valid))


def train_regional(examples: list[RegionalExample], config: TrainConfig, features: NodeFeatures,
                   on_log: Callable[[int, float], None] | None = None) -> tuple[RegionalSAGE, float]:
    """A fresh per-region model, Adam on the MSE over defined region targets; mini-batches of
    ``config.batch_graphs`` sequences (their losses summed over nodes, then averaged). Returns the
    model (eval mode) and the last epoch's mean training MSE."""
    seed_everything(config.seed)
    data = [_tensors(e, features) for e in examples]
    embedding_dim = examples[0].embeddings.shape[-1]
    base = (features.history_column(PERSISTENCE_FEATURE, embedding_dim)
            if config.residual and PERSISTENCE_FEATURE in features.history else None)
    model = RegionalSAGE(data[0][0].shape[-1], base, config.uses_spatial_edges)
    all_inputs = torch.cat([x.reshape(-1, x.shape[-1]) for x, *_ in data])
    targets = torch.cat([y[v] for *_, y, v in data])
    modelled = targets - torch.cat([x[..., base][v] for x, _, _, _, v in data]) if base is not None else targets
    model.fit_scaling(all_inputs, modelled, embedding_dim=embedding_dim)
    model.set_output_range(*output_range(targets.numpy()))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    model.train()
    last = math.nan
    for epoch in range(1, config.epochs + 1):
        losses = []
        order = rng.permutation(len(data))
        for start in range(0, len(order), config.batch_graphs):
            optimiser.zero_grad()
            chosen = (data[i] for i in order[start : start + config.batch_graphs])
            errors = [(model(x, t, s) - y)[v] ** 2 for x, t, s, y, v in chosen]
            loss = torch.cat(errors).mean()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        last = float(np.mean(losses))
        if on_log and (epoch % 50 == 0 or epoch == config.epochs):
            on_log(epoch, last)
    return model.eval(), last


def predict_regional(model: RegionalSAGE, example: RegionalExample, features: NodeFeatures) -> np.ndarray:
    """float64 (T, R) outputs of the model for one example (its task's temporal graph)."""
    x, temporal, spatial, _, _ = _tensors(example, features)
    with torch.inference_mode():
        return model(x, temporal, spatial).numpy().astype(np.float64)


def region_naive(kind: str, example: RegionalExample, train_mean: float) -> np.ndarray:
    """(T, R): a naive answer per region node, from the region's own measured melt."""
    return naive(kind, example.melt, example.task, train_mean)


@dataclass
class RegionalFitted:
    model: RegionalSAGE
    features: NodeFeatures
    calibration: RegionalCalibration | None
    final_train_mse: float
    melt_range: tuple[float, float]

    def record(self, layout: RegionLayout) -> RegionalRecord:
        return RegionalRecord(layout.source, layout.names, int(self.model.feature_mean.numel()), REGION_HIDDEN,
                              self.model.spatial_edges, self.features, self.model.base_column,
                              self.model.anchor_column, self.calibration, round(self.final_train_mse, 9),
                              self.melt_range)


def calibrate_regional(examples: list[RegionalExample], config: TrainConfig, echo: Echo) -> RegionalCalibration:
    """Out-of-fold region predictions → anchor, gain and intervals (as the frame recipe's)."""
    groups = calibration_groups(examples, config)  # type: ignore[arg-type]
    truth, raw, regions = [], [], []
    naive_values: dict[str, list[np.ndarray]] = {kind: [] for kind in NAIVE}
    for number, held in enumerate(groups, start=1):
        echo(f"regions: calibration fold {number}/{len(groups)}: {len(held)} sequence(s) held out")
        train = [e for i, e in enumerate(examples) if i not in set(held.tolist())]
        features = regional_features(train)
        model, _ = train_regional(train, config, features)
        train_mean = float(defined_region_targets(train).mean())
        for index in held:
            example = examples[index]
            targets, valid = example.targets_and_valid
            truth.append(targets[valid])
            raw.append(predict_regional(model, example, features)[valid])
            regions.append(np.nonzero(valid)[1])
            for kind in NAIVE:
                naive_values[kind].append(region_naive(kind, example, train_mean)[valid])
    y, p = (np.concatenate(part).astype(np.float64) for part in (truth, raw))
    region_of = np.concatenate(regions)
    values = {kind: np.concatenate(parts) for kind, parts in naive_values.items()}
    best = min(NAIVE, key=lambda kind: float(np.mean(np.abs(y - values[kind]))))
    b = values[best]
    gain, served = shrinkage(y, p, b)
    pooled = conformal_halfwidth(y - served)
    count = examples[0].layout.count
    alert_level = 1.0 - (1.0 - COVERAGE) / count
    per_region = []
    for region in range(count):
        residuals = (y - served)[region_of == region]
        own = conformal_halfwidth(residuals) if len(residuals) >= MIN_REGION_RESIDUALS else math.inf
        per_region.append(round(own if math.isfinite(own) else pooled, 9))
    return RegionalCalibration(
        folds=len(groups), n=len(y), gain=round(gain, 6), coverage=COVERAGE, halfwidth=pooled,
        region_halfwidth=tuple(per_region), heldout_mae=float(np.mean(np.abs(y - served))),
        persistence_mae=float(np.mean(np.abs(y - values["persistence"]))),
        running_mean_mae=float(np.mean(np.abs(y - values["running_mean"]))), fallback=best,  # type: ignore[arg-type]
        fallback_mae=float(np.mean(np.abs(y - b))), fallback_halfwidth=conformal_halfwidth(y - b),
        train_mean=float(defined_region_targets(examples).mean()),
        alert_halfwidth=conformal_halfwidth(y - served, alert_level), alert_level=round(alert_level, 6))


def fit_regional(examples: list[RegionalExample], config: TrainConfig, echo: Echo = print) -> RegionalFitted:
    """Calibrate on held-out folds (≥ 3 sequences), train on everything, shrink toward the anchor."""
    calibration = calibrate_regional(examples, config, echo) if len(examples) >= 3 else None
    features = regional_features(examples)
    model, loss = train_regional(examples, config, features,
                                 on_log=lambda epoch, mse: echo(f"regions: epoch {epoch:4d}  train MSE {mse:.3e}"))
    if calibration is not None:
        column = None
        if calibration.fallback != "train_mean":
            column = features.history_column(HISTORY_COLUMNS[calibration.fallback], examples[0].embeddings.shape[-1])
        with torch.no_grad():
            model.shrink_toward(column, calibration.train_mean, calibration.gain)
    low, high = output_range(defined_region_targets(examples))
    return RegionalFitted(model, features, calibration, loss, (low, high))


def save_regional(directory: Path, model: RegionalSAGE) -> None:
    torch.save(model.state_dict(), directory / REGIONS_MODEL_FILE)


def load_regional(run_dir: Path, record: RegionalRecord) -> RegionalSAGE:
    """Rebuild the per-region model a run recorded."""
    model = RegionalSAGE(record.in_dim, record.base_column, record.spatial_edges, record.hidden)
    try:
        model.load_state_dict(torch.load(Path(run_dir) / REGIONS_MODEL_FILE, map_location="cpu", weights_only=True))
    except Exception as exc:
        raise ModelBundleError(f"{run_dir}/{REGIONS_MODEL_FILE}: cannot load ({exc})") from exc
    model.anchor_column = record.anchor_column
    return model.eval()
