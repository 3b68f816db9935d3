"""`glacier-edge embed` on one machine: worker processes sized to the cores, one encoder each.

Embedding is embarrassingly parallel by sequence. Each worker (a fresh *spawned* process: torch
and fork do not mix) builds the encoder once with ``cores // workers`` threads, then takes
sequences one at a time: decode → views → encoder → one Parquet file, written atomically. The
parent hands out sequences, skips those the store already holds (resume), and reports frames/s.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from glacier_edge.contracts import EncoderRecord, TrainConfig
from glacier_edge.ingest.frames import FrameSequence
from glacier_edge.training.store import EmbeddingStore

if TYPE_CHECKING:
    from glacier_edge.training.encoder import FrameEncoder


@dataclass(frozen=True)
class EmbedOutcome:
    source: str
    frames: int
    views: int
    seconds: float
    skipped: bool = False
    """Already in the store (unchanged source, or the same frames under another name)."""
    error: str | None = None
    """Why this sequence could not be embedded (the run goes on with the others)."""


@dataclass(frozen=True)
class EmbedSummary:
    sequences: int
    embedded: int
    skipped: int
    frames: int
    """Frames embedded now (each counted once, whatever its number of views)."""
    seconds: float
    workers: int
    failed: int = 0

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


_worker: dict[str, object] = {}


def cpu_count() -> int:
    """Cores this process may use (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _init_worker(config: TrainConfig, threads: int) -> None:
    import torch

    from glacier_edge.training.encoder import encoder_for

    torch.set_num_threads(threads)
    _worker["encoder"], _worker["record"] = encoder_for(config)


def embed_into_store(sequence: FrameSequence, source: Path, store: EmbeddingStore, encoder: FrameEncoder,
                     record: EncoderRecord, config: TrainConfig, started: float) -> EmbedOutcome:
    """One decoded sequence into the store, or found there already: what a local worker and a Ray
    actor both do, so their stores are the same."""
    from glacier_edge.training.dataset import embed_views, frames_digest

    if record.weights_id != store.info.encoder.weights_id:  # e.g. ImageNet weights cached meanwhile
        return EmbedOutcome(str(source), 0, 0, 0.0, error=f"worker encoder {record.weights_id} is not the "
                                                          f"store's {store.info.encoder.weights_id}")
    digest = frames_digest(sequence.frames)
    if store.read_views(digest, sequence.num_frames) is not None:
        store.write_marker(source, store.key_for(digest))
        return EmbedOutcome(str(source), sequence.num_frames, 0, time.perf_counter() - started, skipped=True)
    views, _ = embed_views(sequence, encoder, record, config.augmentations, config.seed, cache_dir=None)
    store.write(sequence, views, digest, source)
    return EmbedOutcome(str(source), sequence.num_frames, len(views), time.perf_counter() - started)


def _embed_one(source: str, store_root: str, config: TrainConfig) -> EmbedOutcome:
    """In a worker: decode one sequence, then :func:`embed_into_store`."""
    from glacier_edge.errors import GlacierEdgeError
    from glacier_edge.ingest.frames import read_sequence

    started = time.perf_counter()
    try:
        sequence = read_sequence(Path(source), max_pixels=config.max_pixels)
    except GlacierEdgeError as exc:
        return EmbedOutcome(source, 0, 0, time.perf_counter() - started, error=str(exc))
    return embed_into_store(sequence, Path(source), EmbeddingStore.open(Path(store_root)), _worker["encoder"],
                            _worker["record"], config, started)


def not_yet_stored(sources: Sequence[Path], store: EmbeddingStore,
                   on_done: Callable[[EmbedOutcome], None]) -> list[Path]:
    """The sources the store does not hold (unchanged since stored); the others are reported skipped."""
    todo = []
    for source in sources:
        if store.done(source):
            on_done(EmbedOutcome(str(source), 0, 0, 0.0, skipped=True))
        else:
            todo.append(source)
    return todo


def summarise(sources: Sequence[Path], outcomes: list[EmbedOutcome], started: float, workers: int) -> EmbedSummary:
    embedded = [o for o in outcomes if not o.skipped and o.error is None]
    failed = [o for o in outcomes if o.error is not None]
    return EmbedSummary(len(sources), len(embedded), len(sources) - len(embedded) - len(failed),
                        sum(o.frames for o in embedded), time.perf_counter() - started, workers, len(failed))


def embed_locally(sources: Sequence[Path], store: EmbeddingStore, config: TrainConfig, *, workers: int | None,
                  on_done: Callable[[EmbedOutcome], None], threads: int | None = None) -> EmbedSummary:
    """Embed every source not yet in the store with ``workers`` processes (default: the cores),
    each with ``threads`` torch threads (default: the cores shared out between the workers)."""
    started = time.perf_counter()
    todo = not_yet_stored(sources, store, on_done)
    workers = max(1, min(workers or cpu_count(), len(todo) or 1))
    threads = threads or max(1, cpu_count() // workers)
    outcomes: list[EmbedOutcome] = []
    if todo:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(config, threads)) as pool:
            pending = {pool.submit(_embed_one, str(source), str(store.root), config) for source in todo}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()
                    outcomes.append(outcome)
                    on_done(outcome)
    return summarise(sources, outcomes, started, workers)
