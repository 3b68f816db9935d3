"""Node features beyond the image embedding: acquisition dates and sidecar covariates.

The seed's future work ("metadata as node features"), defined once for training, export and the
edge runner: day of year as sin/cos (the seasonal cycle, continuous over New Year), years since
the sequence's first acquisition (irregular gaps become visible to the model), and any numeric
sidecar columns. The bundle manifest lists them in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Protocol

import numpy as np

from glacier_edge.contracts import NodeFeatures
from glacier_edge.errors import BadInputError
from glacier_edge.ingest.frames import FrameSequence, sidecar_path
from glacier_edge.signals.history import history_matrix
from glacier_edge.signals.melt import task_targets


class Dated(Protocol):
    """What the metadata columns read: a decoded sequence, or a station's window of stored images."""

    dates: list[date | None]
    covariates: dict[str, list[float]]
    source: str

    @property
    def num_frames(self) -> int: ...


DATE_FEATURES = ("doy_sin", "doy_cos", "years_since_first")
DAYS_PER_YEAR = 365.25


def available_metadata(sequences: Sequence[FrameSequence]) -> list[str]:
    """Date features plus the covariates every sequence has (sorted), for ``train --metadata``."""
    for sequence in sequences:
        if any(d is None for d in sequence.dates):
            raise BadInputError(_missing_dates(sequence))
    shared = set.intersection(*(set(s.covariates) for s in sequences)) if sequences else set()
    return [*DATE_FEATURES, *sorted(shared)]


def _missing_dates(sequence: Dated) -> str:
    return (f"{sequence.source}: metadata features need an acquisition date for every frame; give "
            f"{sidecar_path(Path(sequence.source)).name} (one YYYY-MM-DD per frame) or dated file names")


def metadata_matrix(sequence: Dated, names: Sequence[str]) -> np.ndarray:
    """float32 (T, len(names)) in the given order."""
    columns = []
    if any(name in DATE_FEATURES for name in names) and any(d is None for d in sequence.dates):
        raise BadInputError(_missing_dates(sequence))
    first = sequence.dates[0]
    for name in names:
        if name == "doy_sin" or name == "doy_cos":
            angle = [2 * math.pi * (d.timetuple().tm_yday - 1) / DAYS_PER_YEAR for d in sequence.dates]
            columns.append(np.sin(angle) if name == "doy_sin" else np.cos(angle))
        elif name == "years_since_first":
            columns.append([(d - first).days / DAYS_PER_YEAR for d in sequence.dates])
        elif name in sequence.covariates:
            columns.append(sequence.covariates[name])
        else:
            raise BadInputError(f"{sequence.source}: the model needs the covariate '{name}' in the dates sidecar "
                                f"({sidecar_path(Path(sequence.source)).name})")
    return np.asarray(columns, dtype=np.float32).T.reshape(sequence.num_frames, len(names))


def node_inputs(embeddings: np.ndarray, sequence: Dated | None, features: NodeFeatures,
                melt: np.ndarray | None, task: str) -> np.ndarray:
    """Embeddings with the metadata and history columns appended, in the model's column order.

    Without a sequence (random benchmark frames) the metadata's training means stand in; without
    measured melt the history's do, except the embedding change, which the embeddings give.
    """
    parts = [np.asarray(embeddings, dtype=np.float32)]
    if features.metadata:
        if sequence is not None:
            parts.append(metadata_matrix(sequence, features.metadata))
        else:
            parts.append(np.tile(np.asarray(features.neutral, dtype=np.float32), (len(embeddings), 1)))
    if features.history:
        known = np.full(len(embeddings), np.nan) if melt is None else melt
        parts.append(history_matrix(embeddings, known, task, features.history_neutral))
    return np.concatenate(parts, axis=1).astype(np.float32) if len(parts) > 1 else parts[0]


def region_node_inputs(embeddings: np.ndarray, melt: np.ndarray | None, features: NodeFeatures,
                       task: str, start: int = 0) -> np.ndarray:
    """float32 (T, R, D + history): each region's embedding (T, R, D) with *its own* history columns
    (last melt, running mean, embedding change of that region), as :func:`node_inputs` builds them
    for a frame. A region with no measured melt (all masked, or ``melt`` None) gets the neutral values.
    ``start``: only the nodes from ``start`` on (their history still reads every earlier melt)."""
    known = np.full(embeddings.shape[:2], np.nan) if melt is None else np.asarray(melt, np.float64)
    history = history_matrix(embeddings, known, task, features.history_neutral, start)
    return np.concatenate([np.asarray(embeddings[start:], np.float32), history], axis=-1)


def region_targets(melt: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Per node (T, R): the region's target for the task (float32), and where it is defined (not
    where the region has no unmasked pixel: its melt is NaN)."""
    pairs = [task_targets(melt[:, r], task) for r in range(melt.shape[1])]
    targets = np.stack([pair[0] for pair in pairs], axis=1)
    valid = np.stack([pair[1] for pair in pairs], axis=1) & np.isfinite(targets)
    return np.nan_to_num(targets, nan=0.0), valid
