"""Regions of a frame (issue 21 groundwork): the encoder-aligned grid, label images, and the melt
per region, whose area-weighted mean is the whole-frame melt exactly."""

from __future__ import annotations

import numpy as np
import pytest

from glacier_edge.ingest.samples import glacier_timelapse
from glacier_edge.ingest.synthetic import melt_unit, synthetic_frames
from glacier_edge.signals.frame_regions import (
    frame_melt_from_regions,
    grid_regions,
    labels_from_image,
    region_areas,
    region_melt,
)
from glacier_edge.signals.melt import measured_melt


def test_the_default_grid_is_the_encoders_four_by_four_feature_map() -> None:
    grid = grid_regions()
    assert grid.shape == (128, 128) and set(np.unique(grid)) == set(range(16))
    assert grid[0, 0] == 0 and grid[0, 127] == 3 and grid[127, 0] == 12 and grid[127, 127] == 15
    assert np.all(np.bincount(grid.ravel()) == 32 * 32)
    with pytest.raises(ValueError, match="does not split"):
        grid_regions(100)


@pytest.mark.parametrize("masked", [False, True])
def test_whole_frame_melt_is_the_area_weighted_mean_of_the_regions(masked: bool) -> None:
    frames = np.stack([np.asarray(f) for f in glacier_timelapse(6, seed=2, width=128, height=128).frames])
    mask = np.zeros((128, 128), bool)
    if masked:
        mask[100:, :40] = True  # a burned-in label left out of both
    labels = grid_regions()
    melt = region_melt(frames, labels, mask if masked else None)
    whole = frame_melt_from_regions(melt, region_areas(labels, mask if masked else None))
    assert whole == pytest.approx(measured_melt(frames, mask if masked else None), abs=1e-6)


def test_region_melt_has_the_known_answer_of_a_synthetic_change() -> None:
    """The synthetic sequence changes known counts of pixel-channel values by 51: each region's
    melt times its share of the frame adds up to the frame's exact melt."""
    frames, expected = synthetic_frames([1000, 5000, 200], size=128, seed=1)
    labels = grid_regions()
    melt = region_melt(frames, labels)
    assert (melt[1:] >= 0).all() and np.isclose(melt[1:].sum(axis=1) / 16, expected[1:], atol=1e-9).all()
    assert expected[1] == pytest.approx(1000 * melt_unit(128))


def test_label_images_and_masked_out_regions() -> None:
    image = np.zeros((128, 128), np.uint8)
    image[:64] = 200
    image[64:, :64] = 90
    labels = labels_from_image(image)
    assert set(np.unique(labels)) == {-1, 0, 1} and labels[100, 10] == 0 and labels[10, 10] == 1
    frames = np.zeros((2, 128, 128, 3), np.uint8)
    frames[1, :64] = 51
    melt = region_melt(frames, labels)
    assert melt[1].tolist() == [0.0, pytest.approx(0.2)]
    hidden = np.zeros((128, 128), bool)
    hidden[64:, :64] = True
    assert np.isnan(region_melt(frames, labels, hidden)[1, 0])


@pytest.mark.parametrize("task", ["nowcast", "forecast"])
def test_history_of_all_regions_at_once_equals_each_region_alone(task: str) -> None:
    """The station and run compute every region's history columns in one pass over (T, R); each
    region's columns must be exactly what the frame's function gives for that region alone
    (a fully masked region: NaN melt → neutral values)."""
    from glacier_edge.signals.history import history_columns, naive

    rng = np.random.default_rng(0)
    embeddings, melt = rng.normal(size=(7, 3, 5)), rng.random((7, 3))
    melt[:, 1] = np.nan
    together = history_columns(embeddings, melt, task)
    alone = np.stack([history_columns(embeddings[:, r], melt[:, r], task) for r in range(3)], axis=1)
    assert np.array_equal(together, alone, equal_nan=True)
    for kind in ("persistence", "running_mean", "train_mean"):
        assert np.array_equal(naive(kind, melt, task, 0.5),
                              np.stack([naive(kind, melt[:, r], task, 0.5) for r in range(3)], axis=1))


def test_spatial_edges_default_to_what_held_out_best_for_the_task() -> None:
    """benchmarks/frame_regions.py: on for both tasks (nowcast on the causal graph since 2026-11-30)."""
    from glacier_edge.contracts import TrainConfig

    assert TrainConfig().uses_spatial_edges is True
    assert TrainConfig(task="forecast").uses_spatial_edges is True
    assert TrainConfig(spatial_edges=False).uses_spatial_edges is False
    assert TrainConfig(task="forecast", spatial_edges=False).uses_spatial_edges is False
    assert TrainConfig(spatial_edges=True).uses_spatial_edges is True
