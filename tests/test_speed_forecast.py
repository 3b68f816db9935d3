"""The next speed from the online trust, on series whose truth is constructed."""

from __future__ import annotations

import numpy as np
import pytest

from glacier_edge.motion.speed import forecast_speeds


def test_a_constant_speed_is_forecast_exactly() -> None:
    forecast = forecast_speeds(np.arange(10.0), np.full(10, 3.0))
    assert np.isnan(forecast.value[0])
    assert forecast.value[1:] == pytest.approx(3.0) and forecast.next_value == pytest.approx(3.0)
    assert not forecast.unexpected.any()


def test_a_steady_acceleration_is_learnt_by_the_trend_expert() -> None:
    """Speed growing 0.5 px/day every day: persistence is always 0.5 behind, the trend is exact
    from the third speed on. The trust starts on persistence (SPEED_PRIOR, 0.96) and the weights
    move to the trend as its scored forecasts earn it: the majority within 10 forecasts."""
    days = np.arange(20.0)
    forecast = forecast_speeds(days, 2.0 + 0.5 * days)
    # the first forecast with a trend: 2 % trend (3.0), 96 % persistence (2.5), 2 % mean (2.25)
    assert forecast.value[2] == pytest.approx(0.02 * 3.0 + 0.96 * 2.5 + 0.02 * 2.25)
    assert forecast_speeds(days[:10], 2.0 + 0.5 * days[:10]).trust.weights()[0] > 0.5
    assert forecast.skill > 0.6
    assert forecast.trust.weights()[0] > 0.99  # the "model" slot holds the trend
    assert forecast.next_value == pytest.approx(2.0 + 0.5 * 20, abs=1e-3)


def test_noisy_steady_flow_is_covered_about_nine_times_in_ten() -> None:
    rng = np.random.default_rng(0)
    coverage = [forecast_speeds(np.arange(60.0), 3.0 * (1 + 0.1 * rng.standard_normal(60))).coverage
                for _ in range(50)]
    assert 0.85 <= float(np.mean(coverage)) <= 0.97


def test_a_jump_above_the_interval_is_an_unexpected_acceleration() -> None:
    speeds = np.r_[np.full(12, 3.0) * (1 + 0.02 * np.sin(np.arange(12))), 6.0]
    forecast = forecast_speeds(np.arange(13.0), speeds)
    assert forecast.unexpected[-1] and not forecast.unexpected[:-1].any()
