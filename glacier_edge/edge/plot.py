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

from glacier_edge.errors import MissingDependencyError
from glacier_edge.fileio import write_file_atomic


@dataclass(frozen=True)
class MeltPanel:
    """One sequence's curves; frame 0 (no measured melt) is left out of both."""

    title: str
    measured: np.ndarray
    predicted: np.ndarray
    dates: list[date | None]
    halfwidth: np.ndarray | None = None
    """Per frame: half-width of the calibrated interval around the prediction, drawn as a band."""


def plot_melt(path: str | os.PathLike[str], panels: list[MeltPanel], suptitle: str = "") -> Path:
    """Write the predicted-vs-measured plot as PNG, one panel per sequence, atomically."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(
            "--plot needs matplotlib: pip install matplotlib (or the 'train' extra)"
        ) from exc
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
    if suptitle:
        figure.suptitle(suptitle, fontsize=9)
    figure.tight_layout()
    try:
        return write_file_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(figure)
