"""The edge runner through the CLI, with a real exported bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BAD_INPUT_MESSAGES

from glacier_edge.cli import main

pytestmark = pytest.mark.usefixtures("exported_bundle")


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_run_prints_table_with_provider_and_latency(exported_bundle: Path, sample_gif: Path) -> None:
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle))
    assert code == 0, output
    assert "   11  2005-07-01" in output
    assert "provider: cpu" in output and "latency ms: load" in output
    assert "NOT PRETRAINED" in output


def test_run_json_follows_schema(exported_bundle: Path, sample_gif: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle), "--format", "json",
                           "--output", str(out), "--threads", "1")
    assert code == 0, output
    result = json.loads(out.read_text())
    assert result["schema"] == "glacier-edge/run-result" and result["schema_version"] == 8
    assert result["provider"] == "cpu" and result["threads"] == 1
    assert len(result["frames"]) == 12 and result["frames"][0]["predicted_melt"] is None
    assert result["frames"][1]["measured_melt"] == pytest.approx(0.10379, abs=1e-4)  # the generated sample's step 1
    assert set(result["latency_ms"]) == {"load", "decode", "encode", "graph", "motion", "regions", "total"}
    assert result["latency_ms"]["motion"] == 0 and result["summary"]["motion"] is None
    assert result["latency_ms"]["regions"] == 0 and result["summary"]["regions"] is None  # no per-region model
    assert result["frames"][1]["regions"] == []
    assert result["model"]["pretrained"] is False


def test_int8_run_and_csv(exported_bundle: Path, sample_gif: Path) -> None:
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle), "--precision", "int8",
                           "--format", "csv")
    assert code == 0, output
    lines = [line for line in output.splitlines() if line and not line.startswith("note:")]
    assert lines[0] == ("index,date,label,measured_melt,predicted_melt,abs_error,alert,interval_low,interval_high,"
                        "unexpected,ood_score,ood,fallback,online_melt,online_low,online_high,online_unexpected")
    assert lines[1].startswith("0,1989-08-29,glacier-edge-sample-v2.gif#0,,,,False")
    assert len(lines) == 13


def test_alerts_and_fail_on_alert_exit_3(exported_bundle: Path, sample_gif: Path) -> None:
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle), "--alert-threshold", "0.0",
                           "--fail-on-alert")
    assert code == 3
    assert output.count("ALERT") == 11
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle), "--alert-threshold", "10")
    assert code == 0 and "alerts: 0 frame(s) above 10" in output


def test_plot_is_written(exported_bundle: Path, sample_gif: Path, tmp_path: Path) -> None:
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle), "--plot", str(tmp_path / "m.png"))
    assert code == 0, output
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("kind", sorted(BAD_INPUT_MESSAGES))
def test_run_bad_input_exit_2_and_no_output_file(kind: str, bad_inputs, exported_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    code, output = run_cli("run", str(bad_inputs[kind]), "--model", str(exported_bundle), "--output", str(out))
    assert code == 2
    assert BAD_INPUT_MESSAGES[kind] in output
    assert not out.exists()


def test_run_pixel_limit(exported_bundle: Path, sample_gif: Path) -> None:
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle), "--max-pixels", "5000")
    assert code == 2 and "exceeds the limit of 5,000" in output


def test_missing_bundle_names_the_command_that_creates_one(sample_gif: Path, tmp_path: Path) -> None:
    code, output = run_cli("run", str(sample_gif))
    assert code == 2
    assert "create one with `glacier-edge demo`" in output
    code, output = run_cli("run", str(sample_gif), "--model", str(tmp_path / "absent"))
    assert code == 2 and "no model bundle there" in output


def test_tampered_corrupt_missing_and_foreign_bundles_are_refused(bundle_copy: Path, sample_gif: Path) -> None:
    graph = bundle_copy / "gnn.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    code, output = run_cli("run", str(sample_gif), "--model", str(bundle_copy))
    assert code == 2 and "gnn.onnx sha256 does not match the manifest" in output

    graph.write_bytes(bytes(data[:1000]))
    code, output = run_cli("run", str(sample_gif), "--model", str(bundle_copy))
    assert code == 2 and "gnn.onnx has 1000 bytes, manifest says" in output

    graph.unlink()
    code, output = run_cli("run", str(sample_gif), "--model", str(bundle_copy))
    assert code == 2 and "gnn.onnx is missing" in output

    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["schema_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    code, output = run_cli("run", str(sample_gif), "--model", str(bundle_copy))
    assert code == 2 and "bundle manifest schema version 99 is not supported" in output

    manifest_path.write_text("{not json")
    code, output = run_cli("verify", str(bundle_copy))
    assert code == 2 and "corrupt bundle manifest" in output


def test_unwritable_outputs_fail_before_work(exported_bundle: Path, sample_gif: Path, tmp_path: Path) -> None:
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle),
                           "--plot", str(tmp_path / "no-such-dir" / "m.png"))
    assert code == 2 and "--plot" in output and "does not exist" in output
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle), "--output", str(tmp_path))
    assert code == 2 and "is a directory" in output


def test_cuda_requested_without_cuda_exits_2_unless_fallback(exported_bundle: Path, sample_gif: Path) -> None:
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle), "--provider", "cuda")
    assert code == 2
    assert "--provider cuda: this onnxruntime build has no CUDAExecutionProvider (available: " in output
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle), "--provider", "cuda",
                           "--allow-fallback", "--format", "json")
    assert code == 0
    assert json.loads(output[: output.rindex("}") + 1])["provider"] == "cpu"


def test_plot_without_matplotlib_is_one_clear_line(exported_bundle: Path, sample_gif: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name: str, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    code, output = run_cli("run", str(sample_gif), "--model", str(exported_bundle), "--plot", str(tmp_path / "m.png"))
    assert code == 2
    assert "--plot needs matplotlib: pip install matplotlib" in output
    assert not (tmp_path / "m.png").exists()
