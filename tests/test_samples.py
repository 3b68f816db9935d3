"""The generated sample: deterministic, dated, and its melt proxy tied to a known ice retreat."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glacier_edge.ingest.frames import read_sequence
from glacier_edge.ingest.samples import Nuisances, glacier_timelapse, write_timelapse
from glacier_edge.signals.melt import measured_melt

CLEAN = Nuisances(snow_line=False, clouds=False, illumination=False, colour_cast=False, date_label=False)


def test_same_seed_same_pixels_other_seed_other_glacier() -> None:
    a, b, c = glacier_timelapse(seed=3), glacier_timelapse(seed=3), glacier_timelapse(seed=4)
    assert np.array_equal(a.frames, b.frames) and a.dates == b.dates
    assert not np.array_equal(a.frames, c.frames)


def test_ice_retreats_every_step_and_dates_are_irregular() -> None:
    sample = glacier_timelapse(20, seed=1)
    assert np.all(np.diff(sample.ice_pixels) < 0)
    gaps = {(later - earlier).days // 300 for earlier, later in zip(sample.dates, sample.dates[1:])}
    assert len(gaps) >= 2, "gaps of one and of several years"
    assert sample.cloudy.any() and sample.cast.any() and not sample.cloudy.all()


def test_without_nuisances_melt_measures_the_retreat() -> None:
    """Only the terminus moves, so the melt proxy (at 128×128) follows the lost ice area."""
    sample = glacier_timelapse(16, seed=2, nuisances=CLEAN)
    from glacier_edge.ingest.frames import resize_frame

    melt = measured_melt(np.stack([resize_frame(frame) for frame in sample.frames]))[1:]
    lost = -np.diff(sample.ice_pixels)
    assert np.corrcoef(melt, lost)[0, 1] > 0.95


def test_clouds_and_casts_inflate_the_proxy_not_the_ice() -> None:
    """The same glacier with nuisances: identical ice, larger measured 'melt' on those steps."""
    noisy, clean = glacier_timelapse(16, seed=2), glacier_timelapse(16, seed=2, nuisances=CLEAN)
    assert np.array_equal(noisy.ice_pixels, clean.ice_pixels)
    affected = (noisy.cloudy | noisy.cast)
    step_affected = affected[1:] | affected[:-1]
    noisy_melt, clean_melt = measured_melt(noisy.frames)[1:], measured_melt(clean.frames)[1:]
    assert np.all(noisy_melt[step_affected] > 2 * clean_melt[step_affected])


def test_written_gif_and_sidecar_read_back(tmp_path: Path) -> None:
    sample = glacier_timelapse(6, seed=5)
    path = write_timelapse(sample, tmp_path / "glacier.gif")
    sequence = read_sequence(path)
    assert sequence.num_frames == 6 and sequence.dates == sample.dates
    assert (tmp_path / "glacier.dates.txt").read_text().splitlines()[0] == sample.dates[0].isoformat()
