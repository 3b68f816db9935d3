"""Session-wide torch objects shared by several test files (built once: ResNet50 is slow)."""

from __future__ import annotations

import functools

import pytest

torch = pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")


@functools.lru_cache(maxsize=1)
def random_encoder():
    from glacier_edge.training.encoder import build_encoder

    return build_encoder("random")


@functools.lru_cache(maxsize=1)
def sample_example():
    """The embedded sample embedded with the random encoder, 4 augmented views."""
    from glacier_edge.contracts import TrainConfig
    from glacier_edge.ingest.frames import read_sequence
    from glacier_edge.ingest.samples import sample_sequence_path
    from glacier_edge.training.dataset import build_example

    encoder, weights = random_encoder()
    return build_example(read_sequence(sample_sequence_path()), encoder, weights, TrainConfig(), augmentations=4,
                         cache_dir=None)


def full_gain_and_changed_last_frame(bundle_dir, sequence_path):
    """For the tests that a later frame cannot reach an earlier node: the bundle's trained network
    at full gain (a bundle shrunk to a constant naive answer would pass them trivially), its edge
    model, and the sequence's frames with the last one inverted."""
    from pathlib import Path

    from glacier_edge.edge.bundle import load_bundle
    from glacier_edge.edge.runtime import EdgeModel
    from glacier_edge.ingest.frames import read_sequence
    from glacier_edge.training.checkpoint import load_checkpoint

    bundle = load_bundle(bundle_dir)
    model, record = load_checkpoint(Path(bundle.manifest.training.run_dir))
    model.shrink_toward(None, 0.0, 1.0)
    frames = read_sequence(sequence_path).frames
    changed = frames.copy()
    changed[-1] = 255 - changed[-1]
    return bundle, model, record, EdgeModel(bundle, provider="cpu"), frames, changed
