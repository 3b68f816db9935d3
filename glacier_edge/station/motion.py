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
from glacier_edge.motion.imagery import DEFAULT_LONG_SIDE, MotionSequence, grey, read_mask
from glacier_edge.motion.pipeline import MotionOptions
from glacier_edge.motion.register import register
from glacier_edge.motion.speed import forecast_speeds
from glacier_edge.station.records import Alert, MotionRow
from glacier_edge.station.store import Store


@dataclass(frozen=True)
class StationMotionOptions:
    """`watch --glacier-mask/--stable-mask`: what a station needs to measure motion."""

    glacier_mask: Path | None
    stable_mask: Path | None
    options: MotionOptions = MotionOptions()
    long_side: int = DEFAULT_LONG_SIDE


@dataclass(frozen=True)
class MotionStep:
    row: MotionRow
    alerts: tuple[Alert, ...]


class StationMotion:
    """Masks read once (on the first image, when the frame size is known), then one step per image."""

    def __init__(self, config: StationMotionOptions) -> None:
        self.config = config
        self._masks: tuple[np.ndarray | None, np.ndarray | None] | None = None

    def _masks_for(self, original_size: tuple[int, int], shape: tuple[int, int], scale: float) -> tuple:
        if self._masks is None:
            probe = MotionSequence(np.zeros((1, *shape), np.float32), ["mask"], [None], "station", original_size, scale)
            glacier = read_mask(self.config.glacier_mask, probe, "--glacier-mask") if self.config.glacier_mask else None
            stable = read_mask(self.config.stable_mask, probe, "--stable-mask") if self.config.stable_mask else None
            self._masks = (glacier, stable if stable is not None or glacier is None else ~glacier)
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
        glacier, stable = self._masks_for((width, height), frame.shape, scale)
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
        median = p90 = share = None
        if days > 0:
            measured = displacement_field(last_frame, registered, glacier, template=options.template,
                                          radius=options.radius, spacing=options.spacing, method=options.method)
            speed = measured.magnitude * to_original * (options.pixel_size or 1.0) / days
            share = measured.valid_share
            if share >= 0.1 and measured.valid.any():
                median = float(np.median(speed[measured.valid]))
                p90 = float(np.percentile(speed[measured.valid], 90))
        forecast = None
        if median is not None:
            history = store.speed_series()
            centre = (day - store.motion_reference_day()).days - days / 2
            forecast = forecast_speeds(np.array([t for t, _ in history] + [centre]),
                                       np.array([v for _, v in history] + [median]))
        row = MotionRow(image_id, True, found.dx * to_original, found.dy * to_original, found.rotation_deg,
                        found.windows, found.rms_px * to_original, "", last_id, days if days > 0 else None,
                        median, p90, share, None,
                        _finite(forecast.value[-1]) if forecast is not None else None,
                        _finite(forecast.halfwidth[-1]) if forecast is not None else None)
        store.insert_motion(row)
        store.set_motion_frame("last", image_id, registered, day)
        alerts = self._alerts(store, row, image_id, day, now, label)
        if forecast is not None and forecast.unexpected[-1]:
            high = forecast.value[-1] + forecast.halfwidth[-1]
            unit = self.config.options.unit
            alerts += (Alert(None, image_id, "unexpected_acceleration", float(median), {
                "unit": unit, "forecast": float(forecast.value[-1]), "interval_high": float(high), "image": label,
                "date": day.isoformat(),
                "message": f"speed {median:.3g} {unit} above the 90 % interval forecast for it (≤ {high:.3g})"}, now),)
        return MotionStep(row, alerts)

    def _alerts(self, store: Store, row: MotionRow, image_id: int, day: date, now: str,
                label: str) -> tuple[Alert, ...]:
        if row.speed_median is None:
            return ()
        options = self.config.options
        unit = options.unit
        alerts = []
        series = store.speed_series(WINDOW)  # (pair-centre day, median) of the newest pairs, oldest first
        if options.speed_alert is not None and row.speed_median > options.speed_alert:
            alerts.append(Alert(None, image_id, "speed", row.speed_median, {
                "unit": unit, "threshold": options.speed_alert, "image": label, "date": day.isoformat(),
                "message": f"median speed {row.speed_median:.3g} {unit} above {options.speed_alert:g}"}, now))
        if options.acceleration_alert is not None and len(series) >= 2 and series[-1][0] > series[-2][0]:
            acceleration = (series[-1][1] - series[-2][1]) / (series[-1][0] - series[-2][0])
            if acceleration > options.acceleration_alert:
                alerts.append(Alert(None, image_id, "acceleration", float(acceleration), {
                    "unit": f"{unit} per day", "threshold": options.acceleration_alert, "image": label,
                    "date": day.isoformat(),
                    "message": f"speed grows {acceleration:.3g} {unit} per day (above {options.acceleration_alert:g})"},
                    now))
        if series:
            times = np.array([t for t, _ in series])
            forecast = inverse_velocity_forecast(times, np.array([v for _, v in series]))
            if forecast.issued:
                first = store.motion_reference_day()
                from datetime import timedelta

                when = first + timedelta(days=float(forecast.failure_time))
                alerts.append(Alert(None, image_id, "failure_forecast", float(forecast.failure_time), {
                    "failure_date": when.isoformat(), "low_day": forecast.low, "high_day": forecast.high,
                    "p_value": forecast.p_value, "image": label, "date": day.isoformat(),
                    "message": f"inverse velocity falls toward zero (p = {forecast.p_value:.1e} over the last "
                               f"{forecast.observations} speeds): failure forecast for {when.isoformat()}"}, now))
        return tuple(alerts)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def check_motion_options(config: StationMotionOptions) -> None:
    """Refuse at start what would fail on the first image: a mask path that is not a file."""
    for what, path in (("--glacier-mask", config.glacier_mask), ("--stable-mask", config.stable_mask)):
        if path is not None and not Path(path).is_file():
            raise BadInputError(f"{what} {path}: no such file")
