"""Forecast mode through the same train → export → verify → run path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # trains models (minutes on 2 cores)

torch = pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")

from click.testing import CliRunner  # noqa: E402
from conftest import train_and_export  # noqa: E402

from glacier_edge.cli import main  # noqa: E402
from glacier_edge.edge.bundle import load_bundle  # noqa: E402
from glacier_edge.edge.runtime import EdgeModel  # noqa: E402
from glacier_edge.ingest.frames import read_sequence  # noqa: E402


@pytest.fixture(scope="module")
def forecast_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle, _ = train_and_export(tmp_path_factory.mktemp("forecast"), "--task", "forecast", "--epochs", "80")
    return bundle


def test_task_and_causal_graph_are_recorded(forecast_bundle: Path) -> None:
    manifest = json.loads((forecast_bundle / "manifest.json").read_text())
    assert manifest["training"]["config"]["task"] == "forecast" and "graph_kind" not in json.dumps(manifest)
    assert load_bundle(forecast_bundle).manifest.graph_kind == "causal"
    run_info = json.loads((Path(manifest["training"]["run_dir"]) / "run.json").read_text())
    assert run_info["config"]["task"] == "forecast"


def test_forecast_bundle_verifies(forecast_bundle: Path) -> None:
    result = CliRunner().invoke(main, ["verify", str(forecast_bundle)])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output


def test_run_prints_the_forecast_after_the_last_frame(forecast_bundle: Path, sample_gif: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(sample_gif), "--model", str(forecast_bundle), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[: result.output.rindex("}") + 1])
    assert data["task"] == "forecast"
    edge = EdgeModel(load_bundle(forecast_bundle), provider="cpu")
    sequence = read_sequence(sample_gif)
    outputs = edge.melt(edge.embed(sequence.frames), sequence, edge.measured(sequence.frames))
    # where the guard let the model answer (an OOD input gets the naive answer instead), the forecast
    # after the last frame is the graph's output at the last node, and the value shown for frame t
    # is the forecast made at t−1
    if not data["summary"]["forecast_next_fallback"]:
        assert data["summary"]["forecast_next"] == pytest.approx(float(outputs[-1]), abs=1e-6)
    served = [(row["predicted_melt"], float(outputs[t])) for t, row in enumerate(data["frames"][1:])
              if not row["fallback"]]
    assert len(served) >= 8
    assert [shown for shown, _ in served] == pytest.approx([output for _, output in served], abs=1e-6)
    table = CliRunner().invoke(main, ["run", str(sample_gif), "--model", str(forecast_bundle)]).output
    assert "FORECAST for the step after frame 11:" in table


def test_causal_model_ignores_future_frames(forecast_bundle: Path, sample_gif: Path) -> None:
    """Changing the last frame (its embedding and the melt it makes measurable) must not change any
    earlier node's forecast. Checked on the trained network at full gain: the served bundle may
    be shrunk to a constant naive answer, which would pass trivially."""
    from torch_helpers import full_gain_and_changed_last_frame

    from glacier_edge.signals.features import node_inputs
    from glacier_edge.signals.melt import measured_melt
    from glacier_edge.training.loop import predict

    _, model, record, edge, frames, changed = full_gain_and_changed_last_frame(forecast_bundle, sample_gif)

    def forecasts(sequence_frames: np.ndarray) -> np.ndarray:
        inputs = node_inputs(edge.embed(sequence_frames), None, record.node_features,
                             measured_melt(sequence_frames), "forecast")
        return predict(model, inputs, "forecast")

    before, after = forecasts(frames), forecasts(changed)
    assert np.allclose(before[:-1], after[:-1], atol=1e-6)
    assert not np.isclose(before[-1], after[-1], atol=1e-6)


def test_gat_architecture_exports_without_scatter_and_verifies(tmp_path: Path) -> None:
    from glacier_edge.export.onnx_export import onnx_op_types

    bundle, manifest = train_and_export(tmp_path, "--arch", "gat", "--epochs", "40")
    assert manifest["training"]["model"]["arch"] == "gat"
    assert not [op for op in onnx_op_types(bundle / "gnn.onnx") if op.startswith("Scatter")]
    result = CliRunner().invoke(main, ["verify", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output
