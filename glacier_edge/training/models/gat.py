"""GAT (the seed's future-work option) and its dense export form, sharing one set of weights.

h'_i = Σ_j α_ij W h_j + b over j ∈ N(i) ∪ {i}, α = softmax_j LeakyReLU(a_dst·W h_i + a_src·W h_j).
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GATConv

from glacier_edge.training.models.graph_base import DenseGraphModel, GraphRegressor

GAT_NEGATIVE_SLOPE = 0.2
MASKED_SCORE = -1e9
"""Attention score of a non-edge before the softmax: exp underflows to exactly 0, and unlike
-inf it cannot turn a row into NaN."""


class GlacierGAT(GraphRegressor):
    """3 × GATConv (one head, self-loops). Shapes as :class:`GraphRegressor`."""

    @staticmethod
    def make_layer(in_channels: int, out_channels: int) -> nn.Module:
        return GATConv(in_channels, out_channels, heads=1, negative_slope=GAT_NEGATIVE_SLOPE)


class DenseGlacierGAT(DenseGraphModel):
    """GATConv with attention scores for all pairs; non-edges get a large negative score before
    the softmax, and self-loops are added as GATConv does."""

    def prepare(self, adjacency: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(adjacency.shape[0], dtype=adjacency.dtype, device=adjacency.device)
        return (adjacency + eye) > 0

    def layer(self, conv: nn.Module, h: torch.Tensor, adjacency: torch.Tensor, connected: torch.Tensor) -> torch.Tensor:
        projected = conv.lin(h)
        source_score = (projected * conv.att_src.view(1, -1)).sum(-1)
        target_score = (projected * conv.att_dst.view(1, -1)).sum(-1)
        scores = torch.nn.functional.leaky_relu(target_score[:, None] + source_score[None, :], GAT_NEGATIVE_SLOPE)
        weights = torch.softmax(torch.where(connected, scores, torch.full_like(scores, MASKED_SCORE)), dim=-1)
        return weights @ projected + conv.bias
