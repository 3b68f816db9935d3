"""`glacier-edge export`: a training run → a verified-on-load model bundle directory."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from glacier_edge.bench.system import system_info
from glacier_edge.contracts import (
    ENCODER_FILE,
    ENCODER_INT8_FILE,
    GNN_FILE,
    MANIFEST_FILE,
    OOD_FILE,
    REGIONS_FILE,
    ROLE_ENCODER,
    ROLE_ENCODER_INT8,
    ROLE_GNN,
    ROLE_OOD,
    ROLE_REGIONS,
    BundleManifest,
    Int8Summary,
    RunRecord,
    TrainingSummary,
)
from glacier_edge.edge.bundle import file_record
from glacier_edge.edge.runtime import create_session
from glacier_edge.errors import BadInputError, ModelBundleError
from glacier_edge.export.onnx_export import (
    DEFAULT_OPSET,
    export_cell_encoder,
    export_encoder,
    export_gnn,
    export_regions,
    onnx_op_types,
)
from glacier_edge.export.ood_export import export_ood
from glacier_edge.export.quantize import (
    FORMATS_BY_KEY,
    INT8_MELT_MAE_BOUND,
    INT8_MIN_CENTRED_COSINE,
    candidates_for_this_machine,
    quantize_encoder,
)
from glacier_edge.fileio import atomic_directory
from glacier_edge.ingest.frames import FRAME_SIZE, read_sequence
from glacier_edge.provenance import package_versions, utc_now
from glacier_edge.signals.features import node_inputs
from glacier_edge.signals.graph import dense_adjacency
from glacier_edge.training.augment import augment_sequence
from glacier_edge.training.checkpoint import load_checkpoint, load_summary
from glacier_edge.training.encoder import FrameEncoder, encoder_from_record
from glacier_edge.training.regional import load_regional


def encoder_for_run(record: RunRecord) -> FrameEncoder:
    """Rebuild the exact encoder a run trained with, and refuse different weights."""
    recorded = record.encoder
    encoder, weights = encoder_from_record(recorded)
    if weights.weights_id != recorded.weights_id:
        raise ModelBundleError(f"encoder weights {weights.weights_id} differ from the run's {recorded.weights_id}")
    return encoder


def embedding_centre(model: torch.nn.Module, record: RunRecord) -> np.ndarray:
    """Training mean of the embedding columns (the model's input mean, metadata and history left out)."""
    return model.feature_mean.numpy()[: record.encoder.backbone.embedding_dim]


def training_frames(record: RunRecord) -> list[np.ndarray]:
    """Frames of the run's training sequences, re-read from where training found them."""
    sequences = []
    for entry in record.train_sequences:
        try:
            sequences.append(read_sequence(entry.source, max_pixels=record.config.max_pixels).frames)
        except BadInputError as exc:
            raise BadInputError(f"int8 calibration needs the training sequences: {exc}") from exc
    return sequences


def export_bundle(run_dir: Path, out_dir: Path, *, int8: bool = False, opset: int = DEFAULT_OPSET,
                  int8_format: str | None = None, echo: Callable[[str], None] = print) -> BundleManifest:
    """Export the encoder and the dense graph model (and optionally int8) into ``out_dir`` atomically.

    ``int8_format`` (a key of export/quantize.FORMATS) skips the race: the format is written as
    asked, for a station whose CPU is not the exporting one."""
    started = time.perf_counter()
    model, record = load_checkpoint(run_dir)
    encoder = encoder_for_run(record)
    with atomic_directory(out_dir) as staging:
        if record.regions is None:
            echo(f"exporting {ENCODER_FILE} ({record.encoder.backbone.name} with preprocessing inside)")
            models = {ROLE_ENCODER: export_encoder(encoder, staging / ENCODER_FILE, opset)}
        else:
            echo(f"exporting {ENCODER_FILE} ({record.encoder.backbone.name} with preprocessing inside; "
                 "embeddings and feature-map cells)")
            models = {ROLE_ENCODER: export_cell_encoder(encoder, staging / ENCODER_FILE, opset)}
        echo(f"exporting {GNN_FILE} ({record.model.arch}, dense adjacency)")
        models[ROLE_GNN] = export_gnn(model, staging / GNN_FILE, opset)
        if record.regions is not None:
            echo(f"exporting {REGIONS_FILE} (per-region model, temporal and spatial adjacency apart)")
            models[ROLE_REGIONS] = export_regions(load_regional(run_dir, record.regions), staging / REGIONS_FILE,
                                                  opset)
        echo(f"exporting {OOD_FILE} (out-of-distribution score of the training embeddings)")
        models[ROLE_OOD] = export_ood(load_summary(run_dir), staging / OOD_FILE, opset)
        scatter_ops = sorted(op for op in onnx_op_types(staging / GNN_FILE) if op.startswith("Scatter"))
        if scatter_ops:
            raise ModelBundleError(f"{GNN_FILE} contains {scatter_ops}; the dense export must have none")
        int8_summary = None
        if int8 and record.encoder.backbone.embedding_dim == 0:
            echo("int8: the 'none' encoder has no weights to quantise; the bundle keeps fp32 only")
        elif int8:
            int8_summary = _export_int8(staging, model, record, int8_format, echo)
            if int8_summary.chosen is not None:
                models[ROLE_ENCODER_INT8] = dataclasses.replace(models[ROLE_ENCODER], file=ENCODER_INT8_FILE,
                                                                int8_format=int8_summary.chosen.format)
        manifest = BundleManifest(
            created=utc_now(),
            files={m.file: file_record(staging / m.file) for m in models.values()},
            models=models, opset=opset, frame_size=FRAME_SIZE, encoder=record.encoder,
            node_features=record.node_features, calibration=record.calibration, melt_mask=record.melt_mask,
            training=TrainingSummary(
                run_dir=str(Path(run_dir).resolve()), created=record.created, config=record.config,
                model=record.model, final_train_mse=record.loss_log[-1].mse if record.loss_log else None,
                train_sequences=record.train_sequences, val_sequences=record.val_sequences,
                scene_kind=record.scene_kind),
            int8=int8_summary, versions=package_versions(),
            export_seconds=round(time.perf_counter() - started, 1), regions=record.regions,
        )
        (staging / MANIFEST_FILE).write_text(manifest.dumps(), encoding="utf-8")
    return manifest


def _export_int8(staging: Path, model: torch.nn.Module, record: RunRecord, int8_format: str | None,
                 echo: Callable[[str], None]) -> Int8Summary:
    requested = FORMATS_BY_KEY[int8_format] if int8_format else None
    candidates, reason = ((requested,), "requested with --int8-format") if requested else candidates_for_this_machine()
    echo(f"quantising the encoder to int8 (melt MAE bound {INT8_MELT_MAE_BOUND} vs fp32; {reason})")
    evaluation = training_frames(record)
    rng = np.random.default_rng(0)
    calibration = np.concatenate(evaluation + [augment_sequence(frames, rng) for frames in evaluation])
    graph_session, _ = create_session(staging / GNN_FILE, "cpu")
    features = record.node_features

    def melt_of(embeddings: np.ndarray) -> np.ndarray:
        adjacency = dense_adjacency(len(embeddings), record.config.graph_kind)
        x = node_inputs(embeddings, None, features, None, record.config.task)
        return graph_session.run(None, {"x": x, "adjacency": adjacency})[0]

    chosen, tried, fp32_ms = quantize_encoder(
        staging / ENCODER_FILE, staging / ENCODER_INT8_FILE, calibration, evaluation, melt_of,
        embedding_centre(model, record), echo, candidates=candidates, require_bound=requested is None)
    if chosen is None:
        echo(f"  no int8 format met the bounds (melt MAE ≤ {INT8_MELT_MAE_BOUND}, centred cosine ≥ "
             f"{INT8_MIN_CENTRED_COSINE}); the bundle keeps fp32 only")
    elif not chosen.acceptable:
        echo(f"  kept {chosen.format} as requested, although on this machine its melt MAE "
             f"{chosen.melt_mae_vs_fp32:.1e} exceeds {INT8_MELT_MAE_BOUND}: check it on the station with `verify`")
    else:
        echo(f"  kept {chosen.format}")
    return Int8Summary(chosen, tuple(tried), fp32_ms, int(len(calibration)), INT8_MELT_MAE_BOUND, reason,
                       system_info(None).machine())
