"""Out-of-distribution score of frame embeddings: how unlike the training imagery a frame is.

A compact summary of the training frames is stored with the model: of their embeddings the
mean, the top principal directions and the variance along each; of their colour (per-channel
mean and spread, offset from grey, colourfulness) the mean and inverse covariance. Two
distances, each ~1 on average for training frames: of the embedding (the mean of a Mahalanobis
distance inside its principal subspace and the residual energy off it) and of the colour
(Mahalanobis, per dimension). A frame's score is the larger of the two, each divided by its own
held-out 99th percentile (``term_scale``), so one clearly unusual aspect is enough: averaging
them let the embedding, which barely moves for a channel-swapped (false-colour) composite under
a random-init encoder, dilute the colour distance that does; keeping the two embedding parts as
separate terms made dark but ordinary corpus sequences false alarms (measured, see
benchmarks/README.md). The threshold is set on held-out folds (sequences the summary never
saw) at a chosen false-alarm rate, so an optical glacier sequence from elsewhere is not flagged
for being new, while another sensor or band combination is.

A frame is judged with the window the graph reads it in (:func:`window_is_ood`): when most frames
of the window are out of distribution, every prediction made from it is, because the graph
mixes neighbouring frames and a near-grey frame of a false-colour sequence (snow, cloud: a band
permutation barely changes it) does not make the sequence trustworthy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COMPONENTS = 16
VARIANCE_FLOOR = 1e-4
"""No direction (nor the residual) counts as tighter than this share of the total variance: a
near-zero variance would turn float32 rounding into a huge score."""
FALSE_ALARM_QUANTILE = 0.99
"""Held-out in-distribution frames scoring above this quantile are the accepted false alarms (1 %)."""
WINDOW_MAJORITY = 0.5
"""A window with at least this share of frames above the threshold is out of distribution as a
whole. Held-out corpus sequences reach at most 9–18 % per fold (stored per bundle as
``ood_heldout_max_window_share``); 69 of 70 false-colour and all radar sequences exceed 50 %
(benchmarks/ood_folds.py)."""
COLOUR_FEATURES = ("mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b", "chroma_r", "chroma_b",
                   "colourfulness_r", "colourfulness_g", "colourfulness_b")
"""What :func:`colour_features` returns per frame, in order; the bundle's ood.onnx input width."""
TERMS = ("embedding", "colour")


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
    """float32 (C,): mean of :func:`colour_features` over training frames."""
    colour_precision: np.ndarray
    """float32 (C, C): inverse covariance of the colour features (ridge-regularised)."""
    term_scale: np.ndarray = field(default_factory=lambda: np.ones(len(TERMS), np.float32))
    """float32 (2,): each of :data:`TERMS`' held-out 99th percentile (ones until calibrated)."""


def colour_features(frames: np.ndarray) -> np.ndarray:
    """float32 (N, 11), see :data:`COLOUR_FEATURES`, of uint8 RGB frames in [0, 1]: per-channel
    mean and standard deviation; the mean offset of red and blue from each pixel's grey level (green's
    is minus their sum); and per channel the mean |offset from grey|. The offsets carry the band
    order without the brightness, which dominates means and spreads."""
    pixels = np.asarray(frames, dtype=np.float32).reshape(len(frames), -1, 3) / 255.0
    chroma = pixels - pixels.mean(axis=2, keepdims=True)
    offset = chroma.mean(axis=1)
    return np.concatenate([pixels.mean(axis=1), pixels.std(axis=1), offset[:, [0, 2]], np.abs(chroma).mean(axis=1)],
                          axis=1).astype(np.float32)


def fit_summary(embeddings: np.ndarray, colours: np.ndarray, components: int = COMPONENTS) -> EmbeddingSummary:
    data = np.asarray(embeddings, dtype=np.float64)
    mean = data.mean(axis=0)
    centred = data - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    # at most half the frames' dimensions, so the off-subspace energy is measured, not ~0
    k = max(1, min(components, (len(data) - 1) // 2, vt.shape[0]))
    total = float(np.sum(singular**2) / max(len(data) - 1, 1)) or 1.0
    if data.shape[1] == 0:  # the `none` encoder: one empty direction, so the embedding term is 0, not 0/0
        basis, variance = np.zeros((0, 1)), np.ones(1)
    else:
        basis = vt[:k].T
        variance = np.maximum(singular[:k] ** 2 / max(len(data) - 1, 1), VARIANCE_FLOOR * total)
    residual = centred - (centred @ basis) @ basis.T
    energy = max(float(np.mean(np.sum(residual**2, axis=1))), VARIANCE_FLOOR * total)
    colour = np.asarray(colours, dtype=np.float64)
    covariance = np.cov(colour, rowvar=False) if len(colour) > 1 else np.zeros((colour.shape[1],) * 2)
    covariance += np.eye(len(covariance)) * (1e-4 + 1e-3 * np.trace(covariance) / len(covariance))
    return EmbeddingSummary(mean.astype(np.float32), basis.astype(np.float32), variance.astype(np.float32), energy,
                            colour.mean(axis=0).astype(np.float32), np.linalg.inv(covariance).astype(np.float32))


def ood_terms(summary: EmbeddingSummary, embeddings: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """float64 (N, 2): the unscaled distances of :data:`TERMS`, each ~1 for training frames."""
    centred = np.asarray(embeddings, dtype=np.float64) - summary.mean
    projected = centred @ summary.basis.astype(np.float64)
    inside = np.mean(projected**2 / summary.variance, axis=1)
    residual = centred - projected @ summary.basis.T.astype(np.float64)
    outside = np.sum(residual**2, axis=1) / summary.residual_energy
    offset = np.asarray(colours, dtype=np.float64) - summary.colour_mean
    colour = np.einsum("ni,ij,nj->n", offset, summary.colour_precision.astype(np.float64), offset) / offset.shape[1]
    return np.stack([(inside + outside) / 2.0, colour], axis=1)


def scores_from_terms(terms: np.ndarray, term_scale: np.ndarray) -> np.ndarray:
    return np.max(terms / np.asarray(term_scale, dtype=np.float64), axis=1)


def ood_scores(summary: EmbeddingSummary, embeddings: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """float64 (N,): the larger scaled term; below ~1 for training-like frames."""
    return scores_from_terms(ood_terms(summary, embeddings, colours), summary.term_scale)


def term_scale_from(heldout_terms: np.ndarray, quantile: float = FALSE_ALARM_QUANTILE) -> np.ndarray:
    """Each term's held-out quantile (floored so a degenerate term cannot divide by ~0)."""
    return np.maximum(np.quantile(heldout_terms, quantile, axis=0), 1e-6).astype(np.float32)


def threshold_from(heldout_scores: np.ndarray, quantile: float = FALSE_ALARM_QUANTILE) -> float:
    return float(np.quantile(heldout_scores, quantile))


@dataclass(frozen=True)
class OodCalibration:
    """What held-out in-distribution sequences say about the score."""

    term_scale: np.ndarray
    threshold: float
    heldout_flag_rate: float
    heldout_max_window_share: float
    """The largest share of flagged frames in one held-out sequence (the window rule's margin)."""


def calibrate_ood(heldout_terms: list[np.ndarray], quantile: float = FALSE_ALARM_QUANTILE) -> OodCalibration:
    """From :func:`ood_terms` of held-out sequences (one array each, scored by summaries that
    never saw them): the term scales, then the threshold at the false-alarm ``quantile``."""
    scale = term_scale_from(np.concatenate(heldout_terms), quantile)
    scores = [scores_from_terms(part, scale) for part in heldout_terms]
    threshold = threshold_from(np.concatenate(scores), quantile)
    return OodCalibration(scale, threshold, float(np.mean(np.concatenate(scores) > threshold)),
                          max(float(np.mean(part > threshold)) for part in scores))


def window_is_ood(flagged: np.ndarray, majority: float | None = WINDOW_MAJORITY) -> bool:
    """At least ``majority`` of the window's frames are flagged (None: never; frames stand alone)."""
    return bool(majority is not None and len(flagged) and np.mean(flagged) >= majority)
