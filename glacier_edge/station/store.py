"""The station's state in SQLite: images, predictions, alerts, and the files already looked at.

WAL journal with ``synchronous=FULL``: a committed image survives power loss, an uncommitted
one leaves no trace. Every image is one ``BEGIN IMMEDIATE`` transaction (the write lock is
taken before the window is read, so two watchers on one database cannot interleave). The
schema carries its version in ``schema_version``; :data:`MIGRATIONS` upgrades an older
database in place, one step per version, each in its own transaction.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from glacier_edge.errors import GlacierEdgeError
from glacier_edge.station.records import (
    Alert,
    ImageRow,
    MotionRow,
    PredictionRow,
    WindowImage,
)

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = 7

_SCHEMA_V1 = """
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    date TEXT,
    date_source TEXT NOT NULL,
    sensor TEXT,
    covariates TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL CHECK (status IN ('ok', 'quarantined')),
    reason TEXT,
    measured_melt REAL,
    encoder_sha256 TEXT,
    embedding BLOB,
    colour BLOB,
    ood_score REAL,
    received_at TEXT NOT NULL
);
CREATE INDEX images_status_date ON images (status, date, id);
CREATE TABLE predictions (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images (id),
    model_sha256 TEXT NOT NULL,
    task TEXT NOT NULL,
    value REAL NOT NULL,
    interval_low REAL,
    interval_high REAL,
    ood INTEGER NOT NULL,
    fallback INTEGER NOT NULL,
    target_image_id INTEGER REFERENCES images (id),
    error REAL,
    persistence_error REAL,
    inside INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX predictions_open ON predictions (target_image_id);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images (id),
    kind TEXT NOT NULL,
    value REAL NOT NULL,
    detail TEXT NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE TABLE seen_files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE last_frame (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    image_id INTEGER NOT NULL REFERENCES images (id),
    pixels BLOB NOT NULL
);
"""

_INDEXES_V2 = """
DROP INDEX images_status_date;
CREATE INDEX images_status_id ON images (status, id);
CREATE INDEX predictions_made_at ON predictions (image_id);
CREATE INDEX alerts_pending ON alerts (id) WHERE delivered_at IS NULL;
"""
"""v2: every per-image query an index lookup (the last image, the window, the open forecast, the
undelivered alerts), so the cost of a new image does not grow with the images stored (v1 scanned:
measured 8 → 14 ms per image from 500 to 2,500 stored)."""

_ONLINE_V3 = """
ALTER TABLE predictions ADD COLUMN online_value REAL;
ALTER TABLE predictions ADD COLUMN online_low REAL;
ALTER TABLE predictions ADD COLUMN online_high REAL;
ALTER TABLE predictions ADD COLUMN online_answers TEXT;
ALTER TABLE predictions ADD COLUMN online_inside INTEGER;
CREATE TABLE online_state (
    model_sha256 TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""
"""v3: the station's own trust (:mod:`glacier_edge.signals.online`): per prediction its online answer,
interval and the answers it combined; per model the learnt state (a new model starts afresh)."""

_KIND_V4 = """
ALTER TABLE images ADD COLUMN perspective REAL;
CREATE TABLE models (
    model_sha256 TEXT PRIMARY KEY,
    scene_kind TEXT NOT NULL,
    prior_note TEXT,
    last_used_at TEXT NOT NULL
);
"""
"""v4: each image's layout perspective (:mod:`glacier_edge.ingest.layout`): the window's scene kind;
per model the kind of imagery it knows and its prior-from-elsewhere note, for `history`."""

_MOTION_V5 = """
CREATE TABLE motion (
    image_id INTEGER PRIMARY KEY REFERENCES images (id),
    registered INTEGER NOT NULL,
    shift_x REAL,
    shift_y REAL,
    rotation_deg REAL,
    windows INTEGER NOT NULL,
    rms_px REAL,
    reason TEXT NOT NULL,
    pair_first_id INTEGER REFERENCES images (id),
    days REAL,
    speed_median REAL,
    speed_p90 REAL,
    valid_share REAL,
    day REAL,
    forecast_speed REAL,
    forecast_halfwidth REAL
);
CREATE TABLE motion_regions (
    image_id INTEGER NOT NULL REFERENCES images (id),
    region TEXT NOT NULL,
    centre REAL,
    speed_median REAL,
    forecast_speed REAL,
    forecast_halfwidth REAL,
    PRIMARY KEY (image_id, region)
);
CREATE TABLE motion_trust (
    region TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE motion_frames (
    role TEXT PRIMARY KEY CHECK (role IN ('reference', 'last')),
    image_id INTEGER NOT NULL REFERENCES images (id),
    date TEXT NOT NULL,
    height INTEGER NOT NULL,
    width INTEGER NOT NULL,
    pixels BLOB NOT NULL
);
"""
"""v5: surface motion (`watch --glacier-mask/--stable-mask`): per image its registration and the
speed of the pair it ends; per region its speeds and the learnt state of its speed forecast; the
reference and the last registered frame (float32 grey)."""

_REGIONS_V6 = """
CREATE TABLE region_cells (
    image_id INTEGER PRIMARY KEY REFERENCES images (id),
    cells BLOB NOT NULL
);
CREATE TABLE region_values (
    image_id INTEGER NOT NULL REFERENCES images (id),
    region INTEGER NOT NULL,
    name TEXT NOT NULL,
    measured REAL,
    predicted REAL,
    interval_low REAL,
    interval_high REAL,
    unexpected INTEGER NOT NULL,
    PRIMARY KEY (image_id, region)
);
CREATE TABLE region_layout (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    source TEXT NOT NULL,
    names TEXT NOT NULL,
    boxes TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
);
"""
"""v6: melt per region of the frame (bundles trained with --frame-regions): each image's
feature-map cells (float32, kept only for the images a window can still reach), each region's
measured and predicted melt with its interval, and the layout with its boxes in original pixels."""

_REGISTERED_V7 = """
CREATE TABLE melt_reference (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    image_id INTEGER NOT NULL REFERENCES images (id),
    original_width INTEGER NOT NULL,
    original_height INTEGER NOT NULL,
    height INTEGER NOT NULL,
    width INTEGER NOT NULL,
    pixels BLOB NOT NULL
);
CREATE TABLE melt_registration (
    image_id INTEGER PRIMARY KEY REFERENCES images (id),
    registered INTEGER NOT NULL,
    shift_x REAL,
    shift_y REAL,
    rotation_deg REAL,
    reason TEXT NOT NULL
);
"""
"""v7: the co-registered melt (bundles trained with --register): the reference image (float32 grey at
the motion size) every later image is aligned to before its melt and embedding, and each image's
registration."""

MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _INDEXES_V2, 3: _ONLINE_V3, 4: _KIND_V4, 5: _MOTION_V5,
                              6: _REGIONS_V6, 7: _REGISTERED_V7}
"""Version → the SQL that brings a database from version − 1 to it (0: empty)."""


class StationStoreError(GlacierEdgeError):
    """The station database cannot be opened, read or written (one line, exit 2)."""


def describe(error: sqlite3.Error, path: Path) -> StationStoreError:
    """One line for a SQLite failure, naming the database and what a keeper can do."""
    message = str(error)
    hint = ""
    if "locked" in message or "busy" in message:
        hint = "; another process holds it (a second watcher?)"
    elif "full" in message:
        hint = "; free disk space, nothing of this image was recorded"
    elif "unable to open" in message or "readonly" in message:
        hint = "; check the path and its permissions"
    return StationStoreError(f"station database {path}: {message}{hint}")


class Store:
    """An open station database. Use as a context manager; every method raises one line."""

    def __init__(self, path: Path, lock_timeout: float = 10.0) -> None:
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path, timeout=lock_timeout, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from exc

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()

    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self.db.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise StationStoreError(f"station database {self.path}: schema version {current} is newer than this "
                                    f"glacier-edge reads ({SCHEMA_VERSION}); upgrade glacier-edge")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                # another process may have migrated since we looked: re-read under the write lock
                if (self.db.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0) >= version:
                    continue
                for statement in _statements(MIGRATIONS[version]):
                    self.db.execute(statement)
                self.db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; any exception rolls back, SQLite errors become one line."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from exc
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise describe(exc, self.path) from exc
            raise

    # --- files looked at -------------------------------------------------------------------
    def seen_files(self) -> set[tuple[str, int, int]]:
        """Every (path, size, mtime_ns) hashed before, in one query (an idle start with thousands
        of files must not pay a query per file)."""
        try:
            return set(self.db.execute("SELECT path, size, mtime_ns FROM seen_files").fetchall())
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from exc

    def image_by_sha(self, sha256: str) -> ImageRow | None:
        row = self._one(f"SELECT {ImageRow.COLUMNS} FROM images WHERE sha256 = ?", (sha256,))
        return None if row is None else ImageRow.from_row(row)

    def remember_file(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO seen_files (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                        (path, size, mtime_ns, sha256))

    # --- images ----------------------------------------------------------------------------
    def insert_image(self, image: ImageRow) -> int:
        cursor = self.db.execute(
            "INSERT INTO images (sha256, name, path, date, date_source, sensor, covariates, status, reason, "
            "measured_melt, encoder_sha256, embedding, colour, ood_score, received_at, perspective) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (image.sha256, image.name, image.path, image.date, image.date_source, image.sensor,
             json.dumps(image.covariates, sort_keys=True), image.status, image.reason, image.measured_melt,
             image.encoder_sha256, _blob(image.embedding), _blob(image.colour), image.ood_score, image.received_at,
             image.perspective))
        return int(cursor.lastrowid)

    def last_ok_image(self) -> ImageRow | None:
        row = self._one(f"SELECT {ImageRow.COLUMNS} FROM images WHERE status = 'ok' ORDER BY id DESC LIMIT 1")
        return None if row is None else ImageRow.from_row(row)

    def window(self, encoder_sha256: str, size: int) -> list[WindowImage]:
        """The last ``size`` processed images embedded by this encoder, oldest first.

        Images are processed in date order, so insertion order is date order; images embedded by
        another encoder end the window (their embeddings are never mixed with this one's)."""
        rows = self.db.execute(
            "SELECT id, name, date, covariates, measured_melt, encoder_sha256, embedding, ood_score, colour, "
            "perspective FROM images WHERE status = 'ok' ORDER BY id DESC LIMIT ?", (size,)).fetchall()
        import numpy as np  # here: an idle station start does not load numpy

        window: list[WindowImage] = []
        for row in rows:
            if row[5] != encoder_sha256:
                break
            window.append(WindowImage(row[0], row[1], row[2], json.loads(row[3]), row[4],
                                      np.frombuffer(row[6], dtype=np.float32), row[7],
                                      None if row[8] is None else np.frombuffer(row[8], dtype=np.float32),
                                      row[9]))
        return window[::-1]

    def set_last_frame(self, image_id: int, pixels: np.ndarray) -> None:
        import numpy as np

        self.db.execute("INSERT OR REPLACE INTO last_frame (id, image_id, pixels) VALUES (1, ?, ?)",
                        (image_id, np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()))

    def last_frame(self, shape: tuple[int, ...]) -> tuple[int, np.ndarray] | None:
        import numpy as np

        row = self._one("SELECT image_id, pixels FROM last_frame WHERE id = 1")
        if row is None:
            return None
        return int(row[0]), np.frombuffer(row[1], dtype=np.uint8).reshape(shape)

    # --- predictions -----------------------------------------------------------------------
    def insert_prediction(self, prediction: PredictionRow) -> int:
        cursor = self.db.execute(
            "INSERT INTO predictions (image_id, model_sha256, task, value, interval_low, interval_high, ood, "
            "fallback, target_image_id, error, persistence_error, inside, created_at, online_value, online_low, "
            "online_high, online_answers, online_inside) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (prediction.image_id, prediction.model_sha256, prediction.task, prediction.value,
             prediction.interval_low, prediction.interval_high, int(prediction.ood), int(prediction.fallback),
             prediction.target_image_id, prediction.error, prediction.persistence_error,
             None if prediction.inside is None else int(prediction.inside), prediction.created_at,
             prediction.online_value, prediction.online_low, prediction.online_high,
             None if prediction.online_answers is None else json.dumps(list(prediction.online_answers)),
             None if prediction.online_inside is None else int(prediction.online_inside)))
        return int(cursor.lastrowid)

    def score_online(self, prediction_id: int, inside: bool) -> None:
        self.db.execute("UPDATE predictions SET online_inside = ? WHERE id = ?", (int(inside), prediction_id))

    def online_state(self, model_sha256: str) -> str | None:
        """The learnt online state of this model at this station (JSON), or None before its first image."""
        row = self._one("SELECT state FROM online_state WHERE model_sha256 = ?", (model_sha256,))
        return None if row is None else str(row[0])

    def save_online_state(self, model_sha256: str, state: str, when: str) -> None:
        self.db.execute("INSERT INTO online_state (model_sha256, state, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT (model_sha256) DO UPDATE SET state = excluded.state, "
                        "updated_at = excluded.updated_at", (model_sha256, state, when))

    def remember_model(self, model_sha256: str, scene_kind: str, prior_note: str | None, when: str) -> None:
        self.db.execute("INSERT INTO models (model_sha256, scene_kind, prior_note, last_used_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (model_sha256) DO UPDATE SET scene_kind = excluded.scene_kind, "
                        "prior_note = excluded.prior_note, last_used_at = excluded.last_used_at",
                        (model_sha256, scene_kind, prior_note, when))

    def latest_model(self) -> tuple[str, str, str | None] | None:
        """(sha256, scene kind, prior note) of the model that processed the newest image."""
        row = self._one("SELECT model_sha256, scene_kind, prior_note FROM models ORDER BY last_used_at DESC LIMIT 1")
        return None if row is None else (str(row[0]), str(row[1]), row[2])

    # --- motion ------------------------------------------------------------------------------
    def motion_frame(self, role: str) -> tuple[int, np.ndarray, date] | None:
        """(image id, float32 grey frame, date) of the reference or the last registered image."""
        import numpy as np

        row = self._one("SELECT image_id, height, width, pixels, date FROM motion_frames WHERE role = ?", (role,))
        if row is None:
            return None
        pixels = np.frombuffer(row[3], dtype=np.float32).reshape(int(row[1]), int(row[2]))
        return int(row[0]), pixels, date.fromisoformat(row[4])

    def set_motion_frame(self, role: str, image_id: int, pixels: np.ndarray, when: date) -> None:
        import numpy as np

        frame = np.ascontiguousarray(pixels, dtype=np.float32)
        self.db.execute("INSERT OR REPLACE INTO motion_frames (role, image_id, date, height, width, pixels) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (role, image_id, when.isoformat(), frame.shape[0],
                                                      frame.shape[1], frame.tobytes()))

    def melt_reference(self) -> tuple[int, tuple[int, int], np.ndarray] | None:
        """(image id, original (width, height), float32 grey at the motion size) of the image the
        co-registered melt aligns every later image to; None before the first."""
        import numpy as np

        row = self._one("SELECT image_id, original_width, original_height, height, width, pixels FROM melt_reference")
        if row is None:
            return None
        pixels = np.frombuffer(row[5], dtype=np.float32).reshape(int(row[3]), int(row[4]))
        return int(row[0]), (int(row[1]), int(row[2])), pixels

    def set_melt_reference(self, image_id: int, original_size: tuple[int, int], pixels: np.ndarray) -> None:
        import numpy as np

        frame = np.ascontiguousarray(pixels, dtype=np.float32)
        self.db.execute("INSERT INTO melt_reference (id, image_id, original_width, original_height, height, width, "
                        "pixels) VALUES (1, ?, ?, ?, ?, ?, ?)", (image_id, original_size[0], original_size[1],
                                                                frame.shape[0], frame.shape[1], frame.tobytes()))

    def insert_melt_registration(self, image_id: int, registered: bool, shift_x: float | None, shift_y: float | None,
                                 rotation_deg: float | None, reason: str) -> None:
        self.db.execute("INSERT INTO melt_registration (image_id, registered, shift_x, shift_y, rotation_deg, reason) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (image_id, int(registered), shift_x, shift_y, rotation_deg,
                                                      reason))

    def motion_reference_day(self) -> date:
        row = self._one("SELECT date FROM motion_frames WHERE role = 'reference'")
        return date.fromisoformat(row[0])

    def insert_motion(self, row: MotionRow) -> None:
        reference = self._one("SELECT date FROM motion_frames WHERE role = 'reference'")
        image = self._one("SELECT date FROM images WHERE id = ?", (row.image_id,))
        day = None
        if reference is not None and image is not None and image[0]:
            day = float((date.fromisoformat(image[0]) - date.fromisoformat(reference[0])).days)
        self.db.execute(f"INSERT INTO motion ({MotionRow.COLUMNS}) VALUES ({', '.join('?' * 16)})",
                        (row.image_id, int(row.registered), row.shift_x, row.shift_y, row.rotation_deg, row.windows,
                         row.rms_px, row.reason, row.pair_first_id, row.days, row.speed_median, row.speed_p90,
                         row.valid_share, day, row.forecast_speed, row.forecast_halfwidth))

    def speed_series(self, count: int = -1, region: str = "glacier") -> list[tuple[float, float]]:
        """(day of the pair's centre, median speed) of the newest ``count`` pairs with a speed (all:
        -1) of the whole glacier or one region, oldest first."""
        if region == "glacier":
            rows = self.db.execute("SELECT day - days / 2.0, speed_median FROM motion WHERE speed_median IS NOT "
                                   "NULL ORDER BY image_id DESC LIMIT ?", (count,)).fetchall()
        else:
            rows = self.db.execute("SELECT centre, speed_median FROM motion_regions WHERE region = ? AND "
                                   "speed_median IS NOT NULL ORDER BY image_id DESC LIMIT ?",
                                   (region, count)).fetchall()
        return [(float(t), float(v)) for t, v in rows[::-1]]

    def speed_total(self, region: str = "glacier") -> tuple[float, int]:
        """(sum, count) of the measured speeds of the whole glacier or one region: the running mean."""
        if region == "glacier":
            row = self._one("SELECT total(speed_median), count(speed_median) FROM motion")
        else:
            row = self._one("SELECT total(speed_median), count(speed_median) FROM motion_regions WHERE region = ?",
                            (region,))
        return float(row[0]), int(row[1])

    def speed_trust(self, region: str) -> str | None:
        """The learnt state of a region's speed forecast (OnlineTrust JSON), None before its first speed."""
        row = self._one("SELECT state FROM motion_trust WHERE region = ?", (region,))
        return None if row is None else str(row[0])

    def save_speed_trust(self, region: str, state: str) -> None:
        self.db.execute("INSERT INTO motion_trust (region, state) VALUES (?, ?) ON CONFLICT (region) DO UPDATE "
                        "SET state = excluded.state", (region, state))

    def insert_region_speed(self, image_id: int, region: str, centre: float | None, speed: float | None,
                            forecast: float | None, halfwidth: float | None) -> None:
        self.db.execute("INSERT INTO motion_regions (image_id, region, centre, speed_median, forecast_speed, "
                        "forecast_halfwidth) VALUES (?, ?, ?, ?, ?, ?)",
                        (image_id, region, centre, speed, forecast, halfwidth))

    def region_speeds(self) -> dict[int, dict[str, float | None]]:
        """Per image: each region's median speed (images with a pair only)."""
        speeds: dict[int, dict[str, float | None]] = {}
        for image_id, region, speed in self.db.execute("SELECT image_id, region, speed_median FROM motion_regions"):
            speeds.setdefault(int(image_id), {})[str(region)] = speed
        return speeds

    def motion_rows(self) -> dict[int, MotionRow]:
        rows = self.db.execute(f"SELECT {MotionRow.COLUMNS} FROM motion").fetchall()
        return {int(r[0]): MotionRow.from_row(r) for r in rows}

    def motion_row(self, image_id: int) -> MotionRow | None:
        row = self._one(f"SELECT {MotionRow.COLUMNS} FROM motion WHERE image_id = ?", (image_id,))
        return None if row is None else MotionRow.from_row(row)

    # --- counts (the Prometheus textfile, after every image: aggregates, not whole tables) ---
    def image_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM images GROUP BY status").fetchall())

    def alert_counts(self) -> tuple[dict[str, int], int]:
        """Alerts by kind, and how many are not delivered yet."""
        rows = self.db.execute("SELECT kind, count(*), sum(delivered_at IS NULL) FROM alerts GROUP BY kind").fetchall()
        return {kind: count for kind, count, _ in rows}, sum(pending for _, _, pending in rows)

    def ood_prediction_count(self) -> int:
        row = self._one("SELECT count(*) FROM predictions WHERE ood = 1")
        return int(row[0]) if row else 0

    # --- regions of the frame --------------------------------------------------------------
    def insert_region_cells(self, image_id: int, cells: np.ndarray, keep: int) -> None:
        """Store this image's feature-map cells (C, D) and drop those older than the last ``keep``
        images with cells: no window reaches them, and 128 kB per image would grow without bound."""
        self.db.execute("INSERT OR REPLACE INTO region_cells (image_id, cells) VALUES (?, ?)",
                        (image_id, _blob(cells)))
        self.db.execute("DELETE FROM region_cells WHERE image_id NOT IN "
                        "(SELECT image_id FROM region_cells ORDER BY image_id DESC LIMIT ?)", (keep,))

    def region_cells(self, image_ids: list[int], cells: int) -> np.ndarray | None:
        """float32 (T, C, D) of these images, or None when one of them has none stored."""
        import numpy as np

        marks = ",".join("?" * len(image_ids))
        rows = dict(self.db.execute(f"SELECT image_id, cells FROM region_cells WHERE image_id IN ({marks})",
                                    image_ids).fetchall())
        if any(image_id not in rows for image_id in image_ids):
            return None
        return np.stack([np.frombuffer(rows[i], dtype=np.float32).reshape(cells, -1) for i in image_ids])

    def set_region_layout(self, source: str, names: tuple[str, ...], boxes: tuple[tuple[int, ...], ...],
                          size: tuple[int, int]) -> None:
        """The regions, their boxes in pixels of the original images, and those images' (width, height)."""
        self.db.execute("INSERT OR REPLACE INTO region_layout (id, source, names, boxes, width, height) "
                        "VALUES (1, ?, ?, ?, ?, ?)", (source, json.dumps(list(names)),
                                                      json.dumps([list(box) for box in boxes]), *size))

    def region_layout(self) -> tuple[str, list[str], list[list[int]], tuple[int, int]] | None:
        row = self._one("SELECT source, names, boxes, width, height FROM region_layout WHERE id = 1")
        return None if row is None else (row[0], json.loads(row[1]), json.loads(row[2]), (row[3], row[4]))

    def region_values(self, image_id: int) -> list[tuple]:
        """(region, name, measured, predicted, low, high, unexpected, speed) of one image; the speed is
        the region's median speed when motion measured the same regions (by name)."""
        return self.db.execute(
            "SELECT v.region, v.name, v.measured, v.predicted, v.interval_low, v.interval_high, v.unexpected, "
            "m.speed_median FROM region_values v LEFT JOIN motion_regions m ON m.image_id = v.image_id AND "
            "m.region = v.name WHERE v.image_id = ? ORDER BY v.region", (image_id,)).fetchall()

    def insert_region_values(self, image_id: int, rows: list[tuple]) -> None:
        """(region, name, measured, predicted, low, high, unexpected) per region of this image."""
        self.db.executemany(
            "INSERT OR REPLACE INTO region_values (image_id, region, name, measured, predicted, interval_low, "
            "interval_high, unexpected) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(image_id, *row[:6], int(row[6])) for row in rows])

    def region_measured(self, image_ids: list[int], count: int) -> np.ndarray:
        """float64 (T, R) stored measured melt per region (NaN where none)."""
        import numpy as np

        values = np.full((len(image_ids), count), np.nan)
        position = {image_id: index for index, image_id in enumerate(image_ids)}
        marks = ",".join("?" * len(image_ids))
        for image_id, region, measured in self.db.execute(
                f"SELECT image_id, region, measured FROM region_values WHERE image_id IN ({marks})", image_ids):
            if measured is not None and region < count:
                values[position[image_id], region] = measured
        return values

    def region_series(self, name: str) -> list[tuple]:
        """(image name, date, measured, predicted, low, high, unexpected) of one region, in order."""
        return self.db.execute(
            "SELECT i.name, i.date, v.measured, v.predicted, v.interval_low, v.interval_high, v.unexpected "
            "FROM region_values v JOIN images i ON i.id = v.image_id WHERE v.name = ? ORDER BY v.image_id",
            (name,)).fetchall()

    def latest_online_state(self) -> tuple[str, str] | None:
        """(model sha256, state) of the most recently updated model, for `history`."""
        row = self._one("SELECT model_sha256, state FROM online_state ORDER BY updated_at DESC LIMIT 1")
        return None if row is None else (str(row[0]), str(row[1]))

    def measured_history(self, before_image_id: int | None = None) -> tuple[float | None, float, int]:
        """(newest measured melt, sum, count) over the ok images (those before ``before_image_id`` if
        given): persistence and the running mean a station knows."""
        where = "status = 'ok' AND measured_melt IS NOT NULL"
        args: tuple[object, ...] = ()
        if before_image_id is not None:
            where += " AND id < ?"
            args = (before_image_id,)
        total, count = self._one(f"SELECT sum(measured_melt), count(*) FROM images WHERE {where}", args)
        newest = self._one(f"SELECT measured_melt FROM images WHERE {where} ORDER BY id DESC LIMIT 1", args)
        return (None if newest is None else float(newest[0])), float(total or 0.0), int(count or 0)

    def open_forecast(self, made_at_image: int) -> PredictionRow | None:
        """The forecast made at ``made_at_image`` whose target image has not arrived yet."""
        row = self._one(f"SELECT {PredictionRow.COLUMNS} FROM predictions WHERE image_id = ? AND task = 'forecast' "
                        "AND target_image_id IS NULL", (made_at_image,))
        return None if row is None else PredictionRow.from_row(row)

    def score(self, prediction_id: int, target_image_id: int, error: float, persistence_error: float | None,
              inside: bool | None) -> None:
        self.db.execute("UPDATE predictions SET target_image_id = ?, error = ?, persistence_error = ?, inside = ? "
                        "WHERE id = ?", (target_image_id, error, persistence_error,
                                         None if inside is None else int(inside), prediction_id))

    def running_skill(self, model_sha256: str | None = None) -> tuple[float | None, int]:
        """1 − Σ|error| / Σ|persistence error| over every scored prediction (of one model if given)."""
        where = "WHERE error IS NOT NULL AND persistence_error IS NOT NULL"
        args: tuple[object, ...] = ()
        if model_sha256 is not None:
            where += " AND model_sha256 = ?"
            args = (model_sha256,)
        total, baseline, count = self._one(
            f"SELECT sum(error), sum(persistence_error), count(*) FROM predictions {where}", args)
        if not count or not baseline:
            return None, int(count or 0)
        return 1.0 - total / baseline, int(count)

    # --- alerts ----------------------------------------------------------------------------
    def insert_alert(self, alert: Alert) -> int:
        cursor = self.db.execute(
            "INSERT INTO alerts (image_id, kind, value, detail, created_at) VALUES (?, ?, ?, ?, ?)",
            (alert.image_id, alert.kind, alert.value, json.dumps(alert.detail, sort_keys=True), alert.created_at))
        return int(cursor.lastrowid)

    def undelivered_alerts(self) -> list[Alert]:
        rows = self.db.execute(f"SELECT {Alert.COLUMNS} FROM alerts WHERE delivered_at IS NULL ORDER BY id").fetchall()
        return [Alert.from_row(row) for row in rows]

    def mark_delivered(self, alert_id: int, when: str) -> None:
        try:
            self.db.execute("UPDATE alerts SET delivered_at = ? WHERE id = ?", (when, alert_id))
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from exc

    # --- reading ---------------------------------------------------------------------------
    def images(self) -> list[ImageRow]:
        rows = self.db.execute(f"SELECT {ImageRow.COLUMNS} FROM images ORDER BY id").fetchall()
        return [ImageRow.from_row(row) for row in rows]

    def predictions(self) -> list[PredictionRow]:
        rows = self.db.execute(f"SELECT {PredictionRow.COLUMNS} FROM predictions ORDER BY id").fetchall()
        return [PredictionRow.from_row(row) for row in rows]

    def alerts(self) -> list[Alert]:
        rows = self.db.execute(f"SELECT {Alert.COLUMNS} FROM alerts ORDER BY id").fetchall()
        return [Alert.from_row(row) for row in rows]

    def _one(self, sql: str, args: tuple[object, ...] = ()) -> tuple | None:
        try:
            return self.db.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from exc


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def _blob(array: np.ndarray | None) -> bytes | None:
    import numpy as np

    return None if array is None else np.ascontiguousarray(array, dtype=np.float32).tobytes()


def open_existing(path: Path) -> Store:
    """A database that must exist already (``history``): one line if it does not."""
    if not Path(path).is_file():
        raise StationStoreError(f"station database {path}: no such file; `glacier-edge watch` creates it")
    return Store(path)
