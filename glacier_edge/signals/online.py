"""A station's own trust, earned online from its own scored forecasts (numpy only).

Why: a bundle's calibration is the training corpus's prior. A station sits in one place for years;
where that place is unlike the corpus (another region, a quieter glacier) the model can be
confidently worse than "same as last step". Two rules with published guarantees, applied causally
one scored forecast at a time, fix what the station serves there:

**Combination** — the exponentially weighted average forecaster (Cesa-Bianchi & Lugosi,
*Prediction, Learning, and Games*, 2006, Thm 2.3) over N experts: the bundle's served answer
(model, or its naive fallback where the input is out of distribution) and the naive answers a
station knows (persistence, running mean). After t scored forecasts with cumulative losses L_i,
the weights are w_i ∝ exp(−η_t·L_i), η_t = √(8 ln N / t), starting equal. Loss: absolute error in
units of the bundle's melt range B (the clip range: training targets ± 10 %), with every answer
and the measured value clipped to that range, so losses lie in [0, 1] and are convex. Guarantee,
for any sequence of measurements: cumulative loss of the combination ≤ that of the best expert in
hindsight + B·(2·√(T/2 · ln N) + √(ln N / 8)). With N = 3 that is ≤ 1.48·B·√T + 0.37·B: the
average excess over the best of them vanishes like 1/√T.

**Intervals** — adaptive conformal inference (Gibbs & Candès, NeurIPS 2021): the interval is the
(1−α_t) conformal quantile of the combination's past absolute residuals, seeded with the bundle's
own half-width as nine pseudo-residuals (the prior: the fewest for which the 90 % conformal rank is
finite, so a new station starts with the bundle's interval; after nine scored forecasts its own
residuals weigh as much as the prior), and α_{t+1} = α_t + γ·(α − err_t), err_t = 1 when
the measured value fell outside. Guarantee, for any sequence: |miss rate over T − α| ≤
(max(α_1, 1−α_1) + γ) / (γ·T). With α = 0.1 and γ = 0.05: 19/T (≤ 0.05 after 380 scored forecasts).

Both `run` (frame by frame over a sequence) and the station (one image at a time, state kept in
SQLite) use :class:`OnlineTrust`, so the same images give the same numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

ONLINE_EXPERTS: tuple[str, ...] = ("model", "persistence", "running_mean")
"""What is combined: the bundle's served answer, then the naive answers a station knows."""
TARGET_MISS_RATE = 0.1
"""α: the intervals aim at 90 % coverage, like the bundle's split-conformal ones."""
ACI_STEP = 0.05
"""γ of adaptive conformal inference: larger adapts faster to a new place, with a wider interval
after each miss (Gibbs & Candès used 0.005 over thousands of steps; a station sees tens a year)."""
PRIOR_SCORES = 9
"""Copies of the bundle's half-width among the conformal scores (see the module docstring)."""
RESIDUAL_WINDOW = 500
"""Past residuals the conformal quantile reads (the newest): a station's state stays small, and the
coverage guarantee holds whatever scores the quantile is taken over."""


def regret_bound(scored: int, experts: int = len(ONLINE_EXPERTS), melt_range: float = 1.0) -> float:
    """Cesa-Bianchi & Lugosi Thm 2.3: the most the combination's cumulative absolute error can
    exceed the best expert's after ``scored`` forecasts, in melt units."""
    log_n = math.log(experts)
    return melt_range * (2 * math.sqrt(scored / 2 * log_n) + math.sqrt(log_n / 8))


def coverage_gap_bound(scored: int, alpha: float = TARGET_MISS_RATE, step: float = ACI_STEP) -> float:
    """Gibbs & Candès Prop. 4.1: |miss rate − α| after ``scored`` forecasts is at most this."""
    return math.inf if scored == 0 else (max(alpha, 1 - alpha) + step) / (step * scored)


@dataclass
class OnlineTrust:
    """The station's running state: cumulative losses per expert, the adaptive miss level, past
    residuals of the combination and running totals for its skill and coverage.

    ``low``/``high`` are the bundle's clip range; ``prior_halfwidth`` its interval half-width."""

    low: float
    high: float
    prior_halfwidth: float
    losses: list[float] = field(default_factory=lambda: [0.0] * len(ONLINE_EXPERTS))
    alpha_t: float = TARGET_MISS_RATE
    residuals: list[float] = field(default_factory=list)
    scored: int = 0
    error_sum: float = 0.0
    persistence_error_sum: float = 0.0
    inside_count: int = 0

    @property
    def melt_range(self) -> float:
        return max(self.high - self.low, 1e-12)

    def weights(self) -> np.ndarray:
        """Current expert weights (sum 1): equal before any scored forecast."""
        if self.scored == 0:
            return np.full(len(ONLINE_EXPERTS), 1.0 / len(ONLINE_EXPERTS))
        eta = math.sqrt(8 * math.log(len(ONLINE_EXPERTS)) / (self.scored + 1))  # η_t of round t = scored + 1
        logits = -eta * np.asarray(self.losses) / self.melt_range
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def combine(self, answers: np.ndarray) -> float:
        """The combined forecast from the experts' answers (in ``ONLINE_EXPERTS`` order)."""
        return float(self.weights() @ np.clip(answers, self.low, self.high))

    def halfwidth(self) -> float:
        """Adaptive conformal half-width at the current level α_t: inf when α_t ≤ 0 (nothing is ruled
        out), 0 when α_t ≥ 1, else the conformal rank of the scores, or their largest where that rank
        is past the end (too few scores for so small an α_t). The guarantee needs only the first two:
        they keep α_t within [−γ, 1 + γ] (Gibbs & Candès, Lemma 4.1)."""
        if self.alpha_t >= 1:
            return 0.0
        if self.alpha_t <= 0:
            return math.inf
        scores = np.sort(np.asarray([self.prior_halfwidth] * PRIOR_SCORES + self.residuals, dtype=np.float64))
        rank = min(math.ceil((len(scores) + 1) * (1 - self.alpha_t)), len(scores))
        return float(scores[rank - 1])

    def update(self, answers: np.ndarray, measured: float) -> tuple[float, float, bool]:
        """Score the forecast made from ``answers`` now that ``measured`` is known; returns the
        combined value and half-width that were served, and whether the value fell inside."""
        value, halfwidth = self.combine(answers), self.halfwidth()
        clipped_target = min(max(measured, self.low), self.high)
        clipped = np.clip(answers, self.low, self.high)
        self.losses = [loss + abs(answer - clipped_target) for loss, answer in zip(self.losses, clipped)]
        inside = abs(measured - value) <= halfwidth
        self.alpha_t += ACI_STEP * (TARGET_MISS_RATE - (0.0 if inside else 1.0))
        self.residuals = [*self.residuals[-(RESIDUAL_WINDOW - 1):], abs(measured - value)]
        self.scored += 1
        self.error_sum += abs(measured - value)
        self.persistence_error_sum += abs(measured - answers[ONLINE_EXPERTS.index("persistence")])
        self.inside_count += int(inside)
        return value, halfwidth, inside

    def running_skill(self) -> float:
        """1 − MAE(combination) / MAE(persistence) over the forecasts scored so far (nan before any)."""
        if self.scored == 0 or self.persistence_error_sum == 0:
            return math.nan
        return 1 - self.error_sum / self.persistence_error_sum

    def coverage(self) -> float:
        return math.nan if self.scored == 0 else self.inside_count / self.scored

    def to_state(self) -> str:
        """The whole state as JSON (what a station stores after each scored forecast)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_state(cls, text: str) -> OnlineTrust:
        values = json.loads(text)
        return cls(**{name: values[name] for name in (f.name for f in fields(cls))})


@dataclass(frozen=True)
class OnlineReplay:
    """Per target (aligned like the answers): the served value and half-width, whether the measured
    value fell inside, and the weights the forecast was made with."""

    value: np.ndarray
    halfwidth: np.ndarray
    inside: np.ndarray
    scored: np.ndarray
    """Whether each target was measured, so its forecast was scored and taught the rule."""
    weights: np.ndarray
    """(targets, experts): the weights the forecast for each target was made with."""
    final: OnlineTrust


def replay(answers: np.ndarray, measured: np.ndarray, defined: np.ndarray, trust: OnlineTrust) -> OnlineReplay:
    """Apply the rule causally over a sequence: target k is forecast with what targets < k taught,
    then scored when ``defined[k]`` (a target that is never measured is served, not scored).

    ``answers``: (targets, experts) in ``ONLINE_EXPERTS`` order; ``measured``: (targets,)."""
    count = len(measured)
    values, halfwidths = np.full(count, np.nan), np.full(count, np.nan)
    inside, weights = np.zeros(count, dtype=bool), np.zeros((count, len(ONLINE_EXPERTS)))
    for k in range(count):
        weights[k] = trust.weights()
        if defined[k]:
            values[k], halfwidths[k], inside[k] = trust.update(answers[k], float(measured[k]))
        else:
            values[k], halfwidths[k] = trust.combine(answers[k]), trust.halfwidth()
    return OnlineReplay(values, halfwidths, inside, np.asarray(defined, dtype=bool).copy(), weights, trust)
