"""PyTorch → ONNX: the frozen encoder (preprocessing inside) and the dense-adjacency GraphSAGE.

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

from glacier_edge.frames import FRAME_SIZE, MAX_FRAMES
from glacier_edge.graph import dense_adjacency
from glacier_edge.training.encoder import EMBEDDING_DIM, FrameEncoder
from glacier_edge.training.sage import ScaledRegressor, dense_model

DEFAULT_OPSET = 18
ENCODER_IO = {
    "inputs": [{"name": "frames", "dtype": "uint8", "shape": ["N", FRAME_SIZE, FRAME_SIZE, 3]}],
    "outputs": [{"name": "embeddings", "dtype": "float32", "shape": ["N", EMBEDDING_DIM]}],
}
GRAPHSAGE_IO = {
    "inputs": [{"name": "x", "dtype": "float32", "shape": ["T", EMBEDDING_DIM]},
               {"name": "adjacency", "dtype": "float32", "shape": ["T", "T"]}],
    "outputs": [{"name": "melt", "dtype": "float32", "shape": ["T"]}],
}
SINGLE_FILE_LIMIT = 2 * 1024**3  # protobuf's limit: larger models need external data


def _export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], path: Path, io_spec: dict,
            dynamic_shapes: dict, opset: int) -> None:
    """Run the dynamo exporter quietly (it prints progress lines), then check the file."""
    names_in = [spec["name"] for spec in io_spec["inputs"]]
    names_out = [spec["name"] for spec in io_spec["outputs"]]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module.eval(), args, dynamo=True, input_names=names_in, output_names=names_out,
                                    dynamic_shapes=dynamic_shapes, opset_version=opset)
    program.save(str(path), external_data=program.model_proto.ByteSize() > SINGLE_FILE_LIMIT)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def export_encoder(encoder: FrameEncoder, path: Path, opset: int = DEFAULT_OPSET) -> None:
    """uint8 (N, 128, 128, 3) → float32 (N, 2048), dynamic N."""
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, FRAME_SIZE, FRAME_SIZE, 3), np.uint8))
    count = torch.export.Dim("N", min=1, max=MAX_FRAMES)
    _export(encoder, (frames,), path, ENCODER_IO, {"frames": {0: count}}, opset)


def export_graphsage(model: ScaledRegressor, path: Path, opset: int = DEFAULT_OPSET) -> None:
    """float32 x (T, 2048) and adjacency (T, T) → melt (T,), dynamic T ≥ 2, no Scatter ops.

    The file keeps its name for either architecture (GraphSAGE or GAT): the runtime contract is
    the same; the manifest's training.model.arch says which one it holds."""
    example_frames = 5
    x = torch.randn(example_frames, model.feature_mean.numel(), generator=torch.Generator().manual_seed(0))
    adjacency = torch.from_numpy(dense_adjacency(example_frames))
    frames = torch.export.Dim("T", min=2, max=MAX_FRAMES)
    _export(dense_model(model), (x, adjacency), path, graphsage_io(model.feature_mean.numel()),
            {"x": {0: frames}, "adjacency": {0: frames, 1: frames}}, opset)


def graphsage_io(in_dim: int) -> dict:
    """GRAPHSAGE_IO with the model's node-input width (2048 + metadata features)."""
    inputs = [dict(GRAPHSAGE_IO["inputs"][0], shape=["T", in_dim]), GRAPHSAGE_IO["inputs"][1]]
    return {"inputs": inputs, "outputs": GRAPHSAGE_IO["outputs"]}


def onnx_op_types(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}
