"""Regions of a frame — the nodes of the spatio-temporal graph — and the melt proxy restricted to
each.

A region labelling is an int (H, W) array of region ids 0..R−1 (−1: in no region). The default
grid follows the encoder's own feature map: ResNet50's last stage has stride 32, so a 128-px frame
gives 4×4 cells, and a region's embedding would cost no extra encoder pass. Per region, melt is
the project's one definition (:func:`glacier_edge.signals.melt.measured_melt`: mean |ΔRGB| / 255
over its pixels and channels, overlay pixels left out); the whole-frame melt is the area-weighted
mean of the regions' melts when the regions cover the frame (``tests/test_frame_regions.py``
proves it), so nothing a station reports changes meaning when regions arrive.

A region's embedding is the encoder's feature map pooled over the region (:meth:`RegionLayout.pooling`:
the share of the region's pixels in each 32×32 cell), so regions of any shape cost no extra encoder
pass; the spatial edges join regions whose pixels touch (4-neighbourhood).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glacier_edge.errors import BadInputError
from glacier_edge.ingest.frames import FRAME_SIZE
from glacier_edge.signals.melt import normalize_melt

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


def measured_region_melt(frames: np.ndarray, labels: np.ndarray, mask: np.ndarray | None,
                         normalization: str) -> np.ndarray:
    """float64 (T, R): :func:`region_melt` with the bundle's melt normalisation applied to each region's
    series, as training builds its targets and the edge its inputs (one definition for both)."""
    melt = region_melt(frames, labels, mask)
    return np.stack([normalize_melt(melt[:, r], normalization) for r in range(melt.shape[1])],
                    axis=1).astype(np.float64)


def region_areas(labels: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """float64 (R,): unmasked pixels per region (the weights of the whole-frame melt)."""
    keep = labels >= 0 if mask is None else (labels >= 0) & ~mask
    return np.bincount(labels[keep], minlength=int(labels.max()) + 1).astype(np.float64)


def frame_melt_from_regions(melt: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """float64 (T,): the area-weighted mean of the regions' melts (regions with no area ignored)."""
    used = areas > 0
    return (np.nan_to_num(melt[:, used]) * areas[used]).sum(axis=1) / areas[used].sum()


CELLS = FRAME_SIZE // ENCODER_STRIDE
"""Feature-map cells per side at the model's frame size (4: 16 cells)."""
SLIC_COMPACTNESS = 10.0
"""scikit-image's default for RGB in [0, 1]: colour and position weigh about equally."""


@dataclass(frozen=True)
class RegionLayout:
    """The regions of one sequence, in the model's 128-px frame (the frame squeezed square, as the
    encoder sees it); ``boxes`` map them back to the original image's pixels."""

    labels: np.ndarray
    """int32 (128, 128): region id 0..R−1 per pixel, −1 in no region."""
    source: str
    """How they were drawn: ``grid 4x4``, ``mask NAME`` or ``slic N``."""
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.names)

    def pooling(self) -> np.ndarray:
        """float32 (R, CELLS²): the share of each region's pixels that lies in each feature-map cell
        (rows sum to 1), so ``pooling @ cells`` is the feature map averaged over the region."""
        cells = grid_regions(self.labels.shape[0])
        inside = self.labels >= 0
        counts = np.zeros((self.count, CELLS * CELLS), dtype=np.float64)
        np.add.at(counts, (self.labels[inside], cells[inside]), 1.0)
        return (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)).astype(np.float32)

    def adjacency(self) -> np.ndarray:
        """float32 (R, R) 0/1, symmetric, no self-loops: regions whose pixels touch side by side."""
        joined = np.zeros((self.count, self.count), dtype=np.float32)
        for a, b in ((self.labels[:, 1:], self.labels[:, :-1]), (self.labels[1:], self.labels[:-1])):
            pairs = (a != b) & (a >= 0) & (b >= 0)
            joined[a[pairs], b[pairs]] = 1.0
            joined[b[pairs], a[pairs]] = 1.0
        return joined

    def boxes(self, original_size: tuple[int, int]) -> tuple[tuple[int, int, int, int], ...]:
        """Per region (x0, y0, x1, y1) in pixels of the original image (width, height), x1/y1
        exclusive: where an operator looks for what an alert names."""
        width, height = original_size
        size = self.labels.shape[0]
        result = []
        for region in range(self.count):
            rows, cols = np.nonzero(self.labels == region)
            if not len(rows):
                result.append((0, 0, 0, 0))
                continue
            result.append((int(cols.min() * width // size), int(rows.min() * height // size),
                           int(-(-(cols.max() + 1) * width // size)), int(-(-(rows.max() + 1) * height // size))))
        return tuple(result)


def grid_layout(size: int = FRAME_SIZE) -> RegionLayout:
    """The default: one region per feature-map cell, named ``r{row}c{col}`` from the top left."""
    cells = size // ENCODER_STRIDE
    return RegionLayout(grid_regions(size), f"grid {cells}x{cells}",
                        tuple(f"r{row}c{col}" for row in range(cells) for col in range(cells)))


def layout_from_masks(masks: dict[str, np.ndarray], source: str) -> RegionLayout:
    """Regions from named bool masks (128, 128) at the model's frame size (e.g. a label image read by
    :func:`glacier_edge.motion.imagery.regions_at`); a region too small to keep a pixel there is refused."""
    labels = np.full((FRAME_SIZE, FRAME_SIZE), -1, dtype=np.int32)
    for index, (name, inside) in enumerate(masks.items()):
        if not inside.any():
            raise BadInputError(f"{source}: region '{name}' is smaller than one pixel of the model's "
                                f"{FRAME_SIZE}-px frame; draw it larger or merge it")
        labels[inside] = index
    return RegionLayout(labels, source, tuple(masks))


def slic_layout(reference: np.ndarray, segments: int) -> RegionLayout:
    """Superpixels (SLIC, scikit-image) of the sequence's reference frame (uint8 (128, 128, 3)),
    drawn once and kept for every frame, so a region keeps its identity over time."""
    try:
        from skimage.segmentation import slic
    except ImportError as exc:
        raise BadInputError("--regions slic:N needs scikit-image: pip install 'glacier-edge[regions]'") from exc
    labels = slic(reference, n_segments=segments, compactness=SLIC_COMPACTNESS, start_label=0,
                  enforce_connectivity=True, channel_axis=-1).astype(np.int32)
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.reshape(reference.shape[:2]).astype(np.int32)
    count = int(labels.max()) + 1
    return RegionLayout(labels, f"slic {count}", tuple(f"s{i}" for i in range(count)))


def region_cells(cells: np.ndarray, layout: RegionLayout) -> np.ndarray:
    """float32 (T, R, D): feature-map cells (T, CELLS², D) averaged over each region (the grid's own
    cells as they are)."""
    pooling = layout.pooling()
    cells = np.asarray(cells, np.float32)
    if pooling.shape[0] == pooling.shape[1] and np.array_equal(pooling, np.eye(len(pooling), dtype=np.float32)):
        return cells
    return np.matmul(pooling, cells)
