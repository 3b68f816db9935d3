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

from glacier_edge.errors import BadInputError
from glacier_edge.frames import FRAME_SIZE

Rectangle = tuple[float, float, float, float]

MASK_PRESETS: dict[str, tuple[Rectangle, ...]] = {
    # Copernicus Browser time-lapse GIF (measured on the embedded Rutor export, 479×547):
    # date label top right, 500 m scale bar top left, "Copernicus Data Space Ecosystem" logo bottom right.
    "copernicus": ((0.81, 0.0, 1.0, 0.055), (0.0, 0.0, 0.125, 0.045), (0.72, 0.88, 1.0, 1.0)),
}


def parse_mask_specs(specs: Sequence[str]) -> list[Rectangle]:
    """Rectangles from presets (``copernicus``) and ``x0,y0,x1,y1`` fractions of width/height."""
    rectangles: list[Rectangle] = []
    for spec in specs:
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


def rectangles_to_mask(rectangles: Sequence[Rectangle], size: int = FRAME_SIZE) -> np.ndarray:
    """bool (size, size), True where a frame pixel overlaps any rectangle (excluded)."""
    mask = np.zeros((size, size), dtype=bool)
    for x0, y0, x1, y1 in rectangles:
        mask[int(np.floor(y0 * size)):int(np.ceil(y1 * size)), int(np.floor(x0 * size)):int(np.ceil(x1 * size))] = True
    if mask.all():
        raise BadInputError("the mask covers the whole frame; nothing would be left to measure")
    return mask


def mask_record(specs: Sequence[str]) -> dict[str, Any] | None:
    """What runs and manifests store: the specs, the rectangles and the exact bitmap."""
    if not specs:
        return None
    rectangles = parse_mask_specs(specs)
    mask = rectangles_to_mask(rectangles)
    return {"specs": list(specs), "rectangles": [list(r) for r in rectangles], "size": FRAME_SIZE,
            "excluded_pixels": int(mask.sum()),
            "bitmap": base64.b64encode(np.packbits(mask).tobytes()).decode("ascii")}


def mask_from_record(record: dict[str, Any] | None) -> np.ndarray | None:
    """The stored bitmap back as bool (size, size); None when no mask was used."""
    if not record:
        return None
    size = int(record["size"])
    bits = np.frombuffer(base64.b64decode(record["bitmap"]), dtype=np.uint8)
    return np.unpackbits(bits)[: size * size].reshape(size, size).astype(bool)
