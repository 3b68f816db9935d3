"""The next speed, forecast with the machinery that forecasts the melt at a station: naive answers
combined by the online trust of :mod:`glacier_edge.signals.online` (AdaHedge weights with a
stated regret bound, an adaptive conformal 90 % interval with a stated coverage guarantee), and an
"unexpected acceleration" when the measured speed leaves that interval upward.

The experts, each from the speeds measured before the pair it forecasts: in the "model" slot of the
online trust the learnt speed model when one is given (``--speed-model``,
:mod:`glacier_edge.motion.speed_model`: persistence where it refuses), else the **trend** (the last
speed extrapolated along the last change, per day, to the new pair's centre); **persistence** (the
last speed) and the **running mean**. Skill is
1 − MAE(forecast) / MAE(persistence), as for the melt. Measured in ``benchmarks/motion.py`` on
Perito Moreno, Columbia and the camera sample's serac.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glacier_edge.contracts import SpeedModelRecord
from glacier_edge.motion.speed_model import MIN_HISTORY, model_answer, naive_trend
from glacier_edge.signals.online import OnlineTrust

MIN_EXCESS_PX = 0.2
"""An unexpected acceleration must exceed its interval by at least this displacement (px over the
pair): four times the measured matching precision (0.05 px), so a glacier standing still (the
generated nadir sample: 0.0002 px/day) raises nothing on noise."""
PRIOR_SHARE = 0.25
"""Before 9 scored forecasts the interval is filled with this share of the first speed (the
station knows nothing else yet); the adaptive conformal level then takes over."""

SPEED_PRIOR: tuple[float, ...] = (0.02, 0.96, 0.02)
"""π a new series' speed trust starts from (model slot, persistence, running mean): "same speed as
the last pair", the best naive answer on every glacier at hand, until the series' own scored
forecasts show the trend (or the speed model) earns more — the melt station's rule
(:data:`glacier_edge.signals.online.STATION_PRIOR`) for speed. Measured in
``benchmarks/speed_model.py`` over 37 series of three glaciers (each glacier's median, its named
regions and 4 × 4 blocks of its field): equal weights lose to persistence on Perito Moreno (−0.10
pooled over its series) while gaining on Columbia (+0.12) and the generated camera (+0.15); this
prior keeps every glacier and every named series ≥ 0 (+0.004, +0.023, +0.049) at the price of the
accelerating series (Columbia's median +0.29 → +0.08, the serac +0.38 → +0.12). Chosen on all three
glaciers (chosen on two and scored on the third it is this prior's neighbour for two of them, and
equal weights for Perito Moreno, which then lose)."""


@dataclass(frozen=True)
class SpeedForecast:
    """Per pair (aligned with the series): the forecast made before its speed was known."""

    value: np.ndarray
    """float (N,): NaN where nothing could be forecast yet (the first speed) or no speed was measured."""
    halfwidth: np.ndarray
    inside: np.ndarray
    """bool (N,): the measured speed fell inside the interval (False where not scored)."""
    unexpected: np.ndarray
    """bool (N,): the measured speed was above the interval: an unexpected acceleration."""
    skill: float | None
    """1 − MAE / MAE(persistence) over the scored forecasts (None before any)."""
    coverage: float | None
    next_value: float | None
    """The forecast for the next pair (at the last pair's spacing), with its half-width."""
    next_halfwidth: float | None
    trust: OnlineTrust
    refused: np.ndarray | None = None
    """bool (N,), with a speed model: its inputs were out of range, persistence served in its slot."""


@dataclass(frozen=True)
class SpeedExperts:
    answers: np.ndarray
    """(model slot, persistence, running mean)."""
    refused: bool = False
    """The speed model refused (inputs out of its range): persistence is in the model slot."""


def speed_answers(previous: list[tuple[float, float]], mean: float, target_time: float,
                  model: SpeedModelRecord | None = None, floor: float = 0.0) -> SpeedExperts:
    """The experts for a pair centred on ``target_time`` from the last (up to
    :data:`~glacier_edge.motion.speed_model.MIN_HISTORY`) measured (centre day, speed) before it and
    the mean of all measured before it; ``floor``: the speed of 0.2 px over the pair forecast (its
days are known before it is measured)."""
    last_speed = float(previous[-1][1])
    if model is None:
        return SpeedExperts(np.array([naive_trend(previous[-2:], target_time), last_speed, mean]))
    answer = model_answer(model, previous, mean, target_time, floor)
    return SpeedExperts(np.array([answer.value, last_speed, mean]), answer.refused == "out of range")


def new_trust(first_speed: float, model: SpeedModelRecord | None = None,
              prior: tuple[float, ...] = SPEED_PRIOR) -> OnlineTrust:
    """The online trust of a series whose first measured speed is ``first_speed``, its weights
    starting from ``prior``: its interval starts from the speed model's (its log half-width as a
    share of the speed) when there is one."""
    share = PRIOR_SHARE if model is None else float(np.expm1(model.halfwidth))
    return OnlineTrust(0.0, float("inf"), share * first_speed, prior=list(prior))


def _answers(times: np.ndarray, speeds: np.ndarray, k: int, target_time: float, model: SpeedModelRecord | None,
             floor: float) -> SpeedExperts | None:
    """The experts from the measured speeds before index ``k``."""
    known = [i for i in range(k) if np.isfinite(speeds[i])]
    if not known:
        return None
    return speed_answers([(times[i], speeds[i]) for i in known[-MIN_HISTORY:]], float(np.mean(speeds[known])),
                         target_time, model, floor)


def forecast_speeds(times: np.ndarray, speeds: np.ndarray, precision: np.ndarray | None = None,
                    model: SpeedModelRecord | None = None, prior: tuple[float, ...] = SPEED_PRIOR) -> SpeedForecast:
    """Replay the online trust causally over a speed series (``times``: the pairs' centres, days).
    ``precision``: per pair, the smallest excess over the interval (speed units) that counts as an
    unexpected acceleration (:data:`MIN_EXCESS_PX` over the pair's days, in the series' unit); it is
    also the floor of the speed model's logs (known before the pair is measured: it depends on its days)."""
    times, speeds = np.asarray(times, np.float64), np.asarray(speeds, np.float64)
    floor = np.zeros(len(speeds)) if precision is None else np.asarray(precision, np.float64)
    count = len(speeds)
    value, halfwidth = np.full(count, np.nan), np.full(count, np.nan)
    inside, unexpected, refused = np.zeros(count, bool), np.zeros(count, bool), np.zeros(count, bool)
    finite = speeds[np.isfinite(speeds)]
    trust = new_trust(float(finite[0]) if len(finite) else 1.0, model, prior)
    for k in range(count):
        experts = _answers(times, speeds, k, times[k], model, float(floor[k]))
        if experts is None:
            continue
        refused[k] = experts.refused
        if np.isfinite(speeds[k]):
            value[k], halfwidth[k], inside[k] = trust.update(experts.answers, float(speeds[k]))
            unexpected[k] = speeds[k] > value[k] + halfwidth[k] + floor[k]
        else:
            value[k], halfwidth[k] = trust.combine(experts.answers), trust.halfwidth()
    next_value = next_halfwidth = None
    if count >= 1:
        step = times[-1] - times[-2] if count >= 2 else 1.0
        experts = _answers(times, speeds, count, times[-1] + step, model, float(floor[-1]))
        if experts is not None:
            next_value, next_halfwidth = trust.combine(experts.answers), trust.halfwidth()
    skill = trust.running_skill()
    coverage = trust.coverage()
    return SpeedForecast(value, halfwidth, inside, unexpected, None if np.isnan(skill) else float(skill),
                         None if np.isnan(coverage) else float(coverage), next_value, next_halfwidth, trust,
                         refused if model is not None else None)
