"""The temporal GraphSAGE melt model, in the sparse (PyG) form it trains in and the dense form
it exports in, sharing one set of weights.

Layer l computes  h' = W_l · mean_{j→i} h_j + b_l + R_l · h_i  (SAGEConv, mean aggregation),
for 2048 → 256 → 128 → 1 with ReLU between layers. The dense form replaces the scatter-mean by
``(A @ h) / deg`` with ``A[target, source] = 1``: the same numbers, and an ONNX graph without
Scatter ops that runs at any T (SAGEConv's scatter export breaks on new graph sizes).
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GATConv, SAGEConv

from glacier_edge.training.encoder import EMBEDDING_DIM

HIDDEN_DIMS = (256, 128)
GAT_NEGATIVE_SLOPE = 0.2
MASKED_SCORE = -1e9
"""Attention score of a non-edge before the softmax: exp underflows to exactly 0, and unlike
-inf it cannot turn a row into NaN."""
FINAL_ACTIVATIONS = ("identity", "relu")
"""``identity`` (default) trains; ``relu`` is the seed's literal design, whose last ReLU sits at
zero for these targets and stops learning (see the README)."""


class ScaledRegressor(nn.Module):
    """Input/output scaling shared by the melt models (GraphSAGE and the no-graph baseline).

    Input and output scaling are fitted on the training data and stored as buffers, so export
    and the edge apply exactly what training applied:
    - inputs: per-feature mean, one global scale. Not a per-feature std: dividing by near-zero
      feature stds amplifies encoder noise (and fp32/ONNX differences) into the melt output,
      and trained less well (MSE/Var 0.0005–0.17 over 5 seeds, against < 0.01 with one scale).
    - output (``identity`` only): the network predicts standardised melt, mapped back by the
      training mean and std. Raw melt is ~0.05, and Adam's scale-free steps at lr 3e-3 then
      overshoot (MSE/Var 0.007–408 over 5 seeds, measured); standardised, 5 of 5 reach < 0.01.
    """

    def __init__(self, in_dim: int, final_activation: str) -> None:
        super().__init__()
        if final_activation not in FINAL_ACTIVATIONS:
            raise ValueError(f"final_activation must be one of {FINAL_ACTIVATIONS}")
        self.final_activation = final_activation
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_scale", torch.ones(in_dim))
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_scale", torch.ones(()))

    def fit_scaling(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Set input scaling from training inputs (N, in_dim) and output scaling from the
        measured melt values (M,). The seed's ``relu`` mode keeps raw melt units.

        The 2048 embedding columns share one scale; metadata columns beyond them (dates,
        covariates) get their own std, or 1 where a column is constant in training.
        """
        mean = inputs.mean(dim=0)
        centred = inputs - mean
        scale = torch.empty_like(mean)
        scale[:EMBEDDING_DIM] = centred[:, :EMBEDDING_DIM].std().clamp(min=1e-6)
        if inputs.shape[1] > EMBEDDING_DIM:
            extra = centred[:, EMBEDDING_DIM:].std(dim=0)
            scale[EMBEDDING_DIM:] = torch.where(extra < 1e-6, torch.ones_like(extra), extra)
        self.feature_mean.copy_(mean)
        self.feature_scale.copy_(scale)
        if self.final_activation == "identity":
            self.target_mean.copy_(targets.mean())
            self.target_scale.copy_(targets.std(unbiased=False).clamp(min=1e-6))

    def scale_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.feature_mean) / self.feature_scale

    def activate(self, h: torch.Tensor, layer: int, layers: int) -> torch.Tensor:
        last = layer == layers - 1
        return torch.relu(h) if not last or self.final_activation == "relu" else h

    def unscale_output(self, h: torch.Tensor) -> torch.Tensor:
        return h.squeeze(-1) * self.target_scale + self.target_mean


class GraphRegressor(ScaledRegressor):
    """Three graph layers 2048 → 256 → 128 → 1 with ReLU between; subclasses choose the layer.

    Shapes:
        x: (T, in_dim) float32 node inputs (2048-d frame embeddings, plus any metadata columns).
        edge_index: (2, E) int64, source row 0, target row 1.
        output: (T,) float32 melt.
    """

    def __init__(self, in_dim: int = EMBEDDING_DIM, final_activation: str = "identity") -> None:
        super().__init__(in_dim, final_activation)
        dims = (in_dim, *HIDDEN_DIMS, 1)
        self.convs = nn.ModuleList(self.make_layer(a, b) for a, b in zip(dims[:-1], dims[1:]))

    @staticmethod
    def make_layer(in_channels: int, out_channels: int) -> nn.Module:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = self.scale_inputs(x)
        for layer, conv in enumerate(self.convs):
            h = self.activate(conv(h, edge_index), layer, len(self.convs))
        return self.unscale_output(h)


class GlacierSAGE(GraphRegressor):
    """Embeddings of one sequence's frames → melt per frame: 3 × SAGEConv (mean aggregation).
    Shapes as :class:`GraphRegressor`."""

    @staticmethod
    def make_layer(in_channels: int, out_channels: int) -> nn.Module:
        return SAGEConv(in_channels, out_channels, aggr="mean")


class GlacierGAT(GraphRegressor):
    """The seed's future-work option: 3 × GATConv (one head, self-loops).

    h'_i = Σ_j α_ij W h_j + b over j ∈ N(i) ∪ {i}, α = softmax_j LeakyReLU(a_dst·W h_i + a_src·W h_j).
    Shapes as :class:`GraphRegressor`.
    """

    @staticmethod
    def make_layer(in_channels: int, out_channels: int) -> nn.Module:
        return GATConv(in_channels, out_channels, heads=1, negative_slope=GAT_NEGATIVE_SLOPE)


class FrameMLP(ScaledRegressor):
    """The no-graph baseline: the same layer widths and scaling, each frame on its own.

    Answers "does the graph earn its place?" on identical embeddings and training.
    """

    def __init__(self, in_dim: int = EMBEDDING_DIM, final_activation: str = "identity") -> None:
        super().__init__(in_dim, final_activation)
        dims = (in_dim, *HIDDEN_DIMS, 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor | None = None) -> torch.Tensor:
        h = self.scale_inputs(x)
        for layer, linear in enumerate(self.layers):
            h = self.activate(linear(h), layer, len(self.layers))
        return self.unscale_output(h)


MODEL_CLASSES: dict[str, type[GraphRegressor]] = {"sage": GlacierSAGE, "gat": GlacierGAT}


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
        return self.model.unscale_output(h)


class DenseGlacierSAGE(DenseGraphModel):
    """SAGEConv's scatter-mean as ``(A @ h) / deg``: W_l · mean_{j→i} h_j + b + R · h_i."""

    def prepare(self, adjacency: torch.Tensor) -> torch.Tensor:
        return adjacency.sum(dim=-1, keepdim=True).clamp(min=1.0)  # in-degree; isolated nodes get 0

    def layer(self, conv: nn.Module, h: torch.Tensor, adjacency: torch.Tensor, degree: torch.Tensor) -> torch.Tensor:
        return conv.lin_l((adjacency @ h) / degree) + conv.lin_r(h)


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


DENSE_FORMS: dict[type[GraphRegressor], type[DenseGraphModel]] = {GlacierSAGE: DenseGlacierSAGE,
                                                                 GlacierGAT: DenseGlacierGAT}


def dense_model(model: ScaledRegressor) -> DenseGraphModel:
    """The scatter-free form of a trained graph model, for export."""
    if type(model) not in DENSE_FORMS:
        raise TypeError(f"no dense form for {type(model).__name__}")
    return DENSE_FORMS[type(model)](model)
