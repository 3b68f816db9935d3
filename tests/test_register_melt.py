"""The co-registered melt (`train --register`): a camera shaken by up to ±20 px and 0.5° gives the
melt of the same camera held still, per frame and per region; a frame that cannot be registered is
kept as taken and named; `run` and a station over the same images give the same numbers."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from glacier_edge.cli import main
from glacier_edge.errors import BadInputError
from glacier_edge.ingest.camera_samples import camera_timelapse
from glacier_edge.ingest.frames import read_sequence, resize_frame
from glacier_edge.motion.aligned import StableGround, border_band, read_registered_sequence, warp
from glacier_edge.motion.register import Registration
from glacier_edge.signals.frame_regions import grid_layout, measured_region_melt
from glacier_edge.signals.melt import measured_melt

FRAMES = 8
SHAKE_PX = 20.0
SHAKE_DEG = 0.5


def shaken_camera(folder: Path, *, seed: int = 5, shake_px: float = SHAKE_PX) -> tuple[Path, np.ndarray, Path]:
    """The generated camera held still, and the same frames each moved by a known similarity (up to
    ±20 px per axis and ±0.5°; frame 0 as taken), written as dated PNGs. Returns the shaken folder,
    the still frames (T, H, W, 3) and a stable-ground mask (white on rock)."""
    still = camera_timelapse(FRAMES, seed=1)
    _, ice = still.ice_flow_px(0, 1)
    rng = np.random.default_rng(seed)
    frames = folder / "frames"
    frames.mkdir(parents=True)
    for index, frame in enumerate(still.frames):
        dx, dy = rng.uniform(-shake_px, shake_px, 2) if index else (0.0, 0.0)
        angle = rng.uniform(-SHAKE_DEG, SHAKE_DEG) if index else 0.0
        moved = warp(frame, Registration(dx, dy, angle, 1.0, 0, 0, 0.0, True), 1.0)
        day = date(2021, 8, 1) + timedelta(days=index)
        Image.fromarray(moved).save(frames / f"cam_{day.isoformat()}.png")
    stable = folder / "stable.png"
    Image.fromarray(np.where(ice, 0, 255).astype(np.uint8)).save(stable)
    return frames, np.stack(still.frames), stable


@pytest.fixture(scope="module")
def shaken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, Path]:
    return shaken_camera(tmp_path_factory.mktemp("shaken"))


def still_melt(still: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return measured_melt(np.stack([resize_frame(f) for f in still]), mask)


def test_shake_of_20_px_and_half_a_degree_leaves_the_still_cameras_melt(shaken) -> None:
    frames, still, stable = shaken
    registered = read_registered_sequence(frames, StableGround(stable_mask=stable))
    sequence = registered.sequence
    assert [r.ok for r in registered.registrations] == [True] * FRAMES and registered.unregistered == []
    border = border_band((720, 480))
    assert sequence.border is not None and np.array_equal(sequence.border, border)
    truth = still_melt(still, border)
    aligned = measured_melt(sequence.frames, sequence.border)
    as_taken = measured_melt(read_sequence(frames).frames, border)
    assert np.abs(aligned - truth).max() <= 1e-3  # measured 5e-4: the resampling alone
    assert np.median(np.abs(as_taken - truth)[1:]) >= 0.02  # the shake itself reads as change
    # the model frames themselves lie on the still camera's grid, inside the band
    inside = ~border
    difference = np.abs(sequence.frames.astype(np.int16) - np.stack([resize_frame(f) for f in still]))
    assert difference[:, inside].mean() <= 1.0


def test_region_melt_after_registration_is_the_still_cameras(shaken) -> None:
    """Issue 21: each region's melt, after co-registration (the grid's 16 cells)."""
    frames, still, stable = shaken
    sequence = read_registered_sequence(frames, StableGround(stable_mask=stable)).sequence
    labels = grid_layout().labels
    truth = measured_region_melt(np.stack([resize_frame(f) for f in still]), labels, sequence.border, "absolute")
    aligned = measured_region_melt(sequence.frames, labels, sequence.border, "absolute")
    as_taken = measured_region_melt(read_sequence(frames).frames, labels, sequence.border, "absolute")
    covered = ~np.isnan(truth[1:])
    assert np.nanmax(np.abs(aligned - truth)) <= 3e-3
    assert np.median(np.abs(as_taken - truth)[1:][covered]) >= 0.02


def test_a_frame_without_stable_texture_is_kept_as_taken_and_named(tmp_path: Path) -> None:
    frames, still, stable = shaken_camera(tmp_path)
    files = sorted(frames.iterdir())
    cloud = np.asarray(Image.open(files[3])).copy()
    cloud[:] = 235  # a cloud over the whole view: nothing to match
    cloud[0, 0] = 0  # not uniform, or the frame would be refused as unreadable texture
    Image.fromarray(cloud).save(files[3])
    registered = read_registered_sequence(frames, StableGround(stable_mask=stable))
    assert [r.ok for r in registered.registrations] == [True, True, True, False, True, True, True, True]
    (label, reason), = registered.unregistered
    assert label == files[3].name and reason == "only 0 of 39 stable-ground windows matched (cloud, snow or no texture)"
    assert np.array_equal(registered.sequence.frames[3], resize_frame(cloud))


def test_a_move_beyond_the_border_band_is_refused() -> None:
    """The band holds what a registered frame may not cover (26 px per axis at 720 × 480): a frame
    found to move a corner farther is kept as taken, with why; one within it is registered."""
    from glacier_edge.motion.aligned import FrameAligner

    still = camera_timelapse(2, seed=1)
    _, ice = still.ice_flow_px(0, 1)
    found = []
    for dx, angle in ((-21.0, 1.0), (-20.0, 1.5)):  # corners move 24.5 and 26.5 px along the rows
        aligner = FrameAligner(StableGround())
        aligner._stable, aligner._stable_read = ~ice, True  # the mask as an array, not a file
        aligner(0, still.frames[0])
        aligner(1, warp(still.frames[1], Registration(dx, 0.0, angle, 1.0, 0, 0, 0.0, True), 1.0))
        found.append(aligner.registrations[1])
    assert found[0].ok and found[0].dx == pytest.approx(21.0, abs=0.1)
    assert not found[1].ok
    assert found[1].reason == "a corner moved 26.5 px, beyond the 26 px the co-registered melt covers"


def test_border_band_follows_the_frame_and_the_search() -> None:
    # a 223-px Landsat chip: search 6 + 2 px → ceil(8 / 223 · 128) + 1 = 6 model pixels each side
    chip = border_band((223, 223))
    assert chip[6:122, 6:122].sum() == 0 and chip[5].all() and chip[:, 122].all()
    # 1731 × 1231 px: 26 px → ceil(2.70) + 1 = 4 rows and ceil(1.92) + 1 = 3 columns each side
    perito = border_band((1731, 1231))
    assert not perito[4:124, 3:125].any() and perito[3, 64] and perito[124, 64] and perito[64, 2] and perito[64, 125]


def test_frames_of_two_sizes_are_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(folder / "a_2020-01-01.png")
    Image.fromarray(rng.integers(0, 255, (300, 420, 3), dtype=np.uint8)).save(folder / "b_2020-01-02.png")
    with pytest.raises(BadInputError, match=r"^a frame is 420×300 px, the reference 400×300: --register needs every "
                                            r"frame on one camera or grid$"):
        read_registered_sequence(folder, StableGround())


def test_a_mask_without_register_is_refused_in_one_line(shaken, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
    frames, _, stable = shaken
    result = CliRunner().invoke(main, ["train", str(frames), "--stable-mask", str(stable), "--out",
                                       str(tmp_path / "run")])
    assert result.exit_code == 2
    assert result.output.strip() == ("glacier-edge: error: --stable-mask says where to co-register frames: add "
                                     "--register (without it the frames are used as taken and the mask would be "
                                     "ignored)")
    assert not (tmp_path / "run").exists()


def run_json(frames: Path, bundle: Path, stable: Path, out: Path) -> dict:
    """`glacier-edge run FRAMES --stable-mask STABLE --format json` with the bundle: the result."""
    result = CliRunner().invoke(main, ["run", str(frames), "--model", str(bundle), "--stable-mask", str(stable),
                                       "--format", "json", "--output", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def registered_bundle(shaken, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle trained with --register on the shaken camera (no image encoder: fast)."""
    pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
    frames, _, stable = shaken
    root = tmp_path_factory.mktemp("registered")
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(frames), "--register", "--stable-mask", str(stable), "--backbone",
                                  "none", "--epochs", "20", "--augmentations", "0", "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    assert f"registered {FRAMES} of {FRAMES} frames of {frames} (stable ground from --stable-mask {stable})" in \
        result.output
    record = json.loads((root / "run" / "run.json").read_text())
    assert record["config"]["register"] is True and record["config"]["stable_mask"] == str(stable)
    result = runner.invoke(main, ["export", str(root / "run"), "--out", str(root / "bundle")])
    assert result.exit_code == 0, result.output
    return root / "bundle"


def test_run_aligns_as_the_bundle_was_trained_and_a_station_gives_the_same(registered_bundle: Path, shaken,
                                                                           tmp_path: Path) -> None:
    frames, still, stable = shaken
    runner = CliRunner()
    ran = run_json(frames, registered_bundle, stable, tmp_path / "run.json")
    summary = ran["summary"]["registered_melt"]
    assert summary["registered"] == FRAMES and summary["unregistered"] == []
    assert summary["stable_ground"] == f"stable ground from --stable-mask {stable}"
    truth = still_melt(still, border_band((720, 480)))
    measured = np.array([row["measured_melt"] or 0.0 for row in ran["frames"]])
    assert np.abs(measured - truth).max() <= 1e-3
    table = runner.invoke(main, ["run", str(frames), "--model", str(registered_bundle), "--stable-mask", str(stable)])
    assert f"co-registered (the bundle was trained so): {FRAMES} of {FRAMES} frames aligned to the first" in \
        table.output
    # a station over the same files, stopped after four and restarted: the same melt and predictions
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    files = sorted(frames.iterdir())
    db = tmp_path / "station.db"
    for part in (files[:4], files[4:]):
        for path in part:
            shutil.copy(path, inbox / path.name)
        result = runner.invoke(main, ["watch", str(inbox), "--once", "--model", str(registered_bundle), "--db",
                                      str(db), "--settle", "0", "--window", str(FRAMES), "--stable-mask", str(stable)])
        assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as connection:
        melts = [row[0] for row in connection.execute("SELECT measured_melt FROM images ORDER BY id")]
        registered = connection.execute("SELECT registered, shift_x FROM melt_registration ORDER BY image_id"
                                        ).fetchall()
        reference = connection.execute("SELECT image_id FROM melt_reference").fetchall()
        last = connection.execute("SELECT value FROM predictions ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert reference == [(1,)] and [r[0] for r in registered] == [1] * FRAMES
    assert melts[0] is None and melts[1:] == pytest.approx(measured[1:].tolist(), abs=1e-6)
    assert last == pytest.approx(ran["frames"][-1]["predicted_melt"], abs=1e-5)


def test_superpixels_are_drawn_on_the_reference_and_keep_their_place(shaken) -> None:
    """Issue 21: superpixels of the co-registered reference frame cover the same ground in every frame."""
    pytest.importorskip("skimage", reason="the 'regions' extra (scikit-image) is not installed")
    from glacier_edge.signals.frame_regions import slic_layout

    frames, still, stable = shaken
    sequence = read_registered_sequence(frames, StableGround(stable_mask=stable)).sequence
    layout = slic_layout(sequence.frames[0], 12)
    truth = measured_region_melt(np.stack([resize_frame(f) for f in still]), layout.labels, sequence.border,
                                 "absolute")
    aligned = measured_region_melt(sequence.frames, layout.labels, sequence.border, "absolute")
    assert np.nanmax(np.abs(aligned - truth)) <= 3e-3


@pytest.mark.slow
def test_a_per_region_bundle_trained_with_register_measures_regions_on_aligned_frames(shaken, tmp_path: Path) -> None:
    """`train --frame-regions --register` then `run --superpixels`: the superpixels are drawn on the
    co-registered reference and every region's measured melt is the still camera's."""
    pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
    pytest.importorskip("skimage", reason="the 'regions' extra (scikit-image) is not installed")
    from glacier_edge.signals.frame_regions import slic_layout

    frames, still, stable = shaken
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(frames), "--register", "--stable-mask", str(stable), "--frame-regions",
                                  "--backbone", "resnet18", "--weights", "random", "--epochs", "5",
                                  "--augmentations", "0", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "bundle")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run.json"
    result = runner.invoke(main, ["run", str(frames), "--model", str(tmp_path / "bundle"), "--stable-mask",
                                  str(stable), "--superpixels", "12", "--format", "json", "--output", str(out)])
    assert result.exit_code == 0, result.output
    ran = json.loads(out.read_text())
    assert ran["summary"]["registered_melt"]["registered"] == FRAMES
    sequence = read_registered_sequence(frames, StableGround(stable_mask=stable)).sequence
    layout = slic_layout(sequence.frames[0], 12)
    truth = measured_region_melt(np.stack([resize_frame(f) for f in still]), layout.labels, sequence.border,
                                 "absolute")
    measured = np.array([[np.nan if v["measured"] is None else v["measured"] for v in row["regions"]]
                         for row in ran["frames"][1:]])
    assert measured.shape == truth[1:].shape
    assert np.nanmax(np.abs(measured - truth[1:])) <= 3e-3


def test_a_mask_of_the_wrong_size_is_one_line_and_nothing_is_written(shaken, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
    frames, _, _ = shaken
    small = tmp_path / "small.png"
    Image.fromarray(np.full((100, 150), 255, np.uint8)).save(small)
    result = CliRunner().invoke(main, ["train", str(frames), "--register", "--stable-mask", str(small), "--out",
                                       str(tmp_path / "run")])
    assert result.exit_code == 2
    assert result.output.strip() == (f"glacier-edge: error: --stable-mask {small}: mask is 150×100 px, "
                                     "the frames 720×480")
    assert not (tmp_path / "run").exists()


def overcast(path: Path) -> None:
    """A cloud over the whole view: grey with a little noise (not uniform, but no window has texture)."""
    shape = np.asarray(Image.open(path)).shape
    noise = np.random.default_rng(0).normal(235, 1.5, shape)
    Image.fromarray(np.clip(np.rint(noise), 0, 255).astype(np.uint8)).save(path)


def test_a_clouded_first_frame_does_not_become_the_reference(tmp_path: Path) -> None:
    """The reference is the first frame whose stable ground has texture: a clouded first frame is
    kept as taken (and named), the next one is the reference, and the rest register to it (shake
    ±10 px, so any two frames are within the ±24 px search)."""
    frames, still, stable = shaken_camera(tmp_path, shake_px=10.0)
    files = sorted(frames.iterdir())
    overcast(files[0])
    registered = read_registered_sequence(frames, StableGround(stable_mask=stable))
    assert [r.ok for r in registered.registrations] == [False] + [True] * (FRAMES - 1)
    (label, reason), = registered.unregistered
    assert label == files[0].name and reason == ("not the reference: its stable ground holds 0 textured windows "
                                                 "of 64 px (need 8); the next frame with texture will be")


def test_a_station_whose_first_image_is_clouded_takes_the_next_as_reference(registered_bundle: Path,
                                                                            tmp_path: Path) -> None:
    frames, _, stable = shaken_camera(tmp_path / "cam", shake_px=10.0)
    files = sorted(frames.iterdir())
    overcast(files[0])
    runner = CliRunner()
    ran = run_json(frames, registered_bundle, stable, tmp_path / "run.json")
    assert [f["index"] for f in ran["summary"]["registered_melt"]["unregistered"]] == [0]
    db = tmp_path / "station.db"
    result = runner.invoke(main, ["watch", str(frames), "--once", "--model", str(registered_bundle), "--db", str(db),
                                  "--settle", "0", "--window", str(FRAMES), "--stable-mask", str(stable)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as connection:
        reference = connection.execute("SELECT image_id FROM melt_reference").fetchall()
        first = connection.execute("SELECT registered, reason FROM melt_registration WHERE image_id = 1").fetchone()
        melts = [row[0] for row in connection.execute("SELECT measured_melt FROM images ORDER BY id")]
    assert reference == [(2,)] and first[0] == 0 and first[1].startswith("not the reference")
    measured = [row["measured_melt"] for row in ran["frames"]]
    assert melts[1:] == pytest.approx(measured[1:], abs=1e-6)
