"""Agreement between predicted and measured values, used by training, verify, the runner and the
speed model: error metrics and the split-conformal interval."""

from __future__ import annotations

import math

import numpy as np


def melt_metrics(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and Pearson r over the given values (r is NaN when either side is constant)."""
    predicted = np.asarray(predicted, dtype=np.float64)
    measured = np.asarray(measured, dtype=np.float64)
    error = predicted - measured
    mae = float(np.abs(error).mean()) if error.size else math.nan
    rmse = float(np.sqrt((error**2).mean())) if error.size else math.nan
    r = math.nan
    if error.size >= 2 and predicted.std() > 0 and measured.std() > 0:
        r = float(np.corrcoef(predicted, measured)[0, 1])
    return {"mae": mae, "rmse": rmse, "pearson_r": r, "n": int(error.size)}


COVERAGE = 0.9
"""Nominal coverage of the stored intervals (melt, melt per region, speed)."""


def conformal_halfwidth(residuals: np.ndarray, coverage: float = COVERAGE) -> float:
    """Split-conformal: the ⌈(n+1)·coverage⌉-th smallest |residual| (inf when n is too small)."""
    n = len(residuals)
    rank = math.ceil((n + 1) * coverage)
    return float(np.sort(np.abs(residuals))[rank - 1]) if 0 < rank <= n else math.inf
