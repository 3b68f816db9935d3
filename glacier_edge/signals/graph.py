"""The temporal graph over frames, defined once for training (edge list) and the edge (dense).

Nodes are frames. ``bidirectional`` (the seed's nowcast graph) joins consecutive frames both
ways: 2·(T−1) directed edges. ``causal`` (forecast) keeps only t → t+1, so no node sees a later
frame. PyG message passing reads ``edge_index[0]`` as source and ``edge_index[1]`` as target;
the dense adjacency holds ``A[target, source] = 1`` so that ``A @ X`` sums each node's incoming
messages, as SAGEConv's scatter does.
"""

from __future__ import annotations

import numpy as np

from glacier_edge.contracts import GRAPH_KINDS, TASK_GRAPHS  # noqa: F401  (defined with the tasks)


def temporal_edge_index(num_frames: int, kind: str) -> np.ndarray:
    """int64 (2, E) edge list: t→t+1 always, and t+1→t for ``bidirectional``. ``kind`` has no
    default: a model's graph is its task's (:data:`TASK_GRAPHS`) or its record's, never a guess."""
    if num_frames < 1:
        raise ValueError("a graph needs at least one frame")
    if kind not in GRAPH_KINDS:
        raise ValueError(f"unknown graph kind {kind!r}; use one of {GRAPH_KINDS}")
    forward = np.arange(num_frames - 1, dtype=np.int64)
    if kind == "causal":
        return np.stack([forward, forward + 1])
    sources = np.stack([forward, forward + 1], axis=1).reshape(-1)
    targets = np.stack([forward + 1, forward], axis=1).reshape(-1)
    return np.stack([sources, targets])


def dense_adjacency(num_frames: int, kind: str) -> np.ndarray:
    """float32 (T, T) 0/1 adjacency of the same graph, ``A[target, source]``."""
    adjacency = np.zeros((num_frames, num_frames), dtype=np.float32)
    sources, targets = temporal_edge_index(num_frames, kind)
    adjacency[targets, sources] = 1.0
    return adjacency
