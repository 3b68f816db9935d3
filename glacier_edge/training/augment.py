"""Training-time augmentation of whole sequences: horizontal flip and a small rotation.

One transform per augmented copy, applied to every frame of it, like a differently oriented
acquisition of the same place; the melt target stays the one measured on the original frames.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

MAX_ROTATION_DEGREES = 5.0


def augment_sequence(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a flipped (p = 0.5) and rotated (±5°, bilinear) copy of uint8 frames (T, H, W, 3)."""
    flip = bool(rng.random() < 0.5)
    angle = float(rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES))
    out = np.empty_like(frames)
    for index, frame in enumerate(frames):
        image = Image.fromarray(frame[:, ::-1] if flip else frame)
        out[index] = np.asarray(image.rotate(angle, resample=Image.Resampling.BILINEAR))
    return out
