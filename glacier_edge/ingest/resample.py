"""Bilinear sampling of an image at fractional pixel positions: the one used to draw the
generated camera views and to resample a co-registered frame."""

from __future__ import annotations

import numpy as np


def bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``image`` (H, W) or (H, W, C) at float (rows, cols), edges clamped; keeps the image's dtype."""
    rows = np.clip(rows, 0, image.shape[0] - 1.000001)
    cols = np.clip(cols, 0, image.shape[1] - 1.000001)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    if image.ndim == 3:
        fr, fc = fr[..., None], fc[..., None]
    top = image[r0, c0] * (1 - fc) + image[r0, c0 + 1] * fc
    bottom = image[r0 + 1, c0] * (1 - fc) + image[r0 + 1, c0 + 1] * fc
    return (top * (1 - fr) + bottom * fr).astype(image.dtype)
