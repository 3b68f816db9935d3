from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BAD_INPUT_MESSAGES

from glacier_edge.cli import main

pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")


@pytest.mark.slow
def test_train_writes_model_plot_and_metrics(tmp_path: Path, aletsch: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "--out", str(out), "--epochs", "60", "--weights", "random",
                                       "--val", str(aletsch)])
    assert result.exit_code == 0, result.output
    assert "encoder: ResNet50 random init (seed 0) — NOT PRETRAINED" in result.output
    assert "epoch   50  train MSE" in result.output
    assert "val   aletsch_1987_2019: MAE" in result.output
    assert {p.name for p in out.iterdir()} == {"model.pt", "run.json", "melt.png", "embedding_summary.npz"}
    info = json.loads((out / "run.json").read_text())
    assert info["encoder"]["pretrained"] is False
    assert info["train_sequences"][0]["frames"] == 12 and len(info["train_sequences"]) == 6
    assert info["calibration"]["folds"] == 3 and 0.0 <= info["calibration"]["gain"] <= 1.0
    assert info["config"] == {"epochs": 60, "lr": 0.003, "seed": 0, "weights": "random", "backbone": "resnet50",
                              "weights_file": None, "image_size": 128, "augmentations": 4,
                              "normalization": "absolute", "arch": "sage", "task": "nowcast",
                              "final_activation": "identity", "metadata": False, "mask_specs": [],
                              "max_pixels": 50_000_000, "history": True, "residual": True, "calibration_folds": 3,
                              "folds": 5, "batch_graphs": 8, "weight_decay": 0.0, "calibration_groups": "region",
                              "residual_scale": "absolute", "refuse_outside_range": True, "gain_rule": "pooled",
                              "scene_kind": "auto", "frame_regions": False, "spatial_edges": None,
                              "image_inputs": "auto", "temporal_graph": "causal", "register": False,
                              "glacier_mask": None, "stable_mask": None}
    assert info["calibration"]["image_inputs"] in (True, False) and len(info["calibration"]["image_skill"]) == 2
    assert info["scene_kind"] == "nadir"  # derived from the frames: the generated glaciers are seen from above
    assert "scene kind: nadir satellite chip (shown by most training frames; declare it with --scene-kind)" in \
        result.output
    assert (out / "melt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kind", sorted(BAD_INPUT_MESSAGES))
def test_train_bad_input_exits_2_with_one_line_and_writes_nothing(kind: str, bad_inputs, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(bad_inputs[kind]), "--out", str(out)])
    assert result.exit_code == 2
    assert BAD_INPUT_MESSAGES[kind] in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_refusing_outside_the_range_needs_the_residual_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "--refuse-outside-range", "--no-residual", "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.strip().endswith("--refuse-outside-range serves the last measured melt, which only the "
                                          "residual model builds on: drop --no-residual/--no-history, or the option")
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("choice", ["on", "off"])
def test_image_inputs_need_an_image_embedding(tmp_path: Path, choice: str) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "--image-inputs", choice, "--backbone", "none", "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.strip().endswith(f"--image-inputs {choice}: --backbone none has no image embedding to "
                                          "read or leave out: drop one of the two")
    assert "Traceback" not in result.output
    assert not out.exists()


def test_frames_command_writes_seed_style_jpegs(tmp_path: Path, sample_gif: Path) -> None:
    out = tmp_path / "frames"
    result = CliRunner().invoke(main, ["frames", str(sample_gif), str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{i:03d}.jpg" for i in range(12)]


def test_pixel_limit_is_configurable_from_the_cli(tmp_path: Path, sample_gif: Path) -> None:
    result = CliRunner().invoke(main, ["frames", str(sample_gif), str(tmp_path / "f"), "--max-pixels", "1000"])
    assert result.exit_code == 2
    assert "exceeds the limit of 1,000 (raise it with --max-pixels)" in result.output
    assert not (tmp_path / "f").exists()


def test_imagenet_weights_unavailable_names_the_way_out(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    import dataclasses

    from glacier_edge.training.backbones import BACKBONES

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setitem(BACKBONES, "resnet50", dataclasses.replace(BACKBONES["resnet50"], build=offline))
    result = CliRunner().invoke(main, ["train", "--weights", "imagenet", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "use --weights random (not pretrained)" in result.output
    assert str(tmp_path / "torch-home" / "hub" / "checkpoints" / "resnet50-0676ba61.pth") in result.output
