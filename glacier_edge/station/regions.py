"""A station's melt per region of the frame (bundles trained with --frame-regions): per image its
feature-map cells (the same encoder pass as the frame's embedding) and each region's measured melt
are stored; the per-region model then runs over the window, as `run` does over the same files, and
a region whose measured melt leaves its alert band raises ``unexpected_region_change`` with the
region's id, name and box in original pixels.

The regions are the bundle's grid, or the label image of ``watch --regions-mask`` (the same one the
per-region speeds read).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glacier_edge.edge.regional import RegionModel, RegionPrediction, region_alert_message
from glacier_edge.ingest.frames import FRAME_SIZE
from glacier_edge.motion.imagery import regions_at
from glacier_edge.signals.frame_regions import RegionLayout, layout_from_masks, region_areas
from glacier_edge.station.records import Alert, WindowImage
from glacier_edge.station.store import Store


class StationRegions:
    """The layout, fixed on the first image (when the frame size is known), then one step per image."""

    def __init__(self, regions_mask: Path | None) -> None:
        self.regions_mask = regions_mask
        self.layout: RegionLayout | None = None
        self.boxes: tuple[tuple[int, int, int, int], ...] = ()
        self._cells: dict[int, np.ndarray] = {}
        """The window's cells in memory (the database holds them too, for a restart): reading 24 × 128 kB
        back from SQLite for every image cost more than the per-region model itself."""
        self._measured: dict[int, np.ndarray] = {}

    def ensure_layout(self, store: Store, model: RegionModel, original_size: tuple[int, int]) -> RegionLayout:
        if self.layout is None:
            if self.regions_mask is not None:
                masks = regions_at(self.regions_mask, original_size, (FRAME_SIZE, FRAME_SIZE))
                self.layout = layout_from_masks(masks, f"mask {self.regions_mask.name}")
            else:
                self.layout = model.default_layout()
            self.boxes = self.layout.boxes(original_size)
            store.set_region_layout(self.layout.source, self.layout.names, self.boxes, original_size)
        return self.layout

    def step(self, store: Store, model: RegionModel, mask: np.ndarray | None, image_id: int, cells: np.ndarray,
             frame: np.ndarray, previous: np.ndarray | None, window: list[WindowImage], node_ood: np.ndarray | None,
             original_size: tuple[int, int], keep: int, detail: dict[str, object], now: str) -> list[Alert]:
        """Store this image's cells and region melts; over the window (when its images all have cells),
        predict, store each region's row and return the alerts of this image's regions."""
        layout = self.ensure_layout(store, model, original_size)
        store.insert_region_cells(image_id, cells, keep)
        measured_now = (model.measured(np.stack([previous, frame]), layout, mask)[1] if previous is not None
                        else np.full(layout.count, np.nan))
        self._cells[image_id], self._measured[image_id] = cells, measured_now
        ids = [w.id for w in window]
        for old in [i for i in self._cells if i not in set(ids)]:
            del self._cells[old], self._measured[old]
        stacked = self._window_cells(store, ids, cells.shape[0]) if len(window) >= 2 and ids[-1] == image_id else None
        prediction = None
        if stacked is not None:
            missing = [i for i in ids if i not in self._measured]
            if missing:
                stored = store.region_measured(missing, layout.count)
                self._measured.update(zip(missing, stored))
            measured = np.stack([self._measured[i] for i in ids])
            measured[0] = 0.0  # the window's first image has no previous frame inside it (as `run`)
            prediction = model.predict_measured(stacked, measured, layout, region_areas(layout.labels, mask),
                                                node_ood, last_only=True)
        store.insert_region_values(image_id, self._rows(layout, measured_now, prediction))
        if prediction is None:
            return []
        return [self._alert(prediction, region, image_id, detail, now) for region in prediction.unexpected_regions(-1)]

    def _window_cells(self, store: Store, ids: list[int], cells: int) -> np.ndarray | None:
        missing = [i for i in ids if i not in self._cells]
        if missing:
            stored = store.region_cells(missing, cells)
            if stored is None:
                return None
            self._cells.update(zip(missing, stored))
        return np.stack([self._cells[i] for i in ids])

    @staticmethod
    def _rows(layout: RegionLayout, measured: np.ndarray, prediction: RegionPrediction | None) -> list[tuple]:
        rows = []
        for region in range(layout.count):
            value = float(measured[region]) if np.isfinite(measured[region]) else None
            predicted = low = high = None
            unexpected = False
            if prediction is not None and np.isfinite(prediction.predicted[-1, region]):
                predicted = float(prediction.predicted[-1, region])
                if prediction.halfwidth is not None:
                    low = predicted - float(prediction.halfwidth[-1, region])
                    high = predicted + float(prediction.halfwidth[-1, region])
                unexpected = bool(prediction.unexpected[-1, region])
            rows.append((region, layout.names[region], value, predicted, low, high, unexpected))
        return rows

    def _alert(self, prediction: RegionPrediction, region: int, image_id: int, detail: dict[str, object],
               now: str) -> Alert:
        predicted = float(prediction.predicted[-1, region])
        band = float(prediction.alert_halfwidth[-1, region]) if prediction.alert_halfwidth is not None else 0.0
        measured = float(prediction.measured[-1, region])
        name = prediction.layout.names[region]
        message = region_alert_message(f"{detail['image']} ({detail['date']})", name, self.boxes[region], measured,
                                       predicted - band, predicted + band)
        return Alert(None, image_id, "unexpected_region_change", measured,
                     {**detail, "region": region, "name": name, "box": list(self.boxes[region]),
                      "predicted": predicted, "alert_low": predicted - band, "alert_high": predicted + band,
                      "message": message}, now)
