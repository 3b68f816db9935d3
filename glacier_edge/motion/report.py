"""What `glacier-edge motion` writes: one folder, written atomically.

- ``motion.json``: :class:`glacier_edge.contracts.MotionRecord` (registration of every frame,
  speeds per pair, the failure forecast, alerts);
- ``series.csv``: one row per pair (dates, days, median and 90th-percentile speed, valid share);
- ``registration.csv``: one row per frame (shift, rotation, scale, windows, RMS, why not);
- ``fields/pair_NNN.npz``: the pair's displacement field — ``rows``, ``cols`` (window centres),
  ``dx``, ``dy`` (displacement), all in pixels of the original frame; ``speed`` (the unit of
  motion.json), ``peak``, ``peak_ratio``, ``snr`` (match quality), ``valid`` (bool);
- ``maps/pair_NNN.png``: the speed of each valid window coloured over the pair's second frame,
  with arrows, and a colour scale in the corner (Pillow only: the edge install has no matplotlib).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from glacier_edge.contracts import (
    FailureRecord,
    MotionAlertRow,
    MotionPairRow,
    MotionRecord,
    RegistrationRow,
    SpeedForecastRecord,
)
from glacier_edge.fileio import atomic_directory
from glacier_edge.motion.pipeline import MotionResult
from glacier_edge.motion.register import IDENTITY

ARROW_GAIN = 4.0
"""Arrows are drawn this many times their displacement, so sub-pixel motion shows."""


def _none(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def motion_record(result: MotionResult, seconds: float) -> MotionRecord:
    sequence, options = result.sequence, result.options
    rows = []
    for index, (registration, label) in enumerate(zip(result.registrations, sequence.labels)):
        ok = registration.ok
        to_original = 1.0 / sequence.scale
        rows.append(RegistrationRow(
            index, label, sequence.dates[index].isoformat() if sequence.dates[index] else None, ok,
            registration.dx * to_original if ok else None, registration.dy * to_original if ok else None,
            registration.rotation_deg if ok else None, registration.scale if ok else None, registration.windows,
            registration.candidates, _none(registration.rms_px * to_original),
            "" if ok and registration.reason in ("", IDENTITY.reason) else registration.reason))
    glacier_forecast = next(iter(result.speed_forecasts.values()), None)

    def forecast_of(k: int) -> tuple[float | None, float | None]:
        if glacier_forecast is None or not np.isfinite(glacier_forecast.value[k]):
            return None, None
        return float(glacier_forecast.value[k]), _none(float(glacier_forecast.halfwidth[k]))

    pairs = tuple(MotionPairRow(p.first, p.second, sequence.labels[p.first], sequence.labels[p.second], p.days,
                                len(p.field.valid), p.field.valid_share, p.median_speed, p.p90_speed,
                                f"fields/pair_{k:03d}.npz", dict(p.region_speeds), *forecast_of(k))
                  for k, p in enumerate(result.pairs))
    return MotionRecord(
        source=sequence.source, frames=len(sequence.frames), original_size=sequence.original_size,
        scale=sequence.scale, unit=options.unit, pixel_size=options.pixel_size, method=options.method,
        template=options.template, spacing=options.spacing, radius=options.radius,
        baseline_days=options.baseline_days, dated=sequence.days() is not None, registration=tuple(rows),
        pairs=pairs, failures=failure_records(result), alerts=alert_rows(result),
        seconds=round(seconds, 2), speed_forecasts=speed_forecast_records(result))


def failure_records(result: MotionResult) -> tuple[FailureRecord, ...]:
    """Each region's inverse-velocity forecast as stored (motion.json and run's motion block)."""
    return tuple(FailureRecord(region, f.issued, f.failure_time, f.low, f.high, f.slope, f.p_value, f.observations,
                               f.reason) for region, f in result.failures.items())


def alert_rows(result: MotionResult) -> tuple[MotionAlertRow, ...]:
    return tuple(MotionAlertRow(a.kind, a.pair, a.value, a.message, a.region) for a in result.alerts)


def speed_forecast_records(result: MotionResult) -> tuple[SpeedForecastRecord, ...]:
    model = "trend" if result.options.speed_model is None else "speed model"
    return tuple(SpeedForecastRecord(region, f.next_value, _none(f.next_halfwidth), f.skill, f.coverage,
                                     int(f.trust.scored), model, 0 if f.refused is None else int(f.refused.sum()))
                 for region, f in result.speed_forecasts.items())


def _csv(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def speed_colour(value: np.ndarray, top: float) -> np.ndarray:
    """uint8 (N, 3): blue (still) → green → yellow → red (``top`` and above)."""
    x = np.clip(np.nan_to_num(np.asarray(value, np.float64)) / max(top, 1e-12), 0, 1)
    stops = np.array([[40, 60, 220], [40, 200, 120], [250, 220, 40], [230, 40, 30]], np.float64)
    position = x * (len(stops) - 1)
    low = np.minimum(position.astype(int), len(stops) - 2)
    frac = (position - low)[:, None]
    return np.rint(stops[low] * (1 - frac) + stops[low + 1] * frac).astype(np.uint8)


def speed_map(result: MotionResult, index: int, top: float) -> Image.Image:
    """The pair's valid windows as coloured squares with arrows over its second frame (grey)."""
    sequence, pair = result.sequence, result.pairs[index]
    base = (np.clip(sequence.frames[pair.second], 0, 1) * 255).astype(np.uint8)
    image = Image.fromarray(base, mode="L").convert("RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    measured = pair.field
    half = max(2, measured.spacing // 2 - 1)
    colours = speed_colour(pair.speed, top)
    for k in np.flatnonzero(measured.valid):
        r, c = int(measured.rows[k]), int(measured.cols[k])
        draw.rectangle((c - half, r - half, c + half, r + half), fill=(*colours[k].tolist(), 110))
        draw.line((c, r, c + ARROW_GAIN * measured.dx[k], r + ARROW_GAIN * measured.dy[k]), fill=(255, 255, 255, 230),
                  width=1)
    for step in range(101):  # the scale: 0 … top, bottom-left
        colour = tuple(speed_colour(np.array([step / 100 * top]), top)[0].tolist())
        draw.line((8 + step, image.height - 20, 8 + step, image.height - 8), fill=colour)
    draw.text((8, image.height - 34), f"0 … {top:.3g} {result.unit}; arrows ×{ARROW_GAIN:g}", fill=(255, 255, 255))
    return image


def write_motion(result: MotionResult, out_dir: Path, seconds: float) -> MotionRecord:
    """Write every output into ``out_dir`` at once (a staging folder renamed into place)."""
    record = motion_record(result, seconds)
    sequence = result.sequence
    to_original = 1.0 / sequence.scale
    speeds = [p.p90_speed for p in result.pairs if p.p90_speed is not None]
    top = max(speeds) if speeds else 1.0
    with atomic_directory(out_dir) as staging:
        (staging / "fields").mkdir()
        (staging / "maps").mkdir()
        for k, pair in enumerate(result.pairs):
            f = pair.field
            np.savez_compressed(staging / "fields" / f"pair_{k:03d}.npz", rows=f.rows * to_original,
                                cols=f.cols * to_original, dx=f.dx * to_original, dy=f.dy * to_original,
                                speed=pair.speed, peak=f.peak, peak_ratio=f.peak_ratio, snr=f.snr, valid=f.valid)
            speed_map(result, k, top).save(staging / "maps" / f"pair_{k:03d}.png")
        (staging / "motion.json").write_text(record.dumps(), encoding="utf-8")
        regions = list(result.failures)[1:]
        (staging / "series.csv").write_text(_csv(
            ["pair", "first", "second", "days", "windows", "valid_share", f"median_speed_{record.unit}",
             f"p90_speed_{record.unit}", *(f"{name}_{record.unit}" for name in regions)],
            [[k, p.first_label, p.second_label, p.days, p.windows, round(p.valid_share, 4),
              "" if p.median_speed is None else round(p.median_speed, 6),
              "" if p.p90_speed is None else round(p.p90_speed, 6),
              *("" if p.region_speeds.get(name) is None else round(p.region_speeds[name], 6) for name in regions)]
             for k, p in enumerate(record.pairs)]), encoding="utf-8")
        (staging / "registration.csv").write_text(_csv(
            ["frame", "label", "date", "registered", "dx_px", "dy_px", "rotation_deg", "scale", "windows",
             "candidates", "rms_px", "reason"],
            [[r.index, r.label, r.date or "", r.registered, "" if r.dx is None else round(r.dx, 4),
              "" if r.dy is None else round(r.dy, 4), "" if r.rotation_deg is None else round(r.rotation_deg, 5),
              "" if r.scale is None else round(r.scale, 6), r.windows, r.candidates,
              "" if r.rms_px is None else round(r.rms_px, 4), r.reason] for r in record.registration]),
            encoding="utf-8")
    return record


def speed_forecast_line(forecast: SpeedForecastRecord, unit: str) -> str:
    """One line: the next speed ± its interval, and how the forecasts of this series fared."""
    if forecast.next_speed is None:
        return f"next speed, {forecast.region}: none yet"
    band = "" if forecast.next_halfwidth is None else f" ± {forecast.next_halfwidth:.3g}"
    record = ("no forecast scored yet" if not forecast.scored else
              f"over {forecast.scored} forecast(s): skill {forecast.skill:+.2f} vs persistence, "
              f"90 % interval coverage {forecast.coverage:.0%}" if forecast.skill is not None else
              f"over {forecast.scored} forecast(s): coverage {forecast.coverage:.0%}")
    learnt = ""
    if forecast.model == "speed model":
        learnt = "; speed model" + (f", {forecast.refused} input(s) out of its range → persistence"
                                    if forecast.refused else "")
    return f"next speed, {forecast.region}: {forecast.next_speed:.3g}{band} {unit} ({record}{learnt})"
