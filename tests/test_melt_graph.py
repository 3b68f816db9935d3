from __future__ import annotations

import numpy as np
import pytest
from conftest import SYNTHETIC_CHANGES

from glacier_edge.ingest.synthetic import melt_unit, synthetic_frames
from glacier_edge.signals.graph import dense_adjacency, temporal_edge_index
from glacier_edge.signals.melt import measured_melt, melt_valid_mask, normalize_melt


def test_melt_matches_hand_computed_values() -> None:
    frames = np.zeros((3, 2, 2, 3), np.uint8)
    frames[1, 0, 0, 0] = 255          # one of 12 values changes by 255: 255/12/255 = 1/12
    frames[2] = 51                    # from frame 1: 11 values +51, one value -204
    expected = [0.0, 1 / 12, (11 * 51 + 204) / 12 / 255]
    assert np.allclose(measured_melt(frames), expected, atol=1e-7)


def test_melt_of_synthetic_sequence_is_exact(synthetic_gif) -> None:
    _, frames, melt = synthetic_gif
    assert np.allclose(measured_melt(frames), melt, rtol=0, atol=1e-8)
    assert melt[1] == pytest.approx(SYNTHETIC_CHANGES[0] * melt_unit())


def test_synthetic_generator_refuses_impossible_changes() -> None:
    with pytest.raises(ValueError):
        synthetic_frames([10**9], size=4)


def test_minmax_normalisation_rescales_frames_after_the_first() -> None:
    melt = np.array([0.0, 0.02, 0.06, 0.04], np.float32)
    assert np.allclose(normalize_melt(melt, "minmax"), [0, 0, 1, 0.5])
    assert np.array_equal(normalize_melt(melt, "absolute"), melt)
    assert np.array_equal(normalize_melt(np.array([0.0, 0.3], np.float32), "minmax"), [0, 0])
    assert melt_valid_mask(3).tolist() == [False, True, True]


@pytest.mark.parametrize("frames", [2, 5, 37])
def test_temporal_graph_has_both_directions_between_neighbours(frames: int) -> None:
    edges = temporal_edge_index(frames, "bidirectional")
    assert edges.shape == (2, 2 * (frames - 1))
    pairs = set(map(tuple, edges.T.tolist()))
    expected = {(t, t + 1) for t in range(frames - 1)} | {(t + 1, t) for t in range(frames - 1)}
    assert pairs == expected
    adjacency = dense_adjacency(frames, "bidirectional")
    assert adjacency.sum() == 2 * (frames - 1)
    assert np.array_equal(adjacency, adjacency.T)
    assert all(adjacency[target, source] == 1 for source, target in pairs)


def test_causal_graph_only_looks_back() -> None:
    from glacier_edge.signals.graph import dense_adjacency as adjacency_of

    edges = temporal_edge_index(5, "causal")
    assert edges.tolist() == [[0, 1, 2, 3], [1, 2, 3, 4]]
    adjacency = adjacency_of(5, "causal")
    assert np.array_equal(adjacency, np.eye(5, k=-1, dtype=np.float32))  # A[t, t-1] = 1: node t hears t-1


def test_task_targets_and_alignment() -> None:
    from glacier_edge.signals.melt import align_to_frames, task_targets

    melt = np.array([0.0, 0.1, 0.2, 0.3], np.float32)
    targets, valid = task_targets(melt, "forecast")
    assert np.allclose(targets[valid], [0.1, 0.2, 0.3]) and valid.tolist() == [True, True, True, False]
    targets, valid = task_targets(melt, "nowcast")
    assert np.allclose(targets[valid], [0.1, 0.2, 0.3]) and valid.tolist() == [False, True, True, True]
    outputs = np.array([10.0, 11.0, 12.0, 13.0])
    assert np.array_equal(align_to_frames(outputs, "forecast")[1:], [10.0, 11.0, 12.0])
    assert np.array_equal(align_to_frames(outputs, "nowcast")[1:], [11.0, 12.0, 13.0])
    with pytest.raises(ValueError):
        task_targets(melt, "hindcast")
