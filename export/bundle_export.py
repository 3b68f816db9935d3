"""`glacier-edge export`: a training run → a verified-on-load model bundle directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from glacier_edge.export.onnx_export import (
    DEFAULT_OPSET,
    ENCODER_IO,
    export_encoder,
    export_graphsage,
    graphsage_io,
    onnx_op_types,
)
from glacier_edge.export.quantize import INT8_MELT_MAE_BOUND, quantize_encoder

from glacier_edge.bundle import (
    BUNDLE_SCHEMA,
    BUNDLE_SCHEMA_VERSION,
    ENCODER_FILE,
    ENCODER_INT8_FILE,
    GRAPHSAGE_FILE,
    MANIFEST_FILE,
    file_record,
)
from glacier_edge.errors import BadInputError, ModelBundleError
from glacier_edge.features import node_inputs
from glacier_edge.fileio import atomic_directory, write_json_atomic
from glacier_edge.frames import DEFAULT_MAX_PIXELS, FRAME_SIZE, read_sequence
from glacier_edge.graph import dense_adjacency
from glacier_edge.provenance import package_versions, utc_now
from glacier_edge.runtime import create_session
from glacier_edge.training.augment import augment_sequence
from glacier_edge.training.checkpoint import load_checkpoint
from glacier_edge.training.encoder import FrameEncoder, build_encoder


def encoder_for_run(run_info: dict[str, Any]) -> FrameEncoder:
    """Rebuild the exact encoder a run trained with, and refuse different weights."""
    recorded = run_info["encoder"]
    encoder, weights = build_encoder(recorded["weights"])
    if weights.weights_id != recorded["weights_id"]:
        raise ModelBundleError(f"encoder weights {weights.weights_id} differ from the run's {recorded['weights_id']}")
    return encoder


def training_frames(run_info: dict[str, Any]) -> list[np.ndarray]:
    """Frames of the run's training sequences, re-read from where training found them."""
    sequences = []
    for entry in run_info["train_sequences"]:
        try:
            sequences.append(read_sequence(entry["source"], max_pixels=DEFAULT_MAX_PIXELS).frames)
        except BadInputError as exc:
            raise BadInputError(f"int8 calibration needs the training sequences: {exc}") from exc
    return sequences


def export_bundle(run_dir: Path, out_dir: Path, *, int8: bool = False, opset: int = DEFAULT_OPSET,
                  echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Export encoder and dense GraphSAGE (and optionally int8) into ``out_dir`` atomically."""
    started = time.perf_counter()
    model, run_info = load_checkpoint(run_dir)
    encoder = encoder_for_run(run_info)
    with atomic_directory(out_dir) as staging:
        echo("exporting encoder.onnx (ResNet50 with preprocessing inside)")
        export_encoder(encoder, staging / ENCODER_FILE, opset)
        echo("exporting graphsage.onnx (dense adjacency)")
        export_graphsage(model, staging / GRAPHSAGE_FILE, opset)
        scatter_ops = sorted(op for op in onnx_op_types(staging / GRAPHSAGE_FILE) if op.startswith("Scatter"))
        if scatter_ops:
            raise ModelBundleError(f"graphsage.onnx contains {scatter_ops}; the dense export must have none")
        models: dict[str, Any] = {
            "encoder": {"file": ENCODER_FILE, **ENCODER_IO},
            "graphsage": {"file": GRAPHSAGE_FILE, **graphsage_io(model.feature_mean.numel())},
        }
        int8_summary = None
        if int8:
            int8_summary = _export_int8(staging, model, run_info, echo)
            if int8_summary["chosen"] is not None:
                models["encoder_int8"] = {"file": ENCODER_INT8_FILE, **ENCODER_IO,
                                          "format": int8_summary["chosen"]["format"]}
        manifest = {
            "schema": BUNDLE_SCHEMA,
            "schema_version": BUNDLE_SCHEMA_VERSION,
            "created": utc_now(),
            "files": {name: file_record(staging / name) for name in
                      [m["file"] for m in models.values()]},
            "models": models,
            "opset": opset,
            "frame_size": FRAME_SIZE,
            "melt_normalization": run_info["melt_normalization"],
            "task": run_info.get("task", "nowcast"),
            "melt_mask": run_info.get("melt_mask"),
            "node_features": run_info.get("node_features", {"embedding_dim": 2048, "metadata": [], "neutral": []}),
            "graph_kind": run_info.get("graph_kind", "bidirectional"),
            "encoder_weights": {k: run_info["encoder"][k] for k in ("weights", "weights_id", "pretrained",
                                                                     "description")},
            "training": {
                "run_dir": str(Path(run_dir).resolve()),
                "created": run_info["created"],
                "model": run_info["model"],
                "train_config": run_info["train_config"],
                "final_train_mse": run_info["loss_log"][-1]["mse"] if run_info["loss_log"] else None,
                "train_sequences": [{k: e[k] for k in ("source", "frames", "metrics")}
                                    for e in run_info["train_sequences"]],
                "val_sequences": [{k: e[k] for k in ("source", "frames", "metrics")}
                                  for e in run_info["val_sequences"]],
            },
            "int8": int8_summary,
            "versions": package_versions(),
            "export_seconds": round(time.perf_counter() - started, 1),
            "parity": None,
        }
        write_json_atomic(staging / MANIFEST_FILE, manifest)
    return manifest


def _export_int8(staging: Path, model: torch.nn.Module, run_info: dict[str, Any],
                 echo: Callable[[str], None]) -> dict[str, Any]:
    echo(f"quantising the encoder to int8 (melt MAE bound {INT8_MELT_MAE_BOUND} vs fp32)")
    evaluation = training_frames(run_info)
    rng = np.random.default_rng(0)
    calibration = np.concatenate(evaluation + [augment_sequence(frames, rng) for frames in evaluation])
    graph_session, _ = create_session(staging / GRAPHSAGE_FILE, "cpu")

    kind = run_info.get("graph_kind", "bidirectional")
    features = run_info.get("node_features", {})

    def melt_of(embeddings: np.ndarray) -> np.ndarray:
        adjacency = dense_adjacency(len(embeddings), kind)
        x = node_inputs(embeddings, None, features.get("metadata", []), features.get("neutral", []))
        return graph_session.run(None, {"x": x, "adjacency": adjacency})[0]

    chosen, tried = quantize_encoder(staging / ENCODER_FILE, staging / ENCODER_INT8_FILE, calibration, evaluation,
                                     melt_of, model.feature_mean.numpy(), echo)
    if chosen is None:
        echo("  no int8 format met the melt bound; the bundle keeps fp32 only")
    else:
        echo(f"  kept {chosen['format']}")
    return {"chosen": chosen, "tried": tried, "calibration_frames": int(len(calibration)),
            "melt_mae_bound": INT8_MELT_MAE_BOUND}
