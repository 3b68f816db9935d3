"""Typed rows of the station database (one dataclass per table, columns named once)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    import numpy as np

ImageStatus = Literal["ok", "quarantined"]
DateSource = Literal["name", "sidecar", "arrival"]
AlertKind = Literal["threshold", "unexpected_change", "speed", "acceleration", "unexpected_acceleration",
                    "failure_forecast", "unexpected_region_change"]


@dataclass(frozen=True)
class ImageRow:
    """One image the station took: processed (``ok``) or set aside (``quarantined``, with why)."""

    COLUMNS: ClassVar[str] = ("id, sha256, name, path, date, date_source, sensor, covariates, status, reason, "
                              "measured_melt, encoder_sha256, ood_score, received_at, perspective")

    id: int | None
    sha256: str
    name: str
    path: str
    date: str | None
    """ISO acquisition date (``date_source`` says where it came from)."""
    date_source: DateSource
    sensor: str | None
    covariates: dict[str, float]
    status: ImageStatus
    reason: str | None
    measured_melt: float | None
    """Melt against the previous processed image (None for the first one)."""
    encoder_sha256: str | None
    ood_score: float | None
    received_at: str
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)
    colour: np.ndarray | None = field(default=None, compare=False, repr=False)
    perspective: float | None = None
    """The layout's perspective at the original size: which kind of scene the image shows."""

    @classmethod
    def from_row(cls, row: tuple) -> ImageRow:
        *values, perspective = row
        values[7] = json.loads(values[7])
        return cls(*values, perspective=perspective)


@dataclass(frozen=True)
class WindowImage:
    """What the graph model needs of a stored image."""

    id: int
    name: str
    date: str | None
    covariates: dict[str, float]
    measured_melt: float | None
    embedding: np.ndarray
    ood_score: float | None
    colour: np.ndarray | None = None
    """The colour features the OOD score was computed from (None: not stored)."""
    perspective: float | None = None
    """The layout's perspective (None: stored by a version before scene kinds)."""


@dataclass(frozen=True)
class PredictionRow:
    """A prediction made when image ``image_id`` arrived, for image ``target_image_id``: the same
    image (nowcast) or the next one (forecast: unknown until it arrives, then scored)."""

    COLUMNS: ClassVar[str] = ("id, image_id, model_sha256, task, value, interval_low, interval_high, ood, fallback, "
                              "target_image_id, error, persistence_error, inside, created_at, online_value, "
                              "online_low, online_high, online_answers, online_inside")

    id: int | None
    image_id: int
    model_sha256: str
    task: str
    value: float
    interval_low: float | None
    interval_high: float | None
    ood: bool
    fallback: bool
    target_image_id: int | None
    error: float | None
    persistence_error: float | None
    """|melt_{t−1} − melt_t| for the target: what "same as last step" would have missed by."""
    inside: bool | None
    created_at: str
    online_value: float | None = None
    """The station's own answer (:mod:`glacier_edge.signals.online`), made with the weights it had then."""
    online_low: float | None = None
    online_high: float | None = None
    online_answers: tuple[float, ...] | None = None
    """The experts' answers it combined (served, persistence, running mean): scored when the target arrives."""
    online_inside: bool | None = None

    @classmethod
    def from_row(cls, row: tuple) -> PredictionRow:
        values = list(row)
        values[7], values[8] = bool(values[7]), bool(values[8])
        values[12] = None if values[12] is None else bool(values[12])
        values[17] = None if values[17] is None else tuple(json.loads(values[17]))
        values[18] = None if values[18] is None else bool(values[18])
        return cls(*values)


@dataclass(frozen=True)
class Alert:
    """An alert as stored and as delivered (one JSON line)."""

    COLUMNS: ClassVar[str] = "id, image_id, kind, value, detail, created_at, delivered_at"

    id: int | None
    image_id: int
    kind: AlertKind
    value: float
    detail: dict[str, Any]
    created_at: str
    delivered_at: str | None = None

    @classmethod
    def from_row(cls, row: tuple) -> Alert:
        values = list(row)
        values[4] = json.loads(values[4])
        return cls(*values)

    def to_json_line(self) -> str:
        return json.dumps({"schema": "glacier-edge/alert", "id": self.id, "image_id": self.image_id,
                           "kind": self.kind, "value": self.value, "created_at": self.created_at,
                           **self.detail}, sort_keys=True)


@dataclass(frozen=True)
class MotionRow:
    """An image's motion, computed once when it arrived (`watch --glacier-mask/--stable-mask`)."""

    COLUMNS: ClassVar[str] = ("image_id, registered, shift_x, shift_y, rotation_deg, windows, rms_px, reason, "
                              "pair_first_id, days, speed_median, speed_p90, valid_share, day, forecast_speed, "
                              "forecast_halfwidth")

    image_id: int
    registered: bool
    shift_x: float | None
    """Where its stable ground lies relative to the reference image's, px of the original."""
    shift_y: float | None
    rotation_deg: float | None
    windows: int
    rms_px: float | None
    reason: str
    """Why it was not registered ("" when registered)."""
    pair_first_id: int | None
    """The previous registered image its speed was measured against."""
    days: float | None
    speed_median: float | None
    """Median speed of the pair's valid windows (px/day of the original, or m/day with --pixel-size)."""
    speed_p90: float | None
    valid_share: float | None
    day: float | None = None
    """Days since the reference image (the station's first)."""
    forecast_speed: float | None = None
    """The speed the station forecast for this pair before measuring it (online trust)."""
    forecast_halfwidth: float | None = None

    @classmethod
    def from_row(cls, row: tuple) -> MotionRow:
        values = list(row)
        values[1] = bool(values[1])
        return cls(*values)
