"""Regions of a frame — the future nodes of a spatio-temporal graph (issue 21) — and the melt
proxy restricted to each.

A region labelling is an int (H, W) array of region ids 0..R−1 (−1: in no region). The default
grid follows the encoder's own feature map: ResNet50's last stage has stride 32, so a 128-px frame
gives 4×4 cells, and a region's embedding would cost no extra encoder pass. Per region, melt is
the project's one definition (:func:`glacier_edge.signals.melt.measured_melt`: mean |ΔRGB| / 255
over its pixels and channels, overlay pixels left out); the whole-frame melt is the area-weighted
mean of the regions' melts when the regions cover the frame (``tests/test_frame_regions.py``
proves it), so nothing a station reports changes meaning when regions arrive.

Groundwork only: no model, export or report reads regions yet.
"""

from __future__ import annotations

import numpy as np

from glacier_edge.ingest.frames import FRAME_SIZE

ENCODER_STRIDE = 32
"""ResNet50's last stage: one feature-map cell per 32×32 input pixels."""


def grid_regions(size: int = FRAME_SIZE, stride: int = ENCODER_STRIDE) -> np.ndarray:
    """int (size, size): the encoder feature map's cells, row by row (4×4 = 16 regions at 128 px)."""
    if size % stride:
        raise ValueError(f"a {size}-px frame does not split into {stride}-px cells")
    cells = size // stride
    rows, cols = np.mgrid[0:size, 0:size] // stride
    return (rows * cells + cols).astype(np.int32)


def labels_from_image(label_image: np.ndarray) -> np.ndarray:
    """int (H, W) region ids from a grey label image: each distinct non-zero level is a region
    (ids in increasing level order), 0 is in no region (−1)."""
    levels = np.asarray(label_image)
    ids = np.full(levels.shape, -1, dtype=np.int32)
    for index, level in enumerate(level for level in np.unique(levels) if level):
        ids[levels == level] = index
    return ids


def region_melt(frames: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """float64 (T, R): melt of each region (row 0: the placeholder 0, as for the frame); NaN for a
    region whose pixels are all masked out. ``labels`` (H, W) as :func:`grid_regions`."""
    if frames.ndim != 4 or labels.shape != frames.shape[1:3]:
        raise ValueError(f"labels {labels.shape} do not match frames {frames.shape}")
    count = int(labels.max()) + 1
    keep = labels >= 0 if mask is None else (labels >= 0) & ~mask
    difference = np.abs(frames[1:].astype(np.int16) - frames[:-1].astype(np.int16)).sum(axis=3)  # (T-1, H, W)
    ids = labels[keep]
    pixels = np.bincount(ids, minlength=count).astype(np.float64)  # per region, unmasked pixels
    sums = np.stack([np.bincount(ids, weights=d[keep], minlength=count) for d in difference])
    channels = frames.shape[3]
    with np.errstate(invalid="ignore", divide="ignore"):
        melt = sums / (pixels * channels * 255.0)
    melt[:, pixels == 0] = np.nan
    return np.vstack([np.zeros((1, count)), melt])


def region_areas(labels: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """float64 (R,): unmasked pixels per region (the weights of the whole-frame melt)."""
    keep = labels >= 0 if mask is None else (labels >= 0) & ~mask
    return np.bincount(labels[keep], minlength=int(labels.max()) + 1).astype(np.float64)


def frame_melt_from_regions(melt: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """float64 (T,): the area-weighted mean of the regions' melts (regions with no area ignored)."""
    used = areas > 0
    return (np.nan_to_num(melt[:, used]) * areas[used]).sum(axis=1) / areas[used].sum()
