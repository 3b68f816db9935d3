"""The training loop: Adam, MSE, mini-batches of sequence graphs (PyG ``Batch``), seeded and
reproducible."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from glacier_edge.contracts import NodeFeatures, TrainConfig
from glacier_edge.signals.graph import TASK_GRAPHS, temporal_edge_index
from glacier_edge.signals.history import HISTORY_COLUMNS, PERSISTENCE_FEATURE
from glacier_edge.signals.melt import align_to_frames
from glacier_edge.signals.metrics import melt_metrics
from glacier_edge.training.dataset import SequenceExample, defined_targets
from glacier_edge.training.models import MODEL_CLASSES, ScaledRegressor

LOG_EVERY = 50
OUTPUT_MARGIN = 0.1
"""Predictions are clipped to the training targets' range widened by this share of the range."""


def output_range(targets: np.ndarray) -> tuple[float, float]:
    """The served melt's clip range: the training targets' range widened by ``OUTPUT_MARGIN`` of it."""
    span = float(targets.max() - targets.min())
    return float(targets.min()) - OUTPUT_MARGIN * span, float(targets.max()) + OUTPUT_MARGIN * span


@dataclass
class TrainResult:
    model: ScaledRegressor
    loss_log: list[tuple[int, float]] = field(default_factory=list)
    """(epoch, mean training MSE over that epoch's steps), every LOG_EVERY epochs and the last."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


RELATIVE_FLOOR = 0.1
"""A relative residual's unit is at least this share of the training targets' mean |melt|."""


def base_column(features: NodeFeatures, embedding_dim: int, config: TrainConfig) -> int | None:
    """Input column of persistence when the model is a residual on it, else None."""
    if not config.residual or PERSISTENCE_FEATURE not in features.history or config.final_activation != "identity":
        return None
    return features.history_column(PERSISTENCE_FEATURE, embedding_dim)


def _graph(example: SequenceExample, inputs: np.ndarray) -> Data:
    targets, valid = example.targets_and_valid
    edge_index = torch.from_numpy(temporal_edge_index(example.sequence.num_frames, TASK_GRAPHS[example.task]))
    return Data(x=torch.from_numpy(inputs), edge_index=edge_index, y=torch.from_numpy(targets),
                valid=torch.from_numpy(valid))


def image_columns(features: NodeFeatures, embedding_dim: int) -> list[int]:
    """The input columns that come from the image embedding: the embedding itself and its change
    since the previous frame (a history column)."""
    columns = list(range(embedding_dim))
    if "embedding_change" in features.history:
        columns.append(features.history_column("embedding_change", embedding_dim))
    return columns


def train_model(
    examples: list[SequenceExample],
    config: TrainConfig,
    features: NodeFeatures,
    on_log: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[int], None] | None = None,
    model_class: type[ScaledRegressor] | None = None,
    image_inputs: bool = True,
) -> TrainResult:
    """Train a fresh ``model_class`` (GraphSAGE/GAT as configured, or the no-graph baseline).

    Each epoch shuffles the sequences (seeded) into mini-batches of ``config.batch_graphs``
    graphs, each sequence on one of its embedding views (original or augmented, also seeded);
    a batch is one disjoint-union graph, so message passing never crosses sequences. The loss
    is the MSE over the nodes whose target is defined. ``image_inputs`` False: the network leaves
    out the embedding columns and the embedding change (:meth:`ScaledRegressor.ignore_inputs`).
    """
    if any(example.task != config.task for example in examples):
        raise ValueError("every example must be built for the configured task")
    if config.graph_kind != TASK_GRAPHS[config.task]:
        raise ValueError(f"{config.graph_kind} graphs are only read from old records: on it a {config.task} "
                         "node would hear a later frame")
    seed_everything(config.seed)
    inputs = [[e.inputs(v, features) for v in range(len(e.views))] for e in examples]
    all_inputs = torch.from_numpy(np.concatenate([x for views in inputs for x in views]))
    embedding_dim = examples[0].views.shape[-1]
    base = base_column(features, embedding_dim, config)
    model = (model_class or MODEL_CLASSES[config.arch])(in_dim=all_inputs.shape[1],
                                                        final_activation=config.final_activation, base_column=base)
    targets = defined_targets(examples)
    modelled = targets

    def at_targets(column: int) -> np.ndarray:
        """Input ``column`` of the original view at every defined target, in ``targets``' order."""
        return np.concatenate([x[0][e.targets_and_valid[1], column] for x, e in zip(inputs, examples)])

    if base is not None:
        modelled = targets - at_targets(base)
        if config.residual_scale == "relative":
            column = features.history_column(HISTORY_COLUMNS["running_mean"], embedding_dim)
            model.measure_residual_in(column, RELATIVE_FLOOR * float(np.mean(np.abs(targets))))
            modelled = modelled / np.maximum(at_targets(column), model.scale_floor)
    model.fit_scaling(all_inputs, torch.from_numpy(modelled.astype(np.float32)), embedding_dim=embedding_dim)
    if not image_inputs:
        model.ignore_inputs(image_columns(features, embedding_dim))
    model.set_output_range(*output_range(targets))
    model.refuse_outside(config.refuse_outside_range)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    result = TrainResult(model)
    model.train()
    for epoch in range(1, config.epochs + 1):
        losses = []
        order = rng.permutation(len(examples))
        for start in range(0, len(order), config.batch_graphs):
            chosen = order[start : start + config.batch_graphs]
            batch = Batch.from_data_list([_graph(examples[i], inputs[i][int(rng.integers(len(inputs[i])))])
                                          for i in chosen])
            optimiser.zero_grad()
            error = model(batch.x, batch.edge_index) - batch.y
            unit = model.residual_unit(batch.x)
            if unit is not None:  # a relative residual: every sequence's error in its own unit
                error = error / unit
            loss = torch.mean(error[batch.valid] ** 2)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        if on_epoch:
            on_epoch(epoch)
        if epoch % LOG_EVERY == 0 or epoch == config.epochs:
            mean_loss = float(np.mean(losses))
            result.loss_log.append((epoch, mean_loss))
            if on_log:
                on_log(epoch, mean_loss)
    model.eval()
    return result


def predict(model: ScaledRegressor, inputs: np.ndarray, task: str = "nowcast") -> np.ndarray:
    """Raw per-node outputs for one sequence's (T, in_dim) node inputs on the task's graph."""
    edge_index = torch.from_numpy(temporal_edge_index(len(inputs), TASK_GRAPHS[task]))
    with torch.inference_mode():
        return model(torch.from_numpy(inputs), edge_index).numpy()


def evaluate(model: ScaledRegressor, example: SequenceExample, features: NodeFeatures) -> dict[str, float]:
    """Metrics on the original (unaugmented) frames, over the nodes with a defined target."""
    targets, valid = example.targets_and_valid
    return melt_metrics(predict(model, example.inputs(0, features), example.task)[valid], targets[valid])


def predicted_per_frame(model: ScaledRegressor, example: SequenceExample, features: NodeFeatures) -> np.ndarray:
    """Predictions placed on the frame whose melt they predict (for plots and reports)."""
    return align_to_frames(predict(model, example.inputs(0, features), example.task), example.task)
