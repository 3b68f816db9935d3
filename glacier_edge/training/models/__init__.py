"""The melt models, one per file, each beside its dense export form; the registry maps the
``--arch`` choice to the trainable class and a trained model to its exportable form."""

from __future__ import annotations

from glacier_edge.training.models.gat import DenseGlacierGAT, GlacierGAT
from glacier_edge.training.models.graph_base import HIDDEN_DIMS, DenseGraphModel, GraphRegressor
from glacier_edge.training.models.mlp import FrameMLP
from glacier_edge.training.models.sage import DenseGlacierSAGE, GlacierSAGE
from glacier_edge.training.models.scaling import ScaledRegressor

MODEL_CLASSES: dict[str, type[GraphRegressor]] = {"sage": GlacierSAGE, "gat": GlacierGAT}
DENSE_FORMS: dict[type[GraphRegressor], type[DenseGraphModel]] = {GlacierSAGE: DenseGlacierSAGE,
                                                                 GlacierGAT: DenseGlacierGAT}


def dense_model(model: ScaledRegressor) -> DenseGraphModel:
    """The scatter-free form of a trained graph model, for export."""
    if type(model) not in DENSE_FORMS:
        raise TypeError(f"no dense form for {type(model).__name__}")
    return DENSE_FORMS[type(model)](model)


__all__ = ["HIDDEN_DIMS", "MODEL_CLASSES", "DENSE_FORMS", "dense_model", "ScaledRegressor", "GraphRegressor",
           "DenseGraphModel", "GlacierSAGE", "GlacierGAT", "DenseGlacierSAGE", "DenseGlacierGAT", "FrameMLP"]
