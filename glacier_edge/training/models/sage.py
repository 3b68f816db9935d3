"""GraphSAGE (the design's model) and its dense export form, sharing one set of weights.

Layer l computes  h' = W_l · mean_{j→i} h_j + b_l + R_l · h_i  (SAGEConv, mean aggregation).
The dense form replaces the scatter-mean by ``(A @ h) / deg`` with ``A[target, source] = 1``:
the same numbers, and an ONNX graph without Scatter ops that runs at any T (SAGEConv's scatter
export breaks on new graph sizes).
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import SAGEConv

from glacier_edge.training.models.graph_base import DenseGraphModel, GraphRegressor


class GlacierSAGE(GraphRegressor):
    """Embeddings of one sequence's frames → melt per frame: 3 × SAGEConv (mean aggregation).
    Shapes as :class:`GraphRegressor`."""

    @staticmethod
    def make_layer(in_channels: int, out_channels: int) -> nn.Module:
        return SAGEConv(in_channels, out_channels, aggr="mean")


class DenseGlacierSAGE(DenseGraphModel):
    """SAGEConv's scatter-mean as ``(A @ h) / deg``: W_l · mean_{j→i} h_j + b + R · h_i."""

    def prepare(self, adjacency: torch.Tensor) -> torch.Tensor:
        return adjacency.sum(dim=-1, keepdim=True).clamp(min=1.0)  # in-degree; isolated nodes get 0

    def layer(self, conv: nn.Module, h: torch.Tensor, adjacency: torch.Tensor, degree: torch.Tensor) -> torch.Tensor:
        return conv.lin_l((adjacency @ h) / degree) + conv.lin_r(h)
