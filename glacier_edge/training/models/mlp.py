"""The no-graph baseline: the same layer widths and scaling, each frame on its own.

Answers "does the graph earn its place?" on identical embeddings and training.
"""

from __future__ import annotations

import torch
from torch import nn

from glacier_edge.training.models.graph_base import HIDDEN_DIMS
from glacier_edge.training.models.scaling import ScaledRegressor


class FrameMLP(ScaledRegressor):
    """Shapes: x (T, in_dim) float32 → (T,) float32 melt; ``edge_index`` is ignored."""

    def __init__(self, in_dim: int, final_activation: str = "identity", base_column: int | None = None,
                 anchor_column: int | None = None) -> None:
        super().__init__(in_dim, final_activation, base_column, anchor_column)
        dims = (in_dim, *HIDDEN_DIMS, 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor | None = None) -> torch.Tensor:
        h = self.scale_inputs(x)
        for layer, linear in enumerate(self.layers):
            h = self.activate(linear(h), layer, len(self.layers))
        return self.unscale_output(h, x)
