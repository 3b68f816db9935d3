"""`glacier-edge train` as a function: read sequences → embed → train → evaluate → save."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from glacier_edge.features import available_metadata
from glacier_edge.fileio import atomic_directory
from glacier_edge.frames import FRAME_SIZE, FrameSequence, read_sequence, sample_sequence_path
from glacier_edge.graph import TASK_GRAPHS
from glacier_edge.mask import AUTO, detect_overlays, mask_from_record, mask_record
from glacier_edge.plot import MeltPanel, plot_melt
from glacier_edge.provenance import package_versions, utc_now
from glacier_edge.training.checkpoint import PLOT_FILE, save_checkpoint
from glacier_edge.training.dataset import SequenceExample, build_example
from glacier_edge.training.encoder import EMBEDDING_DIM, build_encoder
from glacier_edge.training.loop import TrainConfig, evaluate, predicted_per_frame, train_model
from glacier_edge.training.sage import HIDDEN_DIMS

Echo = Callable[[str], None]


def read_sequences(paths: Sequence[Path], max_pixels: int) -> list[FrameSequence]:
    """Read every sequence before any expensive work, so a bad file fails in a second."""
    return [read_sequence(path, max_pixels=max_pixels) for path in paths]


def _describe(example: SequenceExample, metrics: dict[str, float]) -> dict[str, Any]:
    return {
        "source": str(Path(example.sequence.source).resolve()),
        "frames": example.sequence.num_frames,
        "frames_sha256": example.frames_sha256,
        "dates": [d.isoformat() if d else None for d in example.sequence.dates],
        "metrics": metrics,
    }


def run_training(
    sequences: Sequence[Path],
    out_dir: Path,
    *,
    config: TrainConfig,
    weights: str = "random",
    val_sequences: Sequence[Path] = (),
    augmentations: int = 4,
    normalization: str = "absolute",
    max_pixels: int,
    cache_dir: Path | None,
    mask_specs: Sequence[str] = (),
    metadata: bool = False,
    echo: Echo = print,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """Train on ``sequences`` (the embedded sample when empty) and write the run to ``out_dir``."""
    started = time.perf_counter()
    train_paths = list(sequences) or [sample_sequence_path()]
    mask_info = mask_record(mask_specs, detect_overlays(train_paths, max_pixels, echo) if AUTO in mask_specs else None)
    mask = mask_from_record(mask_info)
    train_seqs = read_sequences(train_paths, max_pixels)
    val_seqs = read_sequences(list(val_sequences), max_pixels)
    metadata_names = available_metadata(train_seqs) if metadata else []
    encoder, weights_info = build_encoder(weights)
    echo(f"encoder: {weights_info.label()}")

    def example(seq: FrameSequence, augment: int) -> SequenceExample:
        echo(f"embedding {seq.source}: {seq.num_frames} frames × {augment + 1} views")
        return build_example(seq, encoder, weights_info, augmentations=augment, seed=config.seed,
                             normalization=normalization, cache_dir=cache_dir, task=config.task, mask=mask,
                             metadata_names=metadata_names)

    train_examples = [example(seq, augmentations) for seq in train_seqs]
    val_examples = [example(seq, 0) for seq in val_seqs]
    embed_seconds = time.perf_counter() - started

    fit_started = time.perf_counter()
    result = train_model(train_examples, config,
                         on_log=lambda epoch, loss: echo(f"epoch {epoch:4d}  train MSE {loss:.3e}"),
                         on_epoch=progress)
    fit_seconds = time.perf_counter() - fit_started

    train_report = [_describe(e, evaluate(result.model, e)) for e in train_examples]
    val_report = [_describe(e, evaluate(result.model, e)) for e in val_examples]
    run_info: dict[str, Any] = {
        "created": utc_now(),
        "node_features": {"embedding_dim": EMBEDDING_DIM, "metadata": metadata_names,
                          "neutral": result.model.feature_mean[EMBEDDING_DIM:].tolist()},
        "model": {"arch": config.arch, "in_dim": EMBEDDING_DIM + len(metadata_names), "hidden": list(HIDDEN_DIMS),
                  "final_activation": config.final_activation},
        "encoder": {"weights": weights_info.spec, "weights_id": weights_info.weights_id,
                    "pretrained": weights_info.pretrained, "description": weights_info.label()},
        "frame_size": FRAME_SIZE,
        "melt_normalization": normalization,
        "task": config.task,
        "melt_mask": mask_info,
        "graph_kind": TASK_GRAPHS[config.task],
        "train_config": config.to_dict(),
        "augmentations": augmentations,
        "loss_log": [{"epoch": epoch, "mse": loss} for epoch, loss in result.loss_log],
        "train_sequences": train_report,
        "val_sequences": val_report,
        "seconds": {"embed": round(embed_seconds, 2), "fit": round(fit_seconds, 2)},
        "versions": package_versions(),
    }
    panels = [
        MeltPanel(f"{Path(e.sequence.source).name} ({role}, {config.task})", e.melt,
                  predicted_per_frame(result.model, e), e.sequence.dates)
        for role, examples in (("train", train_examples), ("validation", val_examples))
        for e in examples
    ]
    with atomic_directory(out_dir) as staging:
        save_checkpoint(staging, result.model, run_info)
        plot_melt(staging / PLOT_FILE, panels, suptitle=f"glacier-edge — encoder: {weights_info.label()}")
    return run_info
