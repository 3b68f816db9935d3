"""A station's own trust, earned online from its own scored forecasts (numpy only).

Why: a bundle's calibration is the training corpus's prior. A station sits in one place for years;
where that place is unlike the corpus (another region, a quieter glacier) the model can be
confidently worse than "same as last step". Two rules with published guarantees, applied causally
one scored forecast at a time, fix what the station serves there:

**Combination** — AdaHedge (de Rooij, van Erven, Grünwald & Koolen, "Follow the leader if you can,
hedge if you must", JMLR 15, 2014) over N experts: the bundle's served answer (model, or its naive
fallback where the input is out of distribution) and the naive answers a station knows (persistence,
running mean). The weights are ∝ π_i·exp(−η_t·L_i) over the cumulative absolute errors L_i, with the
learning rate η_t = ln N / (Δ₀ + Δ_{t−1}) set by the cumulative mixability gap Δ (infinite, i.e.
follow the leader, while Δ₀ + Δ = 0). A new station starts from the prior π (:data:`STATION_PRIOR`:
nearly all on persistence) — it trusts "same as last step" until its own scored forecasts show the
model doing better. Guarantee with a prior (the same proof, see :meth:`OnlineTrust.regret_bounds`):
the combination's cumulative |error| ≤ expert i's + Δ + (Δ₀ + Δ)·ln(1/π_i)/ln N, and Δ ≤ S(1 + √(1 +
T ln N))/2 whatever happens. Why this rule: it needs no bound on the losses (a melt range set on one
region is wrong in another), it learns as fast as following the leader while one expert keeps
winning, and it keeps the worst-case guarantee. Hedge with the learning rate tuned for the worst
case (√(8 ln N / t) on losses in units of the melt range) was measured first and dropped: on the
corpus' 20–57-frame sequences its weights barely left 1/3 each, so the poor running mean dragged the
combination to a held-out skill of −0.15 (model alone −0.04). Guarantee (their Theorem 8, worst
case, equal weights), for any sequence of measurements: the combination's cumulative |error| ≤ the
best expert's in hindsight + S·√(T ln N) + S·(16/3·ln N + 2), S the largest spread of the experts'
errors in one round (the model's answer is clipped to the bundle's melt range widened to the last
measured melt, the naive answers are not; the combination's error is at most the weighted experts'
errors because |·| is convex).

**Intervals** — adaptive conformal inference (Gibbs & Candès, NeurIPS 2021): the interval is the
(1−α_t) conformal quantile of the combination's past absolute residuals, seeded with the bundle's
own half-width as pseudo-residuals while fewer than nine of its own exist (the prior: nine is the
fewest for which the 90 % conformal rank is finite, so a new station starts with the bundle's
interval and, from its ninth scored forecast on, uses its own residuals alone), and
α_{t+1} = α_t + γ·(α − err_t), err_t = 1 when the measured value fell outside. Guarantee, for
any sequence: |miss rate over T − α| ≤ (max(α_1, 1−α_1) + γ) / (γ·T). With α = 0.1 and γ = 0.05:
19/T (≤ 0.05 after 380 scored forecasts).

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
"""The bundle's half-width fills the conformal scores up to this many (see the module docstring)."""
RESIDUAL_WINDOW = 500
"""Past residuals the conformal quantile reads (the newest): a station's state stays small, and the
coverage guarantee holds whatever scores the quantile is taken over."""


STATION_PRIOR: tuple[float, ...] = (0.02, 0.979, 0.001)
"""π a new station's melt trust starts from (model, persistence, running mean): "same as last step",
until the station's own scored forecasts show the model earns more. Chosen by replaying every
held-out sequence of the corpus as a new station (``benchmarks/online_rules.py``): equal weights
(AdaHedge as published) reached −0.21 running skill after 10 forecasts in a region the bundle never
saw; this prior keeps every region's skill ≥ 0 and the running skill ≥ −0.04 after 10, in
leave-one-region-out and in grouped 5-fold, at the price of the pooled skill where the model is
good (+0.05 / +0.07 against +0.12 / +0.13 with equal weights). The regret bound against
persistence is then Δ·1.02, against the model Δ·(1 + ln 50 / ln 3) ≈ 4.6·Δ."""


def station_trust(low: float, high: float, prior_halfwidth: float) -> OnlineTrust:
    """A new station's melt trust: the bundle's melt range and interval, the weights :data:`STATION_PRIOR`.
    `run`, `evaluate`'s replay and `watch` all start here, so they give the same numbers."""
    return OnlineTrust(low, high, prior_halfwidth, prior=list(STATION_PRIOR))


def regret_bound(scored: int, spread: float, experts: int = len(ONLINE_EXPERTS)) -> float:
    """AdaHedge's worst case (de Rooij et al. 2014, Thm 8): the most the combination's cumulative
    absolute error can exceed the best expert's after ``scored`` forecasts whose experts' errors
    spread at most ``spread`` (melt units) in any one round."""
    log_n = math.log(experts)
    return spread * math.sqrt(scored * log_n) + spread * (16 / 3 * log_n + 2)


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
    prior: list[float] = field(default_factory=lambda: [1 / len(ONLINE_EXPERTS)] * len(ONLINE_EXPERTS))
    """π: the weights a new station starts from (in ``ONLINE_EXPERTS`` order; uniform unless said)."""
    losses: list[float] = field(default_factory=lambda: [0.0] * len(ONLINE_EXPERTS))
    mixability_gap: float = 0.0
    """Δ: the cumulative gap between the Hedge loss and the mix loss; sets the learning rate."""
    initial_gap: float = 0.0
    """Δ₀ (melt units) added to Δ in the learning rate η = ln N / (Δ₀ + Δ): a new station moves its
    weights away from the prior only once the experts' cumulative errors differ by about this much
    (0: AdaHedge as published, which follows the leader from the first scored forecast)."""
    max_spread: float = 0.0
    """S: the largest spread of the experts' errors in one scored round (for the stated bound)."""
    alpha_t: float = TARGET_MISS_RATE
    residuals: list[float] = field(default_factory=list)
    scored: int = 0
    error_sum: float = 0.0
    persistence_error_sum: float = 0.0
    inside_count: int = 0

    def weights(self) -> np.ndarray:
        """Current expert weights (sum 1): the prior before any scored forecast; then AdaHedge's."""
        prior = np.asarray(self.prior, dtype=np.float64)
        losses = np.asarray(self.losses, dtype=np.float64)
        behind = losses - losses[prior > 0].min()
        gap = self.initial_gap + self.mixability_gap
        if gap <= 0:  # η = ∞: follow the leader(s), as the prior weighs them
            leaders = prior * (behind <= 0)
            return leaders / leaders.sum()
        weights = prior * np.exp(-math.log(len(ONLINE_EXPERTS)) / gap * behind)
        return weights / weights.sum()

    def bounded(self, answers: np.ndarray) -> np.ndarray:
        """The answers as combined: the model's clipped to the bundle's melt range widened to take in
        the last measured melt (a wild output cannot run away; where that melt lies outside the range,
        the bundle's fallback and ``refuse_outside_range`` serve it as it is), the naive answers as
        they are — they are measured melts, and clipping them to a range learnt elsewhere turned "same
        as last step" into something else wherever the melt is larger than in training (measured: it
        cost up to 0.38 of running skill, see ``benchmarks/online_rules.py``)."""
        bounded = np.array(answers, dtype=np.float64)
        low, high, known = self.low, self.high, bounded[1]
        if math.isfinite(known):  # the bundle serves the last measured melt where it lies outside its range
            low, high = min(low, known), max(high, known)
        bounded[0] = min(max(bounded[0], low), high)
        return bounded

    def combine(self, answers: np.ndarray) -> float:
        """The combined forecast from the experts' answers (in ``ONLINE_EXPERTS`` order)."""
        return float(self.weights() @ self.bounded(answers))

    def halfwidth(self) -> float:
        """Adaptive conformal half-width at the current level α_t: inf when α_t ≤ 0 (nothing is ruled
        out), 0 when α_t ≥ 1, else the conformal rank of the scores, or their largest where that rank
        is past the end (too few scores for so small an α_t). The guarantee needs only the first two:
        they keep α_t within [−γ, 1 + γ] (Gibbs & Candès, Lemma 4.1)."""
        if self.alpha_t >= 1:
            return 0.0
        if self.alpha_t <= 0:
            return math.inf
        prior = [self.prior_halfwidth] * max(0, PRIOR_SCORES - len(self.residuals))
        scores = np.sort(np.asarray(prior + self.residuals, dtype=np.float64))
        rank = min(math.ceil((len(scores) + 1) * (1 - self.alpha_t)), len(scores))
        return float(scores[rank - 1])

    def update(self, answers: np.ndarray, measured: float) -> tuple[float, float, bool]:
        """Score the forecast made from ``answers`` now that ``measured`` is known; returns the
        combined value and half-width that were served, and whether the value fell inside."""
        value, halfwidth = self.combine(answers), self.halfwidth()
        weights = self.weights()
        errors = np.abs(self.bounded(answers) - measured)
        hedge = float(weights @ errors)
        if self.initial_gap + self.mixability_gap <= 0:
            mix = float(errors[weights > 0].min())
        else:
            eta = math.log(len(ONLINE_EXPERTS)) / (self.initial_gap + self.mixability_gap)
            best = float(errors[weights > 0].min())  # over the experts in play: one the prior leaves out may be lower
            mix = best - math.log(float(weights @ np.exp(-eta * np.maximum(errors - best, 0.0)))) / eta
        self.mixability_gap += max(0.0, hedge - mix)
        self.max_spread = max(self.max_spread, float(errors.max() - errors.min()))
        self.losses = [loss + float(error) for loss, error in zip(self.losses, errors)]
        inside = abs(measured - value) <= halfwidth
        self.alpha_t += ACI_STEP * (TARGET_MISS_RATE - (0.0 if inside else 1.0))
        self.residuals = [*self.residuals[-(RESIDUAL_WINDOW - 1):], abs(measured - value)]
        self.scored += 1
        self.error_sum += abs(measured - value)
        self.persistence_error_sum += abs(measured - answers[ONLINE_EXPERTS.index("persistence")])
        self.inside_count += int(inside)
        return value, halfwidth, inside

    def regret_bounds(self) -> list[float]:
        """Per expert: the most the combination's cumulative |error| can exceed that expert's, for the
        forecasts scored so far (inf for an expert the prior leaves out):

            R_i ≤ Δ + (Δ₀ + Δ) · ln(1/π_i) / ln N

        with Δ the mixability gap measured so far. Why it holds (AdaHedge's proof, de Rooij et al.
        2014, §2–3, with a prior and Δ₀): the mix losses sum to at most L_i + ln(1/π_i)/η_T for any
        prior and non-increasing η (the power mean of e^{−L} under π falls as η falls), and the
        Hedge loss is the mix loss plus Δ. Whatever the sequence, Δ ≤ S(1 + √(1 + T ln N))/2 (each
        round's gap is ≤ η S²/8 by Hoeffding's lemma and ≤ S), S the largest spread of the errors in
        one round — so the guarantee is data-dependent and never worse than that."""
        log_n = math.log(len(ONLINE_EXPERTS))
        gap = self.mixability_gap
        return [gap + (self.initial_gap + gap) * math.log(1 / p) / log_n if p > 0 else math.inf
                for p in self.prior]

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
        return cls(**{name: values[name] for name in (f.name for f in fields(cls)) if name in values})


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
