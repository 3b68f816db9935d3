"""The next speed, learnt across glaciers: the second thing glacier-edge forecasts, with the
machinery of the melt forecast (numpy only, so the station runs it).

Why this form: a station's speed series is short (tens of pairs a season) and its unit differs
from the next station's (m/day from a satellite, px/day from a camera), so the model is a
correction of the best naive answer, **persistence**, in log space, from four unit-free inputs
(:data:`FEATURES`): ln(ŝ + f) = ln(s_last + f) + gain · w·x, f the series' floor (the speed of
0.2 px of displacement over the pair, so a glacier standing still does not take logs of noise).

- **anchor**: zero inputs, zero gain or a refusal give persistence exactly;
- **held-out skill**: the gain is chosen on glaciers the weights were not fitted on
  (leave-one-glacier-out), as the largest *worst* glacier's skill — it is 0 unless the correction
  helps every held-out glacier, so the model is never tuned to the glacier that fills the corpus;
- **interval**: split-conformal 90 % half-width of the held-out log residuals;
- **out of range**: inputs beyond the training's 99th percentile of the largest robust z-score
  are refused and served as persistence (the speed forecast's out-of-distribution fallback);
- **scored** like `evaluate` scores melt: skill = 1 − MAE / MAE(persistence) per held-out glacier,
  beside the naive trend and running mean (``benchmarks/speed_model.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from glacier_edge.contracts import SpeedGroupScore, SpeedModelRecord
from glacier_edge.errors import BadInputError
from glacier_edge.signals.metrics import conformal_halfwidth

FEATURES: tuple[str, ...] = ("last_change", "previous_change", "to_mean", "to_recent_median")
"""Per forecast, in log speed (unit-free): the last change and the one before, each extrapolated
over the gap to the forecast pair; the running mean and the median of the last three, relative to
the last speed."""
MIN_HISTORY = 3
"""Speeds measured before a forecast the model needs; with fewer it answers persistence."""
RIDGE = 1.0
"""L2 penalty of the weights (features are O(0.1)): keeps a short corpus from fitting its noise."""
GAIN_STEPS = 21
"""The gain is chosen on 0, 0.05, …, 1."""
REFUSE_QUANTILE = 0.99
"""Share of the training inputs inside the range the model answers."""
MIN_EXAMPLES = 10
BLOCKS = 4
"""Tiles per side of a field when series are cut from it (:mod:`glacier_edge.motion.speed_corpus`):
16 places per glacier."""


@dataclass(frozen=True)
class SpeedSeries:
    """One place's speed series: a glacier's median, a region's, or a block of its field."""

    group: str
    """The glacier (one motion folder): held-out evaluation leaves one group out at a time."""
    name: str
    times: np.ndarray
    """float (N,): the pairs' centres, days."""
    speeds: np.ndarray
    """float (N,): NaN where the pair gave no speed."""
    floor: float
    """Speed of 0.2 px over the series' typical pair, in its unit (see module docstring)."""


@dataclass(frozen=True)
class SpeedAnswer:
    value: float
    low: float
    high: float
    """The model's 90 % interval (persistence's, from the same half-width, when it refused)."""
    refused: str
    """"" when the model answered; "history" (fewer than :data:`MIN_HISTORY` speeds) or "out of range"."""


def _log(value: np.ndarray | float, floor: float | np.ndarray) -> np.ndarray:
    return np.log(np.maximum(value, 0.0) + np.maximum(floor, 1e-9))  # a zero floor must not log a zero


def naive_trend(previous: Sequence[tuple[float, float]], target_time: float) -> float:
    """The last speed extrapolated along its last change (per day) to ``target_time``, never < 0."""
    last_time, last_speed = previous[-1]
    if len(previous) < 2 or not last_time > previous[-2][0]:
        return float(last_speed)
    slope = (last_speed - previous[-2][1]) / (last_time - previous[-2][0])
    return max(0.0, float(last_speed + slope * (target_time - last_time)))


def speed_features(recent: Sequence[tuple[float, float]], mean: float, target_time: float,
                   floor: float) -> np.ndarray | None:
    """:data:`FEATURES` from the last three measured (centre day, speed), oldest first, and the
    mean of every speed measured before; None with fewer than :data:`MIN_HISTORY`."""
    if len(recent) < MIN_HISTORY:
        return None
    times = np.array([t for t, _ in recent[-MIN_HISTORY:]], np.float64)
    speeds = np.array([s for _, s in recent[-MIN_HISTORY:]], np.float64)
    logs = _log(speeds, floor)
    ahead = target_time - times[-1]

    def change(first: int, second: int) -> float:
        gap = times[second] - times[first]
        return float((logs[second] - logs[first]) * ahead / gap) if gap > 0 else 0.0

    return np.array([change(1, 2), change(0, 1), float(_log(mean, floor) - logs[-1]),
                     float(_log(np.median(speeds), floor) - logs[-1])])


def read_speed_model(path: Path) -> SpeedModelRecord:
    """A speed model file, checked: one line (:class:`BadInputError`) when it is not one this
    glacier-edge can serve (other inputs, arrays of the wrong length, a negative half-width)."""
    model = SpeedModelRecord.read(path)
    sizes = {len(model.weights), len(model.center), len(model.scale)}
    if model.features != FEATURES or sizes != {len(FEATURES)}:
        raise BadInputError(f"{path}: a speed model on inputs {', '.join(model.features)}; this glacier-edge "
                            f"computes {', '.join(FEATURES)}: train it again with `glacier-edge speed-model`")
    if not (model.halfwidth >= 0 and min(model.scale) > 0 and 0 <= model.gain <= 1):
        raise BadInputError(f"{path}: a speed model needs a half-width ≥ 0, scales > 0 and a gain in [0, 1]")
    return model


def model_answer(model: SpeedModelRecord, recent: Sequence[tuple[float, float]], mean: float,
                 target_time: float, floor: float) -> SpeedAnswer:
    """The model's next speed and interval; persistence where it has too little history or its
    inputs are out of the range it was fitted on."""
    last = float(recent[-1][1])
    features = speed_features(recent, mean, target_time, floor)
    refused = "history" if features is None else ""
    log_value = float(_log(last, floor))
    if features is not None:
        if float(_robust_z(features, model.center, model.scale)) > model.refuse_above:
            refused = "out of range"
        else:
            log_value += model.gain * float(features @ np.array(model.weights))
    offset = max(floor, 1e-9)
    value = max(0.0, math.exp(log_value) - offset)
    return SpeedAnswer(value, max(0.0, math.exp(log_value - model.halfwidth) - offset),
                       math.exp(log_value + model.halfwidth) - offset, refused)


@dataclass(frozen=True)
class SpeedExamples:
    """Every forecast a corpus of series allows (aligned arrays), each with its naive answers."""

    features: np.ndarray
    """float (N, 4)."""
    last: np.ndarray
    truth: np.ndarray
    floor: np.ndarray
    trend: np.ndarray
    mean: np.ndarray
    group: np.ndarray
    """str (N,)."""

    def __len__(self) -> int:
        return len(self.truth)

    def take(self, keep: np.ndarray) -> SpeedExamples:
        return SpeedExamples(*(getattr(self, name)[keep] for name in
                               ("features", "last", "truth", "floor", "trend", "mean", "group")))

    @property
    def target(self) -> np.ndarray:
        """The log step from the last speed to the measured one: what the weights fit."""
        return _log(self.truth, self.floor) - _log(self.last, self.floor)


def speed_examples(series: Sequence[SpeedSeries]) -> SpeedExamples:
    """The forecasts of every series, made causally: each from the speeds measured before it."""
    rows: list[tuple] = []
    for one in series:
        known: list[int] = []
        for k, speed in enumerate(one.speeds):
            if not np.isfinite(speed):
                continue
            if len(known) >= MIN_HISTORY:
                recent = [(float(one.times[i]), float(one.speeds[i])) for i in known[-MIN_HISTORY:]]
                mean = float(np.mean(one.speeds[known]))
                features = speed_features(recent, mean, float(one.times[k]), one.floor)
                rows.append((features, recent[-1][1], float(speed), one.floor,
                             naive_trend(recent, float(one.times[k])), mean, one.group))
            known.append(k)
    if not rows:
        return SpeedExamples(np.zeros((0, len(FEATURES))), *(np.zeros(0) for _ in range(5)), np.zeros(0, str))
    columns = list(zip(*rows))
    return SpeedExamples(np.array(columns[0]), *(np.array(c, np.float64) for c in columns[1:6]),
                         np.array(columns[6]))


def _weights(examples: SpeedExamples, ridge: float = RIDGE) -> np.ndarray:
    x = examples.features
    return np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ examples.target)


def _served(examples: SpeedExamples, correction: np.ndarray) -> np.ndarray:
    return np.maximum(np.exp(_log(examples.last, examples.floor) + correction) - examples.floor, 0.0)


def skill(answers: np.ndarray, examples: SpeedExamples) -> float:
    """1 − MAE(answers) / MAE(persistence) (NaN when persistence made no error)."""
    naive = float(np.abs(examples.last - examples.truth).sum())
    return 1.0 - float(np.abs(answers - examples.truth).sum()) / naive if naive > 0 else float("nan")


def _groups(examples: SpeedExamples) -> list[str]:
    return sorted(set(examples.group.tolist()))


def _robust_z(features: np.ndarray, center: Sequence[float] | np.ndarray,
              scale: Sequence[float] | np.ndarray) -> np.ndarray:
    """The largest |feature − center| / scale of each forecast: what the range check compares."""
    return (np.abs(features - np.asarray(center)) / np.asarray(scale)).max(axis=-1)


def _fit(examples: SpeedExamples, series: int, ridge: float) -> SpeedModelRecord:
    """:func:`fit_speed_model` on forecasts already drawn from ``series`` series."""
    groups = _groups(examples)
    if len(groups) < 2:
        raise BadInputError(f"a speed model is calibrated on glaciers it was not fitted on: give the motion of at "
                            f"least two glaciers with {MIN_HISTORY + 1} or more speeds each (got {len(groups)})")
    if len(examples) < MIN_EXAMPLES:
        raise BadInputError(f"only {len(examples)} speed forecasts in the motion given; at least {MIN_EXAMPLES} "
                            "are needed to fit a speed model")
    held_out = np.zeros(len(examples))
    by_group = []
    for group in groups:
        inside = examples.group == group
        held_out[inside] = examples.features[inside] @ _weights(examples.take(~inside), ridge)
        by_group.append((examples.take(inside), inside))
    best_gain, best_worst = 0.0, 0.0
    for gain in np.linspace(0.0, 1.0, GAIN_STEPS)[1:]:
        worst = min(skill(_served(one, gain * held_out[inside]), one) for one, inside in by_group)
        if worst > best_worst + 1e-9:
            best_gain, best_worst = float(gain), worst
    residual = examples.target - best_gain * held_out
    features = examples.features
    center = np.median(features, axis=0)
    spread = 1.4826 * np.median(np.abs(features - center), axis=0)
    spread = np.where(spread > 1e-9, spread, np.maximum(features.std(axis=0), 1e-3))
    z = _robust_z(features, center, spread)
    return SpeedModelRecord(FEATURES, tuple(float(w) for w in _weights(examples, ridge)), best_gain,
                            conformal_halfwidth(residual), tuple(center.tolist()), tuple(spread.tolist()),
                            float(np.quantile(z, REFUSE_QUANTILE)), tuple(groups), series, len(examples))


def fit_speed_model(series: Sequence[SpeedSeries], ridge: float = RIDGE) -> SpeedModelRecord:
    """Weights on every series; gain, interval and range from leave-one-glacier-out answers."""
    return _fit(speed_examples(series), len(series), ridge)


def score_group(model: SpeedModelRecord, examples: SpeedExamples, group: str) -> SpeedGroupScore:
    """How ``model`` serves the forecasts of one glacier (refusals served as persistence)."""
    log_last = _log(examples.last, examples.floor)
    refused = _robust_z(examples.features, model.center, model.scale) > model.refuse_above
    correction = np.where(refused, 0.0, model.gain * (examples.features @ np.array(model.weights)))
    log_truth = _log(examples.truth, examples.floor)
    inside = np.abs(log_truth - log_last - correction) <= model.halfwidth
    return SpeedGroupScore(group, len(examples), skill(_served(examples, correction), examples),
                           float(inside.mean()), float(refused.mean()), model.gain,
                           skill(examples.trend, examples), skill(examples.mean, examples))


def _held_out_scores(examples: SpeedExamples, series: Sequence[SpeedSeries],
                     ridge: float) -> tuple[SpeedGroupScore, ...]:
    groups = _groups(examples)
    if len(groups) < 3:
        return ()
    scores = []
    for group in groups:
        inside = examples.group == group
        model = _fit(examples.take(~inside), sum(one.group != group for one in series), ridge)
        scores.append(score_group(model, examples.take(inside), group))
    return tuple(scores)


def evaluate_speed_model(series: Sequence[SpeedSeries], ridge: float = RIDGE) -> tuple[SpeedGroupScore, ...]:
    """Leave one glacier out: each scored by a model fitted (and calibrated) on the others. Needs
    three glaciers or more (the model of the others is itself calibrated held out); () otherwise."""
    return _held_out_scores(speed_examples(series), series, ridge)


def train_speed_model(series: Sequence[SpeedSeries], ridge: float = RIDGE) -> SpeedModelRecord:
    """:func:`fit_speed_model` on everything, with each glacier's held-out score attached (the
    forecasts are drawn from the series once, for the model and every fold)."""
    examples = speed_examples(series)
    return replace(_fit(examples, len(series), ridge), held_out=_held_out_scores(examples, series, ridge))
