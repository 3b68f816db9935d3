"""Out-of-distribution score: ~1 on the training imagery, large for another sensor; the ONNX graph
computes the numpy definition; a run falls back to the naive answer where a frame is OOD."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from glacier_edge.cli import main
from glacier_edge.ingest.samples import glacier_timelapse, write_timelapse
from glacier_edge.signals.ood import (
    COLOUR_FEATURES,
    colour_features,
    fit_summary,
    ood_scores,
    ood_terms,
    scores_from_terms,
    term_scale_from,
    threshold_from,
    window_is_ood,
)

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"


def test_training_frames_score_about_one_and_outliers_high() -> None:
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(5, 40))
    train = rng.normal(size=(400, 5)) @ basis + 0.05 * rng.normal(size=(400, 40))
    colours = rng.normal(0.5, 0.05, (400, 6))
    summary = fit_summary(train, colours, components=5)
    assert np.mean(ood_terms(summary, train, colours), axis=0) == pytest.approx([1.0, 1.0], abs=0.05)
    held = rng.normal(size=(200, 5)) @ basis + 0.05 * rng.normal(size=(200, 40))
    held_colours = rng.normal(0.5, 0.05, (200, 6))
    held_terms = ood_terms(summary, held, held_colours)
    summary = dataclasses.replace(summary, term_scale=term_scale_from(held_terms))
    assert np.quantile(held_terms / summary.term_scale, 0.99, axis=0) == pytest.approx([1.0, 1.0], rel=1e-5)
    threshold = threshold_from(ood_scores(summary, held, held_colours))
    assert np.array_equal(ood_scores(summary, held, held_colours), scores_from_terms(held_terms, summary.term_scale))
    assert np.mean(ood_scores(summary, held, held_colours) > threshold) <= 0.011
    other_sensor = rng.normal(size=(50, 40))  # off the training subspace
    assert np.all(ood_scores(summary, other_sensor, held_colours[:50]) > threshold)
    swapped = held_colours[:50, [2, 1, 0, 5, 4, 3]] + np.array([0.3, 0, -0.3, 0, 0, 0])  # another band order
    assert np.all(ood_scores(summary, held[:50], swapped) > threshold)


def test_onnx_score_equals_numpy(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx", reason="building ood.onnx needs the onnx package (train extra)")
    import onnxruntime as ort

    from glacier_edge.export.ood_export import export_ood

    rng = np.random.default_rng(3)
    summary = fit_summary(rng.normal(size=(100, 32)) * np.linspace(0.1, 3, 32), rng.uniform(0, 1, (100, 6)),
                          components=6)
    summary = dataclasses.replace(summary, term_scale=np.array([2.0, 3.0], np.float32))
    export_ood(summary, tmp_path / "ood.onnx", 18)
    onnx.checker.check_model(str(tmp_path / "ood.onnx"), full_check=True)
    probe = rng.normal(size=(17, 32)).astype(np.float32) * 2
    probe[:8] = rng.normal(size=(8, 32)) * np.linspace(0.1, 3, 32)  # training-like embeddings ...
    colours = rng.uniform(0, 1, (17, 6)).astype(np.float32)
    colours[:8] += 2.0  # ... with colours unlike training
    session = ort.InferenceSession(str(tmp_path / "ood.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"embeddings": probe, "colour": colours})[0]
    assert np.allclose(got, ood_scores(summary, probe, colours), rtol=1e-4, atol=1e-4)
    winners = np.argmax(ood_terms(summary, probe, colours) / summary.term_scale, axis=1)
    assert len(set(winners.tolist())) >= 2  # the max really picks between terms here


def test_colour_features_carry_band_order_not_brightness() -> None:
    """Known values on flat frames: a band permutation moves the grey offsets, brightness does not."""
    frame = np.empty((1, 4, 4, 3), np.uint8)
    frame[...] = (204, 102, 51)
    features = colour_features(frame)[0]
    assert features.shape == (len(COLOUR_FEATURES),)
    grey = (204 + 102 + 51) / 3 / 255
    expected = [0.8, 0.4, 0.2, 0, 0, 0, 0.8 - grey, 0.2 - grey, abs(0.8 - grey), abs(0.4 - grey), abs(0.2 - grey)]
    assert features == pytest.approx(expected, abs=1e-6)
    swapped = colour_features(frame[..., [2, 0, 1]])[0]
    assert swapped[6:8] == pytest.approx([0.2 - grey, 0.4 - grey], abs=1e-6)
    white = colour_features(np.full((1, 4, 4, 3), 240, np.uint8))[0]
    assert white[6:] == pytest.approx([0.0] * 5, abs=1e-6)  # grey: no band order to see


def test_window_majority_rule() -> None:
    assert window_is_ood(np.array([True, True, False, False]), 0.5)
    assert not window_is_ood(np.array([True, False, False]), 0.5)
    assert not window_is_ood(np.array([True, True, True]), None)
    assert not window_is_ood(np.array([], bool), 0.5)


def run_with_noise_from(first_noise: int, path: Path) -> tuple[dict, str]:
    """`run --fail-on-ood --format json` on 8 generated frames, noise from ``first_noise`` on: exit 4."""
    sample = glacier_timelapse(8, seed=21)
    frames = sample.frames.copy()
    frames[first_noise:] = np.random.default_rng(0).integers(0, 256, frames[first_noise:].shape, np.uint8)
    write_timelapse(dataclasses.replace(sample, frames=frames), path)
    result = CliRunner().invoke(main, ["run", str(path), "--model", str(TINY), "--format", "json",
                                       "--fail-on-ood"])
    assert result.exit_code == 4, result.output
    return json.loads(result.output[: result.output.rindex("}") + 1]), result.output


def test_ood_frames_fall_back_to_persistence_and_fail_on_ood(tmp_path: Path) -> None:
    """Noise frames inside a generated sequence: flagged, the model is not used there (exit 4)."""
    data, output = run_with_noise_from(5, tmp_path / "mixed.gif")
    rows = data["frames"]
    assert [row["ood"] for row in rows] == [False] * 5 + [True] * 3
    assert data["summary"]["ood_frames"] == 3 and data["summary"]["fallback"] == "persistence"
    for row in rows[5:]:  # nowcast node t: persistence = melt_{t-1}; fallback interval ± 0.03
        assert row["fallback"] and row["predicted_melt"] == pytest.approx(rows[row["index"] - 1]["measured_melt"])
        assert row["interval_high"] - row["predicted_melt"] == pytest.approx(0.03)
    assert not any(row["fallback"] for row in rows[:5])
    assert "frame(s) out of distribution" in output


def test_mostly_ood_sequence_is_ood_as_a_whole(tmp_path: Path) -> None:
    """5 of 8 frames noise: at the bundle's majority (50 %) every frame falls back, the clean ones too."""
    path = tmp_path / "mostly.gif"
    data, output = run_with_noise_from(3, path)
    summary = data["summary"]
    assert summary["ood_frames"] == 5 and summary["ood_window"] and summary["ood_window_majority"] == 0.5
    assert [row["ood"] for row in data["frames"]] == [True] * 8
    assert [row["fallback"] for row in data["frames"]] == [False] + [True] * 7  # frame 0 has no prediction
    assert "most of the sequence" in output
    table = CliRunner().invoke(main, ["run", str(path), "--model", str(TINY)])
    assert "OUT OF DISTRIBUTION AS A WHOLE: 5 of 8 frames" in table.output


def test_unexpected_change_is_an_alert(tmp_path: Path) -> None:
    """The tiny model predicts ~0.04 ± 0.02 on the sample, whose measured melt is 0.08–0.19."""
    path = write_timelapse(glacier_timelapse(6, seed=0), tmp_path / "s.gif")
    result = CliRunner().invoke(main, ["run", str(path), "--model", str(TINY), "--fail-on-alert"])
    assert result.exit_code == 3
    assert result.output.count("UNEXPECTED") >= 5
    assert "alert(s): above the threshold, unexpected change or motion" in result.output


def test_a_bundle_with_the_older_colour_features_is_refused_in_one_line(tmp_path: Path, sample_gif: Path) -> None:
    """Bundles exported before the 11 colour features fed 6 to ood.onnx: say so, do not crash."""
    import shutil

    bundle = Path(shutil.copytree(TINY, tmp_path / "old"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["models"]["ood"]["inputs"][1]["shape"] = ["N", 6]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(main, ["run", str(sample_gif), "--model", str(bundle)])
    assert result.exit_code == 2
    assert (f"{bundle}: its ood.onnx reads 6 colour features, this glacier-edge computes {len(COLOUR_FEATURES)}; "
            "export the bundle again with this version") in result.output
    assert "Traceback" not in result.output
