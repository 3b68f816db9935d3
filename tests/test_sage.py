from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")

from torch_geometric.nn import DenseSAGEConv, SAGEConv  # noqa: E402

from glacier_edge.signals.graph import dense_adjacency, temporal_edge_index  # noqa: E402
from glacier_edge.training.models import DenseGlacierSAGE, GlacierSAGE  # noqa: E402


@pytest.mark.parametrize("frames", [2, 8, 37])
def test_pyg_sageconv_equals_dense_ax_with_shared_weights(frames: int) -> None:
    torch.manual_seed(frames)
    sparse = SAGEConv(64, 16, aggr="mean")
    dense = DenseSAGEConv(64, 16)
    with torch.no_grad():  # DenseSAGEConv keeps the bias on the root term, SAGEConv on the neighbour term
        dense.lin_rel.weight.copy_(sparse.lin_l.weight)
        dense.lin_root.weight.copy_(sparse.lin_r.weight)
        dense.lin_root.bias.copy_(sparse.lin_l.bias)
    x = torch.randn(frames, 64)
    edge_index = torch.from_numpy(temporal_edge_index(frames, "bidirectional"))
    adjacency = torch.from_numpy(dense_adjacency(frames, "bidirectional"))
    expected = sparse(x, edge_index)
    dense_form = DenseGlacierSAGE(GlacierSAGE(in_dim=64))
    ours = dense_form.layer(sparse, x, adjacency, dense_form.prepare(adjacency))
    assert torch.allclose(ours, expected, rtol=0, atol=1e-6)
    assert torch.allclose(dense(x[None], adjacency[None])[0], expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("activation", ["identity", "relu"])
def test_dense_model_equals_pyg_model(activation: str) -> None:
    torch.manual_seed(0)
    model = GlacierSAGE(in_dim=2048, final_activation=activation)
    x = torch.randn(37, 2048) * 12 + 13
    model.fit_scaling(x, torch.rand(36) * 0.1, embedding_dim=2048)
    with torch.no_grad():
        for parameter in model.parameters():  # move off init so the final ReLU is not all zero
            parameter.add_(torch.randn_like(parameter) * 0.05)
        sparse = model(x, torch.from_numpy(temporal_edge_index(37, "bidirectional")))
        dense = DenseGlacierSAGE(model)(x, torch.from_numpy(dense_adjacency(37, "bidirectional")))
    assert sparse.shape == (37,)
    assert torch.allclose(dense, sparse, rtol=0, atol=1e-6)


def test_scaling_uses_one_global_scale_not_per_feature_std() -> None:
    model = GlacierSAGE(in_dim=2048)
    x = torch.zeros(10, 2048)
    x[:, 0] = torch.arange(10.0)
    model.fit_scaling(x, torch.tensor([0.1, 0.3]), embedding_dim=2048)
    expected = float((x - x.mean(0)).std())
    assert model.feature_scale.shape == (2048,)
    assert torch.allclose(model.feature_scale, torch.full((2048,), expected))
    assert float(model.target_mean) == pytest.approx(0.2)
    assert np.isclose(float(model.target_scale), 0.1)


@pytest.mark.parametrize("kind", ["bidirectional", "causal"])
def test_dense_gat_equals_pyg_gatconv_model(kind: str) -> None:
    from glacier_edge.training.models import DenseGlacierGAT, GlacierGAT

    torch.manual_seed(1)
    model = GlacierGAT(in_dim=2048)
    x = torch.randn(37, 2048) * 12 + 13
    model.fit_scaling(x, torch.rand(36) * 0.1, embedding_dim=2048)
    with torch.no_grad():
        for parameter in model.parameters():  # non-trivial attention and biases
            parameter.add_(torch.randn_like(parameter) * 0.05)
        sparse = model(x, torch.from_numpy(temporal_edge_index(37, kind)))
        dense = DenseGlacierGAT(model)(x, torch.from_numpy(dense_adjacency(37, kind)))
    assert torch.allclose(dense, sparse, rtol=0, atol=1e-6)


def test_metadata_columns_get_their_own_scale() -> None:
    x = torch.cat([torch.randn(10, 2048) * 12, torch.arange(10.0)[:, None] * 3, torch.ones(10, 1)], dim=1)
    model = GlacierSAGE(in_dim=2050)
    model.fit_scaling(x, torch.rand(9), embedding_dim=2048)
    assert float(model.feature_scale[2048]) == pytest.approx(float(x[:, 2048].std()))
    assert float(model.feature_scale[2049]) == 1.0  # constant in training: left unscaled, never divided by ~0
    assert model(x, torch.from_numpy(temporal_edge_index(10, "bidirectional"))).shape == (10,)
