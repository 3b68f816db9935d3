"""`glacier-edge train` as a function: read sequences → embed → train → evaluate → save."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glacier_edge.contracts import (
    PLOT_FILE,
    SCENE_KINDS,
    SUMMARY_FILE,
    Durations,
    EncoderRecord,
    LossPoint,
    Metrics,
    ModelRecord,
    RunRecord,
    SceneKind,
    SequenceSummary,
    TrainConfig,
)
from glacier_edge.edge.plot import MeltPanel, plot_melt
from glacier_edge.fileio import atomic_directory
from glacier_edge.ingest.frames import FRAME_SIZE, FrameSequence, expand_sequences, read_sequence
from glacier_edge.ingest.layout import majority_kind
from glacier_edge.ingest.regions import sequence_regions
from glacier_edge.ingest.samples import default_training_paths
from glacier_edge.motion.aligned import RegisteredSequence, StableGround, read_registered_sequence
from glacier_edge.provenance import package_versions, utc_now
from glacier_edge.signals.features import available_metadata
from glacier_edge.signals.frame_regions import grid_layout
from glacier_edge.signals.mask import AUTO, detect_overlays, mask_from_record, mask_record
from glacier_edge.training.checkpoint import save_checkpoint, save_summary
from glacier_edge.training.dataset import SequenceExample, build_example
from glacier_edge.training.encoder import encoder_for
from glacier_edge.training.loop import evaluate, predicted_per_frame
from glacier_edge.training.models import HIDDEN_DIMS
from glacier_edge.training.recipe import fit
from glacier_edge.training.regional import (
    RegionalFitted,
    build_regional_example,
    fit_regional,
    save_regional,
    sequence_cells,
)
from glacier_edge.training.store import EmbeddingStore

Echo = Callable[[str], None]


def training_scene_kind(sequences: list[FrameSequence], declared: str) -> SceneKind:
    """The declared kind, else the kind most training frames show (their layout at original size)."""
    if declared != "auto":
        return declared  # type: ignore[return-value]
    return majority_kind(np.concatenate([seq.perspectives() for seq in sequences]))[0]


def read_sequences(paths: Sequence[Path], config: TrainConfig, echo: Echo | None = None) -> list[FrameSequence]:
    """Read every sequence before any expensive work, so a bad file fails in a second; with
    ``config.register`` each sequence's frames are co-registered to its first (and the frames that
    could not be are named)."""
    if not config.register:
        return [read_sequence(path, max_pixels=config.max_pixels) for path in paths]
    ground = stable_ground(config)
    sequences = []
    for path in paths:
        registered = read_registered_sequence(path, ground, max_pixels=config.max_pixels)
        if echo is not None:
            echo(_registered_line(registered, ground))
        sequences.append(registered.sequence)
    return sequences


def _registered_line(registered: RegisteredSequence, ground: StableGround) -> str:
    """`registered 11 of 12 frames of SEQ (stable ground …); kept as taken: NAME (why) and 1 more`."""
    sequence, left = registered.sequence, registered.unregistered
    line = (f"registered {sequence.num_frames - len(left)} of {sequence.num_frames} frames of {sequence.source} "
            f"({ground.describe()})")
    if left:
        line += f"; kept as taken: {left[0][0]} ({left[0][1]})"
    if len(left) > 1:
        line += f" and {len(left) - 1} more"
    return line


def stable_ground(config: TrainConfig) -> StableGround:
    """Where `train --register` registers: the configured masks."""
    return StableGround(Path(config.glacier_mask) if config.glacier_mask else None,
                        Path(config.stable_mask) if config.stable_mask else None)


def open_store(path: Path | None, weights: EncoderRecord, config: TrainConfig, echo: Echo) -> EmbeddingStore | None:
    """The embedding store given with --store, checked to hold this encoder's embeddings."""
    if path is None:
        return None
    store = EmbeddingStore.open(path, weights, config.augmentations, config.seed)
    echo(f"embeddings from the store {path} ({len(store.sequence_files())} sequences) where it holds them")
    return store


def _describe(example: SequenceExample, metrics: dict[str, float], region: str | None = None) -> SequenceSummary:
    return SequenceSummary(str(Path(example.sequence.source).resolve()), example.sequence.num_frames,
                           Metrics(**metrics), example.frames_sha256,
                           tuple(d.isoformat() if d else None for d in example.sequence.dates), region)


def run_training(
    sequences: Sequence[Path],
    out_dir: Path,
    *,
    config: TrainConfig,
    val_sequences: Sequence[Path] = (),
    cache_dir: Path | None,
    store: Path | None = None,
    echo: Echo = print,
    progress: Callable[[int], Any] | None = None,
    regions_csv: Path | None = None,
) -> RunRecord:
    """Train on ``sequences`` (the generated sample glaciers when empty) and write the run to ``out_dir``.

    A single folder of sequence folders (or GIFs) counts as its sequences."""
    started = time.perf_counter()
    train_paths = expand_sequences(list(sequences)) or default_training_paths()
    regions = sequence_regions(train_paths, regions_csv) or [None] * len(train_paths)
    specs = config.mask_specs
    mask_info = mask_record(specs, detect_overlays(train_paths, config.max_pixels, echo) if AUTO in specs else None)
    mask = mask_from_record(mask_info)
    train_seqs = read_sequences(train_paths, config, echo)
    val_seqs = read_sequences(list(val_sequences), config, echo)
    metadata_names = available_metadata(train_seqs) if config.metadata else []
    kind = training_scene_kind(train_seqs, config.scene_kind)
    echo(f"scene kind: {SCENE_KINDS[kind]}" + (" (declared)" if config.scene_kind != "auto" else
                                               " (shown by most training frames; declare it with --scene-kind)"))
    encoder, weights_info = encoder_for(config)
    echo(f"encoder: {weights_info.label()}")
    stored = open_store(store, weights_info, config, echo)

    def example(seq: FrameSequence, augment: int) -> SequenceExample:
        echo(f"embedding {seq.source}: {seq.num_frames} frames × {augment + 1} views")
        return build_example(seq, encoder, weights_info, config, augmentations=augment, cache_dir=cache_dir,
                             mask=mask, store=stored if augment == config.augmentations else None)

    train_examples = [example(seq, config.augmentations) for seq in train_seqs]
    val_examples = [example(seq, 0) for seq in val_seqs]
    embed_seconds = time.perf_counter() - started

    fit_started = time.perf_counter()
    fitted = fit(train_examples, config, metadata_names, echo=echo, progress=progress)
    model, features = fitted.model, fitted.features
    fit_seconds = time.perf_counter() - fit_started

    regional: RegionalFitted | None = None
    if config.frame_regions:
        started_regions = time.perf_counter()
        echo(f"regions: {grid_layout().source} (the encoder's feature-map cells), "
             f"spatial edges {'on' if config.uses_spatial_edges else 'off'}"
             + ("" if config.spatial_edges is not None else " (the default)"))
        regional_examples = [
            build_regional_example(e.sequence, sequence_cells(e.sequence, e.frames_sha256, encoder, weights_info,
                                                              config.seed, cache_dir), config, mask)
            for e in train_examples]
        regional = fit_regional(regional_examples, config, echo)
        fit_seconds += time.perf_counter() - started_regions
        if regional.calibration is not None:
            cal = regional.calibration
            echo(f"regions: held-out MAE {cal.heldout_mae:.4g} vs per-region persistence {cal.persistence_mae:.4g} "
                 f"(gain {cal.gain:.2f} toward the model, anchor {cal.fallback})")

    train_report = [_describe(e, evaluate(model, e, features), region) for e, region in zip(train_examples, regions)]
    val_report = [_describe(e, evaluate(model, e, features)) for e in val_examples]
    embedding_dim = weights_info.backbone.embedding_dim
    record = RunRecord(
        created=utc_now(), config=config, encoder=weights_info,
        model=ModelRecord(config.arch, embedding_dim + features.width, HIDDEN_DIMS, config.final_activation,
                          model.base_column, model.anchor_column, model.scale_column, model.scale_floor,
                          model.refuse_outside_range),
        node_features=features, calibration=fitted.calibration,
        frame_size=FRAME_SIZE, melt_mask=mask_info,
        loss_log=tuple(LossPoint(epoch, loss) for epoch, loss in fitted.training.loss_log),
        train_sequences=tuple(train_report), val_sequences=tuple(val_report),
        seconds=Durations(round(embed_seconds, 2), round(fit_seconds, 2)), versions=package_versions(),
        scene_kind=kind, regions=regional.record(grid_layout()) if regional is not None else None,
    )
    panels = [
        MeltPanel(f"{Path(e.sequence.source).name} ({role}, {config.task})", e.melt,
                  predicted_per_frame(model, e, features), e.sequence.dates)
        for role, examples in (("train", train_examples), ("validation", val_examples))
        for e in examples
    ]
    with atomic_directory(out_dir) as staging:
        save_checkpoint(staging, model, record)
        if regional is not None:
            save_regional(staging, regional.model)
        save_summary(staging / SUMMARY_FILE, fitted.summary)
        plot_melt(staging / PLOT_FILE, panels, suptitle=f"glacier-edge — encoder: {weights_info.label()}")
    return record
