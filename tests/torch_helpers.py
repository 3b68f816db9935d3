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
