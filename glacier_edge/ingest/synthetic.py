"""Synthetic imagery whose truth is known by construction (tests and benchmarks): sequences
whose melt is exact, and textures moved by exact sub-pixel shifts.

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


def multiscale_texture(height: int, width: int, seed: int,
                       cells: tuple[int, ...] = (2, 4, 8, 16, 32, 64)) -> np.ndarray:
    """float32 grey in [0, 1] with structure at every scale in ``cells`` (px), amplitude ∝ √scale
    and no preferred direction: the texture known-shift and known-flow tests move, as natural
    surfaces have texture at every scale."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    grey = np.zeros((height, width))
    for cell in cells:
        coarse = rng.uniform(0, 255, (max(2, height // cell), max(2, width // cell))).astype(np.uint8)
        grey += np.sqrt(cell) * np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))
    return ((grey - grey.min()) / (grey.max() - grey.min())).astype(np.float32)


def fourier_shift(image: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """The image with its content moved by (dy, dx) px, exactly (a phase ramp: periodic)."""
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    return np.fft.ifft2(np.fft.fft2(image) * np.exp(-2j * np.pi * (ky * dy + kx * dx))).real.astype(np.float32)
