"""The three-layer graph model and its dense (scatter-free) export form; layers differ per file."""

from __future__ import annotations

import torch
from torch import nn

from glacier_edge.training.models.scaling import ScaledRegressor

HIDDEN_DIMS = (256, 128)


class GraphRegressor(ScaledRegressor):
    """Three graph layers in_dim → 256 → 128 → 1 with ReLU between; subclasses choose the layer.

    Shapes:
        x: (T, in_dim) float32 node inputs (frame embeddings, plus any metadata columns).
        edge_index: (2, E) int64, source row 0, target row 1.
        output: (T,) float32 melt.
    """

    def __init__(self, in_dim: int, final_activation: str = "identity", base_column: int | None = None,
                 anchor_column: int | None = None) -> None:
        super().__init__(in_dim, final_activation, base_column, anchor_column)
        dims = (in_dim, *HIDDEN_DIMS, 1)
        self.convs = nn.ModuleList(self.make_layer(a, b) for a, b in zip(dims[:-1], dims[1:]))

    @staticmethod
    def make_layer(in_channels: int, out_channels: int) -> nn.Module:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = self.scale_inputs(x)
        for layer, conv in enumerate(self.convs):
            h = self.activate(conv(h, edge_index), layer, len(self.convs))
        return self.unscale_output(h, x)


class DenseGraphModel(nn.Module):
    """A trained graph model over a dense (T, T) adjacency, sharing its parameters: the
    scatter-free form that exports to ONNX and runs at any T.

    Shapes:
        x: (T, in_dim) float32 node inputs.
        adjacency: (T, T) float32 0/1, ``adjacency[target, source]``.
        output: (T,) float32 melt.
    """

    def __init__(self, model: GraphRegressor) -> None:
        super().__init__()
        self.model = model

    def prepare(self, adjacency: torch.Tensor) -> torch.Tensor:
        """What every layer needs from the adjacency, computed once."""
        raise NotImplementedError

    def layer(self, conv: nn.Module, h: torch.Tensor, adjacency: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        prepared = self.prepare(adjacency)
        h = self.model.scale_inputs(x)
        for index, conv in enumerate(self.model.convs):
            h = self.model.activate(self.layer(conv, h, adjacency, prepared), index, len(self.model.convs))
        return self.model.unscale_output(h, x)
