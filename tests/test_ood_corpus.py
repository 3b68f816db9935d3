"""The OOD guard's goals on real imagery: held-out corpus sequences flagged on ≤ 5 % of frames,
band-permuted (false-colour) versions of them on ≥ 90 %, with the library's own calibration
(grouped held-out folds, then the window rule). The embedding is the tiny bundle's 8-number
encoder, so this checks the colour side of the detector and its calibration without torch or
ResNet50. Radar-like speckle is left to the real encoder: its grey frames look like snow to the
colour statistics (17 % flagged here) and only the embedding's texture tells them apart (100 %
with ResNet50 in `benchmarks/trust.py`, which measures all of it with the trained bundle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from conftest import shared_data

from glacier_edge.ingest.frames import expand_sequences, read_sequence
from glacier_edge.signals.ood import (
    WINDOW_MAJORITY,
    calibrate_ood,
    colour_features,
    fit_summary,
    ood_terms,
    scores_from_terms,
    window_is_ood,
)

TINY_ENCODER = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle" / "encoder.onnx"


def test_false_colour_and_radar_flagged_held_out_optical_not() -> None:
    corpus = shared_data("glacierview_landsat")
    session = ort.InferenceSession(str(TINY_ENCODER), providers=["CPUExecutionProvider"])
    sequences = [read_sequence(path).frames for path in expand_sequences([corpus])]
    assert len(sequences) == 35

    def features(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return session.run(None, {"frames": frames})[0], colour_features(frames)

    order = np.random.default_rng(0).permutation(len(sequences))
    train, test = order[:28], order[28:]

    def summary_of(indices) -> object:
        parts = [features(sequences[i]) for i in indices]
        return fit_summary(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    heldout_terms = []
    for held in np.array_split(train, 3):  # grouped calibration folds, as `train` does
        summary = summary_of([i for i in train if i not in held])
        heldout_terms += [ood_terms(summary, *features(sequences[i])) for i in held]
    calibration = calibrate_ood(heldout_terms)
    assert calibration.heldout_flag_rate == pytest.approx(0.01, abs=0.002)
    assert calibration.heldout_max_window_share < WINDOW_MAJORITY
    summary = summary_of(train)

    def flagged_share(variant) -> float:
        flags = []
        for i in test:
            scores = scores_from_terms(ood_terms(summary, *features(variant(sequences[i], i))), calibration.term_scale)
            own = scores > calibration.threshold
            flags.append(own | window_is_ood(own))
        return float(np.concatenate(flags).mean())

    assert flagged_share(lambda frames, _: frames) <= 0.05
    assert flagged_share(lambda frames, _: np.ascontiguousarray(frames[..., [2, 0, 1]])) >= 0.9
    assert flagged_share(lambda frames, _: np.ascontiguousarray(frames[..., [1, 2, 0]])) >= 0.9
