"""Input/output scaling shared by every melt model, stored as buffers so export and the edge
apply exactly what training applied; and the residual form that builds on persistence."""

from __future__ import annotations

import torch
from torch import nn

from glacier_edge.contracts import FINAL_ACTIVATIONS


class ScaledRegressor(nn.Module):
    """Base of the melt models (GraphSAGE, GAT and the no-graph baseline).

    - inputs: per-feature mean, one global scale over the embedding columns. Not a per-feature
      std: dividing by near-zero feature stds amplifies encoder noise (and fp32/ONNX differences)
      into the melt output, and trained less well (MSE/Var 0.0005–0.17 over 5 seeds, against
      < 0.01 with one scale).
    - output (``identity`` only): the network predicts a standardised value, mapped back by the
      training mean and std. Raw melt is ~0.05, and Adam's scale-free steps at lr 3e-3 then
      overshoot (MSE/Var 0.007–408 over 5 seeds, measured); standardised, 5 of 5 reach < 0.01.
    - residual (``base_column`` set): the network predicts a correction to persistence (the last
      known melt, input column ``base_column``).
    - shrinkage: the served output is ``anchor + gain · (model − anchor)``, the anchor being the
      naive answer that did best on held-out folds (persistence, the running mean — input
      columns — or the training mean, a constant) and ``gain`` in [0, 1] fitted on those folds:
      0 means the model adds nothing a station can trust, and the naive answer stands.
    - range: in eval mode (what is exported and served) the output is clipped to the training
      targets' range widened by a margin, so no input can drive a prediction far outside what the
      model was trained on. Training sees the unclipped output (a clipped one has no gradient).
    - refusal outside the range (``refuse_outside_range``, residual models, on by default): where
      the last measured melt itself lies outside that range, the model would extrapolate a
      correction learnt on other melts, and clipping its output would replace a measured melt by the
      range's edge; so the last measured melt is served as it is (measured in ``benchmarks/README.md``).
    """

    def __init__(self, in_dim: int, final_activation: str, base_column: int | None = None,
                 anchor_column: int | None = None) -> None:
        super().__init__()
        if final_activation not in FINAL_ACTIVATIONS:
            raise ValueError(f"final_activation must be one of {FINAL_ACTIVATIONS}")
        if base_column is not None and final_activation != "identity":
            raise ValueError("the residual form needs the identity output")
        self.final_activation = final_activation
        self.base_column = base_column
        self.anchor_column = anchor_column
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_scale", torch.ones(in_dim))
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_scale", torch.ones(()))
        self.register_buffer("residual_gain", torch.ones(()))
        self.register_buffer("anchor_value", torch.zeros(()))
        self.register_buffer("output_low", torch.tensor(-1e6))
        self.register_buffer("output_high", torch.tensor(1e6))
        self.scale_column: int | None = None
        self.scale_floor = 0.0
        self.refuse_outside_range = False

    def measure_residual_in(self, column: int | None, floor: float) -> None:
        """The correction is predicted in units of input ``column`` (at least ``floor``): a relative
        residual. Recorded in the run (``ModelRecord.scale_column``/``scale_floor``), not the weights."""
        self.scale_column, self.scale_floor = column, float(floor)

    def refuse_outside(self, refuse: bool) -> None:
        """Serve the last measured melt where it lies outside the output range (residual models only).
        Recorded in the run (``ModelRecord.refuse_outside_range``), not the weights."""
        self.refuse_outside_range = bool(refuse) and self.base_column is not None

    def residual_unit(self, x: torch.Tensor) -> torch.Tensor | None:
        """Per node the unit of the correction (None: melt itself)."""
        if self.scale_column is None:
            return None
        return torch.clamp(x[..., self.scale_column], min=self.scale_floor)

    def fit_scaling(self, inputs: torch.Tensor, targets: torch.Tensor, embedding_dim: int) -> None:
        """Set input scaling from training inputs (N, in_dim) and output scaling from what the
        network models (M,): the melt, or its residual over persistence. The seed's ``relu``
        mode keeps raw melt units.

        The first ``embedding_dim`` columns (the frame embedding) share one scale; feature
        columns beyond them (dates, covariates, history) get their own std, or 1 where constant.
        """
        mean = inputs.mean(dim=0)
        centred = inputs - mean
        scale = torch.empty_like(mean)
        if embedding_dim:  # the `none` encoder has no embedding columns
            scale[:embedding_dim] = centred[:, :embedding_dim].std().clamp(min=1e-6)
        if inputs.shape[1] > embedding_dim:
            extra = centred[:, embedding_dim:].std(dim=0)
            scale[embedding_dim:] = torch.where(extra < 1e-6, torch.ones_like(extra), extra)
        self.feature_mean.copy_(mean)
        self.feature_scale.copy_(scale)
        if self.final_activation == "identity":
            self.target_mean.copy_(targets.mean())
            self.target_scale.copy_(targets.std(unbiased=False).clamp(min=1e-6))

    def ignore_inputs(self, columns: list[int]) -> None:
        """Leave input ``columns`` out of the network: their scale becomes +∞, so they enter every
        layer as exactly 0 in training, in the exported graph and at the edge alike, with no new
        buffer (older checkpoints load unchanged). Call after :meth:`fit_scaling`."""
        self.feature_scale[columns] = float("inf")

    def shrink_toward(self, column: int | None, constant: float, gain: float) -> None:
        """Serve ``anchor + gain · (model − anchor)``: anchor = input ``column``, or ``constant``."""
        self.anchor_column = column
        self.anchor_value.fill_(constant)
        self.residual_gain.fill_(gain)

    def set_output_range(self, low: float, high: float) -> None:
        self.output_low.fill_(low)
        self.output_high.fill_(high)

    def scale_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.feature_mean) / self.feature_scale

    def activate(self, h: torch.Tensor, layer: int, layers: int) -> torch.Tensor:
        last = layer == layers - 1
        return torch.relu(h) if not last or self.final_activation == "relu" else h

    def unscale_output(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        value = h.squeeze(-1) * self.target_scale + self.target_mean
        unit = self.residual_unit(x)
        if unit is not None:
            value = value * unit
        if self.base_column is not None:
            value = x[..., self.base_column] + value
        anchor = x[..., self.anchor_column] if self.anchor_column is not None else self.anchor_value
        value = anchor + self.residual_gain * (value - anchor)
        if self.training:  # a clipped output has no gradient: clip only what is served
            return value
        served = torch.minimum(torch.maximum(value, self.output_low), self.output_high)
        if self.refuse_outside_range:
            known = x[..., self.base_column]
            outside = (known < self.output_low) | (known > self.output_high)
            served = torch.where(outside, known, served)
        return served
