"""`embed --ray` and `evaluate --ray`: the same work as on one machine, spread over a Ray cluster.

Embedding runs through Ray Data: sources → decode/resize (tasks) → an encoder actor per worker
(GPU actors when the cluster has GPUs) that writes each sequence into the store exactly as the
local executor does, so a Ray store equals a local one. Ray is the optional ``scale`` extra and
is imported only here: never by `run`, `watch` or a plain `embed`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from glacier_edge.archive.embed_jobs import EmbedOutcome, EmbedSummary, embed_into_store, not_yet_stored, summarise
from glacier_edge.contracts import TrainConfig
from glacier_edge.errors import MissingDependencyError
from glacier_edge.ingest.frames import FRAME_SIZE, FrameSequence
from glacier_edge.training.store import EmbeddingStore


def ray_module():
    try:
        import ray
        import ray.data  # noqa: F401  (an attribute of ray once imported)
    except ImportError as exc:
        raise MissingDependencyError("--ray needs Ray: pip install 'glacier-edge[scale]'") from exc
    return ray


def start_ray(address: str) -> Any:
    """Connect to the cluster at ``address``, or start a local Ray for ``auto`` (no address)."""
    import logging

    ray = ray_module()
    for name in ("ray", "ray.data"):  # Ray Data logs every operator at INFO on stderr
        logging.getLogger(name).setLevel(logging.WARNING)
    if not ray.is_initialized():
        if address == "auto":
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False  # `embed` draws its own
    return ray


def _decode(row: dict[str, Any], max_pixels: int) -> dict[str, Any]:
    """Ray Data task: one source → its frames (or why it cannot be read)."""
    from glacier_edge.errors import GlacierEdgeError
    from glacier_edge.ingest.frames import read_sequence

    try:
        sequence = read_sequence(Path(row["source"]), max_pixels=max_pixels)
    except GlacierEdgeError as exc:
        return {"source": row["source"], "frames": np.zeros((0, FRAME_SIZE, FRAME_SIZE, 3), np.uint8),
                "labels": [], "dates": [], "original_size": [0, 0], "error": str(exc)}
    return {"source": row["source"], "frames": sequence.frames, "labels": list(sequence.labels),
            "dates": [d.isoformat() if d else "" for d in sequence.dates],
            "original_size": list(sequence.original_size), "error": ""}


class EncoderActor:
    """Ray Data actor: builds the encoder once, embeds each sequence and writes it to the store."""

    def __init__(self, store_root: str, config: TrainConfig, threads: int, gpu: bool) -> None:
        import torch

        from glacier_edge.training.encoder import encoder_for

        torch.set_num_threads(threads)
        self.encoder, self.record = encoder_for(config)
        if gpu:
            self.encoder = self.encoder.to("cuda")
        self.store, self.config = EmbeddingStore.open(Path(store_root)), config

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        if row["error"]:
            outcome = EmbedOutcome(row["source"], 0, 0, 0.0, error=row["error"])
        else:
            dates = [date.fromisoformat(d) if d else None for d in row["dates"]]
            sequence = FrameSequence(np.asarray(row["frames"], dtype=np.uint8), list(row["labels"]), dates,
                                     row["source"], tuple(row["original_size"]))
            outcome = embed_into_store(sequence, Path(row["source"]), self.store, self.encoder, self.record,
                                       self.config, started)
        return {"source": outcome.source, "frames": outcome.frames, "views": outcome.views,
                "seconds": outcome.seconds, "skipped": outcome.skipped, "error": outcome.error or ""}


def embed_with_ray(sources: Sequence[Path], store: EmbeddingStore, config: TrainConfig, *, address: str,
                   on_done: Callable[[EmbedOutcome], None]) -> EmbedSummary:
    """Embed every source not yet in the store on Ray Data; same store, same files as locally."""
    started = time.perf_counter()
    todo = not_yet_stored(sources, store, on_done)
    outcomes: list[EmbedOutcome] = []
    actors = 0
    if todo:
        ray = start_ray(address)
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        actors = max(1, min(gpus or cpus, len(todo)))
        threads = 1 if gpus else max(1, cpus // actors)
        dataset = ray.data.from_items([{"source": str(s)} for s in todo], override_num_blocks=len(todo))
        dataset = dataset.map(_decode, fn_kwargs={"max_pixels": config.max_pixels}, num_cpus=0.5)
        dataset = dataset.map(EncoderActor, fn_constructor_kwargs={
            "store_root": str(store.root), "config": config, "threads": threads, "gpu": bool(gpus)},
            compute=ray.data.ActorPoolStrategy(size=actors), num_gpus=1 if gpus else 0,
            num_cpus=0 if gpus else threads * 0.5)
        for row in dataset.iter_rows():
            outcome = EmbedOutcome(row["source"], int(row["frames"]), int(row["views"]), float(row["seconds"]),
                                   skipped=bool(row["skipped"]), error=row["error"] or None)
            outcomes.append(outcome)
            on_done(outcome)
    return summarise(sources, outcomes, started, actors)


def _fold_task(examples: list, group: np.ndarray, config: TrainConfig, metadata: list[str],
               threads: int) -> list[dict[str, Any]]:
    import torch

    from glacier_edge.training.evaluation import fold_results

    torch.set_num_threads(threads)
    return fold_results(examples, group, config, metadata)


def run_folds_on_ray(examples: list, groups: list[np.ndarray], config: TrainConfig, metadata: list[str], *,
                     address: str):
    """Yield each outer fold's results as its Ray task finishes (the examples go to the object store once)."""
    ray = start_ray(address)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    threads = max(1, cpus // min(cpus, len(groups)))
    shared = ray.put(examples)
    task = ray.remote(num_cpus=1)(_fold_task)
    pending = [task.remote(shared, group, config, metadata, threads) for group in groups]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])
