"""Scene kind from a frame's layout: a nadir satellite chip, or a fixed oblique camera view.

Why this exists: the OOD guard's embedding and colour distances cannot tell a grey, icy camera
photograph from a grey, icy 30 m chip (a bundle trained on Landsat flagged 1 of 10 Columbia
camera frames). The geometry can. A nadir chip has no "up": its statistics are the same turned a
quarter turn. An oblique view has perspective: ground farther away is foreshortened vertically
(by the sine of the depression angle, smaller toward the horizon), so structure runs more and
more horizontally from the bottom of the frame to the top.

:func:`perspective` measures that: the least-squares slope, from the bottom band (x = −1) to the
top band (x = +1) of :data:`BANDS` horizontal bands, of the mean orientation cos 2θ of the
gradient over each band's textured pixels (+1: all structure runs horizontally), on the original
frame (aspect ratio kept: the square resize of ingest would itself add anisotropy), in grey, long
side :data:`LAYOUT_LONG_SIDE` px, smoothed with σ = 1 px so JPEG blocks and GIF dithering do not
count as texture. Measured (``benchmarks/scene_kind.py``, table in ``benchmarks/README.md``): the
1,106 Landsat corpus frames −0.16 … +0.17 (sd 0.07), the same frames turned a quarter −0.17 …
+0.19, Perito Moreno, Rutor, Aletsch and Sentinel-2 scenes −0.19 … +0.12; the 10 Columbia camera
frames +0.32 … +0.44; generated camera views with the horizon in the frame +0.23 … +0.38. Most of
the trend comes from the far field just below the horizon (far ice, fjord, mountain flanks); a
camera looking steeply down with no horizon in view (20–30°) reaches only +0.07 … +0.2 and is not
recognised: it is also the camera view closest to a nadir chip.

Kept only this feature. Measured and dropped, because the corpus alone spans their whole range or
a threshold on them would be set by the corpus's one export format: brightness and texture of the
top band against the bottom (sky above a horizon; Columbia's sky is a thin strip behind mountains),
the trend of texture with height (sky and mountains reverse it at the top of a camera frame), and
the aspect ratio and pixel count of the original (every corpus frame is 223×223; the Sentinel-2
exports are 3:2 like a DSLR, and a station may store its photographs at any size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from glacier_edge.contracts import SCENE_KINDS, SceneKind

LAYOUT_LONG_SIDE = 256
"""Frames are measured at this long side (aspect kept): ~30 ms for a 10-megapixel camera frame."""
BANDS = 12
CAMERA_PERSPECTIVE = 0.25
"""A frame whose :func:`perspective` reaches this is a camera view: 3.6 standard deviations of the
corpus's nadir frames (0.07) above their mean (0.00), between the highest nadir value measured
(0.19, a corpus frame turned a quarter) and the lowest camera value (0.32, Columbia)."""
SMOOTHING_SIGMA = 1.0
TEXTURED_QUANTILE = 0.25
"""Pixels with less gradient energy than this quantile of the frame (flat sky, calm water, saturated
snow) have no orientation worth counting."""
MIN_TEXTURED = 10


@dataclass(frozen=True)
class BandStatistics:
    """Per horizontal band, top band first: what the layout features are made of."""

    anisotropy: np.ndarray
    """Mean of (∂y² − ∂x²) / (∂y² + ∂x²) (= cos 2θ of the gradient direction) over the band's
    textured pixels, in [−1, 1]: positive where structures run horizontally (vertical
    foreshortening). Each pixel counts once, so one straight shoreline or horizon (a few pixels
    with a huge gradient) cannot decide a band, as it did with a ratio of energies."""
    texture: np.ndarray
    """log E[∂x² + ∂y²] (grey in [0, 1] per pixel)."""
    brightness: np.ndarray
    """Mean grey level in [0, 1]."""


def layout_grey(rgb: np.ndarray, long_side: int = LAYOUT_LONG_SIDE) -> np.ndarray:
    """float32 (h, w) grey in [0, 1] of a uint8 (H, W, 3) frame at ``long_side``, aspect kept."""
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    size = (max(BANDS * 2, round(width * scale)), max(BANDS * 2, round(height * scale)))
    return np.asarray(image.convert("L").resize(size, Image.Resampling.BILINEAR), np.float32) / 255.0


def _smooth(grey: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with reflected edges (numpy only: the runtime has no scipy)."""
    radius = int(3 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    for axis in (0, 1):
        padded = np.pad(grey, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="reflect")
        length = grey.shape[axis]
        grey = sum(weight * np.take(padded, np.arange(i, i + length), axis=axis) for i, weight in enumerate(kernel))
    return grey


def band_statistics(grey: np.ndarray, bands: int = BANDS) -> BandStatistics:
    """:class:`BandStatistics` of a :func:`layout_grey` image (Sobel gradients after σ = 1 px)."""
    smooth = _smooth(grey.astype(np.float64), SMOOTHING_SIGMA)
    padded = np.pad(smooth, 1, mode="reflect")
    dy = padded[2:, :] - padded[:-2, :]
    dy = dy[:, :-2] + 2 * dy[:, 1:-1] + dy[:, 2:]
    dx = padded[:, 2:] - padded[:, :-2]
    dx = dx[:-2, :] + 2 * dx[1:-1, :] + dx[2:, :]
    energy = dy**2 + dx**2
    orientation = (dy**2 - dx**2) / (energy + 1e-12)
    textured = energy > max(float(np.quantile(energy, TEXTURED_QUANTILE)), 1e-6)
    rows = np.array_split(np.arange(grey.shape[0]), bands)
    anisotropy = np.array([orientation[r][textured[r]].mean() if textured[r].sum() >= MIN_TEXTURED else 0.0
                           for r in rows])
    return BandStatistics(anisotropy, np.log(np.array([energy[r].mean() for r in rows]) + 1e-6),
                          np.array([grey[r].mean() for r in rows], np.float64))


def trend(values: np.ndarray) -> float:
    """Least-squares slope of per-band values over x from +1 (top band) to −1 (bottom band)."""
    x = np.linspace(1.0, -1.0, len(values))
    x = x - x.mean()
    return float(np.dot(x, values - np.mean(values)) / np.dot(x, x))


def perspective(rgb: np.ndarray) -> float:
    """Growth of vertical foreshortening toward the top of a uint8 (H, W, 3) frame at its original
    size: ~0 for a nadir chip, ≥ :data:`CAMERA_PERSPECTIVE` for an oblique camera view."""
    return trend(band_statistics(layout_grey(rgb)).anisotropy)


def scene_kind_of(perspectives: np.ndarray | float) -> np.ndarray:
    """Per frame: ``"camera"`` where the perspective reaches :data:`CAMERA_PERSPECTIVE`, else ``"nadir"``."""
    return np.where(np.asarray(perspectives, np.float64) >= CAMERA_PERSPECTIVE, "camera", "nadir")


def majority_kind(perspectives: np.ndarray) -> tuple[SceneKind, int]:
    """The kind most frames show and how many show it (a tie counts as nadir)."""
    cameras = int(np.sum(scene_kind_of(perspectives) == "camera"))
    return ("camera", cameras) if cameras * 2 > len(perspectives) else ("nadir", len(perspectives) - cameras)


def kind_note(perspectives: np.ndarray, bundle_kind: str, fallback: str | None = None) -> str | None:
    """One line naming the kind of scene seen and the kind the bundle knows, when any frame shows
    another kind than the bundle's (None otherwise): `run` and a station say it the same way."""
    kinds = scene_kind_of(perspectives)
    other = "camera" if bundle_kind == "nadir" else "nadir"
    count = int(np.sum(kinds == other))
    if not count:
        return None
    return (f"{count} of {len(kinds)} frames look like a {SCENE_KINDS[other]} view, but this bundle knows "
            f"{SCENE_KINDS[bundle_kind]}s: its melt prediction does not apply there (the {fallback or 'naive'} "
            "answer stands in)")
