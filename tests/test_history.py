"""What a station knows before a target: the history features and naive baselines may use only
measurements made before the target (nowcast never sees melt_t, forecast never frame t+1)."""

from __future__ import annotations

import numpy as np
import pytest

from glacier_edge.signals.history import history_columns, history_matrix, known_melt, naive, running_mean

MELT = np.array([0.0, 0.01, 0.03, 0.02, 0.05, 0.04])


def test_known_melt_and_running_mean_by_hand() -> None:
    nan = np.nan
    assert np.allclose(known_melt(MELT, "nowcast"), [nan, nan, 0.01, 0.03, 0.02, 0.05], equal_nan=True)
    assert np.allclose(known_melt(MELT, "forecast"), [nan, 0.01, 0.03, 0.02, 0.05, 0.04], equal_nan=True)
    assert np.allclose(running_mean(MELT, "nowcast"), [nan, nan, 0.01, 0.02, 0.02, 0.0275], equal_nan=True)
    assert np.allclose(running_mean(MELT, "forecast"), [nan, 0.01, 0.02, 0.02, 0.0275, 0.03], equal_nan=True)


@pytest.mark.parametrize("target", range(1, 6))
def test_nowcast_inputs_never_see_the_measured_target(target: int) -> None:
    """Changing melt_t (and everything after it) leaves node t's history row unchanged."""
    embeddings = np.random.default_rng(0).normal(size=(6, 16))
    changed = MELT.copy()
    changed[target:] += 0.5
    before = history_matrix(embeddings, MELT, "nowcast", (0.1, 0.1, 0.1))
    after = history_matrix(embeddings, changed, "nowcast", (0.1, 0.1, 0.1))
    assert np.array_equal(before[: target + 1], after[: target + 1])
    assert naive("persistence", changed, "nowcast", 0.1)[target] == naive("persistence", MELT, "nowcast", 0.1)[target]


@pytest.mark.parametrize("node", range(0, 5))
def test_forecast_inputs_never_see_the_next_frame(node: int) -> None:
    """Node t forecasts melt_{t+1}: changing frame t+1 onward (its embedding and every melt it
    touches, melt_{t+1} included) leaves node t's inputs unchanged."""
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(6, 16))
    later = embeddings.copy()
    later[node + 1 :] = rng.normal(size=later[node + 1 :].shape)
    changed = MELT.copy()
    changed[node + 1 :] += 0.5
    before = history_columns(embeddings, MELT, "forecast")
    after = history_columns(later, changed, "forecast")
    assert np.array_equal(before[: node + 1], after[: node + 1], equal_nan=True)


def test_unknown_values_take_the_neutral_value() -> None:
    matrix = history_matrix(np.zeros((3, 4)), np.array([0.0, 0.2, 0.4]), "nowcast", (7.0, 8.0, 9.0))
    assert matrix[0].tolist() == [7.0, 8.0, 9.0]       # nothing known at frame 0
    assert matrix[1, :2].tolist() == [7.0, 8.0]         # melt_0 is a placeholder, melt_1 is the target
    assert matrix[2, :2].tolist() == pytest.approx([0.2, 0.2])
