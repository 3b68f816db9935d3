"""`glacier-edge history`: everything a station has seen and said, as a table, JSON, CSV or plot.

One row per image in the order the station took them: its measured melt, the prediction made
*for* it (the nowcast at its arrival, or the forecast made at the image before) with interval and
error, the forecast it led to, its alerts, and why it was quarantined if it was.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import ClassVar

import numpy as np

from glacier_edge.contracts import SCENE_KINDS, OnlineSummary, Record, SceneKind
from glacier_edge.edge.report import online_lines, trust_summary
from glacier_edge.ingest.layout import scene_kind_of
from glacier_edge.signals.online import OnlineTrust
from glacier_edge.station.store import Store


@dataclass(frozen=True)
class HistoryRow:
    image_id: int
    date: str | None
    date_source: str
    name: str
    sensor: str | None
    status: str
    reason: str | None
    measured_melt: float | None
    predicted_melt: float | None
    """The prediction made for this image (nowcast at its arrival, or forecast the step before)."""
    interval_low: float | None
    interval_high: float | None
    abs_error: float | None
    persistence_error: float | None
    inside_interval: bool | None
    ood_score: float | None
    fallback: bool | None
    forecast_next: float | None
    """Forecast task: what this image led the station to forecast for the next one."""
    alerts: tuple[str, ...]
    online_melt: float | None = None
    """The station's own answer for this image (online combination), with its adaptive interval."""
    online_low: float | None = None
    online_high: float | None = None
    scene_kind: SceneKind | None = None
    """The kind of scene the image shows (its layout); None for images stored before scene kinds."""
    registered: bool | None = None
    """Surface motion (`watch --glacier-mask/--stable-mask`): registered on stable ground; None: not measured."""
    shift_x: float | None = None
    shift_y: float | None = None
    speed_median: float | None = None
    """Median speed of the pair ending at this image (px/day of the original, or m/day)."""
    speed_p90: float | None = None
    speed_valid_share: float | None = None
    speed_forecast: float | None = None
    """The speed the station forecast for this pair before measuring it, ± ``speed_forecast_halfwidth``."""
    speed_forecast_halfwidth: float | None = None
    region_speeds: dict[str, float | None] = field(default_factory=dict)
    """Each region's median speed of the pair ending at this image (`watch --regions-mask`)."""


@dataclass(frozen=True)
class StationHistory(Record):
    SCHEMA: ClassVar[str] = "glacier-edge/station-history"
    VERSION: ClassVar[int] = 4
    """v2: per image the online answer and interval; the station's learnt weights, skill and coverage.
    v3: per image its scene kind; the model's kind of imagery and its prior-from-elsewhere note.
    v4: per image its registration and speed (surface motion)."""
    WHAT: ClassVar[str] = "station history"

    database: str
    images: int
    quarantined: int
    scored: int
    skill_vs_persistence: float | None
    """1 − Σ|error| / Σ|persistence error| over the scored predictions persistence could also make."""
    coverage: float | None
    """Share of scored predictions with an interval whose measured melt fell inside it."""
    rows: tuple[HistoryRow, ...]
    online: OnlineSummary | None = None
    """What the station learnt from its own scored forecasts (the model running now)."""
    model_scene_kind: SceneKind | None = None
    """The kind of imagery the newest model knows (None before it processed an image)."""
    prior_note: str | None = None
    """Set when that model never trained on this station's region (as `watch` said at its start)."""
    schema: str = SCHEMA
    schema_version: int = VERSION


def read_history(store: Store) -> StationHistory:
    predictions = store.predictions()
    for_image = {p.target_image_id: p for p in predictions if p.target_image_id is not None}
    made_at = {p.image_id: p for p in predictions}
    alerts: dict[int, list[str]] = {}
    for alert in store.alerts():
        alerts.setdefault(alert.image_id, []).append(alert.kind)
    motion = store.motion_rows()
    region_speeds = store.region_speeds()
    rows = []
    for image in store.images():
        target = for_image.get(image.id)
        moved = motion.get(int(image.id))
        forecast = made_at.get(image.id)
        rows.append(HistoryRow(
            int(image.id), image.date, image.date_source, image.name, image.sensor, image.status, image.reason,
            image.measured_melt, target.value if target else None, target.interval_low if target else None,
            target.interval_high if target else None, target.error if target else None,
            target.persistence_error if target else None, target.inside if target else None, image.ood_score,
            target.fallback if target else None,
            forecast.value if forecast is not None and forecast.task == "forecast" else None,
            tuple(alerts.get(int(image.id), ())), target.online_value if target else None,
            target.online_low if target else None, target.online_high if target else None,
            None if image.perspective is None else str(scene_kind_of(image.perspective)),
            moved.registered if moved else None, moved.shift_x if moved else None, moved.shift_y if moved else None,
            moved.speed_median if moved else None, moved.speed_p90 if moved else None,
            moved.valid_share if moved else None, moved.forecast_speed if moved else None,
            moved.forecast_halfwidth if moved else None, region_speeds.get(int(image.id), {})))
    skill, _ = store.running_skill()
    scored = sum(p.error is not None for p in predictions)
    inside = [p.inside for p in predictions if p.inside is not None]
    model = store.latest_model()
    return StationHistory(str(store.path), len(rows), sum(r.status == "quarantined" for r in rows), scored, skill,
                          float(np.mean(inside)) if inside else None, tuple(rows), online_state_summary(store),
                          model[1] if model else None, model[2] if model else None)


def online_state_summary(store: Store) -> OnlineSummary | None:
    """The newest learnt online state as the summary `run` prints (weights, skill, coverage, bounds)."""
    latest = store.latest_online_state()
    if latest is None:
        return None
    return trust_summary(OnlineTrust.from_state(latest[1]))


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _motion_cell(row: HistoryRow) -> str:
    if row.registered is None:
        return ""
    if not row.registered:
        return f"  {'UNREGISTERED':>12s}"
    return f"  {'—' if row.speed_median is None else f'{row.speed_median:.3g}':>12s}"


def format_table(history: StationHistory) -> str:
    measured_motion = any(row.registered is not None for row in history.rows)
    motion_head = f"  {'speed':>12s}" if measured_motion else ""
    lines = [f"{'date':10s}  {'measured':>8s}  {'predicted':>17s}  {'station (online)':>17s}  {'|error|':>7s}  "
             f"{'persist.':>8s}  {'ood':>5s}  {'next':>7s}{motion_head}  flags  image"]
    for row in history.rows:
        if row.status == "quarantined":
            lines.append(f"{row.date or '':10s}  {'QUARANTINED':>8s}  {row.name}: {row.reason}")
            continue
        predicted = _cell(row.predicted_melt)
        if row.predicted_melt is not None and row.interval_low is not None and row.interval_high is not None:
            predicted += f" ± {(row.interval_high - row.interval_low) / 2:.4f}"
        other_kind = row.scene_kind is not None and history.model_scene_kind not in (None, row.scene_kind)
        flags = " ".join([*(a.upper() for a in row.alerts), *(["fallback"] if row.fallback else []),
                          *(["KIND"] if other_kind else [])])
        ood = "—" if row.ood_score is None else f"{row.ood_score:5.2f}"
        online = _cell(row.online_melt)
        if row.online_melt is not None and row.online_low is not None and row.online_high is not None:
            online += f" ± {(row.online_high - row.online_low) / 2:.4f}"
        lines.append(f"{row.date or '':10s}  {_cell(row.measured_melt):>8s}  {predicted:>17s}  {online:>17s}  "
                     f"{_cell(row.abs_error):>7s}  {_cell(row.persistence_error):>8s}  {ood:>5s}  "
                     f"{_cell(row.forecast_next):>7s}{_motion_cell(row) if measured_motion else ''}  "
                     f"{flags or '-':5s}  {row.name}")
    skill = "n/a" if history.skill_vs_persistence is None else f"{history.skill_vs_persistence:+.3f}"
    coverage = "n/a" if history.coverage is None else f"{history.coverage:.0%}"
    lines += ["", f"{history.images} images ({history.quarantined} quarantined); {history.scored} predictions scored "
              f"against what was then measured: skill vs persistence {skill}, inside their interval {coverage}",
              *(online_lines(history.online) if history.online is not None else []),
              *([f"model knows: {SCENE_KINDS[history.model_scene_kind]}s (KIND: an image of another kind of "
                 "scene, out of distribution)"] if history.model_scene_kind else []),
              *([f"PRIOR FROM ELSEWHERE: {history.prior_note}"] if history.prior_note else []),
              *(["speed: median of the valid windows of the pair ending at the image (surface motion; "
                 "UNREGISTERED: left out, stable ground hidden)"] if measured_motion else []),
              f"database: {history.database}"]
    return "\n".join(lines)


def format_csv(history: StationHistory) -> str:
    buffer = io.StringIO()
    names = [f.name for f in dataclasses.fields(HistoryRow)]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in history.rows:
        values = [getattr(row, name) for name in names]
        writer.writerow(["" if v is None else ";".join(v) if isinstance(v, tuple) else v for v in values])
    return buffer.getvalue()


def format_history(history: StationHistory, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(history.to_json(), indent=2)
    if output_format == "csv":
        return format_csv(history)
    return format_table(history)


def plot_history(history: StationHistory, path: Path) -> Path:
    """Measured and predicted melt over the processed images, interval band, dates on the x-axis."""
    from glacier_edge.edge.plot import MeltPanel, plot_melt

    rows = [row for row in history.rows if row.status == "ok"]
    if len(rows) < 2:
        from glacier_edge.errors import BadInputError

        raise BadInputError(f"{history.database}: {len(rows)} processed image(s); a plot needs at least 2")

    def column(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    predicted = column([row.predicted_melt for row in rows])
    halfwidth = column([None if row.interval_low is None or row.interval_high is None
                        else (row.interval_high - row.interval_low) / 2 for row in rows])
    panel = MeltPanel(f"station {history.database}: {len(rows)} images", column([r.measured_melt for r in rows]),
                      predicted, [date.fromisoformat(r.date) if r.date else None for r in rows],
                      halfwidth if np.isfinite(halfwidth).any() else None)
    return plot_melt(path, [panel])


@dataclass(frozen=True)
class RegionHistoryRow:
    image: str
    date: str | None
    measured_melt: float | None
    """Melt of this region between the image and the one before (null for the first)."""
    predicted_melt: float | None
    interval_low: float | None
    interval_high: float | None
    unexpected: bool
    """Measured outside the alert band (an ``unexpected_region_change`` alert was raised)."""


@dataclass(frozen=True)
class RegionHistory(Record):
    """``history --region NAME``: one region's series at a station (bundles trained with --frame-regions)."""

    SCHEMA: ClassVar[str] = "glacier-edge/region-history"
    VERSION: ClassVar[int] = 1
    WHAT: ClassVar[str] = "region history"

    database: str
    layout: str
    region: str
    box: tuple[int, ...]
    """x0, y0, x1, y1 in pixels of the original images."""
    rows: tuple[RegionHistoryRow, ...]
    schema: str = SCHEMA
    schema_version: int = VERSION


def read_region_history(store: Store, name: str) -> RegionHistory:
    """One region's stored series; a name the station does not know is one line with the names it does."""
    from glacier_edge.errors import BadInputError

    layout = store.region_layout()
    if layout is None:
        raise BadInputError(f"{store.path}: this station has no melt per region (its bundle was not trained with "
                            "--frame-regions)")
    source, names, boxes, _ = layout
    if name not in names:
        raise BadInputError(f"--region {name!r}: not a region of this station ({source}: {', '.join(names)})")
    rows = tuple(RegionHistoryRow(image, day, measured, predicted, low, high, bool(unexpected))
                 for image, day, measured, predicted, low, high, unexpected in store.region_series(name))
    return RegionHistory(str(store.path), source, name, tuple(boxes[names.index(name)]), rows)


def format_region_history(history: RegionHistory, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(history.to_json(), indent=2)
    names = [f.name for f in dataclasses.fields(RegionHistoryRow)]
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        for row in history.rows:
            writer.writerow(["" if getattr(row, n) is None else getattr(row, n) for n in names])
        return buffer.getvalue()
    x0, y0, x1, y1 = history.box
    lines = [f"region {history.region} of {history.layout}: x {x0}–{x1}, y {y0}–{y1} px of the original images",
             f"{'date':10s}  {'measured':>8s}  {'predicted':>17s}  flags       image"]
    for row in history.rows:
        predicted = _cell(row.predicted_melt)
        if row.predicted_melt is not None and row.interval_low is not None and row.interval_high is not None:
            predicted += f" ± {(row.interval_high - row.interval_low) / 2:.4f}"
        lines.append(f"{row.date or '':10s}  {_cell(row.measured_melt):>8s}  {predicted:>17s}  "
                     f"{'UNEXPECTED' if row.unexpected else '-':10s}  {row.image}")
    lines.append(f"{sum(r.unexpected for r in history.rows)} unexpected change(s) in {len(history.rows)} images; "
                 f"database: {history.database}")
    return "\n".join(lines)
