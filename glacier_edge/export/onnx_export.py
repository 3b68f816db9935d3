"""PyTorch → ONNX: the frozen encoder (preprocessing inside) and the dense-adjacency graph model.

Both use the dynamo exporter (``torch.onnx.export(..., dynamo=True)``) with symbolic batch and
sequence dims. Example inputs are larger than each dim's minimum so torch.export does not
specialise them; models are written as single files (weights embedded) and checked with
``onnx.checker.check_model(full_check=True)``.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from glacier_edge.contracts import ModelFile, TensorSpec
from glacier_edge.ingest.frames import FRAME_SIZE, MAX_FRAMES
from glacier_edge.signals.graph import dense_adjacency
from glacier_edge.training.encoder import CellEncoder, FrameEncoder
from glacier_edge.training.models import ScaledRegressor, dense_model
from glacier_edge.training.models.regional import RegionalSAGE

DEFAULT_OPSET = 18
SINGLE_FILE_LIMIT = 2 * 1024**3  # protobuf's limit: larger models need external data


def encoder_io(file: str, embedding_dim: int) -> ModelFile:
    """uint8 frames (N, 128, 128, 3) in, float32 embeddings (N, D) out."""
    return ModelFile(file, (TensorSpec("frames", "uint8", ("N", FRAME_SIZE, FRAME_SIZE, 3)),),
                     (TensorSpec("embeddings", "float32", ("N", embedding_dim)),))


def cell_encoder_io(file: str, embedding_dim: int, cells: int) -> ModelFile:
    """uint8 frames (N, 128, 128, 3) in; embeddings (N, D) and feature-map cells (N, C, D) out."""
    return ModelFile(file, (TensorSpec("frames", "uint8", ("N", FRAME_SIZE, FRAME_SIZE, 3)),),
                     (TensorSpec("embeddings", "float32", ("N", embedding_dim)),
                      TensorSpec("cells", "float32", ("N", cells, embedding_dim))))


def regions_io(file: str, in_dim: int) -> ModelFile:
    """Region node inputs (T, R, F), temporal (T, T) and spatial (R, R) adjacency in; melt (T, R) out."""
    inputs = (TensorSpec("x", "float32", ("T", "R", in_dim)), TensorSpec("temporal", "float32", ("T", "T")),
              TensorSpec("spatial", "float32", ("R", "R")))
    return ModelFile(file, inputs,
                     (TensorSpec("melt", "float32", ("T", "R")),))


def gnn_io(file: str, in_dim: int) -> ModelFile:
    """Node inputs (T, D + metadata) and dense adjacency (T, T) in, melt (T,) out."""
    return ModelFile(file, (TensorSpec("x", "float32", ("T", in_dim)), TensorSpec("adjacency", "float32", ("T", "T"))),
                     (TensorSpec("melt", "float32", ("T",)),))


def _export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], path: Path, io_spec: ModelFile,
            dynamic_shapes: dict, opset: int) -> None:
    """Run the dynamo exporter quietly (it prints progress lines), then check the file."""
    names_in = [spec.name for spec in io_spec.inputs]
    names_out = [spec.name for spec in io_spec.outputs]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module.eval(), args, dynamo=True, input_names=names_in, output_names=names_out,
                                    dynamic_shapes=dynamic_shapes, opset_version=opset)
    program.save(str(path), external_data=program.model_proto.ByteSize() > SINGLE_FILE_LIMIT)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def export_encoder(encoder: FrameEncoder, path: Path, opset: int = DEFAULT_OPSET) -> ModelFile:
    """uint8 (N, 128, 128, 3) → float32 (N, D), dynamic N; returns the I/O record."""
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, FRAME_SIZE, FRAME_SIZE, 3), np.uint8))
    count = torch.export.Dim("N", min=1, max=MAX_FRAMES)
    io_spec = encoder_io(path.name, encoder.embedding_dim)
    _export(encoder, (frames,), path, io_spec, {"frames": {0: count}}, opset)
    return io_spec


def export_cell_encoder(encoder: FrameEncoder, path: Path, opset: int = DEFAULT_OPSET) -> ModelFile:
    """The encoder with the feature-map cells as a second output (bundles with the per-region model):
    one pass gives the frame's and the regions' embeddings."""
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, FRAME_SIZE, FRAME_SIZE, 3), np.uint8))
    count = torch.export.Dim("N", min=1, max=MAX_FRAMES)
    module = CellEncoder(encoder)
    cells = module(frames)[1].shape[1]
    io_spec = cell_encoder_io(path.name, encoder.embedding_dim, cells)
    _export(module, (frames,), path, io_spec, {"frames": {0: count}}, opset)
    return io_spec


MAX_REGIONS = 1024


def export_regions(model: RegionalSAGE, path: Path, opset: int = DEFAULT_OPSET) -> ModelFile:
    """float32 x (T, R, F), temporal (T, T), spatial (R, R) → melt (T, R); dynamic T ≥ 2, R ≥ 2."""
    frames, regions = 5, 6
    x = torch.randn(frames, regions, model.feature_mean.numel(), generator=torch.Generator().manual_seed(0))
    temporal = torch.from_numpy(dense_adjacency(frames, "bidirectional"))  # example values: an input of the graph
    spatial = torch.from_numpy(dense_adjacency(regions, "bidirectional"))
    t_dim = torch.export.Dim("T", min=2, max=MAX_FRAMES)
    r_dim = torch.export.Dim("R", min=2, max=MAX_REGIONS)
    io_spec = regions_io(path.name, model.feature_mean.numel())
    _export(model, (x, temporal, spatial), path, io_spec,
            {"x": {0: t_dim, 1: r_dim}, "temporal": {0: t_dim, 1: t_dim}, "spatial": {0: r_dim, 1: r_dim}}, opset)
    return io_spec


def export_gnn(model: ScaledRegressor, path: Path, opset: int = DEFAULT_OPSET) -> ModelFile:
    """float32 x (T, in_dim) and adjacency (T, T) → melt (T,), dynamic T ≥ 2, no Scatter ops.

    One runtime contract for either architecture (GraphSAGE or GAT); the manifest's
    training.model.arch says which one the file holds."""
    example_frames = 5
    x = torch.randn(example_frames, model.feature_mean.numel(), generator=torch.Generator().manual_seed(0))
    adjacency = torch.from_numpy(dense_adjacency(example_frames, "bidirectional"))  # example values: an input
    frames = torch.export.Dim("T", min=2, max=MAX_FRAMES)
    io_spec = gnn_io(path.name, model.feature_mean.numel())
    _export(dense_model(model), (x, adjacency), path, io_spec,
            {"x": {0: frames}, "adjacency": {0: frames, 1: frames}}, opset)
    return io_spec


def onnx_op_types(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}
