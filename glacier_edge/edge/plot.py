"""The seed's evaluation plot: measured melt solid blue, predicted melt red dashed, its calibrated
interval as a band, dates on the x-axis when known.

matplotlib is optional on the edge; it is imported only when a plot is asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from glacier_edge.edge.regional import RegionPrediction
from glacier_edge.errors import MissingDependencyError
from glacier_edge.fileio import write_file_atomic
from glacier_edge.motion.pipeline import MotionResult


@dataclass(frozen=True)
class MeltPanel:
    """One sequence's curves; frame 0 (no measured melt) is left out of both."""

    title: str
    measured: np.ndarray
    predicted: np.ndarray
    dates: list[date | None]
    halfwidth: np.ndarray | None = None
    """Per frame: half-width of the calibrated interval around the prediction, drawn as a band."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(
            "--plot needs matplotlib: pip install matplotlib (or the 'train' extra)"
        ) from exc
    return plt


def _save(plt, figure, path: str | os.PathLike[str], title: str) -> Path:
    """Title, lay out and write the figure as PNG atomically, then free it."""
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    try:
        return write_file_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(figure)


def plot_melt(path: str | os.PathLike[str], panels: list[MeltPanel], suptitle: str = "") -> Path:
    """Write the predicted-vs-measured plot as PNG, one panel per sequence, atomically."""
    plt = _pyplot()
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 3.2 * len(panels)), squeeze=False)
    for axis, panel in zip(axes[:, 0], panels):
        use_dates = all(d is not None for d in panel.dates)
        x = panel.dates[1:] if use_dates else np.arange(1, len(panel.measured))
        axis.plot(x, panel.measured[1:], "b-", marker="o", label="measured melt (pixel change)")
        axis.plot(x, panel.predicted[1:], "r--", marker="x", label="predicted melt")
        if panel.halfwidth is not None:
            low, high = panel.predicted[1:] - panel.halfwidth[1:], panel.predicted[1:] + panel.halfwidth[1:]
            axis.fill_between(x, low, high, color="r", alpha=0.15, label="calibrated 90 % interval")
        axis.set_title(panel.title, fontsize=9)
        axis.set_xlabel("acquisition date" if use_dates else "frame")
        axis.set_ylabel("melt (mean |Δ| / 255)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return _save(plt, figure, path, suptitle)


def plot_motion(path: str | os.PathLike[str], motion: MotionResult, title: str = "") -> Path:
    """Two panels: the last pair's speed map with vectors over its second frame, and each region's
    median speed series with the interval the station forecast for it (PNG, atomically)."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    sequence, unit = motion.sequence, motion.unit
    if motion.pairs:
        pair = motion.pairs[-1]
        measured = pair.field
        left.imshow(sequence.frames[pair.second], cmap="gray", vmin=0, vmax=1)
        valid = measured.valid
        quiver = left.quiver(measured.cols[valid], measured.rows[valid], measured.dx[valid], measured.dy[valid],
                             pair.speed[valid], cmap="turbo", angles="xy", scale_units="xy", scale=0.25)
        figure.colorbar(quiver, ax=left, label=f"speed ({unit})", fraction=0.046)
        left.set_title(f"{sequence.labels[pair.first]} → {sequence.labels[pair.second]} (arrows ×4)", fontsize=8)
    left.set_axis_off()
    ends = np.array(motion.day_of_pair_end)
    for index, (region, forecast) in enumerate(motion.speed_forecasts.items()):
        series = np.array([pair.median_speed if region == next(iter(motion.speed_forecasts)) else
                           pair.region_speeds.get(region) for pair in motion.pairs], dtype=np.float64)
        colour = f"C{index}"
        right.plot(ends, series, "-o", color=colour, label=f"{region}: measured median")
        right.fill_between(ends, forecast.value - forecast.halfwidth, forecast.value + forecast.halfwidth,
                           color=colour, alpha=0.15, label=f"{region}: forecast 90 % interval")
    right.set_xlabel("days since the first frame (pair's end)")
    right.set_ylabel(f"speed ({unit})")
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    return _save(plt, figure, path, title)


def plot_regions(path: str | os.PathLike[str], frames: np.ndarray, regions: RegionPrediction, frame: int,
                 title: str = "") -> Path:
    """Measured and predicted melt of each region over ``frame`` (the model's 128-px view), on one
    colour scale; regions with an unexpected change outlined in red (PNG, atomically)."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    labels = regions.layout.labels
    values = {"measured": regions.measured[frame], "predicted": regions.predicted[frame]}
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
    high = float(finite.max()) if finite.size else 1.0
    for axis, (name, value) in zip(axes, values.items()):
        axis.imshow(frames[frame])
        overlay = np.where(labels >= 0, value[np.maximum(labels, 0)], np.nan)
        image = axis.imshow(overlay, cmap="magma", alpha=0.6, vmin=0.0, vmax=high)
        axis.contour(labels, levels=np.arange(-0.5, labels.max() + 1), colors="white", linewidths=0.4)
        for region in np.nonzero(regions.unexpected[frame])[0]:
            axis.contour(labels == region, levels=[0.5], colors="red", linewidths=2.0)
        for region, region_name in enumerate(regions.layout.names):
            rows, cols = np.nonzero(labels == region)
            if len(rows):
                axis.text(cols.mean(), rows.mean(), region_name, color="white", fontsize=6, ha="center", va="center")
        axis.set_title(f"{name} melt per region, frame {frame}", fontsize=9)
        axis.set_axis_off()
        figure.colorbar(image, ax=axis, fraction=0.046, label="melt (mean |Δ| / 255)")
    return _save(plt, figure, path, title + " — red: unexpected change")
