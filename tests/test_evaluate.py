from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

pytestmark = pytest.mark.slow  # trains models (minutes on 2 cores)

torch = pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")

from click.testing import CliRunner  # noqa: E402

from glacier_edge.cli import main  # noqa: E402
from glacier_edge.ingest.frames import expand_sequences  # noqa: E402
from glacier_edge.ingest.synthetic import synthetic_frames  # noqa: E402
from glacier_edge.signals.history import naive  # noqa: E402
from glacier_edge.training.evaluation import METHODS  # noqa: E402


def test_persistence_uses_only_earlier_measurements() -> None:
    melt = np.array([0.0, 0.1, 0.2, 0.3])
    assert naive("persistence", melt, "nowcast", 9.0).tolist() == [9.0, 9.0, 0.1, 0.2]
    # forecast target at node t is melt_{t+1}; the newest measured value at t is melt_t
    assert naive("persistence", melt, "forecast", 9.0)[:3].tolist() == [9.0, 0.1, 0.2]
    assert naive("running_mean", melt, "nowcast", 9.0).tolist() == pytest.approx([9.0, 9.0, 0.1, 0.15])
    assert naive("running_mean", melt, "forecast", 9.0).tolist() == pytest.approx([9.0, 0.1, 0.15, 0.2])


@pytest.fixture(scope="module")
def sequence_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sequences")
    for index, changes in enumerate(([1000, 5000, 200, 3000], [800, 9000, 300, 4000, 600], [2000, 100, 7000])):
        frames, _ = synthetic_frames(changes, seed=index + 1)
        iio.imwrite(folder / f"seq{index}.gif", frames, extension=".gif", duration=100)
    return folder


def test_folder_of_sequences_is_expanded(sequence_folder: Path, tmp_path: Path) -> None:
    assert [p.name for p in expand_sequences([sequence_folder])] == ["seq0.gif", "seq1.gif", "seq2.gif"]
    frames_folder = tmp_path / "frames"
    frames_folder.mkdir()
    iio.imwrite(frames_folder / "a.png", np.zeros((8, 8, 3), np.uint8))
    assert expand_sequences([frames_folder]) == [frames_folder]


@pytest.mark.parametrize("task", ["nowcast", "forecast"])
def test_evaluate_leave_one_sequence_out(sequence_folder: Path, tmp_path: Path, task: str) -> None:
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["evaluate", str(sequence_folder), "--task", task, "--epochs", "30",
                                       "--augmentations", "0", "--weights", "random", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "POOLED" in result.output and "pooled skill vs the best baseline" in result.output
    data = json.loads((out / "evaluation.json").read_text())
    assert data["split"] == "leave-one-sequence-out" and data["task"] == task
    assert [Path(f["held_out"]).name for f in data["folds"]] == ["seq0.gif", "seq1.gif", "seq2.gif"]
    # held-out targets: nowcast frames 1..T-1, forecast frames 0..T-2 — T-1 values either way
    assert [f["n"] for f in data["folds"]] == [4, 5, 3]
    assert set(data["pooled"]) == set(METHODS) == {"graph_model", "mlp_no_graph", "station_online", "persistence",
                                                      "running_mean", "train_mean"}
    for fold in data["folds"]:  # the online station replayed on each held-out sequence, causally
        assert sum(fold["online_final_weights"].values()) == pytest.approx(1, abs=1e-3)
        assert len(fold["online_running_skill"]) == fold["n"] and 0 <= fold["online_coverage"] <= 1
        # the saved replay inputs reproduce the station's figures (benchmarks/online_rules.py reads them)
        import numpy as np

        from glacier_edge.signals.online import ONLINE_EXPERTS, replay, station_trust

        saved = fold["replay"]
        column = {name: np.array([np.nan if v is None else v for v in values]) for name, values
                  in saved["answers"].items()}
        answers = np.stack([column["graph_model" if name == "model" else name] for name in ONLINE_EXPERTS], axis=1)
        targets = np.array([np.nan if v is None else v for v in saved["targets"]])
        valid = np.array(saved["valid"])
        again = replay(answers, targets, valid, station_trust(*saved["melt_range"], saved["halfwidth"]))
        assert again.inside[valid].mean() == pytest.approx(fold["online_coverage"])
        assert dict(zip(ONLINE_EXPERTS, again.final.weights())) == pytest.approx(fold["online_final_weights"],
                                                                                  abs=2e-4)
    assert data["pooled"]["train_mean"]["n"] == 12
    skill = data["pooled_skill"]
    best = skill["best_baseline"]
    assert best in ("persistence", "running_mean", "train_mean")
    assert skill["graph_model"] == pytest.approx(1 - data["pooled"]["graph_model"]["mae"] / data["pooled"][best]["mae"])
    assert data["pooled"][best]["mae"] == min(data["pooled"][m]["mae"] for m in ("persistence", "running_mean",
                                                                                 "train_mean"))
    assert (out / "evaluation.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_needs_two_sequences(sequence_folder: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(sequence_folder / "seq0.gif"), "--weights", "random"])
    assert result.exit_code == 2
    assert "evaluate needs at least 2 sequences" in result.output


def test_evaluate_leave_one_region_out(sequence_folder: Path, tmp_path: Path) -> None:
    regions = tmp_path / "regions.csv"
    regions.write_text("sequence,region\nseq0.gif,alps\nseq1.gif,alps\nseq2.gif,caucasus\n")
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["evaluate", str(sequence_folder), "--group-by", "region", "--regions",
                                       str(regions), "--epochs", "30", "--augmentations", "0", "--weights", "random",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "evaluation.json").read_text())
    assert data["split"] == "leave-one-region-out (2 regions)" and data["group_by"] == "region"
    assert [f["region"] for f in data["folds"]] == ["alps", "alps", "caucasus"]
    by_region = {r["region"]: r for r in data["regions"]}
    assert {name: r["sequences"] for name, r in by_region.items()} == {"alps": 2, "caucasus": 1}
    assert by_region["alps"]["n"] == 4 + 5 and by_region["caucasus"]["n"] == 3
    # a region's figures pool its own sequences: caucasus is seq2's fold alone
    seq2_mae = data["folds"][2]["metrics"]["graph_model"]["mae"]
    assert by_region["caucasus"]["metrics"]["graph_model"]["mae"] == pytest.approx(seq2_mae)
    assert data["regions"][0]["skill"]["graph_model"] <= data["regions"][1]["skill"]["graph_model"]  # worst first
    worst = data["regions"][0]
    assert f"worst region: {worst['region']}, skill {worst['skill']['graph_model']:.3f}" in result.output


def test_group_by_region_without_regions_is_one_line(sequence_folder: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(sequence_folder), "--group-by", "region", "--weights", "random"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "glacier-edge: error: evaluate --group-by region: the sequences' regions are unknown: give --regions CSV "
        "(columns sequence,region) or sequences named by GLIMS ID (e.g. gv_g007281e45526n)")


def test_train_records_each_sequence_region(sequence_folder: Path, tmp_path: Path) -> None:
    regions = tmp_path / "regions.csv"
    regions.write_text("sequence,region\nseq0.gif,alps\nseq1.gif,alps\nseq2.gif,caucasus\n")
    result = CliRunner().invoke(main, ["train", str(sequence_folder), "--regions", str(regions), "--epochs", "5",
                                       "--augmentations", "0", "--weights", "random", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [s["region"] for s in record["train_sequences"]] == ["alps", "alps", "caucasus"]


def test_evaluate_frame_regions_reports_each_region_and_the_spatial_edge_ablation(
        sequence_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["evaluate", str(sequence_folder), "--frame-regions", "--epochs", "20",
                                       "--augmentations", "0", "--weights", "random", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "per-region model (grid 4x4), held out" in result.output and "(the ablation)" in result.output
    regions = json.loads((out / "evaluation.json").read_text())["frame_regions"]
    for variant, edges in (("with", True), ("without", False)):
        part = regions[variant]
        assert part["spatial_edges"] is edges and part["layout"] == "grid 4x4"
        assert [r["region"] for r in part["regions"]][:2] == ["r0c0", "r0c1"] and len(part["regions"]) == 16
        assert [r["n"] for r in part["regions"]] == [12] * 16 and part["pooled"]["n"] == 192  # 4 + 5 + 3 per region
        pooled = part["pooled"]
        best = pooled["best_baseline"]
        assert pooled["skill"] == pytest.approx(1 - pooled["mae"]["model"] / pooled["mae"][best])
        assert pooled["mae"]["persistence"] == pytest.approx(np.mean([r["mae"]["persistence"] for r in
                                                                      part["regions"]]))
    # the baselines need no learning: both variants see the same naive errors
    assert regions["with"]["pooled"]["mae"]["persistence"] == regions["without"]["pooled"]["mae"]["persistence"]
