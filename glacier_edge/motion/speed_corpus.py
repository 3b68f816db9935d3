"""Speed series to learn from: what `glacier-edge motion` wrote (or measured), cut into places.

Why blocks: a glacier gives one median series of tens of pairs — too few to fit even four weights.
Its displacement fields give many more places: the frame is cut into ``blocks × blocks`` tiles and
each tile's median valid speed (at least :data:`MIN_BLOCK_WINDOWS` windows) is a series of its own,
at the scale of the regions a station forecasts. Series with fewer than :data:`MIN_SPEEDS` speeds
are dropped. Every series of one folder is one group (one glacier) for held-out evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from glacier_edge.contracts import MotionPairRow, MotionRecord
from glacier_edge.errors import BadInputError, ModelBundleError
from glacier_edge.motion.pipeline import WHOLE, MotionResult, PairMotion
from glacier_edge.motion.speed import MIN_EXCESS_PX
from glacier_edge.motion.speed_model import BLOCKS, MIN_HISTORY, SpeedSeries

MIN_BLOCK_WINDOWS = 3
MIN_SPEEDS = MIN_HISTORY + 2
"""A series must allow at least two forecasts."""


@dataclass(frozen=True)
class PairWindows:
    """One pair's field in original pixels: window centres and speeds (NaN where not valid)."""

    centre: float
    """Day of the pair's centre."""
    days: float
    rows: np.ndarray
    cols: np.ndarray
    speed: np.ndarray


def place_series(group: str, pairs: Sequence[PairWindows], size: tuple[int, int], named: dict[str, list[float]],
                 floor_px: float, blocks: int = BLOCKS) -> list[SpeedSeries]:
    """The named series (the glacier's, each region's) and one per block of the field.
    ``size``: (width, height) of the frames in the pixels of ``rows``/``cols``; ``floor_px``: the
    speed unit per pixel of displacement per day (the floor is 0.2 px over the median pair; serving
    uses each pair's own, the same for a fixed baseline)."""
    if not pairs:
        return []
    times = np.array([p.centre for p in pairs])
    floor = MIN_EXCESS_PX * floor_px / float(np.median([p.days for p in pairs]))
    width, height = size
    series = [SpeedSeries(group, name, times, np.asarray(values, np.float64), floor) for name, values in named.items()]
    for row in range(blocks):
        for col in range(blocks):
            values = []
            for pair in pairs:
                inside = ((np.minimum(pair.rows * blocks // height, blocks - 1) == row)
                          & (np.minimum(pair.cols * blocks // width, blocks - 1) == col) & np.isfinite(pair.speed))
                values.append(float(np.median(pair.speed[inside])) if inside.sum() >= MIN_BLOCK_WINDOWS else np.nan)
            series.append(SpeedSeries(group, f"block {row},{col}", times, np.array(values), floor))
    return [s for s in series if np.isfinite(s.speeds).sum() >= MIN_SPEEDS]


def _named(pairs: Sequence[PairMotion] | Sequence[MotionPairRow]) -> dict[str, list[float]]:
    """The glacier's median series and each region's, from the pairs in memory or in motion.json
    (both carry ``median_speed`` and ``region_speeds``)."""
    named = {WHOLE: [np.nan if p.median_speed is None else p.median_speed for p in pairs]}
    for region in (pairs[0].region_speeds if pairs else {}):
        speeds = [p.region_speeds.get(region) for p in pairs]
        named[region] = [np.nan if speed is None else speed for speed in speeds]
    return named


def result_series(result: MotionResult, group: str, blocks: int = BLOCKS) -> list[SpeedSeries]:
    """The series of a motion measured in memory (benchmarks, tests)."""
    days = result.sequence.days()
    days = np.arange(len(result.sequence.frames), dtype=np.float64) if days is None else days
    to_original = 1.0 / result.sequence.scale
    pairs = [PairWindows(float(days[p.second] - p.days / 2), p.days, p.field.rows * to_original,
                         p.field.cols * to_original, p.speed) for p in result.pairs]
    return place_series(group, pairs, result.sequence.original_size, _named(result.pairs),
                        to_original * (result.options.pixel_size or 1.0), blocks)


def folder_series(folder: Path, blocks: int = BLOCKS) -> list[SpeedSeries]:
    """The series of a folder `glacier-edge motion --out` wrote (motion.json and its fields)."""
    record = MotionRecord.read(folder / "motion.json") if (folder / "motion.json").is_file() else None
    if record is None:
        raise BadInputError(f"{folder}: no motion.json here; give folders written by `glacier-edge motion --out`")
    dates = [row.date for row in record.registration]
    if record.dated and all(dates):
        first = date.fromisoformat(dates[0])
        day_of = [float((date.fromisoformat(d) - first).days) for d in dates]
    else:
        day_of = [float(i) for i in range(record.frames)]
    pairs = []
    for row in record.pairs:
        try:
            with np.load(folder / row.field_file) as field:
                speed = np.where(field["valid"], field["speed"], np.nan)
                pairs.append(PairWindows(day_of[row.second] - row.days / 2, row.days, field["rows"].astype(np.float64),
                                         field["cols"].astype(np.float64), speed))
        except (OSError, KeyError, ValueError) as exc:
            raise ModelBundleError(f"{folder / row.field_file}: unreadable displacement field ({exc})") from None
    return place_series(folder.resolve().name, pairs, record.original_size, _named(record.pairs),
                        (record.pixel_size or 1.0) / record.scale, blocks)
