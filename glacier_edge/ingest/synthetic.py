"""Synthetic sequences whose melt is known exactly by construction (tests and benchmarks).

Every frame is a fixed base image plus +51 on the first L_t entries of a fixed permutation of
all pixel-channel values. Consecutive frames then differ by 51 in exactly |L_t − L_{t−1}|
values, so melt_t = 51·|L_t − L_{t−1}| / (H·W·3·255) with no rounding anywhere. The base uses
two levels per channel, so a frame holds at most 64 colours and survives a GIF palette exactly.
"""

from __future__ import annotations

import numpy as np

from glacier_edge.ingest.frames import FRAME_SIZE

STEP = 51
BASE_LEVELS = (64, 128)


def melt_unit(size: int = FRAME_SIZE) -> float:
    """The melt of changing one pixel-channel value by STEP."""
    return STEP / (size * size * 3 * 255)


def synthetic_frames(changes: list[int], size: int = FRAME_SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames with a prescribed number of changed values per step, and their exact melt.

    ``changes[t-1]`` values change between frame t−1 and t (alternately switched on and off so
    the lit prefix stays within the image). Returns uint8 (T, size, size, 3) and float64 (T,).
    """
    rng = np.random.default_rng(seed)
    total = size * size * 3
    base = rng.choice(np.array(BASE_LEVELS, dtype=np.uint8), size=total)
    order = rng.permutation(total)
    lit = [0]
    for change in changes:
        grow = lit[-1] + change <= total
        lit.append(lit[-1] + change if grow else lit[-1] - change)
        if lit[-1] < 0:
            raise ValueError(f"cannot change {change} values in a {size}×{size} frame")
    frames = np.empty((len(lit), total), dtype=np.uint8)
    for index, count in enumerate(lit):
        frame = base.copy()
        frame[order[:count]] += STEP
        frames[index] = frame
    melt = np.array([0.0] + [abs(b - a) * melt_unit(size) for a, b in zip(lit[:-1], lit[1:])])
    return frames.reshape(len(lit), size, size, 3), melt
