"""Frames for surface motion: grey, at their own resolution (not the 128×128 model input), and
the masks that say where the glacier and the stable ground are.

Motion is measured in fractions of a pixel; the model input's 128 px would throw away the
crevasses that carry it. Frames larger than ``long_side`` px are reduced once (antialiased) so a
10-megapixel camera frame costs what a 2-megapixel one does; every displacement is reported back
in pixels of the original frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from glacier_edge.errors import BadInputError
from glacier_edge.ingest.frames import DEFAULT_MAX_PIXELS, iter_sequence, sequence_files

DEFAULT_LONG_SIDE = 2048
"""Frames are reduced to at most this long side (px) for motion: Sentinel-2 clips and most
camera frames of a 2–4 megapixel station keep full resolution; a 10-megapixel DSLR frame is
measured at about half (3872 → 2048)."""
MIN_TEXTURE = 1.0 / 255
"""A frame whose grey levels vary by less than this (standard deviation) has nothing to match."""


@dataclass(frozen=True)
class MotionSequence:
    """Grey frames of one sequence, at one size, with their dates."""

    frames: np.ndarray
    """float32 (T, H, W), grey in [0, 1], each reduced by ``scale``."""
    labels: list[str]
    dates: list[date | None]
    source: str
    original_size: tuple[int, int]
    """(width, height) of the frames as stored."""
    scale: float
    """Pixels measured per original pixel (1.0 unless reduced to ``long_side``)."""

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def days(self) -> np.ndarray | None:
        """float (T,): days since the first frame, or None when a date is missing."""
        if any(d is None for d in self.dates):
            return None
        first = self.dates[0]
        return np.array([(d - first).days for d in self.dates], dtype=np.float64)  # type: ignore[operator]


def grey(rgb: np.ndarray, scale: float) -> np.ndarray:
    """float32 grey in [0, 1] of a uint8 RGB frame, reduced by ``scale`` (antialiased)."""
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").convert("L")
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image, np.float32) / 255.0


def read_motion_sequence(paths: str | Path | Sequence[str | Path], *, long_side: int = DEFAULT_LONG_SIDE,
                         max_pixels: int = DEFAULT_MAX_PIXELS) -> MotionSequence:
    """Read a sequence (a folder of images, several image files or a GIF) as grey frames for
    motion. One :class:`BadInputError` line for frames of different sizes or a uniform frame."""
    if long_side < 64:
        raise BadInputError(f"--long-side {long_side}: at least 64 px are needed to match windows")
    files = sequence_files(paths)
    frames, labels = [], []
    size: tuple[int, int] | None = None
    scale = 1.0
    for label, decoded in iter_sequence(files, max_pixels):
        this = (int(decoded.shape[1]), int(decoded.shape[0]))
        if size is None:
            size = this
            scale = min(1.0, long_side / max(this))
        elif this != size:
            raise BadInputError(f"{label}: frame is {this[0]}×{this[1]} px, the first frame {size[0]}×{size[1]}; "
                                "motion needs frames of one size from one viewpoint")
        frame = grey(decoded, scale)
        if float(frame.std()) < MIN_TEXTURE:
            raise BadInputError(f"{label}: frame is uniform (no texture to match)")
        frames.append(frame)
        labels.append(label)
    if len(frames) < 2:
        raise BadInputError(f"{files.source}: {len(frames)} frame found; motion needs at least 2 frames")
    dates, _ = files.dates(len(frames))
    assert size is not None
    return MotionSequence(np.stack(frames), labels, dates, files.source, size, scale)


def _mask_image(path: Path, original_size: tuple[int, int], what: str) -> Image.Image:
    """The grey image at ``path``, checked to have the original frames' size (one line if not)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{what} {path}: no such file")
    try:
        with Image.open(path) as image:
            grey_image = image.convert("L")
            grey_image.load()
    except OSError as exc:
        raise BadInputError(f"{what} {path}: cannot decode image ({exc})") from exc
    if grey_image.size != original_size:
        raise BadInputError(f"{what} {path}: mask is {grey_image.size[0]}×{grey_image.size[1]} px, the frames "
                            f"{original_size[0]}×{original_size[1]}")
    return grey_image


def read_mask(path: Path, sequence: MotionSequence, what: str) -> np.ndarray:
    """bool (H, W) at the motion frames' size: white (≥ 50 % grey) is inside. The image must have
    the original frames' size (a JPEG mask is thresholded, so its compression noise is harmless)."""
    return mask_at(path, sequence.original_size, sequence.shape, what)


def mask_at(path: Path, original_size: tuple[int, int], shape: tuple[int, int], what: str) -> np.ndarray:
    """:func:`read_mask` for frames of ``original_size`` (width, height) measured at ``shape``
    (rows, columns): what a station knows of its images one at a time."""
    mask = _mask_image(path, original_size, what)
    height, width = shape
    if mask.size != (width, height):
        mask = mask.resize((width, height), Image.Resampling.BILINEAR)
    inside = np.asarray(mask, np.uint8) >= 128
    if not inside.any():
        raise BadInputError(f"{what} {path}: mask is empty (no white pixel)")
    return inside


def read_regions(path: Path, sequence: MotionSequence) -> dict[str, np.ndarray]:
    """Named bool masks (H, W) from a label image of the frames' size: every distinct non-zero
    grey level is a region, named "region N", or by a ``NAME.names.txt`` beside it whose lines
    read ``N name``. Speeds, failure forecasts and alerts are then given per region."""
    return regions_at(path, sequence.original_size, sequence.shape)


def regions_at(path: Path, original_size: tuple[int, int], shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """:func:`read_regions` for frames of ``original_size`` measured at ``shape``."""
    path = Path(path)
    labels = _mask_image(path, original_size, "--regions-mask")
    height, width = shape
    if labels.size != (width, height):
        labels = labels.resize((width, height), Image.Resampling.NEAREST)  # labels are not blended
    values = np.asarray(labels, np.uint8)
    names: dict[int, str] = {}
    sidecar = path.with_name(path.stem + ".names.txt")
    if sidecar.is_file():
        for number, line in enumerate(sidecar.read_text(encoding="utf-8").splitlines(), start=1):
            parts = line.split(maxsplit=1)
            if not parts or line.lstrip().startswith("#"):
                continue
            if len(parts) != 2 or not parts[0].isdigit():
                raise BadInputError(f"{sidecar}:{number}: expected 'GREY_LEVEL name', got {line!r}")
            names[int(parts[0])] = parts[1].strip()
    levels = [int(v) for v in np.unique(values) if v]
    if not levels:
        raise BadInputError(f"--regions-mask {path}: no region (every pixel is 0)")
    return {names.get(level, f"region {level}"): values == level for level in levels}
