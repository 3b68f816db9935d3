"""Scene kind: the layout's perspective tells a fixed oblique camera view from a nadir chip, and
the guard, `run`, a station and `history` act on it.

Known answers on imagery whose geometry is constructed: an isotropic texture seen from above has
no perspective; the same texture rendered through a pinhole camera has; turned upside down the
trend reverses; a texture squeezed vertically by one constant factor (anisotropic, but the same at
every height) is not a camera view. Real imagery where it lies: the Columbia camera frames are all
camera views, Landsat corpus and Perito Moreno frames all nadir.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from glacier_edge.cli import main
from glacier_edge.ingest.camera_samples import Camera, Glacier, camera_timelapse
from glacier_edge.ingest.frames import decode_frame, iter_original_frames, read_sequence
from glacier_edge.ingest.layout import (
    CAMERA_PERSPECTIVE,
    kind_note,
    majority_kind,
    perspective,
    scene_kind_of,
)
from glacier_edge.ingest.samples import glacier_timelapse, write_frame_files
from tests.conftest import shared_data

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"
NADIR_KNOWS_CAMERA = ("6 of 6 frames look like a fixed oblique camera view, but this bundle knows nadir satellite "
                      "chips: its melt prediction does not apply there (the persistence answer stands in)")


def cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def isotropic_texture(size: int, seed: int) -> np.ndarray:
    """Grey texture with structure at every scale and no preferred direction, as uint8 RGB. Seen
    obliquely, only structure at least a pixel's ground footprint across is foreshortened rather
    than averaged away, so a texture with one scale would lose its perspective in the distance."""
    rng = np.random.default_rng(seed)
    grey = np.zeros((size, size), np.float32)
    for cell in (2, 4, 8, 16, 32, 64, 128):  # every scale, as natural surfaces have (amplitude ∝ √scale)
        coarse = rng.uniform(0, 255, (size // cell, size // cell)).astype(np.uint8)
        layer = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), np.float32)
        grey += np.sqrt(cell) * layer
    grey = (grey - grey.min()) / (grey.max() - grey.min()) * 255
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)


def camera_view_of(texture: np.ndarray, pitch_deg: float, metres_per_texel: float = 1.0) -> np.ndarray:
    """The texture laid on flat ground and photographed by a pinhole camera (ground only), each
    pixel the mean of 6×6 rays as a lens and sensor integrate a pixel's footprint."""
    camera = Camera(pitch_deg=pitch_deg, vertical_fov_deg=30.0, width=240, height=160)
    sub = 6
    row, column = np.mgrid[0 : camera.height * sub, 0 : camera.width * sub].astype(np.float64)
    x, z, hits = camera.ground_point((column + 0.5) / sub - 0.5, (row + 0.5) / sub - 0.5)
    assert hits.all()  # the horizon is above the frame: ground everywhere
    u = (x / metres_per_texel + texture.shape[1] / 2).astype(int) % texture.shape[1]
    v = (z / metres_per_texel).astype(int) % texture.shape[0]
    view = texture[v, u].astype(np.float64).reshape(camera.height, sub, camera.width, sub, 3).mean(axis=(1, 3))
    return np.rint(view).astype(np.uint8)


def test_isotropic_texture_from_above_has_no_perspective() -> None:
    values = [perspective(isotropic_texture(256, seed)) for seed in range(4)]
    assert max(abs(v) for v in values) < 0.06, values
    assert set(scene_kind_of(values)) == {"nadir"}


def test_the_same_texture_seen_obliquely_has_perspective_and_upside_down_the_opposite() -> None:
    """Ground alone, 20° down over a 30° field (5°–35° below the horizon): the trend is there
    (0.14, three times any nadir texture's) but under the camera threshold, which the far field of
    a real camera view (far ice, fjord, mountains just below the horizon) clears: see
    test_generated_camera_frames_are_camera_views and the Columbia frames."""
    view = camera_view_of(isotropic_texture(1024, 0), pitch_deg=20.0)
    assert 0.10 <= perspective(view) < CAMERA_PERSPECTIVE
    upside_down = np.ascontiguousarray(view[::-1])
    assert perspective(upside_down) == pytest.approx(-perspective(view), abs=0.01)


def test_a_constant_vertical_squeeze_is_anisotropy_not_perspective() -> None:
    """A nadir chip of a valley running east–west is anisotropic everywhere alike: no trend."""
    texture = isotropic_texture(512, 1)
    squeezed = np.asarray(Image.fromarray(texture).resize((512, 128), Image.Resampling.BILINEAR))
    assert abs(perspective(squeezed)) < 0.1
    assert scene_kind_of(perspective(squeezed)) == "nadir"


def test_generated_camera_frames_are_camera_views_and_the_generated_glacier_is_not() -> None:
    lapse = camera_timelapse(3, seed=0)
    assert set(scene_kind_of([perspective(f) for f in lapse.frames])) == {"camera"}
    nadir = glacier_timelapse(4, seed=0)
    assert set(scene_kind_of([perspective(f) for f in nadir.frames])) == {"nadir"}


def test_majority_and_the_one_line_note() -> None:
    assert majority_kind(np.array([0.3, 0.4, 0.0])) == ("camera", 2)
    assert majority_kind(np.array([0.3, 0.0])) == ("nadir", 1)  # a tie counts as nadir
    assert kind_note(np.array([0.0, 0.1]), "nadir") is None
    assert kind_note(np.array([0.0, 0.4]), "camera", "running_mean") == (
        "1 of 2 frames look like a nadir satellite chip view, but this bundle knows fixed oblique cameras: its melt "
        "prediction does not apply there (the running_mean answer stands in)")


def write_camera_inbox(folder: Path, frames: int = 6) -> Path:
    lapse = camera_timelapse(frames, seed=2, shake_px=0.5)
    folder.mkdir(parents=True)
    for frame, day in zip(lapse.frames, lapse.dates):
        Image.fromarray(frame).save(folder / f"cam_{day.isoformat()}.jpg", quality=92)
    return folder


def test_perspective_is_measured_on_the_original_frame_not_the_square_resize(tmp_path: Path) -> None:
    folder = write_camera_inbox(tmp_path / "cam", 2)
    sequence = read_sequence(folder)
    originals = list(iter_original_frames(folder))
    assert sequence.perspective is not None
    assert sequence.perspective.tolist() == [perspective(f) for f in originals]
    station = decode_frame(sorted(folder.iterdir())[0])
    assert station.perspective == sequence.perspective[0]
    assert np.array_equal(station.pixels, sequence.frames[0])


def test_run_refuses_a_camera_sequence_with_a_nadir_bundle_in_one_line(tmp_path: Path) -> None:
    folder = write_camera_inbox(tmp_path / "cam")
    code, output = cli("run", folder, "--model", TINY, "--fail-on-ood")
    assert code == 4, output
    assert output.strip().splitlines()[-1] == f"glacier-edge: another kind of scene: {NADIR_KNOWS_CAMERA}"
    assert f"ANOTHER KIND OF SCENE: {NADIR_KNOWS_CAMERA}" in output
    assert "knows: nadir satellite chips" in output
    code, output = cli("run", folder, "--model", TINY, "--format", "json")
    result = json.loads(output[output.index("{"):output.rindex("}") + 1])
    summary = result["summary"]
    assert summary["bundle_scene_kind"] == "nadir" and summary["seen_scene_kind"] == "camera"
    assert summary["other_kind_frames"] == 6 and summary["ood_window"] is True
    assert {row["scene_kind"] for row in result["frames"]} == {"camera"}
    assert all(row["ood"] for row in result["frames"])
    assert all(row["fallback"] for row in result["frames"][1:])  # every prediction is the naive answer


def test_run_on_nadir_frames_says_nothing_about_kind(sample_gif: Path) -> None:
    code, output = cli("run", sample_gif, "--model", TINY, "--format", "json")
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])["summary"]
    assert summary["other_kind_frames"] == 0 and summary["seen_scene_kind"] == "nadir"


def test_a_camera_bundle_flags_nadir_frames(tmp_path: Path, sample_gif: Path) -> None:
    bundle = Path(shutil.copytree(TINY, tmp_path / "camera_bundle"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["training"]["scene_kind"] = "camera"
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    code, output = cli("run", sample_gif, "--model", bundle, "--fail-on-ood")
    assert code == 4
    assert "frames look like a nadir satellite chip view, but this bundle knows fixed oblique cameras" in output
    assert "knows: fixed oblique cameras" in output


def test_a_station_says_which_kind_it_sees_and_history_repeats_the_kind(tmp_path: Path) -> None:
    inbox = write_camera_inbox(tmp_path / "inbox")
    db = tmp_path / "state" / "station.db"
    db.parent.mkdir()
    code, output = cli("watch", inbox, "--once", "--model", TINY, "--db", db, "--settle", "0")
    assert code == 0, output
    assert f"ANOTHER KIND OF SCENE: {NADIR_KNOWS_CAMERA}" in output.splitlines()[-2]  # the last image's line
    code, output = cli("history", "--db", db, "--format", "json")
    history = json.loads(output)
    assert history["model_scene_kind"] == "nadir"
    assert {row["scene_kind"] for row in history["rows"]} == {"camera"}
    code, output = cli("history", "--db", db)
    assert "model knows: nadir satellite chips" in output and output.count("KIND") >= 6


def test_a_station_on_nadir_images_says_nothing_about_kind(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_frame_files(glacier_timelapse(5, seed=3), inbox)
    db = tmp_path / "station.db"
    code, output = cli("watch", inbox, "--once", "--model", TINY, "--db", db, "--settle", "0")
    assert code == 0 and "ANOTHER KIND" not in output


def test_generated_ice_moves_by_its_known_flow() -> None:
    """The rendered texture shifts between two days by the projected flow (integer-pixel search
    over a patch of the glacier's centre line, no shake)."""
    lapse = camera_timelapse(2, seed=4, glacier=Glacier(speed_m_per_day=20.0))
    flow, ice = lapse.ice_flow_px(0, 1)
    grey = lapse.frames.astype(np.float64).mean(axis=3)
    row, column = 300, 360
    assert ice[row, column]
    expected = flow[row, column]
    patch = grey[0, row - 20 : row + 20, column - 40 : column + 40]
    best, best_shift = -np.inf, None
    for dx in range(-4, 15):
        for dy in range(-3, 4):
            moved = grey[1, row - 20 + dy : row + 20 + dy, column - 40 + dx : column + 40 + dx]
            score = np.corrcoef(patch.ravel(), moved.ravel())[0, 1]
            if score > best:
                best, best_shift = score, (dx, dy)
    assert expected[0] > 3 and abs(expected[1]) < 1e-6
    assert abs(best_shift[0] - expected[0]) <= 1.0 and best_shift[1] == 0


def test_the_pinhole_camera_projects_back_where_its_rays_meet_the_ground() -> None:
    camera = Camera()
    row, column = np.mgrid[300:480:37, 0:720:91].astype(np.float64)
    x, z, hits = camera.ground_point(column, row)
    assert hits.all()
    back_column, back_row = camera.project(x, z)
    assert np.allclose(back_column, column, atol=1e-6) and np.allclose(back_row, row, atol=1e-6)


def test_real_camera_frames_are_camera_views() -> None:
    folder = shared_data("columbia_camera_ak10_2009")
    values = [perspective(frame) for frame in iter_original_frames(folder)]
    assert len(values) == 10 and min(values) >= CAMERA_PERSPECTIVE + 0.05


@pytest.mark.parametrize("relative", ["glacierview_landsat/gv_g007800e45965n", "perito_moreno_s2_2020/frames",
                                      "aletsch_1987_2019"])
def test_real_nadir_frames_are_nadir(relative: str) -> None:
    values = [perspective(frame) for frame in iter_original_frames(shared_data(relative))]
    assert max(values) < CAMERA_PERSPECTIVE - 0.05, values
