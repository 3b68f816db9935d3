"""The station's online trust: the combination's regret bound and the adaptive intervals' coverage
bound hold on constructed sequences (including adversarial ones), and the rule is causal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glacier_edge.signals.online import (
    ONLINE_EXPERTS,
    TARGET_MISS_RATE,
    OnlineTrust,
    coverage_gap_bound,
    regret_bound,
    replay,
)


def fresh(prior_halfwidth: float = 0.01) -> OnlineTrust:
    return OnlineTrust(low=0.0, high=0.1, prior_halfwidth=prior_halfwidth)


def test_starts_equal_and_learns_the_expert_that_is_right() -> None:
    trust = fresh()
    assert trust.weights() == pytest.approx([1 / 3] * 3)  # before any scored forecast
    rng = np.random.default_rng(0)
    for _ in range(200):
        truth = rng.uniform(0.01, 0.09)
        answers = np.array([truth + 0.03, truth, truth - 0.02])  # persistence is exact here
        trust.update(answers, truth)
    weights = trust.weights()
    assert weights[ONLINE_EXPERTS.index("persistence")] > 0.99
    assert trust.error_sum <= regret_bound(200, trust.max_spread)  # the exact expert loses nothing


@pytest.mark.parametrize("seed", range(5))
def test_regret_against_the_best_expert_stays_within_the_bound(seed: int) -> None:
    """Random and switching experts (the best one changes halfway): the stated bound holds."""
    rng = np.random.default_rng(seed)
    trust, length = fresh(), 400
    combined, expert_losses = 0.0, np.zeros(3)
    for step in range(length):
        truth = rng.uniform(0, 0.1)
        good = 0 if step < length // 2 else 2
        answers = np.clip(truth + rng.normal(0, 0.03, 3), 0, 0.1)
        answers[good] = np.clip(truth + rng.normal(0, 0.002), 0, 0.1)
        value, _, _ = trust.update(answers, truth)
        combined += abs(value - truth)
        expert_losses += np.abs(answers - truth)
    assert trust.max_spread <= 0.1
    assert combined - expert_losses.min() <= regret_bound(length, trust.max_spread)
    assert combined < expert_losses.max()


def test_regret_bound_holds_on_an_adversarial_sequence() -> None:
    """Two experts at the ends of the range and a truth that always lands far from the combination."""
    trust, combined, losses = fresh(), 0.0, np.zeros(3)
    for _ in range(300):
        answers = np.array([0.0, 0.1, 0.05])
        value = trust.combine(answers)
        truth = 0.0 if value > 0.05 else 0.1
        trust.update(answers, truth)
        combined += abs(value - truth)
        losses += np.abs(answers - truth)
    assert combined - losses.min() <= regret_bound(300, trust.max_spread)


@pytest.mark.parametrize("scale_jump", [1.0, 5.0, 0.2])
def test_adaptive_intervals_cover_90_percent_within_the_bound(scale_jump: float) -> None:
    """Noise whose scale changes 5× (or shrinks) halfway: the bundle's prior interval is wrong
    after the shift, and the miss rate still ends within the guarantee of α = 0.1."""
    rng = np.random.default_rng(1)
    trust, length = fresh(prior_halfwidth=0.005), 2000
    for step in range(length):
        scale = 0.003 * (scale_jump if step >= length // 2 else 1.0)
        answers = np.full(3, 0.05)
        trust.update(answers, 0.05 + rng.normal(0, scale))
    miss = 1 - trust.coverage()
    assert abs(miss - TARGET_MISS_RATE) <= coverage_gap_bound(length)
    assert 0.85 <= trust.coverage() <= 0.95


def test_coverage_bound_holds_for_an_adversary_that_always_misses_when_it_can() -> None:
    trust, length = fresh(), 500
    for _ in range(length):
        halfwidth = trust.halfwidth()
        value = trust.combine(np.full(3, 0.05))
        truth = value + (halfwidth * 1.5 if math.isfinite(halfwidth) else 0.0)  # outside unless infinite
        trust.update(np.full(3, 0.05), truth)
    assert abs((1 - trust.coverage()) - TARGET_MISS_RATE) <= coverage_gap_bound(length)


def test_replay_is_causal_and_unscored_targets_teach_nothing() -> None:
    rng = np.random.default_rng(2)
    answers, measured = rng.uniform(0, 0.1, (20, 3)), rng.uniform(0, 0.1, 20)
    defined = np.ones(20, dtype=bool)
    defined[7] = False
    first = replay(answers, measured, defined, fresh())
    changed = measured.copy()
    changed[12:] += 0.05
    second = replay(answers, changed, defined, fresh())
    np.testing.assert_array_equal(first.value[:13], second.value[:13])  # target 12 is forecast before it is seen
    assert not np.array_equal(first.value[13:], second.value[13:])
    assert first.final.scored == 19
    np.testing.assert_array_equal(first.weights[7], first.weights[8])  # the unscored target changed no weight


def test_weights_do_not_depend_on_the_unit_of_melt() -> None:
    """AdaHedge is scale-free: the same sequence in other units (×10, range ×10) gives the same weights."""
    rng = np.random.default_rng(3)
    small = OnlineTrust(low=0.0, high=0.1, prior_halfwidth=0.01)
    large = OnlineTrust(low=0.0, high=1.0, prior_halfwidth=0.1)
    for _ in range(50):
        answers, truth = rng.uniform(0, 0.1, 3), rng.uniform(0, 0.1)
        small.update(answers, truth)
        large.update(answers * 10, truth * 10)
    np.testing.assert_allclose(small.weights(), large.weights(), rtol=1e-9)


def test_a_clearly_better_expert_leads_within_a_few_forecasts() -> None:
    trust = fresh()
    for step in range(5):
        truth = 0.02 + 0.01 * step
        trust.update(np.array([truth + 0.001, truth + 0.02, truth - 0.03]), truth)
    assert trust.weights()[0] > 0.9


@pytest.mark.parametrize("seed", range(6))
def test_the_prior_and_initial_gap_keep_a_stated_bound_per_expert(seed: int) -> None:
    """With a prior (0.1 model, 0.9 persistence, nothing on the running mean) and Δ₀ > 0, the
    combination's cumulative |error| stays within ``regret_bounds()`` of each expert in play, on
    random experts whose best one switches halfway and on scales from 1e-4 to 1; and the worst-case
    form Δ ≤ S(1 + √(1 + T ln 3))/2 holds."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.uniform(-4, 0)
    trust = OnlineTrust(low=-10.0, high=10.0, prior_halfwidth=scale, prior=[0.1, 0.9, 0.0], initial_gap=3 * scale)
    losses = np.zeros(3)
    steps = 300
    for step in range(steps):
        truth = scale * rng.normal()
        noise = scale * np.array([0.3, 1.0, 0.5]) if step < steps // 2 else scale * np.array([1.0, 0.2, 0.5])
        answers = truth + noise * rng.normal(size=3)
        trust.update(answers, truth)
        losses += np.abs(answers - truth)
    bounds = trust.regret_bounds()
    assert math.isinf(bounds[2])
    for expert in (0, 1):
        assert trust.error_sum <= losses[expert] + bounds[expert] + 1e-12
    assert trust.mixability_gap <= trust.max_spread * (1 + math.sqrt(1 + steps * math.log(3))) / 2


def test_the_naive_answers_are_not_clipped_to_the_bundles_melt_range() -> None:
    """A region whose melt exceeds what the bundle saw: "same as last step" stays itself, and the
    model's answer is held to the range widened to take in the last measured melt — the bundle serves
    that melt as it is where it lies outside its range (``refuse_outside_range``)."""
    trust = OnlineTrust(low=0.0, high=0.03, prior_halfwidth=0.01, prior=[0.0, 1.0, 0.0])
    assert trust.combine(np.array([0.5, 0.06, 0.05])) == pytest.approx(0.06)
    assert trust.bounded(np.array([0.5, 0.06, -0.01])).tolist() == pytest.approx([0.06, 0.06, -0.01])
    assert trust.bounded(np.array([0.06, 0.06, 0.02])).tolist() == pytest.approx([0.06, 0.06, 0.02])
    assert trust.bounded(np.array([0.5, 0.01, 0.02])).tolist() == pytest.approx([0.03, 0.01, 0.02])
    assert trust.bounded(np.array([-0.2, np.nan, np.nan]))[0] == 0.0  # no melt measured yet: the range alone


def test_a_state_saved_before_the_prior_existed_keeps_equal_weights() -> None:
    """A station's stored state from before the prior (no ``prior``/``initial_gap`` keys) reads back
    as the rule it was learning with: equal prior, no initial gap."""
    import json

    from glacier_edge.signals.online import STATION_PRIOR, station_trust

    trust = OnlineTrust(low=0.0, high=0.1, prior_halfwidth=0.01)
    trust.update(np.array([0.02, 0.03, 0.04]), 0.025)
    old = json.loads(trust.to_state())
    del old["prior"], old["initial_gap"]
    restored = OnlineTrust.from_state(json.dumps(old))
    assert restored.prior == pytest.approx([1 / 3] * 3) and restored.initial_gap == 0.0
    assert restored.weights() == pytest.approx(trust.weights())
    fresh_station = station_trust(0.0, 0.1, 0.01)
    assert fresh_station.weights() == pytest.approx(list(STATION_PRIOR))
    assert OnlineTrust.from_state(fresh_station.to_state()).prior == pytest.approx(list(STATION_PRIOR))
