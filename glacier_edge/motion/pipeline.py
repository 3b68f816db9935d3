"""A sequence's motion, end to end: register every frame on stable ground, pair the usable
frames (consecutive, or the frame closest to a baseline of N days earlier), measure a
displacement field per pair, and turn it into speeds, a series and alerts.

Speeds are in pixels of the original frame per day, or metres per day with ``pixel_size``.
An unregistered frame (cloud, snow, no stable texture) is left out: its neighbours pair with the
next usable frame instead, never with a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glacier_edge.contracts import SpeedModelRecord
from glacier_edge.errors import BadInputError
from glacier_edge.ingest.frames import DEFAULT_MAX_PIXELS
from glacier_edge.motion.failure import FailureForecast, inverse_velocity_forecast
from glacier_edge.motion.field import RADIUS, SPACING, TEMPLATE, DisplacementField, displacement_field
from glacier_edge.motion.imagery import (
    DEFAULT_LONG_SIDE,
    MotionSequence,
    read_mask,
    read_motion_sequence,
    read_regions,
)
from glacier_edge.motion.register import ASSUMED, IDENTITY, Registration, register
from glacier_edge.motion.speed import MIN_EXCESS_PX, SpeedForecast, forecast_speeds
from glacier_edge.signals.frame_regions import RegionLayout

MIN_VALID_SHARE = 0.1
"""A pair whose valid vectors cover less than this share of its windows reports no speed."""
MIN_REGION_WINDOWS = 3
"""A region's speed needs at least this many valid windows centred in it."""
EDGE_HINT = 0.2
"""Above this share of windows peaking at the search border, the log suggests a larger radius."""
WHOLE = "glacier"
"""The name of the whole measured area in series, forecasts and alerts."""


@dataclass(frozen=True)
class MotionOptions:
    template: int = TEMPLATE
    spacing: int = SPACING
    radius: int = RADIUS
    method: str = "oc"
    baseline_days: float | None = None
    """Pair each usable frame with the usable frame closest to this many days earlier (None:
    the previous usable frame). Daily motion is often sub-pixel; a longer baseline measures more."""
    pixel_size: float | None = None
    """Metres per original pixel: speeds in m/day (None: px/day)."""
    speed_alert: float | None = None
    acceleration_alert: float | None = None
    """Alert when the median speed grows faster than this (speed unit per day)."""
    speed_model: SpeedModelRecord | None = None
    """The learnt next-speed forecast (`glacier-edge speed-model`) in the online trust's model slot
    (None: the naive trend)."""

    def __post_init__(self) -> None:
        if self.pixel_size is not None and not self.pixel_size > 0:
            raise BadInputError(f"--pixel-size {self.pixel_size}: must be a positive number of metres")
        if self.template < 8 or self.template % 2:
            raise BadInputError(f"--template {self.template}: an even number of pixels ≥ 8")
        if self.spacing < 1 or self.radius < 1:
            raise BadInputError("--spacing and --radius must be at least 1 px")
        if self.baseline_days is not None and not self.baseline_days > 0:
            raise BadInputError(f"--baseline-days {self.baseline_days}: must be positive")
        if self.method not in ("oc", "zncc"):
            raise BadInputError(f"--method {self.method}: use oc or zncc")

    @property
    def unit(self) -> str:
        return "m/day" if self.pixel_size is not None else "px/day"


@dataclass(frozen=True)
class PairMotion:
    """The field between two usable frames and what it says, in the speed unit."""

    first: int
    second: int
    days: float
    field: DisplacementField
    """Displacements in pixels of the frames as measured (see ``speed_factor``)."""
    speed: np.ndarray
    """float (N,): per window, NaN where not valid."""
    median_speed: float | None
    p90_speed: float | None
    region_speeds: dict[str, float | None] = field(default_factory=dict)
    """Median speed of the valid windows centred in each region (None: too few valid there)."""

    @property
    def valid_share(self) -> float:
        return self.field.valid_share


@dataclass(frozen=True)
class MotionAlert:
    kind: str
    """"speed", "acceleration", "unexpected_acceleration" or "failure_forecast"."""
    pair: int
    value: float
    message: str
    region: str = WHOLE


@dataclass(frozen=True)
class MotionResult:
    sequence: MotionSequence
    options: MotionOptions
    registrations: list[Registration]
    pairs: list[PairMotion]
    day_of_pair_end: list[float]
    failures: dict[str, FailureForecast]
    """Per region (the whole glacier first): the inverse-velocity forecast on its median speeds."""
    speed_forecasts: dict[str, SpeedForecast]
    """Per region: the next speed from the online trust, replayed over its series."""
    alerts: list[MotionAlert] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return self.options.unit


@dataclass(frozen=True)
class PairSpeeds:
    """What one field says in the speed unit: per window, the median and 90th percentile of the
    valid windows (None under :data:`MIN_VALID_SHARE`), and each region's median."""

    speed: np.ndarray
    median: float | None
    p90: float | None
    regions: dict[str, float | None]


def pair_speeds(measured: DisplacementField, factor: float, days: float,
                regions: dict[str, np.ndarray]) -> PairSpeeds:
    """Speeds of a field over ``days`` (``factor``: speed unit per measured pixel, e.g. metres per
    pixel over the frames' reduction); `motion` and a station both read a field this way."""
    speed = measured.magnitude * factor / days
    enough = measured.valid_share >= MIN_VALID_SHARE and measured.valid.any()
    valid_speed = speed[measured.valid]
    per_region = {}
    for name, mask in regions.items():
        inside = measured.valid & mask[measured.rows, measured.cols]
        per_region[name] = float(np.median(speed[inside])) if inside.sum() >= MIN_REGION_WINDOWS else None
    return PairSpeeds(speed, float(np.median(valid_speed)) if enough else None,
                      float(np.percentile(valid_speed, 90)) if enough else None, per_region)


def speed_alerts(value: float, previous: tuple[float, float] | None, centre: float, unexpected_high: float | None,
                 options: MotionOptions) -> list[tuple[str, float, str]]:
    """(kind, value, text) of what one region's new speed raises: above ``speed_alert``; growing
    faster than ``acceleration_alert`` since ``previous`` (centre day, speed) of the same series;
    above the interval forecast for it (``unexpected_high``, its top, when it was). The caller
    names the place and the image."""
    unit, alerts = options.unit, []
    if options.speed_alert is not None and value > options.speed_alert:
        alerts.append(("speed", value, f"median speed {value:.3g} {unit} above {options.speed_alert:g}"))
    if previous is not None and options.acceleration_alert is not None and centre > previous[0]:
        acceleration = (value - previous[1]) / (centre - previous[0])
        if acceleration > options.acceleration_alert:
            alerts.append(("acceleration", float(acceleration), f"speed grows {acceleration:.3g} {unit} per day "
                           f"(above {options.acceleration_alert:g})"))
    if unexpected_high is not None:
        alerts.append(("unexpected_acceleration", value, f"speed {value:.3g} {unit} above the 90 % interval "
                       f"forecast for it (≤ {unexpected_high:.3g})"))
    return alerts


def failure_text(failure: FailureForecast, when: str) -> str:
    """The failure forecast's alert text (the caller names the place)."""
    return (f"inverse velocity falls toward zero (p = {failure.p_value:.1e} over the last {failure.observations} "
            f"speeds): failure forecast for {when}")


def pair_partners(days: np.ndarray, usable: list[bool], baseline: float | None) -> list[tuple[int, int]]:
    """(first, second) indices: each usable frame after the first with the previous usable frame,
    or with the usable frame whose date is closest to ``baseline`` days earlier (ties: the earlier)."""
    pairs = []
    for second in range(1, len(days)):
        if not usable[second]:
            continue
        earlier = [i for i in range(second) if usable[i] and days[i] < days[second]]
        if not earlier:
            continue
        if baseline is None:
            pairs.append((earlier[-1], second))
        else:
            target = days[second] - baseline
            pairs.append((min(earlier, key=lambda i: (abs(days[i] - target), days[i])), second))
    return pairs


def measure_motion(sequence: MotionSequence, glacier: np.ndarray | None, stable: np.ndarray | None,
                   options: MotionOptions = MotionOptions(), regions: dict[str, np.ndarray] | None = None,
                   progress: Callable[[str], None] = lambda _: None) -> MotionResult:
    """Everything :mod:`glacier_edge.motion` measures on one sequence (masks at the frames' size)."""
    days = sequence.days()
    if days is None:
        if options.baseline_days is not None:
            raise BadInputError(f"{sequence.source}: --baseline-days needs a date for every frame "
                                "(dated file names or a NAME.dates.txt sidecar)")
        days = np.arange(len(sequence.frames), dtype=np.float64)  # one frame a day, said in the report
    if stable is None and glacier is not None:
        stable = ~glacier
    regions = regions or {}
    where = glacier
    if where is None and regions:
        where = np.logical_or.reduce(list(regions.values()))
    reference = sequence.frames[0]
    registrations: list[Registration] = [IDENTITY]
    registered: list[np.ndarray | None] = [reference]
    if stable is None:
        # nothing says where the ground is still: registering on the whole frame would take the ice's
        # own motion for shake, so the frames are taken as they are (satellite products usually are
        # co-registered; a camera needs --stable-mask) — and the report says so
        progress("no --stable-mask or --glacier-mask: frames are taken as co-registered, not registered "
                 "(give --stable-mask to register a camera's frames on its rock)")
        registrations = [ASSUMED] * len(sequence.frames)
        registered = list(sequence.frames)
    for index in range(1 if stable is not None else len(sequence.frames), len(sequence.frames)):
        found = register(reference, sequence.frames[index], stable, method=options.method)
        registrations.append(found)
        registered.append(found.apply(sequence.frames[index]) if found.ok else None)
        progress(f"registered {sequence.labels[index]}: " + (
            f"shift ({found.dx:+.2f}, {found.dy:+.2f}) px, {found.rotation_deg:+.3f}°, {found.windows} windows, "
            f"{found.rms_px:.2f} px RMS" if found.ok else f"NOT REGISTERED ({found.reason})"))
    factor = 1.0 / sequence.scale * (options.pixel_size or 1.0)
    pairs: list[PairMotion] = []
    for first, second in pair_partners(days, [r is not None for r in registered], options.baseline_days):
        span = float(days[second] - days[first])
        measured = displacement_field(registered[first], registered[second], where, template=options.template,
                                      radius=options.radius, spacing=options.spacing, method=options.method)
        speeds = pair_speeds(measured, factor, span, regions)
        enough = speeds.median is not None
        pairs.append(PairMotion(first, second, span, measured, speeds.speed, speeds.median, speeds.p90,
                                speeds.regions))
        progress(f"{sequence.labels[first]} → {sequence.labels[second]} ({span:g} d): "
                 + (f"median {pairs[-1].median_speed:.3g} {options.unit}, " if enough else "no speed, ")
                 + f"{measured.valid_share:.0%} of {len(measured.valid)} windows valid"
                 + (f"; {measured.edge_share:.0%} peaked at the search border: the motion may exceed --radius "
                    f"{options.radius} px, raise it" if measured.edge_share > EDGE_HINT else ""))
    ends = [float(days[p.second]) for p in pairs]
    centres = np.array([days[p.second] - p.days / 2 for p in pairs])
    series = {WHOLE: np.array([np.nan if p.median_speed is None else p.median_speed for p in pairs])}
    for name in regions:
        series[name] = np.array([np.nan if p.region_speeds[name] is None else p.region_speeds[name] for p in pairs])
    failures = {name: inverse_velocity_forecast(centres, values) for name, values in series.items()} if pairs else {}
    precision = np.array([MIN_EXCESS_PX * factor / p.days for p in pairs])
    forecasts = ({name: forecast_speeds(centres, values, precision, options.speed_model)
                  for name, values in series.items()}
                 if pairs else {})
    alerts = motion_alerts(pairs, centres, series, failures, options, sequence, forecasts)
    return MotionResult(sequence, options, registrations, pairs, ends, failures, forecasts, alerts)


def measure_files(paths: Sequence[Path], *, glacier_mask: Path | None = None, stable_mask: Path | None = None,
                  regions_mask: Path | None = None, options: MotionOptions = MotionOptions(),
                  long_side: int = DEFAULT_LONG_SIDE, max_pixels: int = DEFAULT_MAX_PIXELS,
                  progress: Callable[[str], None] = lambda _: None,
                  layout: RegionLayout | None = None) -> MotionResult:
    """:func:`measure_motion` of a sequence and its mask files, as `motion`, `run` and the demo read them.

    ``layout`` (regions of the model's square frame, e.g. the per-region melt model's grid) gives the
    regions when no ``regions_mask`` does, stretched back to the frames' own size."""
    frames = read_motion_sequence(list(paths), long_side=long_side, max_pixels=max_pixels)
    glacier = read_mask(glacier_mask, frames, "--glacier-mask") if glacier_mask else None
    stable = read_mask(stable_mask, frames, "--stable-mask") if stable_mask else None
    regions = read_regions(regions_mask, frames) if regions_mask else None
    if regions is None and layout is not None:
        regions = layout_masks(layout, frames.shape)
    progress(f"{frames.source}: {len(frames.frames)} frames, {frames.original_size[0]}×{frames.original_size[1]} px"
             + (f" (measured at {frames.scale:.2f}×)" if frames.scale < 1 else ""))
    if frames.days() is None:
        progress("note: frames carry no dates; they are taken one day apart")
    return measure_motion(frames, glacier, stable, options, regions, progress)


def layout_masks(layout: RegionLayout, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Named bool masks (H, W) of a region layout drawn on the model's square frame (nearest neighbour)."""
    from PIL import Image

    labels = np.asarray(Image.fromarray(layout.labels.astype(np.int32)).resize((shape[1], shape[0]),
                                                                               Image.Resampling.NEAREST))
    return {name: labels == index for index, name in enumerate(layout.names)}


def motion_alerts(pairs: list[PairMotion], centres: np.ndarray, series: dict[str, np.ndarray],
                  failures: dict[str, FailureForecast], options: MotionOptions, sequence: MotionSequence,
                  forecasts: dict[str, SpeedForecast] | None = None) -> list[MotionAlert]:
    """Per region (the whole glacier first): speed above ``speed_alert``, acceleration above
    ``acceleration_alert`` (between consecutive pairs with a speed), a measured speed above the
    interval forecast for it (an unexpected acceleration), and an issued inverse-velocity failure
    forecast. Each message names the place."""
    alerts = []
    for region, values in series.items():
        last = None
        forecast = (forecasts or {}).get(region)
        for index, pair in enumerate(pairs):
            if not np.isfinite(values[index]):
                continue
            high = None
            if forecast is not None and forecast.unexpected[index]:
                high = float(forecast.value[index] + forecast.halfwidth[index])
            previous = None if last is None else (centres[last], values[last])
            for kind, value, text in speed_alerts(float(values[index]), previous, centres[index], high, options):
                alerts.append(MotionAlert(kind, index, value, f"{region}, {sequence.labels[pair.second]}: {text}",
                                          region))
            last = index
        failure = failures.get(region)
        if failure is not None and failure.issued:
            alerts.append(MotionAlert("failure_forecast", len(pairs) - 1, float(failure.failure_time),
                                      f"{region}: {failure_text(failure, _when(failure, sequence))}", region))
    return alerts


def _when(failure: FailureForecast, sequence: MotionSequence) -> str:
    first_date = sequence.dates[0]
    if first_date is None:
        return f"day {failure.failure_time:.1f} ({failure.low:.1f} … {failure.high:.1f}, 90 %)"
    from datetime import datetime, timedelta

    start = datetime(first_date.year, first_date.month, first_date.day)

    def day(value: float) -> str:  # to the hour: a forecast days ahead is not a date but a time
        return (start + timedelta(days=float(value))).strftime("%Y-%m-%d %H:%M")

    return f"{day(failure.failure_time)} ({day(failure.low)} … {day(failure.high)}, 90 %)"
