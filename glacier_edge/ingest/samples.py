"""The project's own sample imagery: a seeded, procedurally drawn glacier time-lapse.

The demo, the help examples and the CI edge check need a real-looking sequence that the project
may ship. This module draws one: a valley glacier tongue that retreats from frame to frame, a
seasonal snow line, clouds, changing illumination, a sensor colour cast on some frames (as
Landsat 5 against Landsat 8), a burned-in date label and irregular dated acquisitions. Its true
ice area per frame is known, so tests can relate the melt proxy to a physical change.

Deterministic: the same ``seed`` and options give the same bytes on every machine (numpy's
PCG64 generator and Pillow's built-in bitmap font only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from glacier_edge.fileio import write_file_atomic, write_text_atomic
from glacier_edge.ingest.frames import sidecar_path

SAMPLE_NAME = "glacier-edge-sample-v2.gif"
"""File name of the default sample; the version changes whenever the drawing changes."""
SAMPLE_FRAMES = 12
SAMPLE_WIDTH, SAMPLE_HEIGHT = 240, 200
"""Not square and not 128×128, so ingest's one resize is exercised as on real exports."""
PIXEL_METRES = 30.0
"""Nominal ground size of one drawn pixel (Landsat), for the area in km² only."""
FRAME_MS = 400

ROCK = np.array([104, 94, 84], np.float32)
VEGETATION = np.array([88, 110, 70], np.float32)
ICE = np.array([176, 204, 222], np.float32)
SNOW = np.array([246, 248, 252], np.float32)
CLOUD = np.array([236, 238, 242], np.float32)
CAST = np.array([0.86, 0.80, 1.18], np.float32)
"""Per-channel gain of the 'older sensor' frames: a blue/purple cast."""


@dataclass(frozen=True)
class Nuisances:
    """What moves the melt proxy besides ice: each can be switched off to isolate the retreat."""

    snow_line: bool = True
    clouds: bool = True
    illumination: bool = True
    colour_cast: bool = True
    date_label: bool = True


@dataclass(frozen=True)
class GlacierTimelapse:
    """A drawn sequence and what is true about it."""

    frames: np.ndarray
    """uint8 (T, height, width, 3), RGB, the overlays burned in."""
    dates: list[date]
    ice_pixels: np.ndarray
    """int64 (T,): pixels of glacier ice (snow-covered or not) in each frame, before overlays."""
    cloudy: np.ndarray
    """bool (T,): frames with clouds drawn."""
    cast: np.ndarray
    """bool (T,): frames with the sensor colour cast."""
    nuisances: Nuisances = field(default_factory=Nuisances)

    @property
    def ice_area_km2(self) -> np.ndarray:
        return self.ice_pixels * (PIXEL_METRES / 1000.0) ** 2


ANNUAL_UP_TO = 30
"""Up to this many frames, one summer acquisition a year; longer sequences (station soaks, long
inboxes) are monthly-ish, so their dates stay in this century and in file names a reader parses."""


def acquisition_dates(count: int, rng: np.random.Generator, first_year: int = 1986) -> list[date]:
    """One summer acquisition in most years, with gaps (missing years) and varying days; beyond
    ANNUAL_UP_TO frames, one every 1–3 months (the same random draws, so frames do not change)."""
    dates, year, day = [], first_year, date(first_year, 6, 1)
    for _ in range(count):
        step = int(rng.choice([1, 1, 1, 2, 3]))
        day_of_year = int(rng.integers(182, 275))  # July to September
        if count <= ANNUAL_UP_TO:
            year += step
            dates.append(date(year, 1, 1) + timedelta(days=day_of_year - 1))
        else:
            day += timedelta(days=30 * step + day_of_year % 7)
            dates.append(day)
    return dates


def _terrain(height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Elevation (1 at the top ridge, 0 at the valley floor), the valley centre line and width."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y /= height - 1
    x /= width - 1
    phase = float(rng.uniform(0, 2 * np.pi))
    centre = 0.5 + 0.12 * np.sin(3.0 * y + phase)
    half_width = 0.20 - 0.09 * y
    ridges = 0.08 * np.sin(9 * x + phase) * np.cos(5 * y)
    elevation = np.clip(1.0 - y + ridges, 0.0, 1.0)
    distance = np.abs(x - centre) / half_width
    return elevation, distance, y


def _texture(height: int, width: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Smooth noise in [-1, 1]: coarse random grid upsampled bilinearly (rock and ice structure)."""
    coarse = rng.uniform(-1, 1, (max(2, int(height / scale)), max(2, int(width / scale)))).astype(np.float32)
    image = Image.fromarray(((coarse + 1) * 127.5).astype(np.uint8)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, np.float32) / 127.5 - 1.0


def _cloud_layer(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Opacity in [0, 0.85] of a few soft cloud blobs."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    alpha = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(2, 5))):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(0.08, 0.2) * height, rng.uniform(0.12, 0.3) * width
        alpha += np.exp(-(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2))
    return np.clip(alpha, 0, 1) * 0.85


def _draw_label(frame: np.ndarray, text: str) -> np.ndarray:
    """Burn a date label into the lower-left corner: an opaque box, as browser exports do."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    height = frame.shape[0]
    box = (2, height - (bottom - top) - 8, right - left + 8, height - 2)
    draw.rectangle(box, fill=(20, 20, 20))
    draw.text((box[0] + 3 - left, box[1] + 3 - top), text, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def glacier_timelapse(frames: int = SAMPLE_FRAMES, *, seed: int = 0, width: int = SAMPLE_WIDTH,
                      height: int = SAMPLE_HEIGHT, nuisances: Nuisances = Nuisances()) -> GlacierTimelapse:
    """Draw the sequence. The terminus retreats by a random amount each step (more after longer
    gaps); snow line, clouds, light and the colour cast vary per frame when enabled."""
    if frames < 2:
        raise ValueError("a time-lapse needs at least 2 frames")
    rng = np.random.default_rng(seed)
    dates = acquisition_dates(frames, rng)
    elevation, distance, y = _terrain(height, width, rng)
    rock_texture = _texture(height, width, rng, 6.0)
    ice_texture = _texture(height, width, rng, 10.0)
    # boundaries follow the terrain, not the rows: seen from above, a vegetation limit or a snow
    # line is ragged (a straight horizontal edge is what a horizon looks like, see ingest/layout)
    ragged = 0.6 * _texture(height, width, rng, 12.0) + 0.4 * _texture(height, width, rng, 4.0)
    lowland = (elevation + 0.08 * ragged < 0.2)[..., None]
    base = np.where(lowland, VEGETATION, ROCK) * (1 + 0.18 * rock_texture[..., None])
    years = np.array([(d - dates[0]).days / 365.25 for d in dates])
    retreat_per_year = rng.uniform(0.012, 0.026, frames)
    terminus = 0.88 - np.cumsum(np.r_[0, np.diff(years)] * retreat_per_year)
    out = np.empty((frames, height, width, 3), np.uint8)
    ice_pixels = np.empty(frames, np.int64)
    cloudy = np.zeros(frames, bool)
    cast = np.zeros(frames, bool)
    for t in range(frames):
        tongue = np.clip((terminus[t] - y) / 0.06, 0, 1) ** 0.5  # rounded snout
        ice = distance < tongue
        ice_pixels[t] = int(ice.sum())
        frame = np.where(ice[..., None], ICE * (1 + 0.06 * ice_texture[..., None]), base)
        if nuisances.snow_line:
            day = dates[t].timetuple().tm_yday
            snow_line = 0.55 + 0.25 * (day - 182) / 93 + float(rng.normal(0, 0.04))  # higher late in summer
            snow = np.clip((elevation + 0.12 * ragged - snow_line) / 0.05, 0, 1)[..., None]
            frame = frame * (1 - snow) + SNOW * (1 + 0.05 * rock_texture[..., None]) * snow  # shaded by the relief
        if nuisances.clouds and rng.random() < 0.3:
            cloudy[t] = True
            alpha = _cloud_layer(height, width, rng)[..., None]
            frame = frame * (1 - alpha) + CLOUD * alpha
        if nuisances.illumination:
            frame = frame * float(rng.uniform(0.82, 1.12))
        if nuisances.colour_cast and rng.random() < 0.3:
            cast[t] = True
            frame = frame * CAST
        out[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
        if nuisances.date_label:
            out[t] = _draw_label(out[t], dates[t].isoformat())
    return GlacierTimelapse(out, dates, ice_pixels, cloudy, cast, nuisances)


def write_timelapse(timelapse: GlacierTimelapse, path: Path) -> Path:
    """Write an animated GIF and its ``NAME.dates.txt`` sidecar, each atomically."""
    path = Path(path)

    def write_gif(tmp: Path) -> None:
        images = [Image.fromarray(frame) for frame in timelapse.frames]
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=FRAME_MS, loop=0)

    write_file_atomic(path, write_gif)
    write_text_atomic(sidecar_path(path), "".join(f"{d.isoformat()}\n" for d in timelapse.dates))
    return path


def write_frame_files(timelapse: GlacierTimelapse, folder: Path, prefix: str = "glacier") -> list[Path]:
    """One dated PNG per frame (``glacier_1986-07-14.png``), each atomically: a station's inbox."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for frame, when in zip(timelapse.frames, timelapse.dates):
        path = folder / f"{prefix}_{when.isoformat()}.png"
        write_file_atomic(path, lambda tmp, frame=frame: Image.fromarray(frame).save(tmp, format="PNG"))
        paths.append(path)
    return paths


def sample_sequence_path(seed: int = 0) -> Path:
    """The default sample (or the glacier of another seed), drawn once into the cache
    (``$GLACIER_EDGE_CACHE/samples``) and reused.

    Falls back to a per-user temporary folder when the cache cannot be written (read-only home).
    """
    import tempfile

    from glacier_edge.errors import OutputError
    from glacier_edge.paths import default_cache_dir

    for folder in (default_cache_dir() / "samples", Path(tempfile.gettempdir()) / f"glacier-edge-{_uid()}"):
        path = folder / (SAMPLE_NAME if seed == 0 else SAMPLE_NAME.replace(".gif", f"-seed{seed}.gif"))
        if path.is_file() and sidecar_path(path).is_file():
            return path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return write_timelapse(glacier_timelapse(seed=seed), path)
        except (OSError, OutputError):
            continue
    raise OutputError("cannot write the sample sequence to the cache or a temporary folder")


DEFAULT_TRAINING_GLACIERS = 6
"""`train` without sequences trains on this many generated glaciers (seeds 0..5), enough for the
held-out calibration folds."""


def default_training_paths() -> list[Path]:
    """The generated sample (seed 0) and more generated glaciers, drawn once into the cache."""
    return [sample_sequence_path(seed) for seed in range(DEFAULT_TRAINING_GLACIERS)]


def _uid() -> str:
    import os

    return str(os.getuid()) if hasattr(os, "getuid") else "user"
