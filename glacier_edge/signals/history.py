"""What a station knows before a target is measured, as node features and as baselines.

Defined once for training, evaluation, export and the edge runner, so the baselines a model is
judged against and the inputs it is given cannot drift apart. For node t:

- nowcast (target melt_t, measured from frames t−1 and t): the last melt known without the
  target is melt_{t−1}; the frames up to t are known.
- forecast (target melt_{t+1}): melt_t and frames up to t are known; frame t+1 is not.

``known_melt`` is the persistence baseline, ``running_mean`` the causal running mean; both are
undefined (NaN) where nothing is measured yet, and callers fill in a stated fallback.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HISTORY_FEATURES = ("prev_melt", "running_mean", "embedding_change")
"""Node feature columns appended after the embedding and metadata; ``prev_melt`` is the
persistence value the residual model builds on."""
PERSISTENCE_FEATURE = "prev_melt"
HISTORY_COLUMNS = {"persistence": "prev_melt", "running_mean": "running_mean"}
"""The history column that holds each naive answer (the training mean is a constant)."""
NAIVE = ("persistence", "running_mean", "train_mean")
"""The naive answers a model is judged against, and a station falls back to."""


def _lag(task: str) -> int:
    if task not in ("nowcast", "forecast"):
        raise ValueError(f"unknown task {task!r}")
    return 1 if task == "nowcast" else 0


def known_melt(melt: np.ndarray, task: str) -> np.ndarray:
    """Persistence: the last measured melt known when node t predicts its target (NaN if none).
    ``melt`` is (T,) or (T, R) for R regions; every function here works along axis 0."""
    lag = _lag(task)
    values = np.full(np.shape(melt), np.nan, dtype=np.float64)
    first = 1 + lag  # melt_0 is a placeholder, so melt_1 is the first measured value
    if len(melt) > first:
        values[first:] = melt[1 : len(melt) - lag]
    return values


def running_mean(melt: np.ndarray, task: str) -> np.ndarray:
    """Causal running mean of the melts known at node t (NaN if none)."""
    lag = _lag(task)
    values = np.full(np.shape(melt), np.nan, dtype=np.float64)
    sums = np.cumsum(np.asarray(melt[1:], dtype=np.float64), axis=0)
    first = 1 + lag
    if len(melt) > first:
        counts = np.arange(1, len(melt) - lag, dtype=np.float64)  # node t knows melts 1 .. t-lag
        values[first:] = sums[: len(counts)] / counts.reshape(-1, *([1] * (values.ndim - 1)))
    return values


def embedding_change(embeddings: np.ndarray) -> np.ndarray:
    """RMS change of the embedding from the previous frame (NaN for frame 0): frames ≤ t only.
    ``embeddings`` (T, D), or (T, R, D) for each region's own. D = 0 (the ``none`` encoder): 0, the
    RMS of an empty vector, so the column is constant rather than undefined."""
    values = np.full(np.shape(embeddings)[:-1], np.nan, dtype=np.float64)
    if len(embeddings) > 1:
        delta = np.asarray(embeddings[1:], np.float64) - np.asarray(embeddings[:-1], np.float64)
        values[1:] = np.sqrt(np.mean(delta**2, axis=-1)) if delta.shape[-1] else 0.0
    return values


def history_columns(embeddings: np.ndarray, melt: np.ndarray, task: str, start: int = 0) -> np.ndarray:
    """float64 (T, 3) — or (T, R, 3) per region — in HISTORY_FEATURES order, NaN where a value is not
    known yet. ``start``: only the rows from node ``start`` on (the same values; the embedding change
    is then computed for those rows alone)."""
    changes = embedding_change(embeddings[max(start - 1, 0):])[1 if start > 0 else 0:]
    return np.stack([known_melt(melt, task)[start:], running_mean(melt, task)[start:], changes], axis=-1)


def history_neutral(columns: Sequence[np.ndarray]) -> tuple[float, ...]:
    """Per-column mean over the training rows where the value is known: the stated fallback."""
    stacked = np.concatenate(list(columns))
    return tuple(float(np.nanmean(stacked[:, index])) if np.isfinite(stacked[:, index]).any() else 0.0
                 for index in range(stacked.shape[1]))


def history_matrix(embeddings: np.ndarray, melt: np.ndarray, task: str, neutral: Sequence[float],
                   start: int = 0) -> np.ndarray:
    """float32 (T − start, 3): the history columns with unknown values replaced by ``neutral``."""
    columns = history_columns(embeddings, melt, task, start)
    filled = np.where(np.isfinite(columns), columns, np.asarray(neutral, dtype=np.float64))
    return filled.astype(np.float32)


def naive(kind: str, melt: np.ndarray, task: str, train_mean: float) -> np.ndarray:
    """A naive prediction per node from what is known before its target (``train_mean`` where
    nothing is measured yet): persistence, the causal running mean or the training mean."""
    if kind == "train_mean":
        return np.full(np.shape(melt), train_mean)
    values = known_melt(melt, task) if kind == "persistence" else running_mean(melt, task)
    return np.where(np.isfinite(values), values, train_mean)
