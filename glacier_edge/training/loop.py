"""The training loop: Adam, MSE, one full sequence graph per step, seeded and reproducible."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from glacier_edge.contracts import TrainConfig
from glacier_edge.graph import TASK_GRAPHS, temporal_edge_index
from glacier_edge.melt import align_to_frames
from glacier_edge.metrics import melt_metrics
from glacier_edge.training.dataset import SequenceExample
from glacier_edge.training.models import MODEL_CLASSES, ScaledRegressor

LOG_EVERY = 50


@dataclass
class TrainResult:
    model: ScaledRegressor
    loss_log: list[tuple[int, float]] = field(default_factory=list)
    """(epoch, mean training MSE over that epoch's steps), every LOG_EVERY epochs and the last."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _tensors(example: SequenceExample) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    edge_index = torch.from_numpy(temporal_edge_index(example.sequence.num_frames, TASK_GRAPHS[example.task]))
    targets, valid = example.targets_and_valid
    return edge_index, torch.from_numpy(targets), torch.from_numpy(valid)


def train_model(
    examples: list[SequenceExample],
    config: TrainConfig,
    on_log: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[int], None] | None = None,
    model_class: type[ScaledRegressor] | None = None,
) -> TrainResult:
    """Train a fresh ``model_class`` (GraphSAGE, or the no-graph baseline) on the examples.

    Each epoch visits every sequence once in a seeded random order, each time on one of its
    embedding views (original or augmented), also drawn from the seed. Loss is the MSE over the
    nodes whose target is defined (nowcast: frames 1..T-1; forecast: frames 0..T-2).
    """
    if any(example.task != config.task for example in examples):
        raise ValueError("every example must be built for the configured task")
    seed_everything(config.seed)
    all_inputs = torch.from_numpy(np.concatenate([e.inputs(v) for e in examples for v in range(len(e.views))]))
    model = (model_class or MODEL_CLASSES[config.arch])(in_dim=all_inputs.shape[1],
                                                        final_activation=config.final_activation)
    all_targets = torch.from_numpy(np.concatenate([t[v] for t, v in (e.targets_and_valid for e in examples)]))
    model.fit_scaling(all_inputs, all_targets, embedding_dim=examples[0].views.shape[-1])
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    graphs = [_tensors(example) for example in examples]
    rng = np.random.default_rng(config.seed)
    result = TrainResult(model)
    model.train()
    for epoch in range(1, config.epochs + 1):
        losses = []
        for index in rng.permutation(len(examples)):
            example = examples[index]
            view = torch.from_numpy(example.inputs(int(rng.integers(len(example.views)))))
            edge_index, target, valid = graphs[index]
            optimiser.zero_grad()
            loss = torch.mean((model(view, edge_index) - target)[valid] ** 2)
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


def evaluate(model: ScaledRegressor, example: SequenceExample) -> dict[str, float]:
    """Metrics on the original (unaugmented) frames, over the nodes with a defined target."""
    targets, valid = example.targets_and_valid
    return melt_metrics(predict(model, example.inputs(0), example.task)[valid], targets[valid])


def predicted_per_frame(model: ScaledRegressor, example: SequenceExample) -> np.ndarray:
    """Predictions placed on the frame whose melt they predict (for plots and reports)."""
    return align_to_frames(predict(model, example.inputs(0), example.task), example.task)
