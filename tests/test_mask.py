from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import train_and_export

from glacier_edge.edge.bundle import load_bundle
from glacier_edge.errors import BadInputError
from glacier_edge.ingest.frames import read_sequence
from glacier_edge.signals.mask import mask_from_record, mask_record, parse_mask_specs, rectangles_to_mask
from glacier_edge.signals.melt import measured_melt


def test_rectangle_fractions_map_onto_the_128_grid() -> None:
    mask = rectangles_to_mask([(0.0, 0.0, 0.25, 0.5)])
    assert mask.sum() == 32 * 64
    assert mask[63, 31] and not mask[64, 31] and not mask[63, 32]


def test_copernicus_preset_and_bad_specs() -> None:
    assert len(parse_mask_specs(["copernicus"])) == 3
    with pytest.raises(BadInputError, match="expected x0,y0,x1,y1"):
        parse_mask_specs(["top-left"])
    with pytest.raises(BadInputError, match="need 0 ≤ x0 < x1 ≤ 1"):
        parse_mask_specs(["0.5,0,0.2,1"])
    with pytest.raises(BadInputError, match="covers the whole frame"):
        rectangles_to_mask(parse_mask_specs(["0,0,1,1"]))


def test_record_round_trips_the_exact_bitmap() -> None:
    record = mask_record(["copernicus", "0.4,0.4,0.5,0.6"])
    mask = mask_from_record(record)
    assert np.array_equal(mask, rectangles_to_mask(parse_mask_specs(["copernicus", "0.4,0.4,0.5,0.6"])))
    assert record is not None and record.excluded_pixels == int(mask.sum())
    assert mask_from_record(None) is None


def test_masked_melt_ignores_changes_inside_the_mask() -> None:
    frames = np.zeros((3, 128, 128, 3), np.uint8)
    frames[1, :10, :10] = 255            # an overlay that changes: inside the mask
    frames[2, 100:, 100:] = 51           # real change outside: 28·28·3 values by 51
    frames[2, :10, :10] = 255
    mask = rectangles_to_mask([(0, 0, 10 / 128, 10 / 128)])
    melt = measured_melt(frames, mask)
    assert melt[1] == 0.0
    assert melt[2] == pytest.approx(28 * 28 * 3 * 51 / ((128 * 128 - 100) * 3) / 255, rel=1e-6)
    assert measured_melt(frames)[1] > 0


@pytest.mark.slow
def test_mask_travels_from_train_to_bundle_to_run(tmp_path: Path, sample_gif: Path) -> None:
    pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
    from click.testing import CliRunner

    from glacier_edge.cli import main

    bundle, manifest = train_and_export(tmp_path, "--mask", "copernicus", "--epochs", "20")
    assert manifest["melt_mask"]["specs"] == ["copernicus"]
    stored = load_bundle(bundle).manifest.melt_mask
    result = CliRunner().invoke(main, ["run", str(sample_gif), "--model", str(bundle), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[: result.output.rindex("}") + 1])
    expected = measured_melt(read_sequence(sample_gif).frames, mask_from_record(stored))
    assert [row["measured_melt"] for row in data["frames"][1:]] == pytest.approx(expected[1:].tolist(), abs=1e-7)
    assert data["model"]["mask_excluded_pixels"] == manifest["melt_mask"]["excluded_pixels"]


def test_auto_mask_finds_an_opaque_label_whose_text_changes(tmp_path: Path) -> None:
    """Changing terrain, plus an opaque grey label box (top right) with different text each frame."""
    import imageio.v3 as iio

    from glacier_edge.signals.mask import detect_overlays

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 160, 200, 3), np.uint8)
    frames[:, 0:20, 150:200] = (60, 60, 60)
    for index, frame in enumerate(frames):
        frame[5:15, 155 + 5 * index:160 + 5 * index] = 255  # the "date" text moves every frame
    path = tmp_path / "labelled.gif"
    iio.imwrite(path, frames, extension=".gif", duration=100)
    mask = detect_overlays([path], 10**8, echo=lambda message: None)
    label = np.zeros_like(mask)
    label[0:16, 96:128] = True
    assert mask[label].mean() >= 0.9
    assert mask[~label].mean() <= 0.01
    record = mask_record(["auto"], mask)
    assert record is not None and record.auto_pixels == int(mask.sum()) == record.excluded_pixels


def test_auto_mask_finds_nothing_in_translucent_copernicus_overlays(rutor_gif: Path) -> None:
    """Measured fact behind the 'copernicus' preset: those overlays are translucent and dithered."""
    from glacier_edge.signals.mask import detect_overlays

    assert detect_overlays([rutor_gif], 10**8, echo=lambda message: None).sum() == 0


def test_auto_mask_finds_the_generated_samples_date_label(sample_gif: Path) -> None:
    """The sample's label box is opaque: auto finds it in the lower-left corner and nothing else."""
    from glacier_edge.signals.mask import detect_overlays

    mask = detect_overlays([sample_gif], 10**8, echo=lambda message: None)
    rows, cols = np.nonzero(mask)
    assert mask.sum() > 20
    assert rows.min() >= 100 and cols.max() <= 50
