from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
onnx = pytest.importorskip("onnx", reason="the 'train' extra (onnx) is not installed")

from click.testing import CliRunner  # noqa: E402

from glacier_edge.bench.system import cpu_model  # noqa: E402
from glacier_edge.cli import main  # noqa: E402
from glacier_edge.contracts import ONNX_IR_VERSION  # noqa: E402
from glacier_edge.edge.bundle import load_bundle  # noqa: E402
from glacier_edge.edge.machine import int8_kernel_path  # noqa: E402
from glacier_edge.edge.runtime import EdgeModel  # noqa: E402
from glacier_edge.export.onnx_export import onnx_op_types  # noqa: E402
from glacier_edge.export.parity import MELT_TOLERANCE, verify_bundle, worst_ratio  # noqa: E402
from glacier_edge.signals.features import node_inputs  # noqa: E402
from glacier_edge.training.checkpoint import load_checkpoint  # noqa: E402
from glacier_edge.training.loop import predict  # noqa: E402


def test_bundle_holds_single_file_models_and_a_complete_manifest(exported_bundle: Path) -> None:
    names = {p.name for p in exported_bundle.iterdir()}
    assert names == {"encoder.onnx", "gnn.onnx", "ood.onnx", "encoder.int8.onnx", "manifest.json"}
    manifest = json.loads((exported_bundle / "manifest.json").read_text())
    assert manifest["schema"] == "glacier-edge/bundle" and manifest["schema_version"] == 3
    assert manifest["opset"] == 18 and manifest["frame_size"] == 128
    assert manifest["encoder"]["pretrained"] is False and manifest["encoder"]["backbone"]["name"] == "resnet50"
    assert manifest["models"]["encoder"]["inputs"][0] == {"name": "frames", "dtype": "uint8",
                                                          "shape": ["N", 128, 128, 3]}
    assert manifest["models"]["gnn"]["outputs"][0]["shape"] == ["T"]
    for key in ("torch", "torchvision", "torch_geometric", "onnx", "onnxruntime"):
        assert manifest["versions"][key]
    assert set(manifest["files"]) == names - {"manifest.json"}
    tried = {t["format"] for t in manifest["int8"]["tried"]}
    if "can saturate" in int8_kernel_path():  # x86 without VNNI: the one format that cannot saturate
        assert tried == {"QOperator U8S8 per-channel 7-bit"}
        assert manifest["int8"]["chosen_by"].startswith("x86 without VNNI on the exporting machine")
    else:
        assert tried >= {"QDQ S8S8 per-channel", "QOperator U8S8 per-channel"}
        assert manifest["int8"]["chosen_by"].startswith("race on the exporting machine")
    assert manifest["int8"]["exported_on"].startswith(cpu_model())
    assert manifest["int8"]["chosen"]["melt_mae_vs_fp32"] <= 0.005
    for name in names - {"manifest.json"}:  # loadable by onnxruntime releases older than onnx's newest IR
        assert onnx.load(exported_bundle / name, load_external_data=False).ir_version <= ONNX_IR_VERSION, name


def test_graphsage_onnx_has_no_scatter_ops(exported_bundle: Path) -> None:
    ops = onnx_op_types(exported_bundle / "gnn.onnx")
    assert "MatMul" in ops
    assert not [op for op in ops if op.startswith("Scatter")]


@pytest.mark.parametrize("frames", [2, 3, 8, 37, 128])
def test_graphsage_runs_at_any_sequence_length(exported_bundle: Path, trained_run: Path, frames: int) -> None:
    """Exported at T=5; run here at other T against the PyG (scatter) model."""
    model, record = load_checkpoint(trained_run)
    edge = EdgeModel(load_bundle(exported_bundle), provider="cpu")
    embeddings = np.random.default_rng(frames).normal(13, 12, (frames, 2048)).astype(np.float32)
    melt = np.random.default_rng(frames).uniform(0, 0.1, frames)
    reference = predict(model, node_inputs(embeddings, None, record.node_features, melt, "nowcast"))
    assert edge.melt(embeddings, None, melt).shape == (frames,)
    assert worst_ratio(MELT_TOLERANCE, edge.melt(embeddings, None, melt), reference) <= 1


def test_encoder_runs_at_batch_one_and_many(exported_bundle: Path) -> None:
    edge = EdgeModel(load_bundle(exported_bundle), provider="cpu")
    frames = np.random.default_rng(1).integers(0, 256, (37, 128, 128, 3), np.uint8)
    together = edge.embed(frames, batch_size=37)
    one = edge.embed(frames[:1], batch_size=1)
    assert together.shape == (37, 2048)
    assert np.allclose(one[0], together[0], rtol=1e-4, atol=1e-4)


def test_verify_passes_and_records_parity(bundle_copy: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["verify", str(bundle_copy)])
    assert result.exit_code == 0, result.output
    assert "PASS: ONNX Runtime ≡ PyTorch within tolerance on 5 inputs" in result.output
    parity = load_bundle(bundle_copy).manifest.parity
    assert parity is not None and parity.passed is True
    assert [row.frames for row in parity.rows] == [12, 2, 8, 37, 128]
    for row in parity.rows:
        assert row.encoder_worst_ratio <= 1 and row.melt_worst_ratio <= 1
    assert parity.int8 is not None and parity.int8.within_bound is True
    assert parity.int8.melt_mae_max <= 0.005
    # the bundle's hashes still hold after the manifest rewrite
    load_bundle(bundle_copy)


def test_verify_fails_with_exit_1_against_another_model(bundle_copy: Path, tmp_path: Path) -> None:
    from glacier_edge.contracts import TrainConfig
    from glacier_edge.training.pipeline import run_training

    other = tmp_path / "other-run"
    run_training([], other, config=TrainConfig(epochs=20, seed=7, weights="random", augmentations=0), cache_dir=None,
                 echo=lambda m: None)
    parity = verify_bundle(bundle_copy, run_dir=other, echo=lambda m: None)
    assert parity.passed is False
    result = CliRunner().invoke(main, ["verify", str(bundle_copy), "--run", str(other)])
    assert result.exit_code == 1
    assert "disagree beyond the tolerance" in result.output


def test_export_of_missing_run_fails_cleanly(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(tmp_path / "nope"), "--out", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert "not a training run (no run.json)" in result.output
    assert not (tmp_path / "b").exists()


def test_export_cli_writes_bundle_without_int8(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "fp32-bundle"
    result = CliRunner().invoke(main, ["export", str(trained_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["encoder.onnx", "gnn.onnx", "manifest.json", "ood.onnx"]
    shutil.rmtree(out)


def test_a_nowcast_never_hears_a_later_frame(exported_bundle: Path, sample_gif: Path) -> None:
    """Node t+1's last melt *is* node t's nowcast target, so on the seed's bidirectional graph every
    node but the last heard its own answer, and `evaluate` scored what no station can do (a station
    nowcasts the newest frame, which has no later neighbour). Changing the last frame must change
    the last nowcast only — in torch and in the bundle a station runs. At full gain: a bundle shrunk
    to a constant naive answer would pass trivially."""
    from torch_helpers import full_gain_and_changed_last_frame

    from glacier_edge.signals.melt import measured_melt

    bundle, model, record, edge, frames, changed = full_gain_and_changed_last_frame(exported_bundle, sample_gif)

    def nowcasts(sequence_frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        embeddings, melt = edge.embed(sequence_frames), measured_melt(sequence_frames)
        inputs = node_inputs(embeddings, None, record.node_features, melt, "nowcast")
        return predict(model, inputs, "nowcast"), edge.melt(embeddings, None, melt)

    (before, served_before), (after, served_after) = nowcasts(frames), nowcasts(changed)
    assert np.allclose(before[:-1], after[:-1], atol=1e-6)
    assert np.allclose(served_before[:-1], served_after[:-1], atol=1e-6)
    # the last frame's own embedding does reach its nowcast (when the melt model reads the embedding)
    assert bool(np.isclose(before[-1], after[-1], atol=1e-6)) is (bundle.manifest.calibration.image_inputs is False)
    assert bundle.manifest.graph_kind == "causal"


def test_a_bundle_that_leaves_out_the_embedding_verifies_and_ignores_it(tmp_path: Path, sample_gif: Path) -> None:
    """`--image-inputs off`: the embedding columns' scale is +∞ in the exported graph too, so they enter
    it as exactly 0; parity holds and the served melt does not move when the embedding does."""
    from conftest import train_and_export

    bundle, manifest = train_and_export(tmp_path, "--image-inputs", "off", "--epochs", "20")
    assert manifest["training"]["config"]["image_inputs"] == "off"
    result = CliRunner().invoke(main, ["verify", str(bundle)])
    assert result.exit_code == 0 and "PASS" in result.output, result.output
    edge = EdgeModel(load_bundle(bundle), provider="cpu")
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(10, 2048)).astype(np.float32)
    melt = np.abs(rng.normal(0.02, 0.01, 10)).astype(np.float32)
    served = edge.melt(embeddings, None, melt)
    assert np.isfinite(served).all()
    assert np.array_equal(served, edge.melt(embeddings * 3 + 1, None, melt))
    shown = CliRunner().invoke(main, ["run", str(sample_gif), "--model", str(bundle)]).output
    assert "knows: nadir satellite chips; melt from the last melts and the graph, without the image embedding" in shown
