"""Overlay masks: regions excluded from the melt measure (burned-in dates, scale bars, logos).

Real exports carry overlays whose pixels change with every frame (a new date each time) and so
count as "melt". A mask is given as rectangles in fractions of the frame (x0,y0,x1,y1, so it is
independent of the export's size) or as a preset measured on a real export. Training stores the
resulting 128×128 bitmap in the run and the bundle, and the edge runner applies that very bitmap.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

from glacier_edge.contracts import MaskRecord
from glacier_edge.errors import BadInputError
from glacier_edge.ingest.frames import FRAME_SIZE

Rectangle = tuple[float, float, float, float]

MASK_PRESETS: dict[str, tuple[Rectangle, ...]] = {
    # Copernicus Browser time-lapse GIF (measured on the embedded Rutor export, 479×547):
    # date label top right, 500 m scale bar top left, "Copernicus Data Space Ecosystem" logo bottom right.
    "copernicus": ((0.81, 0.0, 1.0, 0.055), (0.0, 0.0, 0.125, 0.045), (0.72, 0.88, 1.0, 1.0)),
}


AUTO = "auto"
AUTO_TOLERANCE = 2
"""An overlay pixel keeps its colour within ±2 per channel in every frame (palette jitter)."""
AUTO_MIN_CELL_SHARE = 0.25
"""A 128-grid cell is overlay when at least this share of its source pixels is constant."""
AUTO_MAX_FRACTION = 0.25
"""Components larger than this share of the frame are scenery (a static snowfield), not overlays."""


def constant_pixels(frames: Sequence[np.ndarray], tolerance: int = AUTO_TOLERANCE) -> np.ndarray:
    """bool (H, W): pixels whose colour stays within ``tolerance`` in every frame (full resolution)."""
    low = high = None
    for frame in frames:
        low = frame.copy() if low is None else np.minimum(low, frame)
        high = frame.copy() if high is None else np.maximum(high, frame)
    if low is None:
        raise ValueError("no frames")
    return ((high.astype(np.int16) - low) <= tolerance).all(axis=-1)


def _components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a small bool grid, as index arrays (rows, cols)."""
    seen = np.zeros_like(mask)
    found = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        stack, cells = [start], []
        seen[start] = True
        while stack:
            r, c = stack.pop()
            cells.append((r, c))
            for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if 0 <= nr < mask.shape[0] and 0 <= nc < mask.shape[1] and mask[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    stack.append((nr, nc))
        found.append(np.array(cells).T)
    return found


def overlay_mask_from_constant(constant: np.ndarray, size: int = FRAME_SIZE) -> np.ndarray:
    """Map full-resolution constant pixels onto the frame grid and fill each overlay's box.

    A label's background stays constant while its text changes; filling the bounding box of each
    connected group of constant cells covers the changing text too.
    """
    height, width = constant.shape
    rows = np.minimum(np.arange(height) * size // height, size - 1)
    cols = np.minimum(np.arange(width) * size // width, size - 1)
    counts = np.zeros((size, size))
    totals = np.zeros((size, size))
    np.add.at(counts, (rows[:, None], cols[None, :]), constant)
    np.add.at(totals, (rows[:, None], cols[None, :]), 1)
    cells = counts >= AUTO_MIN_CELL_SHARE * totals
    mask = np.zeros((size, size), dtype=bool)
    for r, c in _components(cells):
        top, bottom, left, right = r.min(), r.max() + 1, c.min(), c.max() + 1
        if (bottom - top) * (right - left) <= AUTO_MAX_FRACTION * size * size and len(r) >= 2:
            mask[top:bottom, left:right] = True
    return mask


def parse_mask_specs(specs: Sequence[str]) -> list[Rectangle]:
    """Rectangles from presets (``copernicus``) and ``x0,y0,x1,y1`` fractions of width/height."""
    rectangles: list[Rectangle] = []
    for spec in specs:
        if spec == AUTO:
            continue
        if spec in MASK_PRESETS:
            rectangles.extend(MASK_PRESETS[spec])
            continue
        try:
            x0, y0, x1, y1 = (float(part) for part in spec.split(","))
        except ValueError as exc:
            raise BadInputError(f"--mask {spec!r}: expected x0,y0,x1,y1 in fractions of the frame (0–1) or one "
                                f"of {', '.join(MASK_PRESETS)}") from exc
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise BadInputError(f"--mask {spec!r}: need 0 ≤ x0 < x1 ≤ 1 and 0 ≤ y0 < y1 ≤ 1")
        rectangles.append((x0, y0, x1, y1))
    return rectangles


def rectangles_to_mask(rectangles: Sequence[Rectangle], size: int = FRAME_SIZE,
                       extra: np.ndarray | None = None) -> np.ndarray:
    """bool (size, size), True where a frame pixel overlaps any rectangle (excluded)."""
    mask = np.zeros((size, size), dtype=bool) if extra is None else extra.copy()
    for x0, y0, x1, y1 in rectangles:
        mask[int(np.floor(y0 * size)):int(np.ceil(y1 * size)), int(np.floor(x0 * size)):int(np.ceil(x1 * size))] = True
    if mask.all():
        raise BadInputError("the mask covers the whole frame; nothing would be left to measure")
    return mask


def mask_record(specs: Sequence[str], auto_mask: np.ndarray | None = None) -> MaskRecord | None:
    """What runs and manifests store: the specs, the rectangles and the exact bitmap.

    ``auto_mask`` is the detected overlay grid for an ``auto`` spec (see ``detect_overlays``).
    """
    if not specs:
        return None
    rectangles = parse_mask_specs(specs)
    mask = rectangles_to_mask(rectangles, extra=auto_mask if AUTO in specs else None)
    return MaskRecord(tuple(specs), tuple(tuple(r) for r in rectangles), FRAME_SIZE,
                      int(auto_mask.sum()) if auto_mask is not None and AUTO in specs else None, int(mask.sum()),
                      base64.b64encode(np.packbits(mask).tobytes()).decode("ascii"))


def mask_from_record(record: MaskRecord | None) -> np.ndarray | None:
    """The stored bitmap back as bool (size, size); None when no mask was used."""
    if record is None:
        return None
    size = record.size
    bits = np.frombuffer(base64.b64decode(record.bitmap), dtype=np.uint8)
    return np.unpackbits(bits)[: size * size].reshape(size, size).astype(bool)


def detect_overlays(paths: Sequence[Any], max_pixels: int, echo: Any = print) -> np.ndarray:
    """The ``auto`` mask: union over the training sequences of their constant-colour overlays.

    Works for opaque burned-in labels. Translucent, palette-dithered overlays (Copernicus
    Browser GIFs) are not constant and are not found: use the ``copernicus`` preset for those.
    """
    from glacier_edge.ingest.frames import iter_original_frames

    mask = np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=bool)
    for path in paths:
        frames = list(iter_original_frames(path, max_pixels))
        if len({frame.shape for frame in frames}) != 1:
            echo(f"auto mask: {path} has frames of several sizes; skipped")
            continue
        found = overlay_mask_from_constant(constant_pixels(frames))
        echo(f"auto mask: {int(found.sum())} of {FRAME_SIZE * FRAME_SIZE} pixels look like fixed overlays in {path}")
        mask |= found
    return mask


def with_border(mask: np.ndarray | None, border: np.ndarray | None) -> np.ndarray | None:
    """The melt mask of a sequence: the bundle's overlay mask and, for co-registered frames, the
    border band a moved frame may not cover (either may be None)."""
    if border is None:
        return mask
    return border if mask is None else mask | border
