"""The temporal graph over frames, defined once for training (edge list) and the edge (dense).

Nodes are frames; each pair of consecutive frames is joined in both directions, so T frames
have 2·(T−1) directed edges. PyG message passing reads ``edge_index[0]`` as source and
``edge_index[1]`` as target; the dense adjacency holds ``A[target, source] = 1`` so that
``A @ X`` sums each node's incoming messages, as SAGEConv's scatter does.
"""

from __future__ import annotations

import numpy as np


def temporal_edge_index(num_frames: int) -> np.ndarray:
    """int64 (2, 2·(T−1)) edge list: t→t+1 and t+1→t for every t."""
    if num_frames < 1:
        raise ValueError("a graph needs at least one frame")
    forward = np.arange(num_frames - 1, dtype=np.int64)
    sources = np.stack([forward, forward + 1], axis=1).reshape(-1)
    targets = np.stack([forward + 1, forward], axis=1).reshape(-1)
    return np.stack([sources, targets])


def dense_adjacency(num_frames: int) -> np.ndarray:
    """float32 (T, T) 0/1 adjacency of the same graph, ``A[target, source]``."""
    adjacency = np.zeros((num_frames, num_frames), dtype=np.float32)
    sources, targets = temporal_edge_index(num_frames)
    adjacency[targets, sources] = 1.0
    return adjacency
