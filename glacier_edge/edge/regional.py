"""Melt per region at the edge: the bundle's ``regions.onnx`` over the regions of each frame, with
the same trust as the frame's — anchor and gain inside the model, a fall-back to the anchor on
out-of-distribution frames, a calibrated interval per region, and "unexpected change" where the
region's measured melt leaves it (numpy + onnxruntime only).

The regions are the bundle's training grid (4×4 feature-map cells) unless the caller gives another
:class:`~glacier_edge.signals.frame_regions.RegionLayout` (a label mask, superpixels): the model's
mean aggregation takes any number of regions and any adjacency, and a region's embedding is the
feature map pooled over it. Intervals of another layout are the pooled half-width.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from glacier_edge.contracts import RegionalRecord
from glacier_edge.ingest.frames import FRAME_SIZE, FrameSequence
from glacier_edge.motion.imagery import regions_at
from glacier_edge.signals.features import region_node_inputs
from glacier_edge.signals.frame_regions import (
    RegionLayout,
    grid_layout,
    layout_from_masks,
    measured_region_melt,
    region_areas,
    region_cells,
    slic_layout,
)
from glacier_edge.signals.graph import dense_adjacency
from glacier_edge.signals.history import naive
from glacier_edge.signals.melt import align_to_frames


@dataclass(frozen=True)
class RegionRequest:
    """Which regions `run` and `watch` report: a label image (``--regions-mask``, the same one motion
    reads), superpixels of the first frame (``--superpixels N``), or, with neither, the bundle's grid."""

    mask: Path | None = None
    superpixels: int | None = None

    def layout(self, sequence: FrameSequence) -> RegionLayout | None:
        """The layout for this sequence (None: the bundle's default grid)."""
        if self.mask is not None:
            masks = regions_at(self.mask, sequence.original_size, (FRAME_SIZE, FRAME_SIZE))
            return layout_from_masks(masks, f"mask {Path(self.mask).name}")
        if self.superpixels is not None:
            return slic_layout(sequence.frames[0], self.superpixels)
        return None


@dataclass
class RegionPrediction:
    """Per frame × region, aligned to the frame whose melt each value is (row 0 has none)."""

    layout: RegionLayout
    measured: np.ndarray
    """float64 (T, R) measured region melt (NaN: no unmasked pixel)."""
    predicted: np.ndarray
    """float64 (T, R) served prediction (NaN where no node predicts that frame)."""
    halfwidth: np.ndarray | None
    """float64 (T, R) interval half-width (None: the bundle has no regional calibration)."""
    fallback: np.ndarray
    """bool (T,) the anchor stood in for the model (the frame's input was out of distribution)."""
    unexpected: np.ndarray
    """bool (T, R) measured melt outside the alert band (wider than the interval: see
    :attr:`~glacier_edge.contracts.RegionalCalibration.alert_halfwidth`)."""
    alert_halfwidth: np.ndarray | None
    persistence: np.ndarray
    """float64 (T, R) each region's persistence answer for the same frame (the last melt known)."""
    areas: np.ndarray
    """float64 (R,) unmasked pixels per region in the 128-px frame."""
    spatial_edges: bool
    forecast_next: np.ndarray | None = None
    """forecast task: each region's predicted melt for the step after the last frame."""

    def unexpected_regions(self, frame: int) -> list[int]:
        return [int(r) for r in np.nonzero(self.unexpected[frame])[0]]


def region_alert_message(where: str, name: str, box: tuple[int, ...], measured: float, low: float,
                         high: float) -> str:
    """The one line an unexpected region change is told in, by `run` and by a station."""
    x0, y0, x1, y1 = box
    return (f"{where}: region {name} (x {x0}–{x1}, y {y0}–{y1} px) changed {measured:.4f}, outside "
            f"{low:.4f}–{high:.4f} (the alert band around the prediction made for it)")


class RegionModel:
    """The per-region session of a bundle and what it needs from the manifest."""

    def __init__(self, session: ort.InferenceSession, record: RegionalRecord, task: str, graph_kind: str,
                 normalization: str) -> None:
        self.session, self.record = session, record
        self.task, self.graph_kind, self.normalization = task, graph_kind, normalization

    def default_layout(self) -> RegionLayout:
        return grid_layout()

    def halfwidths(self, layout: RegionLayout) -> np.ndarray | None:
        """Per region: its own calibrated half-width on the training grid, else the pooled one."""
        cal = self.record.calibration
        if cal is None:
            return None
        if layout.source == self.record.layout and len(cal.region_halfwidth) == layout.count:
            return np.asarray(cal.region_halfwidth, dtype=np.float64)
        return np.full(layout.count, cal.halfwidth)

    def measured(self, frames: np.ndarray, layout: RegionLayout, mask: np.ndarray | None) -> np.ndarray:
        return measured_region_melt(frames, layout.labels, mask, self.normalization)

    def predict(self, cells: np.ndarray, frames: np.ndarray, layout: RegionLayout, mask: np.ndarray | None,
                node_ood: np.ndarray | None) -> RegionPrediction:
        """``cells`` (T, C, D) from the encoder's second output; ``node_ood`` (T,) the frame guard's
        flags per node (None: nothing flagged)."""
        return self.predict_measured(cells, self.measured(frames, layout, mask), layout,
                                     region_areas(layout.labels, mask), node_ood)

    def predict_measured(self, cells: np.ndarray, measured: np.ndarray, layout: RegionLayout, areas: np.ndarray,
                         node_ood: np.ndarray | None, last_only: bool = False) -> RegionPrediction:
        """:meth:`predict` from region melts already measured (T, R) (row 0: the placeholder): what a
        station has stored, one image at a time.

        ``last_only``: only the last frame's values are wanted (a station). A node's output depends
        only on the nodes within as many temporal hops as the model has layers, so the model runs
        on the last ``layers + 2`` frames (one more for the forecast's alignment) — the same numbers
        for the last frame (tested against `run`), ~5× less work at a 24-image window; earlier rows
        are NaN."""
        frames = len(cells)
        start = max(frames - (len(self.record.hidden) + 3), 0) if last_only else 0
        x = region_node_inputs(region_cells(cells, layout), measured, self.record.features, self.task, start)
        feeds = {"x": x, "temporal": dense_adjacency(frames - start, self.graph_kind),
                 "spatial": layout.adjacency()}
        outputs = np.full(measured.shape, np.nan)
        outputs[start:] = self.session.run(None, feeds)[0]
        flagged = np.zeros(frames, bool) if node_ood is None else np.asarray(node_ood, bool)
        cal = self.record.calibration
        widths = self.halfwidths(layout)
        served, halfwidth, band = outputs, None, None
        if cal is not None and widths is not None:
            anchor = naive(cal.fallback, measured, self.task, cal.train_mean)
            served = np.where(flagged[:, None], anchor, outputs)
            halfwidth = np.where(flagged[:, None], cal.fallback_halfwidth, widths[None, :])
            band = np.maximum(halfwidth, cal.alert_halfwidth)
        aligned = align_to_frames(served, self.task)
        aligned_width = None if halfwidth is None else align_to_frames(halfwidth, self.task)
        fallback = align_to_frames(flagged.astype(np.float64), self.task) == 1.0
        aligned_band = None if band is None else align_to_frames(band, self.task)
        unexpected = np.zeros(aligned.shape, bool)
        if aligned_band is not None:
            with np.errstate(invalid="ignore"):
                unexpected = np.abs(measured - aligned) > aligned_band
            unexpected &= np.isfinite(measured) & np.isfinite(aligned)
            unexpected[0] = False
        fill = cal.train_mean if cal is not None else self.record.features.history_neutral[0]
        persistence = align_to_frames(naive("persistence", measured, self.task, fill), self.task)
        forecast_next = served[-1].copy() if self.task == "forecast" else None
        return RegionPrediction(layout, measured, aligned, aligned_width, fallback, unexpected, aligned_band,
                                persistence, areas, self.record.spatial_edges, forecast_next)
