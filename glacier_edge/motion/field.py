"""Displacement fields: template matching on a grid between two frames, quality tests, the
normalised median test, speed.

A vector is valid only when its match is unambiguous (peak correlation and first-to-second peak
ratio above their thresholds, peak not on the border of the search area) and agrees with its
neighbours (normalised median test, Westerweel & Scarano 2005: |u − median of the 8 neighbours|
over the neighbours' median residual + 0.1 px, ≤ 2). A cloud, a shadow or a featureless snow
field therefore yields "no valid match", never a speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glacier_edge.motion.correlate import match_windows

TEMPLATE = 64
"""Template side (px at the motion frames' size): big enough for several crevasses or ogives at
10 m (Perito Moreno) or at a camera's near field; halve it for finer fields on sharp imagery."""
SPACING = 32
"""Grid step (px): half the template, so neighbouring templates overlap by half."""
RADIUS = 16
"""Search radius (px) around each template; set it above the largest expected displacement."""
MIN_PEAK = {"oc": 0.10, "zncc": 0.40}
"""Below this correlation a match is not trusted (OC's scale is lower: it counts every pixel's
direction, textured or not). Measured in ``benchmarks/motion.py`` on clouded pairs."""
MIN_PEAK_RATIO = 1.2
"""First peak over the highest elsewhere: a repetitive or featureless window has several."""
MEDIAN_TEST = 2.0
MEDIAN_TEST_NOISE = 0.1
"""px: the expected noise of a good vector, so a uniform field does not divide by zero."""
MIN_INSIDE = 0.5
"""A window counts for a mask when at least this share of its template lies inside it."""
MIN_TEXTURE_STD = 0.01
"""A template whose grey levels vary less than this (1 % of full scale: no-data fill, saturated
snow, deep shadow) is not matched at all: there is nothing to find."""


@dataclass(frozen=True)
class DisplacementField:
    """Vectors on a grid between two frames (pixels of the frames matched)."""

    rows: np.ndarray
    """int (N,): row of each window centre."""
    cols: np.ndarray
    dx: np.ndarray
    """float64 (N,): column displacement, px (NaN where not valid)."""
    dy: np.ndarray
    peak: np.ndarray
    peak_ratio: np.ndarray
    snr: np.ndarray
    valid: np.ndarray
    """bool (N,): passed the quality thresholds and the median test."""
    method: str
    spacing: int
    edge_share: float = 0.0
    """Share of windows whose best match lay on the border of the search area: the motion may be
    larger than the search radius (a hint to raise it, not a measurement)."""

    @property
    def magnitude(self) -> np.ndarray:
        return np.hypot(self.dx, self.dy)

    @property
    def valid_share(self) -> float:
        return float(self.valid.mean()) if self.valid.size else 0.0


def grid_centres(shape: tuple[int, int], mask: np.ndarray | None, template: int = TEMPLATE,
                 radius: int = RADIUS, spacing: int = SPACING) -> np.ndarray:
    """int (N, 2) (row, col) window centres on a regular grid whose search areas lie inside the
    frame and whose templates lie at least :data:`MIN_INSIDE` inside ``mask`` (None: everywhere)."""
    height, width = shape
    margin = template // 2 + radius + 1
    rows = np.arange(margin, height - margin, spacing)
    cols = np.arange(margin, width - margin, spacing)
    if not len(rows) or not len(cols):
        return np.zeros((0, 2), int)
    centres = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1).reshape(-1, 2)
    if mask is None:
        return centres
    integral = np.pad(mask.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    half = template // 2
    r0, r1 = centres[:, 0] - half, centres[:, 0] + half
    c0, c1 = centres[:, 1] - half, centres[:, 1] + half
    inside = (integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]) / (template * template)
    return centres[inside >= MIN_INSIDE]


def textured(frame: np.ndarray, centres: np.ndarray, template: int, min_std: float = MIN_TEXTURE_STD) -> np.ndarray:
    """bool (N,): the template of ``frame`` around each centre has texture (grey standard deviation)."""
    if not len(centres):
        return np.zeros(0, bool)
    values = np.asarray(frame, np.float64)
    sums = np.pad(values.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    squares = np.pad((values**2).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    half = template // 2
    r0, r1 = centres[:, 0] - half, centres[:, 0] + half
    c0, c1 = centres[:, 1] - half, centres[:, 1] + half

    def box(table: np.ndarray) -> np.ndarray:
        return table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]

    count = template * template
    variance = np.maximum(box(squares) / count - (box(sums) / count) ** 2, 0.0)
    return np.sqrt(variance) >= min_std


def median_test(rows: np.ndarray, cols: np.ndarray, dx: np.ndarray, dy: np.ndarray, usable: np.ndarray,
                spacing: int, threshold: float = MEDIAN_TEST, noise: float = MEDIAN_TEST_NOISE) -> np.ndarray:
    """bool (N,): vectors that agree with their usable 8-neighbours (normalised median test on
    each component; a vector with fewer than 3 usable neighbours passes on its own quality)."""
    if not len(rows):
        return np.zeros(0, bool)
    i = (rows - rows.min()) // spacing
    j = (cols - cols.min()) // spacing
    grid = np.full((2, i.max() + 3, j.max() + 3), np.nan)
    grid[0, i + 1, j + 1] = np.where(usable, dx, np.nan)
    grid[1, i + 1, j + 1] = np.where(usable, dy, np.nan)
    neighbours = np.stack([grid[:, 1 + a + i, 1 + b + j] for a in (-1, 0, 1) for b in (-1, 0, 1) if a or b],
                          axis=-1)  # (2, N, 8)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(neighbours, axis=-1)
            residual = np.nanmedian(np.abs(neighbours - median[..., None]), axis=-1)
    values = np.stack([dx, dy])
    normalised = np.abs(values - median) / (residual + noise)
    count = np.sum(np.isfinite(neighbours[0]), axis=-1)
    passes = np.all(normalised <= threshold, axis=0) | (count < 3)
    return usable & passes


def displacement_field(first: np.ndarray, second: np.ndarray, mask: np.ndarray | None, *,
                       template: int = TEMPLATE, radius: int = RADIUS, spacing: int = SPACING,
                       method: str = "oc", min_peak: float | None = None,
                       min_ratio: float = MIN_PEAK_RATIO) -> DisplacementField:
    """Match the grid of windows inside ``mask`` from ``first`` to ``second`` (same-size grey
    frames, already co-registered) and keep the valid vectors."""
    centres = grid_centres(first.shape, mask, template, radius, spacing)
    centres = centres[textured(first, centres, template)]
    if not len(centres):
        empty = np.zeros(0)
        return DisplacementField(centres[:, 0], centres[:, 1], empty, empty, empty, empty, empty,
                                 np.zeros(0, bool), method, spacing)
    matches = match_windows(first, second, centres, template, radius, method)
    floor = MIN_PEAK[method] if min_peak is None else min_peak
    usable = (matches.peak >= floor) & (matches.peak_ratio >= min_ratio) & ~matches.on_edge
    valid = median_test(centres[:, 0], centres[:, 1], matches.dx, matches.dy, usable, spacing)
    return DisplacementField(centres[:, 0], centres[:, 1], np.where(valid, matches.dx, np.nan),
                             np.where(valid, matches.dy, np.nan), matches.peak, matches.peak_ratio, matches.snr,
                             valid, method, spacing, float(matches.on_edge.mean()))
