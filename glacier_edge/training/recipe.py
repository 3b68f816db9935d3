"""The default training recipe: features a station knows, a residual on persistence, and held-out
folds that decide how far the model may move away from persistence and how wide its interval is.

``fit`` is what `train` does and what every outer fold of `evaluate` does, so the held-out figures
judge exactly the recipe that goes into a station bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from glacier_edge.contracts import Calibration, NodeFeatures, TrainConfig
from glacier_edge.ingest.regions import region_groups, sequence_regions
from glacier_edge.signals.features import metadata_matrix
from glacier_edge.signals.history import (
    HISTORY_COLUMNS,
    HISTORY_FEATURES,
    NAIVE,
    history_columns,
    history_neutral,
    naive,
)
from glacier_edge.signals.metrics import COVERAGE, conformal_halfwidth
from glacier_edge.signals.ood import (
    WINDOW_MAJORITY,
    EmbeddingSummary,
    calibrate_ood,
    colour_features,
    fit_summary,
    ood_terms,
)
from glacier_edge.training.dataset import SequenceExample, defined_targets
from glacier_edge.training.loop import TrainResult, output_range, predict, train_model
from glacier_edge.training.models import ScaledRegressor


def node_features(examples: Sequence[SequenceExample], config: TrainConfig, metadata: Sequence[str]) -> NodeFeatures:
    """Feature columns and their neutral values (training means), from the training examples only."""
    neutral: tuple[float, ...] = ()
    if metadata:
        matrix = np.concatenate([metadata_matrix(e.sequence, metadata) for e in examples])
        neutral = tuple(float(v) for v in matrix.mean(axis=0))
    if not config.history:
        return NodeFeatures(tuple(metadata), neutral)
    columns = [history_columns(e.views[0], e.melt, e.task) for e in examples]
    return NodeFeatures(tuple(metadata), neutral, HISTORY_FEATURES, history_neutral(columns))


@dataclass
class Fitted:
    model: ScaledRegressor
    features: NodeFeatures
    training: TrainResult
    calibration: Calibration | None
    summary: EmbeddingSummary
    """Of the training embeddings, for the out-of-distribution score."""


def summarise(examples: Sequence[SequenceExample]) -> EmbeddingSummary:
    """The OOD summary of the training frames (original views: what a station will see)."""
    return fit_summary(np.concatenate([e.views[0] for e in examples]),
                       np.concatenate([colour_features(e.sequence.frames) for e in examples]))


def grouped_folds(count: int, folds: int, seed: int) -> list[np.ndarray]:
    """Sequence indices of each held-out fold: a seeded shuffle cut into ``folds`` groups."""
    order = np.random.default_rng(seed).permutation(count)
    return [part for part in np.array_split(order, min(folds, count)) if len(part)]


def calibration_groups(examples: Sequence[SequenceExample], config: TrainConfig) -> list[np.ndarray]:
    """The calibration folds: grouped by sequence, or one region each (``calibration_groups="region"``
    and the names' GLIMS IDs give two or more regions)."""
    if config.calibration_groups == "region":
        regions = sequence_regions([Path(example.sequence.source) for example in examples])
        if regions is not None and len(set(regions)) >= 2:
            return [np.array(group) for group in region_groups(regions)]
    return grouped_folds(len(examples), config.calibration_folds, config.seed)


def ood_heldout_terms(examples: Sequence[SequenceExample], config: TrainConfig) -> list[np.ndarray]:
    """The OOD distances of each sequence from a summary of the others, over folds grouped by
    *sequence* whatever ``calibration_groups`` says: the guard is calibrated to flag another kind of
    imagery, not another region (held-out regions set the term scales so wide that radar-like frames
    went unflagged: measured 100 % → 6.5 %). Needs no training, only embedding summaries."""
    terms = []
    for held in grouped_folds(len(examples), config.calibration_folds, config.seed):
        summary = summarise([e for i, e in enumerate(examples) if i not in set(held.tolist())])
        terms += [ood_terms(summary, examples[i].views[0], colour_features(examples[i].sequence.frames))
                  for i in held]
    return terms


def shrinkage(truth: np.ndarray, model: np.ndarray, anchor: np.ndarray) -> tuple[float, np.ndarray]:
    """The gain in [0, 1] toward the model that minimises held-out squared error of
    ``anchor + gain · (model − anchor)``, and those shrunk predictions."""
    correction = model - anchor
    denominator = float(np.dot(correction, correction))
    gain = float(np.clip(np.dot(correction, truth - anchor) / denominator, 0.0, 1.0)) if denominator > 0 else 0.0
    return gain, anchor + gain * correction


GLACIER_QUANTILE = 0.1
"""``gain_rule="glacier_p10"``: the quantile of the held-out glaciers' skills that the gain maximises
(their 10th percentile ≥ 0 at the chosen gain, so about a tenth of them at most lose to the anchor)."""


def worst_group_gain(truth: list[np.ndarray], model: list[np.ndarray], anchor: list[np.ndarray],
                     steps: int = 101, quantile: float = 0.0) -> float:
    """The gain in [0, 1] (on a grid of ``steps``) that maximises the smallest skill over the groups
    (``quantile`` 0; else that quantile of the groups' skills, linear interpolation),
    skill = 1 − MAE(anchor + gain · (model − anchor)) / MAE(anchor) per group; among gains within
    1e-9 of that, the one with the smallest pooled MAE. At gain 0 every group's skill is 0, so the
    chosen gain is never worse than the anchor on any calibration group (quantile 0), or on the
    share ``1 − quantile`` of them."""
    gains = np.linspace(0.0, 1.0, steps)
    skills, pooled = [], np.zeros(steps)
    for y, p, a in zip(truth, model, anchor):
        if not len(y):
            continue
        errors = np.abs(y[None, :] - (a[None, :] + gains[:, None] * (p - a)[None, :])).sum(axis=1)
        base = float(np.abs(y - a).sum())
        pooled += errors
        if base > 0:
            skills.append(1 - errors / base)
    if not skills:
        return 0.0
    score = np.quantile(np.stack(skills, axis=1), quantile, axis=1)
    best = score.max()
    candidates = np.flatnonzero(score >= best - 1e-9)
    return float(gains[candidates[np.argmin(pooled[candidates])]])


def fit(examples: list[SequenceExample], config: TrainConfig, metadata: Sequence[str] = (), *,
        echo: Callable[[str], None] = print, progress: Callable[[int], object] | None = None,
        model_class: type[ScaledRegressor] | None = None) -> Fitted:
    """Calibrate on grouped folds (when there are ≥ 3 sequences), then train on everything."""
    calibration = None
    if len(examples) >= 3:
        calibration = calibrate(examples, config, metadata, echo, model_class)
    features = node_features(examples, config, metadata)
    images = calibration.image_inputs if calibration is not None and calibration.image_inputs is not None \
        else config.image_inputs != "off"
    result = train_model(examples, config, features, on_epoch=progress, model_class=model_class,
                         on_log=lambda epoch, loss: echo(f"epoch {epoch:4d}  train MSE {loss:.3e}"),
                         image_inputs=images)
    if calibration is not None:
        column = None
        if calibration.fallback != "train_mean":
            column = features.history_column(HISTORY_COLUMNS[calibration.fallback], examples[0].views.shape[-1])
        with torch.no_grad():
            result.model.shrink_toward(column, calibration.train_mean, calibration.gain)
    summary = summarise(examples)
    if calibration is not None and calibration.ood_term_scale is not None:
        summary = replace(summary, term_scale=np.asarray(calibration.ood_term_scale, dtype=np.float32))
    return Fitted(result.model, features, result, calibration, summary)


def calibrate(examples: list[SequenceExample], config: TrainConfig, metadata: Sequence[str],
              echo: Callable[[str], None], model_class: type[ScaledRegressor] | None = None) -> Calibration:
    """Out-of-fold predictions → the best naive answer on held-out sequences (the anchor and the
    station's fallback), whether the melt model reads the image embedding (``image_inputs="auto"``:
    a model with and one without it per fold, the one whose worst fold does better at its own gain;
    so "auto" trains each fold twice), the gain toward the model by ``config.gain_rule`` (clipped
    to [0, 1]), the conformal half-width of the shrunk predictions, and the out-of-distribution
    threshold at the chosen false-alarm rate."""
    groups = calibration_groups(examples, config)
    choices = image_choices(config, examples[0].views.shape[-1])
    truth, group_of, glacier_of = [], [], []
    raw: dict[bool, list[np.ndarray]] = {images: [] for images in choices}
    naive_predictions: dict[str, list[np.ndarray]] = {kind: [] for kind in NAIVE}
    for number, held in enumerate(groups, start=1):
        echo(f"calibration fold {number}/{len(groups)}: {len(held)} sequence(s) held out")
        train = [e for i, e in enumerate(examples) if i not in set(held.tolist())]
        features = node_features(train, config, metadata)
        models = {images: train_model(train, config, features, model_class=model_class, image_inputs=images).model
                  for images in choices}
        train_mean = float(defined_targets(train).mean())
        for index in held:
            example = examples[index]
            targets, valid = example.targets_and_valid
            truth.append(targets[valid])
            group_of.append(np.full(int(valid.sum()), number))
            glacier_of.append(np.full(int(valid.sum()), len(glacier_of)))
            for images, model in models.items():
                raw[images].append(predict(model, example.inputs(0, features), example.task)[valid])
            for kind in NAIVE:
                naive_predictions[kind].append(naive(kind, example.melt, example.task, train_mean)[valid])
    terms = ood_heldout_terms(examples, config)
    y = np.concatenate(truth).astype(np.float64)
    naive_values = {kind: np.concatenate(values) for kind, values in naive_predictions.items()}
    usable = NAIVE if config.history else ("train_mean",)
    best = min(usable, key=lambda kind: float(np.mean(np.abs(y - naive_values[kind]))))
    anchor = naive_values[best]
    groups_of_values = np.concatenate(group_of)
    shrunk = {images: _shrunk(y, np.concatenate(raw[images]).astype(np.float64), anchor, config,
                              groups_of_values, np.concatenate(glacier_of)) for images in choices}
    scores = {images: _worst_group_skill(y, shrunk[images][1], anchor, groups_of_values) for images in choices}
    images = max(choices, key=lambda c: scores[c])  # ties: the first choice, the image embedding
    gain, predicted = shrunk[images]
    if len(choices) > 1:
        echo(f"calibration: the melt model {'reads' if images else 'leaves out'} the image embedding "
             f"(worst calibration fold's skill with it {scores[True]:+.3f}, without {scores[False]:+.3f})")
    ood = calibrate_ood(terms)
    all_targets = defined_targets(examples)
    return Calibration(
        folds=len(groups), n=len(y), gain=round(gain, 6), coverage=COVERAGE,
        halfwidth=conformal_halfwidth(y - predicted), heldout_mae=float(np.mean(np.abs(y - predicted))),
        persistence_mae=float(np.mean(np.abs(y - naive_values["persistence"]))), fallback=best,
        fallback_mae=float(np.mean(np.abs(y - naive_values[best]))),
        fallback_halfwidth=conformal_halfwidth(y - naive_values[best]), train_mean=float(all_targets.mean()),
        ood_threshold=ood.threshold, ood_heldout_flag_rate=ood.heldout_flag_rate,
        ood_term_scale=tuple(float(v) for v in ood.term_scale), ood_window_majority=WINDOW_MAJORITY,
        ood_heldout_max_window_share=ood.heldout_max_window_share, melt_range=output_range(all_targets),
        image_inputs=images if examples[0].views.shape[-1] else None,
        image_skill=(scores[True], scores[False]) if len(choices) > 1 else None)


def image_choices(config: TrainConfig, embedding_dim: int) -> tuple[bool, ...]:
    """Whether the melt model reads the image embedding, as the calibration folds may choose it:
    both ways for ``image_inputs="auto"`` (with it first, so a tie keeps it), else as configured;
    an encoder without an embedding (``none``) has nothing to choose."""
    if not embedding_dim or config.image_inputs == "on":
        return (True,)
    return (True, False) if config.image_inputs == "auto" else (False,)


def _shrunk(y: np.ndarray, p: np.ndarray, anchor: np.ndarray, config: TrainConfig, group_of: np.ndarray,
            glacier_of: np.ndarray) -> tuple[float, np.ndarray]:
    """The gain toward the model by ``config.gain_rule``, and the held-out values it serves."""
    if config.gain_rule == "pooled":
        return shrinkage(y, p, anchor)
    # one skill per calibration group (worst_group) or per held-out glacier (glacier_p10)
    by_glacier = config.gain_rule == "glacier_p10"
    member = glacier_of if by_glacier else group_of
    parts = [member == key for key in np.unique(member)]
    gain = worst_group_gain([y[m] for m in parts], [p[m] for m in parts], [anchor[m] for m in parts],
                            quantile=GLACIER_QUANTILE if by_glacier else 0.0)
    return gain, anchor + gain * (p - anchor)


def _worst_group_skill(y: np.ndarray, served: np.ndarray, anchor: np.ndarray, group_of: np.ndarray) -> float:
    """The smallest calibration group's skill 1 − MAE(served) / MAE(anchor): the criterion the image
    embedding is kept by, because a station sits in one place and the worst place is what transfers."""
    skills = [1 - float(np.abs(y[m] - served[m]).sum()) / base for m in (group_of == g for g in np.unique(group_of))
              if (base := float(np.abs(y[m] - anchor[m]).sum())) > 0]
    return min(skills, default=0.0)
