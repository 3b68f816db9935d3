"""Surface motion against truth the tests construct: textures shifted by known sub-pixel amounts
(in Fourier space, so the shift is exact), frames shaken and rotated by known amounts, the
generated camera glacier whose flow is projected through its own camera, and a cloud that must
come out as "no valid match". Then real Sentinel-2 scenes of Perito Moreno where they lie.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glacier_edge.ingest.camera_samples import camera_timelapse
from glacier_edge.ingest.resample import bilinear
from glacier_edge.ingest.synthetic import fourier_shift
from glacier_edge.ingest.synthetic import multiscale_texture as texture
from glacier_edge.motion.correlate import _gaussian_offset, correlation_surfaces, match_windows
from glacier_edge.motion.field import displacement_field, grid_centres
from glacier_edge.motion.register import Registration, register
from tests.conftest import shared_data

SHIFTS = [(0.1, 0.0), (0.0, -0.25), (0.5, 0.5), (-1.3, 2.7), (3.05, -7.45), (-9.9, 0.6), (12.25, -14.6), (15.0, 0.35)]


@pytest.fixture(params=["opencv", "numpy"])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "opencv":
        pytest.importorskip("cv2", reason="OpenCV (the 'motion' extra) is not installed")
    return request.param


@pytest.mark.parametrize("method", ["oc", "zncc"])
def test_known_subpixel_shifts_without_noise(method: str, engine: str) -> None:
    image = texture(256, 256, 0)
    errors = []
    for dy, dx in SHIFTS:
        matches = match_windows(image, fourier_shift(image, dy, dx), np.array([[128, 128], [100, 150]]), 64, 20,
                                method, engine)
        errors += list(matches.dy - dy) + list(matches.dx - dx)
        assert not matches.on_edge.any()
    assert np.sqrt(np.mean(np.square(errors))) <= 0.05


@pytest.mark.parametrize("method", ["oc", "zncc"])
def test_known_subpixel_shifts_with_noise_and_an_illumination_change(method: str, engine: str) -> None:
    """Gain 0.7, offset +0.2, a brightness ramp across the frame and 2 % Gaussian noise."""
    rng = np.random.default_rng(1)
    image = texture(256, 256, 2)
    ramp = np.linspace(0, 0.15, 256)[None, :]
    errors = []
    for dy, dx in SHIFTS:
        moved = 0.7 * fourier_shift(image, dy, dx) + 0.2 + ramp + rng.normal(0, 0.02, image.shape)
        noisy = image + rng.normal(0, 0.02, image.shape)
        matches = match_windows(noisy, moved, np.array([[128, 128], [100, 150], [150, 100]]), 64, 20, method, engine)
        errors += list(matches.dy - dy) + list(matches.dx - dx)
    assert np.sqrt(np.mean(np.square(errors))) <= 0.2


def test_the_gaussian_peak_fit_finds_a_sampled_gaussian_exactly() -> None:
    for offset in (-0.45, -0.1, 0.0, 0.3):
        samples = np.exp(-((np.array([-1.0, 0.0, 1.0]) - offset) ** 2) / 2.0)
        assert _gaussian_offset(*(np.array([v]) for v in samples))[0] == pytest.approx(offset, abs=1e-9)


@pytest.mark.parametrize("method", ["oc", "zncc"])
def test_opencv_and_numpy_engines_give_the_same_surfaces(method: str) -> None:
    pytest.importorskip("cv2", reason="OpenCV (the 'motion' extra) is not installed")
    image = texture(200, 200, 7)
    moved = fourier_shift(image, 2.3, -4.6)
    centres = np.array([[100, 100], [70, 130], [130, 70]])
    fast = correlation_surfaces(image, moved, centres, 48, 12, method, "opencv")
    plain = correlation_surfaces(image, moved, centres, 48, 12, method, "numpy")
    assert np.abs(fast - plain).max() <= 1e-4
    a = match_windows(image, moved, centres, 48, 12, method, "opencv")
    b = match_windows(image, moved, centres, 48, 12, method, "numpy")
    assert np.abs(a.dx - b.dx).max() <= 1e-3 and np.abs(a.dy - b.dy).max() <= 1e-3


def shaken(reference: np.ndarray, truth: Registration) -> np.ndarray:
    """The frame a camera turned by ``truth`` would record: content at reference pixel r lies at
    ``truth``'s image of r (built by sampling the reference through the inverse transform)."""
    rows, cols = np.mgrid[0 : reference.shape[0], 0 : reference.shape[1]].astype(np.float64)
    inverse_angle = -np.radians(truth.rotation_deg)
    centre_r, centre_c = (reference.shape[0] - 1) / 2, (reference.shape[1] - 1) / 2
    y, x = rows - centre_r - truth.dy, cols - centre_c - truth.dx
    a, b = np.cos(inverse_angle), np.sin(inverse_angle)
    return bilinear(reference, centre_r + b * x + a * y, centre_c + a * x - b * y)


def test_camera_shake_up_to_20_px_and_half_a_degree_is_recovered_to_a_tenth_of_a_pixel() -> None:
    rng = np.random.default_rng(5)
    reference = texture(480, 720, 4)
    rows, cols = np.mgrid[40:440:40, 40:680:40].astype(np.float64)
    errors = []
    for _ in range(8):
        truth = Registration(rng.uniform(-20, 20), rng.uniform(-20, 20), rng.uniform(-0.5, 0.5), 1.0, 0, 0, 0.0, True)
        found = register(reference, shaken(reference, truth), None)
        assert found.ok, found.reason
        got_r, got_c = found.source_coordinates(rows, cols, reference.shape)
        true_r, true_c = truth.source_coordinates(rows, cols, reference.shape)
        errors.append(np.mean((got_r - true_r) ** 2 + (got_c - true_c) ** 2))
    assert np.sqrt(np.mean(errors)) <= 0.1


def test_a_frame_without_stable_texture_is_not_registered() -> None:
    reference = texture(240, 360, 6)
    blank = np.full_like(reference, 0.8) + np.random.default_rng(0).normal(0, 0.003, reference.shape).astype(np.float32)
    found = register(reference, blank, None)
    assert not found.ok and "stable-ground windows matched" in found.reason


def test_generated_glacier_flow_is_measured_against_its_projected_truth() -> None:
    lapse = camera_timelapse(2, seed=4)
    grey = lapse.frames.astype(np.float32).mean(axis=3) / 255
    flow, ice = lapse.ice_flow_px(0, 1)
    field = displacement_field(grey[0], grey[1], ice, template=32, spacing=16, radius=12)
    truth = flow[field.rows, field.cols]
    error = np.hypot(field.dx - truth[:, 0], field.dy - truth[:, 1])[field.valid]
    assert np.median(error) <= 0.2
    assert np.median(np.hypot(truth[:, 0], truth[:, 1])) > 2.0  # the ice really moves
    # windows whose template lies wholly on ice (the margins mix moving ice and still rock)
    inner = grid_centres(ice.shape, ice, 32, 12, 16)
    whole = np.array([(r, c) in {tuple(p) for p in inner} and ice[r - 16:r + 16, c - 16:c + 16].all()
                      for r, c in zip(field.rows, field.cols)])
    assert field.valid[whole].mean() >= 0.9


def test_a_cloud_is_no_valid_match_never_a_speed() -> None:
    lapse = camera_timelapse(2, seed=4)
    grey = lapse.frames.astype(np.float32).mean(axis=3) / 255
    _, ice = lapse.ice_flow_px(0, 1)
    rows, cols = np.mgrid[0 : grey.shape[1], 0 : grey.shape[2]]
    cloud = np.clip(1.5 * np.exp(-(((rows - 320) / 80.0) ** 2 + ((cols - 360) / 150.0) ** 2)), 0, 1)
    billows = 0.9 + 0.05 * texture(*grey.shape[1:], seed=9)  # the cloud's own soft texture
    sensor = np.random.default_rng(3).normal(0, 0.005, cloud.shape)
    clouded = grey[1] * (1 - cloud) + billows * cloud + sensor  # opaque at its core
    field = displacement_field(grey[0], clouded.astype(np.float32), ice, template=32, spacing=16, radius=12)
    under = np.array([cloud[r - 16:r + 16, c - 16:c + 16].min() >= 1.0  # templates wholly in the opaque core
                      for r, c in zip(field.rows, field.cols)])
    assert under.sum() >= 10 and not field.valid[under].any()
    assert np.isnan(field.dx[under]).all()
    # the clear ice around it is still measured (away from the field's border rows, where the
    # median test meets a strong shear with neighbours on one side only, as it does without a cloud)
    interior = (field.rows > field.rows.min() + 16) & (field.rows < field.rows.max() - 16)
    clear = interior & np.array([cloud[r - 16:r + 16, c - 16:c + 16].max() < 0.01
                                 and ice[r - 16:r + 16, c - 16:c + 16].all() for r, c in zip(field.rows, field.cols)])
    assert clear.sum() >= 10 and field.valid[clear].mean() >= 0.9


def test_perito_moreno_clear_15_day_pairs_move_as_published() -> None:
    """Sentinel-2, 10 m: the lower trunk's median speed lies in the published 1–2.5 m/day."""
    from glacier_edge.motion.imagery import read_mask, read_motion_sequence

    folder = shared_data("perito_moreno_s2_2020")
    names = ["2020-01-21_s2.jpg", "2020-02-05_s2.jpg", "2020-02-20_s2.jpg"]
    sequence = read_motion_sequence([folder / "frames" / name for name in names])
    glacier = read_mask(folder / "glacier_mask.jpg", sequence, "--glacier-mask")
    frames = [sequence.frames[0]]
    for frame in sequence.frames[1:]:
        registration = register(sequence.frames[0], frame, ~glacier)
        assert registration.ok and abs(registration.dx) < 0.5 and abs(registration.dy) < 0.5
        frames.append(registration.apply(frame))
    for first, second in ((0, 1), (1, 2)):
        field = displacement_field(frames[first], frames[second], glacier)
        speed = field.magnitude[field.valid] / 15 * 10.0
        assert field.valid_share > 0.6
        assert 1.0 <= np.median(speed) <= 2.5


def test_columbia_camera_mountains_stay_and_the_ice_moves_about_13_px_a_day(tmp_path) -> None:
    """The real camera station: rough masks drawn by fractions of the frame (mountains in the top
    17 %, an ice window in the middle), four mornings. The data's README measured ~13 px/day
    in a 1000×1500-px ice window and mountains within 1 px."""
    from glacier_edge.motion.imagery import read_mask, read_motion_sequence
    from glacier_edge.motion.pipeline import MotionOptions, measure_motion

    folder = shared_data("columbia_camera_ak10_2009")
    files = sorted(folder.iterdir())[:4]
    width, height = 3872, 2592
    stable = np.zeros((height, width), np.uint8)
    stable[: int(0.17 * height)] = 255
    glacier = np.zeros((height, width), np.uint8)
    glacier[int(0.35 * height) : int(0.85 * height), int(0.08 * width) : int(0.72 * width)] = 255
    Image.fromarray(stable).save(tmp_path / "stable.png")
    Image.fromarray(glacier).save(tmp_path / "glacier.png")
    sequence = read_motion_sequence(files)
    assert sequence.scale < 1  # 3872 px measured at 2048
    result = measure_motion(sequence, read_mask(tmp_path / "glacier.png", sequence, "--glacier-mask"),
                            read_mask(tmp_path / "stable.png", sequence, "--stable-mask"), MotionOptions())
    for registration in result.registrations[1:]:
        assert registration.ok and abs(registration.dx) < 1 and abs(registration.dy) < 1
    assert len(result.pairs) == 3
    for pair in result.pairs:
        assert pair.days == 1 and pair.valid_share >= 0.9
        assert 10 <= pair.median_speed <= 18  # px/day of the original frame
