"""Training examples: a sequence's frames, its melt target and its (cached) encoder embeddings.

The encoder is frozen, so embeddings are computed once per sequence and weights and kept on
disk; a second ``train`` on the same data skips ResNet50 entirely.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glacier_edge.contracts import EncoderRecord, NodeFeatures, TrainConfig
from glacier_edge.fileio import write_file_atomic
from glacier_edge.ingest.frames import FrameSequence
from glacier_edge.signals.features import node_inputs
from glacier_edge.signals.mask import with_border
from glacier_edge.signals.melt import measured_melt, normalize_melt, task_targets
from glacier_edge.training.augment import augment_sequence
from glacier_edge.training.encoder import FrameEncoder, encode_frames
from glacier_edge.training.store import EmbeddingStore, sequence_key


@dataclass
class SequenceExample:
    """One training graph: ``views[0]`` embeds the original frames, the rest augmented copies."""

    sequence: FrameSequence
    views: np.ndarray
    """float32 (V, T, D): D the backbone's embedding width."""
    melt: np.ndarray
    """float32 (T,) measured melt, normalised as configured (frame 0: placeholder)."""
    frames_sha256: str
    task: str = "nowcast"

    def inputs(self, view: int, features: NodeFeatures) -> np.ndarray:
        """Node inputs of one view, built by the same function the edge runner uses."""
        return node_inputs(self.views[view], self.sequence, features, self.melt, self.task)

    @property
    def targets_and_valid(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-node targets for this example's task, and where they are defined."""
        return task_targets(self.melt, self.task)


def defined_targets(examples: Sequence[SequenceExample]) -> np.ndarray:
    """Every target the examples define (their task's valid nodes), concatenated in order."""
    return np.concatenate([targets[valid] for targets, valid in (e.targets_and_valid for e in examples)])


def frames_digest(frames: np.ndarray) -> str:
    digest = hashlib.sha256(str(frames.shape).encode())
    digest.update(np.ascontiguousarray(frames).tobytes())
    return digest.hexdigest()


def embed_views(
    sequence: FrameSequence,
    encoder: FrameEncoder,
    weights: EncoderRecord,
    augmentations: int,
    seed: int,
    cache_dir: Path | None,
    store: EmbeddingStore | None = None,
) -> tuple[np.ndarray, str]:
    """Embeddings of the original frames plus ``augmentations`` augmented copies: from the
    embedding store when it holds them (`glacier-edge embed`), else the cache, else the encoder."""
    digest = frames_digest(sequence.frames)
    if store is not None:
        stored = store.read_views(digest, sequence.num_frames)
        if stored is not None and len(stored) == augmentations + 1:
            return stored, digest
    key = sequence_key(digest, weights, augmentations, seed)
    cache_file = cache_dir / "embeddings" / f"{key}.npy" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        try:
            cached = np.load(cache_file)
            if cached.shape[:2] == (augmentations + 1, sequence.num_frames):
                return cached, digest
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed and rewritten below
    rng = np.random.default_rng(seed)
    views = [sequence.frames] + [augment_sequence(sequence.frames, rng) for _ in range(augmentations)]
    embedded = encode_frames(encoder, np.concatenate(views)).reshape(len(views), sequence.num_frames, -1)
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            write_file_atomic(cache_file, lambda tmp: _save_npy(tmp, embedded))
        except Exception:  # noqa: BLE001 - a cache that cannot be written is only slower
            pass
    return embedded, digest


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a handle, since np.save(path) would append ".npy"
        np.save(handle, array)


def build_example(
    sequence: FrameSequence,
    encoder: FrameEncoder,
    weights: EncoderRecord,
    config: TrainConfig,
    *,
    augmentations: int,
    cache_dir: Path | None,
    mask: np.ndarray | None = None,
    store: EmbeddingStore | None = None,
) -> SequenceExample:
    """One sequence as a training graph; ``augmentations`` is the config's for training
    sequences and 0 for held-out ones."""
    views, digest = embed_views(sequence, encoder, weights, augmentations, config.seed, cache_dir, store)
    melt = normalize_melt(measured_melt(sequence.frames, with_border(mask, sequence.border)), config.normalization)
    return SequenceExample(sequence, views, melt, digest, config.task)
