"""Out-of-distribution score of frame embeddings: how unlike the training imagery a frame is.

A compact summary of the training frames is stored with the model: of their embeddings the
mean, the top principal directions and the variance along each; of their colour (per-channel
mean and spread) the mean and inverse covariance. A frame's score averages three normalised
distances, each 1 on average for training frames: inside the embedding's principal subspace
(Mahalanobis, per component), off it (residual energy relative to training), and of its colour
(Mahalanobis, per dimension). The colour term is there because a random-init encoder barely
tells a channel-swapped (false-colour) composite from true colour; measured, see README. The
threshold is set on held-out folds (sequences the summary never saw) at a chosen false-alarm
rate, so an optical glacier sequence from elsewhere is not flagged for being new, while
another sensor or band combination is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMPONENTS = 16
VARIANCE_FLOOR = 1e-4
"""No direction (nor the residual) counts as tighter than this share of the total variance: a
near-zero variance would turn float32 rounding into a huge score."""
FALSE_ALARM_QUANTILE = 0.99
"""Held-out in-distribution frames scoring above this quantile are the accepted false alarms (1 %)."""


@dataclass(frozen=True)
class EmbeddingSummary:
    mean: np.ndarray
    """float32 (D,)."""
    basis: np.ndarray
    """float32 (D, k): orthonormal principal directions."""
    variance: np.ndarray
    """float32 (k,): training variance along each direction."""
    residual_energy: float
    """Mean squared distance of training embeddings from the subspace."""
    colour_mean: np.ndarray
    """float32 (6,): mean of :func:`colour_features` over training frames."""
    colour_precision: np.ndarray
    """float32 (6, 6): inverse covariance of the colour features (ridge-regularised)."""


def colour_features(frames: np.ndarray) -> np.ndarray:
    """float32 (N, 6): per-channel mean and standard deviation of uint8 RGB frames, in [0, 1]."""
    pixels = np.asarray(frames, dtype=np.float32).reshape(len(frames), -1, 3) / 255.0
    return np.concatenate([pixels.mean(axis=1), pixels.std(axis=1)], axis=1).astype(np.float32)


def fit_summary(embeddings: np.ndarray, colours: np.ndarray, components: int = COMPONENTS) -> EmbeddingSummary:
    data = np.asarray(embeddings, dtype=np.float64)
    mean = data.mean(axis=0)
    centred = data - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    # at most half the frames' dimensions, so the off-subspace energy is measured, not ~0
    k = max(1, min(components, (len(data) - 1) // 2, vt.shape[0]))
    basis = vt[:k].T
    total = float(np.sum(singular**2) / max(len(data) - 1, 1)) or 1.0
    variance = np.maximum(singular[:k] ** 2 / max(len(data) - 1, 1), VARIANCE_FLOOR * total)
    residual = centred - (centred @ basis) @ basis.T
    energy = max(float(np.mean(np.sum(residual**2, axis=1))), VARIANCE_FLOOR * total)
    colour = np.asarray(colours, dtype=np.float64)
    covariance = np.cov(colour, rowvar=False) if len(colour) > 1 else np.zeros((colour.shape[1],) * 2)
    covariance += np.eye(len(covariance)) * (1e-4 + 1e-3 * np.trace(covariance) / len(covariance))
    return EmbeddingSummary(mean.astype(np.float32), basis.astype(np.float32), variance.astype(np.float32), energy,
                            colour.mean(axis=0).astype(np.float32), np.linalg.inv(covariance).astype(np.float32))


def ood_scores(summary: EmbeddingSummary, embeddings: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """float64 (N,): ~1 for training-like frames, larger the further from them."""
    centred = np.asarray(embeddings, dtype=np.float64) - summary.mean
    projected = centred @ summary.basis.astype(np.float64)
    inside = np.mean(projected**2 / summary.variance, axis=1)
    residual = centred - projected @ summary.basis.T.astype(np.float64)
    outside = np.sum(residual**2, axis=1) / summary.residual_energy
    offset = np.asarray(colours, dtype=np.float64) - summary.colour_mean
    colour = np.einsum("ni,ij,nj->n", offset, summary.colour_precision.astype(np.float64), offset) / offset.shape[1]
    return (inside + outside + colour) / 3.0


def threshold_from(heldout_scores: np.ndarray, quantile: float = FALSE_ALARM_QUANTILE) -> float:
    return float(np.quantile(heldout_scores, quantile))
