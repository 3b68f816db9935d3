"""The out-of-distribution score as a small ONNX graph, so the edge runner computes it with the
same engine (and the same verified, hashed bundle) as the models.

embeddings (N, D) and colour (N, C) → score (N,) = max(½·(mean_k z_k² / λ_k + ‖c − z·Vᵀ‖² / E) / s₁,
dᵀ·P·d / C / s₂), with c = e − μ, z = c·V, d the colour offset and s the held-out term scales:
exactly :func:`glacier_edge.signals.ood.ood_scores`, in float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from glacier_edge.contracts import ONNX_IR_VERSION, ModelFile, TensorSpec
from glacier_edge.signals.ood import EmbeddingSummary


def export_ood(summary: EmbeddingSummary, path: Path, opset: int) -> ModelFile:
    dim, colours = int(summary.mean.shape[0]), int(summary.colour_mean.shape[0])
    constants = {
        "mean": summary.mean.astype(np.float32), "basis": summary.basis.astype(np.float32),
        "basis_t": np.ascontiguousarray(summary.basis.T.astype(np.float32)),
        "variance": summary.variance.astype(np.float32), "energy": np.array(summary.residual_energy, np.float32),
        "term_scale": summary.term_scale.astype(np.float32), "half": np.array(0.5, np.float32),
        "axis": np.array([1], np.int64),
        "colour_mean": summary.colour_mean.astype(np.float32),
        "colour_precision": summary.colour_precision.astype(np.float32),
    }
    nodes = [
        helper.make_node("Sub", ["embeddings", "mean"], ["centred"]),
        helper.make_node("MatMul", ["centred", "basis"], ["z"]),
        helper.make_node("Mul", ["z", "z"], ["z2"]),
        helper.make_node("Div", ["z2", "variance"], ["z2_scaled"]),
        helper.make_node("ReduceMean", ["z2_scaled", "axis"], ["inside"], keepdims=0),
        helper.make_node("MatMul", ["z", "basis_t"], ["reconstructed"]),
        helper.make_node("Sub", ["centred", "reconstructed"], ["residual"]),
        helper.make_node("Mul", ["residual", "residual"], ["residual2"]),
        helper.make_node("ReduceSum", ["residual2", "axis"], ["residual_energy"], keepdims=0),
        helper.make_node("Div", ["residual_energy", "energy"], ["outside"]),
        helper.make_node("Sub", ["colour", "colour_mean"], ["offset"]),
        helper.make_node("MatMul", ["offset", "colour_precision"], ["weighted"]),
        helper.make_node("Mul", ["weighted", "offset"], ["quadratic"]),
        helper.make_node("ReduceMean", ["quadratic", "axis"], ["colour_distance"], keepdims=0),
        helper.make_node("Add", ["inside", "outside"], ["both"]),
        helper.make_node("Mul", ["both", "half"], ["embedding_distance"]),
        helper.make_node("Unsqueeze", ["embedding_distance", "axis"], ["embedding_column"]),
        helper.make_node("Unsqueeze", ["colour_distance", "axis"], ["colour_column"]),
        helper.make_node("Concat", ["embedding_column", "colour_column"], ["terms"], axis=1),
        helper.make_node("Div", ["terms", "term_scale"], ["scaled_terms"]),
        helper.make_node("ReduceMax", ["scaled_terms", "axis"], ["score"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "ood_score", [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", dim]),
                             helper.make_tensor_value_info("colour", TensorProto.FLOAT, ["N", colours])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="glacier-edge")
    model.ir_version = ONNX_IR_VERSION  # not onnx's newest: older runtimes must load it
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return ModelFile(path.name, (TensorSpec("embeddings", "float32", ("N", dim)),
                                 TensorSpec("colour", "float32", ("N", colours))),
                     (TensorSpec("score", "float32", ("N",)),))
