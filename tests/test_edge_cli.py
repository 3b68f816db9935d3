"""The edge runner on the tiny generated bundle: these run in the torch-free venv too (CI runs them
there), so `run`, bundle checks and output formats are tested without a torch-built bundle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from glacier_edge.cli import main

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return Path(shutil.copytree(TINY, tmp_path / "tiny"))


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_run_json_on_the_tiny_bundle(sample_gif: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    code, output = run_cli("run", str(sample_gif), "--model", str(TINY), "--format", "json", "--output", str(out))
    assert code == 0, output
    result = json.loads(out.read_text())
    assert result["schema"] == "glacier-edge/run-result" and result["schema_version"] == 8
    assert len(result["frames"]) == 12 and result["frames"][0]["measured_melt"] is None
    assert result["frames"][1]["date"] == "1990-07-26"
    assert result["model"]["parity_verified"] is None and result["model"]["pretrained"] is False
    assert all(0.0 < row["predicted_melt"] < 0.2 for row in result["frames"][1:])


def test_run_csv_and_table_agree(sample_gif: Path) -> None:
    code, csv_text = run_cli("run", str(sample_gif), "--model", str(TINY), "--format", "csv")
    assert code == 0
    rows = [line.split(",") for line in csv_text.splitlines() if line and not line.startswith("note:")]
    assert rows[0] == ["index", "date", "label", "measured_melt", "predicted_melt", "abs_error", "alert",
                       "interval_low", "interval_high", "unexpected", "ood_score", "ood", "fallback", "online_melt",
                       "online_low", "online_high", "online_unexpected"]
    assert rows[1][:3] == ["0", "1989-08-29", "glacier-edge-sample-v2.gif#0"] and len(rows) == 13
    code, table = run_cli("run", str(sample_gif), "--model", str(TINY))
    assert code == 0 and f"{float(rows[5][4]):.4f}" in table


def test_model_from_the_environment(sample_gif: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLACIER_EDGE_MODEL", str(TINY))
    code, output = run_cli("run", str(sample_gif))
    assert code == 0 and "tiny generated test encoder" in output


def test_int8_on_a_bundle_without_it_is_one_line(sample_gif: Path) -> None:
    code, output = run_cli("run", str(sample_gif), "--model", str(TINY), "--precision", "int8")
    assert code == 2
    assert output.strip().splitlines()[-1] == (f"glacier-edge: error: {TINY}: bundle has no encoder_int8 model; "
                                               "export it with --int8")


def test_tampered_tiny_bundle_is_refused(tiny: Path, sample_gif: Path) -> None:
    gnn = tiny / "gnn.onnx"
    gnn.write_bytes(gnn.read_bytes()[:-1] + b"\x00")
    code, output = run_cli("run", str(sample_gif), "--model", str(tiny))
    assert code == 2 and "gnn.onnx sha256 does not match the manifest" in output and "Traceback" not in output


def test_run_never_imports_torch(sample_gif: Path) -> None:
    """`run` needs numpy, imageio (Pillow), click and onnxruntime alone: not torch, nor the station
    extra (watchdog, cryptography). The import contracts (tests/test_architecture.py) prove the edge
    wings never import these; this proves the CLI, which may import anything, imports them lazily."""
    code = ("import sys; from glacier_edge.cli import main; sys.argv = ['glacier-edge', 'run', sys.argv[1], "
            "'--model', sys.argv[2], '--format', 'json']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "heavy = [m for m in ('torch', 'torchvision', 'torch_geometric', 'onnx', 'matplotlib', 'watchdog', "
            "'cryptography', 'ray', 'pyarrow') if m in sys.modules]\n"
            "assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code, str(sample_gif), str(TINY)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_committed_tiny_bundle_is_what_the_script_makes(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="regenerating the tiny bundle needs the onnx package (train extra)")
    sys.path.insert(0, str(TINY.parent))
    try:
        from make_tiny_bundle import build
    finally:
        sys.path.pop(0)
    for name, data in build(tmp_path / "again").items():
        assert (TINY / name).read_bytes() == data, f"{name} differs: run tests/fixtures/make_tiny_bundle.py"


def test_run_applies_the_online_rule_causally_frame_by_frame(sample_gif: Path, tmp_path: Path) -> None:
    """The station's online answer in `run` equals the rule replayed by hand from the printed
    predictions and measurements: persistence = the previous measured melt, running mean = the mean
    of those before, the bundle's train mean where nothing is measured yet; from the station's prior."""
    import numpy as np

    from glacier_edge.signals.online import STATION_PRIOR, OnlineTrust

    out = tmp_path / "result.json"
    code, output = run_cli("run", str(sample_gif), "--model", str(TINY), "--format", "json", "--output", str(out))
    assert code == 0, output
    result = json.loads(out.read_text())
    manifest = json.loads((TINY / "manifest.json").read_text())["calibration"]
    trust = OnlineTrust(*manifest["melt_range"], manifest["halfwidth"], prior=list(STATION_PRIOR))
    measured_before: list[float] = []
    for row in result["frames"][1:]:
        persistence = measured_before[-1] if measured_before else manifest["train_mean"]
        running = float(np.mean(measured_before)) if measured_before else manifest["train_mean"]
        answers = np.array([row["predicted_melt"], persistence, running])
        value, halfwidth, inside = trust.update(answers, row["measured_melt"])
        assert row["online_melt"] == pytest.approx(value, abs=1e-9)
        assert row["online_high"] - row["online_low"] == pytest.approx(2 * halfwidth, abs=1e-9)
        assert row["online_unexpected"] is (not inside)
        measured_before.append(row["measured_melt"])
    online = result["summary"]["online"]
    assert online["scored"] == 11 and online["weights"] == pytest.approx(trust.weights().tolist(), abs=1e-6)
    assert online["prior"] == pytest.approx(list(STATION_PRIOR))
    assert online["regret_bound"] == pytest.approx(trust.regret_bounds()[1], abs=1e-6)
    assert online["running_skill"] == pytest.approx(trust.running_skill())
    assert "station (online): weights model" in run_cli("run", str(sample_gif), "--model", str(TINY))[1]
