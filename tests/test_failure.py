"""The inverse-velocity failure forecast on synthetic series whose truth is constructed: steady
flow (no failure: any forecast is false) and flow accelerating by Voight's law toward a known
failure day, both with 10 % velocity noise, 1,000 series each."""

from __future__ import annotations

import numpy as np
import pytest

from glacier_edge.motion.failure import inverse_velocity_forecast, t_quantile, t_sf

SERIES = 1000
NOISE = 0.10


@pytest.mark.parametrize(("probability", "df", "expected"), [(0.95, 3, 2.353), (0.975, 6, 2.447), (0.995, 6, 3.707),
                                                             (0.95, 30, 1.697)])
def test_student_t_quantiles_match_the_tables(probability: float, df: int, expected: float) -> None:
    assert t_quantile(probability, df) == pytest.approx(expected, abs=2e-3)
    assert t_sf(expected, df) == pytest.approx(1 - probability, abs=5e-4)


def test_steady_flow_gives_a_false_failure_forecast_in_at_most_one_percent_of_series() -> None:
    rng = np.random.default_rng(0)
    false = 0
    for _ in range(SERIES):
        days = np.arange(30.0)
        speed = 2.0 * (1 + NOISE * rng.standard_normal(days.size))
        false += inverse_velocity_forecast(days, speed).issued
    assert false / SERIES <= 0.01


@pytest.mark.parametrize("before", [10, 5])
def test_acceleration_toward_a_known_failure_date_is_forecast(before: int) -> None:
    """Voight's law with α = 2: v = 1 / (A·(t_f − t)); daily observations up to ``before`` days
    ahead of the failure on day 40. Median error ≤ 25 % of the remaining time; the 90 % interval
    covers the true day in ≥ 80 % of the series it was issued for."""
    rng = np.random.default_rng(1)
    failure_day, errors, covered, issued = 40.0, [], [], 0
    for _ in range(SERIES):
        days = np.arange(0.0, failure_day - before + 1)
        speed = 1.0 / (0.02 * (failure_day - days)) * (1 + NOISE * rng.standard_normal(days.size))
        forecast = inverse_velocity_forecast(days, speed)
        if forecast.issued:
            issued += 1
            errors.append(abs(forecast.failure_time - failure_day) / before)
            covered.append(forecast.low <= failure_day <= forecast.high)
    assert np.median(errors) <= 0.25
    assert np.mean(covered) >= 0.8
    assert issued / SERIES >= (0.5 if before == 10 else 0.95)  # earlier, the trend is not always clear yet


def test_too_few_observations_or_slowing_flow_issue_nothing() -> None:
    assert not inverse_velocity_forecast(np.arange(4.0), np.array([1.0, 2.0, 4.0, 8.0])).issued
    slowing = inverse_velocity_forecast(np.arange(10.0), 10.0 / (1 + np.arange(10.0)))
    assert not slowing.issued and slowing.slope > 0


def test_a_slow_acceleration_is_not_a_failure_forecast() -> None:
    """1/v falls significantly but would reach zero far beyond the window: not issued, and said why."""
    days = np.arange(10.0)
    speed = 3.0 * (1 + 0.01 * days)  # 1 % a day
    forecast = inverse_velocity_forecast(days, speed)
    assert not forecast.issued and forecast.p_value < 0.002
    assert "an acceleration, not an imminent failure" in forecast.reason
