"""A station's surface motion: each image's registration and speed, computed once when it arrives
and kept in SQLite, as `glacier-edge motion` computes them over a folder.

The first image the station takes is the reference: every later image is registered to it on
stable ground, and a registered image is matched against the previous registered one. Both the
reference and the last registered frame are stored (float32 grey at the motion size), so a
restarted station carries on where it stopped. The speed series feeds the same alerts as
`motion`: speed, acceleration and the inverse-velocity failure forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from glacier_edge.errors import BadInputError
from glacier_edge.motion.failure import WINDOW, inverse_velocity_forecast
from glacier_edge.motion.field import displacement_field
from glacier_edge.motion.imagery import DEFAULT_LONG_SIDE, grey, mask_at, regions_at
from glacier_edge.motion.pipeline import WHOLE, MotionOptions, failure_text, pair_speeds, speed_alerts
from glacier_edge.motion.register import register
from glacier_edge.motion.speed import MIN_EXCESS_PX, new_trust, speed_answers
from glacier_edge.motion.speed_model import MIN_HISTORY
from glacier_edge.signals.online import OnlineTrust
from glacier_edge.station.records import Alert, MotionRow
from glacier_edge.station.store import Store


@dataclass(frozen=True)
class StationMotionOptions:
    """`watch --glacier-mask/--stable-mask`: what a station needs to measure motion."""

    glacier_mask: Path | None
    stable_mask: Path | None
    options: MotionOptions = MotionOptions()
    regions_mask: Path | None = None
    """A label image: each region gets its own speed series, forecasts and alerts."""
    long_side: int = DEFAULT_LONG_SIDE


@dataclass(frozen=True)
class StepForecast:
    """The speed forecast for one new pair, made before it was measured (None before the second speed)."""

    value: float | None
    halfwidth: float | None
    unexpected: bool


@dataclass(frozen=True)
class MotionStep:
    row: MotionRow
    alerts: tuple[Alert, ...]


class StationMotion:
    """Masks read once (on the first image, when the frame size is known), then one step per image."""

    def __init__(self, config: StationMotionOptions) -> None:
        self.config = config
        self._masks: tuple[np.ndarray | None, np.ndarray | None] | None = None
        self._regions: dict[str, np.ndarray] = {}

    def _masks_for(self, original_size: tuple[int, int], shape: tuple[int, int]) -> tuple:
        if self._masks is None:
            config = self.config

            def read(path: Path | None, what: str) -> np.ndarray | None:
                return mask_at(path, original_size, shape, what) if path is not None else None

            glacier, stable = read(config.glacier_mask, "--glacier-mask"), read(config.stable_mask, "--stable-mask")
            self._masks = (glacier, stable if stable is not None or glacier is None else ~glacier)
            if config.regions_mask is not None:
                self._regions = regions_at(config.regions_mask, original_size, shape)
        return self._masks

    def step(self, store: Store, image_id: int, day: date, original: np.ndarray, now: str,
             label: str) -> MotionStep:
        """Register the image, measure its pair with the previous registered image, store both and
        return the alerts the new speed raises."""
        height, width = original.shape[:2]
        scale = min(1.0, self.config.long_side / max(height, width))
        frame = grey(original, scale)
        reference = store.motion_frame("reference")
        if reference is None:
            store.set_motion_frame("reference", image_id, frame, day)
            store.set_motion_frame("last", image_id, frame, day)
            row = MotionRow(image_id, True, 0.0, 0.0, 0.0, 0, 0.0, "", None, None, None, None, None)
            store.insert_motion(row)
            return MotionStep(row, ())
        if reference[1].shape != frame.shape:
            row = MotionRow(image_id, False, None, None, None, 0, None,
                            f"frame is {width}×{height} px at another size than the reference image",
                            None, None, None, None, None)
            store.insert_motion(row)
            return MotionStep(row, ())
        glacier, stable = self._masks_for((width, height), frame.shape)
        options = self.config.options
        found = register(reference[1], frame, stable, method=options.method)
        to_original = 1.0 / scale
        if not found.ok:
            row = MotionRow(image_id, False, None, None, None, found.windows, None, found.reason, None, None, None,
                            None, None)
            store.insert_motion(row)
            return MotionStep(row, ())
        registered = found.apply(frame)
        last_id, last_frame, last_day = store.motion_frame("last")
        days = float((day - last_day).days)
        factor = to_original * (options.pixel_size or 1.0)
        speeds: dict[str, float | None] = {WHOLE: None}
        median = p90 = share = centre = None
        if days > 0:
            measured = displacement_field(last_frame, registered, glacier, template=options.template,
                                          radius=options.radius, spacing=options.spacing, method=options.method)
            read = pair_speeds(measured, factor, days, self._regions)
            median, p90, share = read.median, read.p90, measured.valid_share
            speeds = {WHOLE: median, **read.regions}
            centre = (day - store.motion_reference_day()).days - days / 2
        forecasts = {name: self._forecast(store, name, value, centre, MIN_EXCESS_PX * factor / days)
                     for name, value in speeds.items() if value is not None}
        glacier_forecast = forecasts.get(WHOLE)
        row = MotionRow(image_id, True, found.dx * to_original, found.dy * to_original, found.rotation_deg,
                        found.windows, found.rms_px * to_original, "", last_id, days if days > 0 else None,
                        median, p90, share, None,
                        glacier_forecast.value if glacier_forecast is not None else None,
                        glacier_forecast.halfwidth if glacier_forecast is not None else None)
        store.insert_motion(row)
        for name, value in speeds.items():
            if name != WHOLE:
                forecast = forecasts.get(name)
                store.insert_region_speed(image_id, name, centre, value,
                                          forecast.value if forecast is not None else None,
                                          forecast.halfwidth if forecast is not None else None)
        store.set_motion_frame("last", image_id, registered, day)
        alerts: list[Alert] = []
        for name, value in speeds.items():
            if value is not None:
                alerts += self._alerts(store, name, value, forecasts[name], image_id, day, now, label)
        return MotionStep(row, tuple(alerts))

    def _forecast(self, store: Store, region: str, value: float, centre: float, floor: float) -> StepForecast:
        """The forecast the region's learnt state made for this speed, then taught by it: one step of
        the online trust (state in SQLite), the same as `motion`'s replay over the whole series
        (:func:`glacier_edge.motion.speed.forecast_speeds`) without replaying years of speeds."""
        previous = store.speed_series(MIN_HISTORY, region=region)  # before this image's speed is stored
        state = store.speed_trust(region)
        model = self.config.options.speed_model
        if not previous or state is None:
            store.save_speed_trust(region, new_trust(value, model).to_state())
            return StepForecast(None, None, False)
        trust = OnlineTrust.from_state(state)
        total, count = store.speed_total(region)
        experts = speed_answers(previous, total / count, centre, model, floor)
        forecast, halfwidth, _ = trust.update(experts.answers, value)
        store.save_speed_trust(region, trust.to_state())
        return StepForecast(_finite(forecast), _finite(halfwidth), bool(value > forecast + halfwidth + floor))

    def _alerts(self, store: Store, region: str, value: float, forecast: StepForecast, image_id: int,
                day: date, now: str, label: str) -> list[Alert]:
        """The alerts of one region's new speed (its series already holds it), as `motion` raises
        them (:func:`glacier_edge.motion.pipeline.speed_alerts`), each naming the region."""
        options = self.config.options
        unit = options.unit
        series = store.speed_series(WINDOW, region=region)  # (pair-centre day, median), oldest first
        high = forecast.value + forecast.halfwidth if forecast.unexpected else None
        details = {"speed": {"threshold": options.speed_alert},
                   "acceleration": {"unit": f"{unit} per day", "threshold": options.acceleration_alert},
                   "unexpected_acceleration": {"forecast": forecast.value, "interval_high": high}}
        alerts = []

        def alert(kind: str, number: float, text: str, **detail: object) -> None:
            alerts.append(Alert(None, image_id, kind, float(number), {
                "region": region, "unit": unit, "image": label, "date": day.isoformat(),
                "message": f"{region}: {text}", **detail}, now))

        previous = series[-2] if len(series) >= 2 else None
        for kind, number, text in speed_alerts(value, previous, series[-1][0], high, options):
            alert(kind, number, text, **details[kind])
        failure = inverse_velocity_forecast(np.array([t for t, _ in series]), np.array([v for _, v in series]))
        if failure.issued:
            from datetime import timedelta

            when = store.motion_reference_day() + timedelta(days=float(failure.failure_time))
            alert("failure_forecast", failure.failure_time, failure_text(failure, when.isoformat()),
                  failure_date=when.isoformat(), low_day=failure.low, high_day=failure.high, p_value=failure.p_value)
        return alerts


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def check_motion_options(config: StationMotionOptions) -> None:
    """Refuse at start what would fail on the first image: a mask path that is not a file."""
    for what, path in (("--glacier-mask", config.glacier_mask), ("--stable-mask", config.stable_mask),
                       ("--regions-mask", config.regions_mask)):
        if path is not None and not Path(path).is_file():
            raise BadInputError(f"{what} {path}: no such file")
