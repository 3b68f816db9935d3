"""The melt signal, defined once: mean absolute RGB change between consecutive frames.

It is a proxy (snow, cloud, light and ice all change pixels), not glacier mass loss. Training,
verification and the edge runner all call :func:`measured_melt`.
"""

from __future__ import annotations

import numpy as np

from glacier_edge.contracts import NORMALIZATIONS as MELT_NORMALIZATIONS
from glacier_edge.contracts import TASKS

# ``absolute``: mean |Δ| / 255, comparable across sequences. ``minmax``: the seed's per-sequence
# [0, 1] rescaling of frames 1..T-1, which is not comparable across sequences.


def measured_melt(frames: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """melt_t = mean |f_t − f_{t−1}| / 255 over pixels and channels; melt_0 = 0.

    ``frames`` is uint8 (T, H, W, 3); ``mask`` (H, W) bool marks overlay pixels to leave out.
    Returns float32 (T,) in [0, 1]. Frame 0 has no previous frame: its 0 is a placeholder,
    which is why losses and metrics skip it.
    """
    if frames.ndim != 4 or frames.shape[0] < 1:
        raise ValueError(f"frames must be (T, H, W, C), got {frames.shape}")
    as_int = frames.astype(np.int16)
    difference = np.abs(as_int[1:] - as_int[:-1])
    if mask is not None:
        difference = difference[:, ~mask]
    change = difference.reshape(len(difference), -1).mean(axis=1) / 255.0
    return np.concatenate([[0.0], change]).astype(np.float32)


def normalize_melt(melt: np.ndarray, method: str) -> np.ndarray:
    """Apply a melt normalisation from :data:`MELT_NORMALIZATIONS` (frame 0 stays 0)."""
    if method == "absolute":
        return melt.astype(np.float32)
    if method != "minmax":
        raise ValueError(f"unknown melt normalisation {method!r}; use one of {MELT_NORMALIZATIONS}")
    result = np.zeros_like(melt, dtype=np.float32)
    observed = melt[1:]
    if observed.size:
        low, high = float(observed.min()), float(observed.max())
        if high > low:
            result[1:] = (observed - low) / (high - low)
    return result


def melt_valid_mask(num_frames: int) -> np.ndarray:
    """True where melt is measured (t ≥ 1); frame 0's value is a placeholder."""
    mask = np.ones(num_frames, dtype=bool)
    mask[0] = False
    return mask




def task_targets(melt: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-node training targets and where they are defined.

    nowcast: node t predicts melt_t (t ≥ 1). forecast: node t predicts melt_{t+1} (t ≤ T−2);
    the last node's output is the forecast for the step after the sequence.
    """
    targets = np.zeros_like(melt, dtype=np.float32)
    valid = np.zeros(len(melt), dtype=bool)
    if task == "nowcast":
        targets[:], valid[1:] = melt, True
    elif task == "forecast":
        targets[:-1], valid[:-1] = melt[1:], True
    else:
        raise ValueError(f"unknown task {task!r}; use one of {TASKS}")
    return targets, valid


def align_to_frames(outputs: np.ndarray, task: str) -> np.ndarray:
    """Model outputs placed on the frame whose melt they predict (NaN where none does).

    nowcast outputs already sit on their frame; a forecast made at node t is for frame t+1.
    """
    aligned = np.full(np.shape(outputs), np.nan, dtype=np.float64)
    if task == "forecast":
        aligned[1:] = outputs[:-1]
    else:
        aligned[1:] = outputs[1:]
    return aligned
