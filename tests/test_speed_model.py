"""The learnt next speed (glacier_edge/motion/speed_model.py) on series whose truth is constructed,
and `glacier-edge speed-model` / `motion --speed-model` end to end on generated camera stations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from glacier_edge.cli import main
from glacier_edge.contracts import SpeedModelRecord
from glacier_edge.errors import BadInputError
from glacier_edge.motion.imagery import read_mask, read_motion_sequence, read_regions
from glacier_edge.motion.pipeline import MotionOptions, measure_motion
from glacier_edge.motion.speed_corpus import folder_series, result_series
from glacier_edge.motion.speed_model import (
    FEATURES,
    SpeedSeries,
    fit_speed_model,
    model_answer,
    train_speed_model,
)

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"


def cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def constructed(group: str, scale: float, seed: int, pull: float, count: int = 8,
                length: int = 30) -> list[SpeedSeries]:
    """Log speeds that step y ← y + pull·(level − y) + ε (ε ~ N(0, 0.15)), a pair every 5 days,
    in the unit ``scale`` (1 px/day, 10 m/day, 0.1 …): pull 0 is a random walk (persistence is
    the best answer), pull 0.6 a speed drawn back to its level (the mean is worth learning)."""
    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        level = rng.normal(0.0, 0.3)
        logs = [level + rng.normal(0.0, 0.3)]
        for _ in range(length - 1):
            logs.append(logs[-1] + pull * (level - logs[-1]) + rng.normal(0.0, 0.15))
        out.append(SpeedSeries(group, f"series {index}", 5.0 * np.arange(length), scale * np.exp(logs),
                               scale * 1e-3))
    return out


def test_a_pull_toward_the_level_is_learnt_held_out_in_every_unit() -> None:
    series = (constructed("px/day camera", 1.0, 0, 0.6) + constructed("m/day satellite", 10.0, 1, 0.6)
              + constructed("slow", 0.1, 2, 0.6))
    model = train_speed_model(series)
    assert model.gain >= 0.5
    assert model.weights[FEATURES.index("to_mean")] > 0.3  # it learnt the pull back to the level
    assert [s.group for s in model.held_out] == ["m/day satellite", "px/day camera", "slow"]
    for score in model.held_out:  # each glacier scored by a model fitted on the other two
        assert score.skill > 0.05 and 0.8 <= score.coverage <= 1.0 and score.refused <= 0.05
        assert score.skill > max(score.trend_skill, score.mean_skill)  # better than either naive answer


def test_a_random_walk_keeps_persistence_exactly() -> None:
    series = constructed("a", 1.0, 3, 0.0) + constructed("b", 10.0, 4, 0.0) + constructed("c", 0.1, 5, 0.0)
    model = train_speed_model(series)
    assert model.gain == 0.0  # no correction helps every held-out glacier: the anchor is served
    assert all(score.skill == pytest.approx(0.0, abs=1e-12) for score in model.held_out)
    recent = [(0.0, 2.0), (5.0, 2.6), (10.0, 1.9)]
    assert model_answer(model, recent, 2.3, 15.0, 0.001).value == pytest.approx(1.9, abs=1e-12)


FABRICATED = SpeedModelRecord(FEATURES, (0.0, 0.0, 1.0, 0.0), 1.0, 0.2, (0.0, 0.0, 0.0, 0.0),
                              (0.1, 0.1, 0.1, 0.1), 3.0, ("fabricated for tests",), 1, 1)
"""A locally fabricated model, not fitted: it answers the running mean (weight 1 on ln(mean/last))
while |feature| ≤ 0.3, and persistence beyond."""


def test_the_model_answers_within_its_range_and_refuses_beyond() -> None:
    answer = model_answer(FABRICATED, [(0.0, 1.0), (1.0, 1.0), (2.0, 1.2)], 1.1, 3.0, 1e-6)
    assert answer.refused == "" and answer.value == pytest.approx(1.1, rel=1e-5)
    assert answer.low == pytest.approx(1.1 * math.exp(-0.2), rel=1e-5)
    assert answer.high == pytest.approx(1.1 * math.exp(0.2), rel=1e-5)
    jump = model_answer(FABRICATED, [(0.0, 1.0), (1.0, 1.0), (2.0, 10.0)], 4.0, 3.0, 1e-6)
    assert jump.refused == "out of range" and jump.value == pytest.approx(10.0, rel=1e-6)
    short = model_answer(FABRICATED, [(0.0, 1.0), (1.0, 3.0)], 2.0, 2.0, 1e-6)
    assert short.refused == "history" and short.value == pytest.approx(3.0, rel=1e-6)


def test_one_glacier_cannot_calibrate_a_model() -> None:
    with pytest.raises(BadInputError) as error:
        fit_speed_model(constructed("only", 1.0, 0, 0.6))
    assert str(error.value) == ("a speed model is calibrated on glaciers it was not fitted on: give the motion of at "
                                "least two glaciers with 4 or more speeds each (got 1)")


@pytest.fixture(scope="module")
def stations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three generated camera stations (three seeds) and their `motion --out` folders."""
    root = tmp_path_factory.mktemp("speed_model")
    for seed in range(3):
        cam = root / f"cam{seed}"
        code, output = cli("sample", cam, "--camera", "--frames", 10, "--seed", seed)
        assert code == 0, output
        code, output = cli("motion", cam / "frames", "--glacier-mask", cam / "glacier.png", "--stable-mask",
                           cam / "stable.png", "--regions-mask", cam / "regions.png", "--template", 32,
                           "--spacing", 16, "--out", root / f"motion{seed}")
        assert code == 0, output
    return root


def test_a_motion_folder_gives_the_series_measured_in_memory(stations: Path) -> None:
    cam = stations / "cam0"
    sequence = read_motion_sequence(cam / "frames")
    result = measure_motion(sequence, read_mask(cam / "glacier.png", sequence, "--glacier-mask"),
                            read_mask(cam / "stable.png", sequence, "--stable-mask"),
                            MotionOptions(template=32, spacing=16), read_regions(cam / "regions.png", sequence))
    from_folder = {s.name: s for s in folder_series(stations / "motion0")}
    in_memory = {s.name: s for s in result_series(result, "motion0")}
    assert set(from_folder) == set(in_memory) and {"glacier", "serac"} <= set(in_memory)
    assert len(in_memory) > 5  # blocks of the field besides the glacier and the serac
    for name, one in in_memory.items():
        assert from_folder[name].group == "motion0"
        np.testing.assert_allclose(from_folder[name].times, one.times)
        np.testing.assert_allclose(from_folder[name].speeds, one.speeds, rtol=1e-5)
        assert from_folder[name].floor == pytest.approx(one.floor)


def test_speed_model_command_trains_scores_and_serves(stations: Path, tmp_path: Path) -> None:
    folders = [stations / f"motion{seed}" for seed in range(3)]
    code, output = cli("speed-model", *folders, "--out", tmp_path / "speed.json")
    assert code == 0, output
    assert "held out" in output and all(f"motion{seed}" in output for seed in range(3))
    model = SpeedModelRecord.read(tmp_path / "speed.json")
    assert model.trained_on == ("motion0", "motion1", "motion2") and len(model.held_out) == 3
    assert 0.0 <= model.gain <= 1.0 and model.halfwidth > 0
    cam = stations / "cam0"
    code, output = cli("motion", cam / "frames", "--glacier-mask", cam / "glacier.png", "--stable-mask",
                       cam / "stable.png", "--template", 32, "--spacing", 16, "--speed-model",
                       tmp_path / "speed.json", "--out", tmp_path / "served")
    assert code == 0, output
    assert "; speed model" in output
    record = json.loads((tmp_path / "served" / "motion.json").read_text())
    assert record["schema_version"] == 2
    assert record["speed_forecasts"][0]["model"] == "speed model"
    code, output = cli("run", cam / "frames", "--model", TINY, "--glacier-mask", cam / "glacier.png", "--stable-mask",
                       cam / "stable.png", "--speed-model", tmp_path / "speed.json", "--format", "json")
    assert code == 0, output
    served = json.loads(output[output.index("{"):output.rindex("}") + 1])["summary"]["motion"]["speed_forecasts"]
    assert served[0]["model"] == "speed model"


def test_speed_model_bad_input_is_one_line(stations: Path, tmp_path: Path) -> None:
    code, output = cli("speed-model", stations / "motion0", "--out", tmp_path / "speed.json")
    assert code == 2 and output.strip().splitlines()[-1] == (
        "glacier-edge: error: a speed model is calibrated on glaciers it was not fitted on: give the motion of at "
        "least two glaciers with 4 or more speeds each (got 1)")
    code, output = cli("speed-model", stations / "cam0", stations / "motion1", "--out", tmp_path / "speed.json")
    assert code == 2 and output.strip().splitlines()[-1] == (
        f"glacier-edge: error: {stations / 'cam0'}: no motion.json here; give folders written by "
        "`glacier-edge motion --out`")
    assert not (tmp_path / "speed.json").exists()
    (tmp_path / "other.json").write_text(json.dumps({"schema": "glacier-edge/motion"}))
    cam = stations / "cam0"
    code, output = cli("motion", cam / "frames", "--glacier-mask", cam / "glacier.png", "--speed-model",
                       tmp_path / "other.json", "--out", tmp_path / "never")
    assert code == 2 and output.strip().splitlines()[-1] == (
        f"glacier-edge: error: {tmp_path / 'other.json'}: not a glacier-edge speed model (glacier-edge/speed-model)")
    assert not (tmp_path / "never").exists()
    (tmp_path / "older.json").write_text(json.dumps(dict(json.loads(FABRICATED.dumps()), features=["a", "b"])))
    code, output = cli("motion", cam / "frames", "--glacier-mask", cam / "glacier.png", "--speed-model",
                       tmp_path / "older.json", "--out", tmp_path / "never")
    assert code == 2 and output.strip().splitlines()[-1] == (
        f"glacier-edge: error: {tmp_path / 'older.json'}: a speed model on inputs a, b; this glacier-edge computes "
        "last_change, previous_change, to_mean, to_recent_median: train it again with `glacier-edge speed-model`")
