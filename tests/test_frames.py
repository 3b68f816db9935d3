from __future__ import annotations

from datetime import date
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import BAD_INPUT_MESSAGES
from PIL import Image

from glacier_edge.errors import BadInputError
from glacier_edge.ingest.frames import FRAME_SIZE, read_sequence, resize_frame, to_rgb8


def test_generated_sample_decodes_to_twelve_frames_with_dates(sample_gif: Path) -> None:
    seq = read_sequence(sample_gif)
    assert seq.frames.shape == (12, 128, 128, 3)
    assert seq.frames.dtype == np.uint8
    assert seq.original_size == (240, 200)
    assert seq.dates[0] == date(1989, 8, 29) and seq.dates[-1] == date(2005, 7, 1)
    assert seq.labels[3] == "glacier-edge-sample-v2.gif#3"


def test_rutor_copernicus_gif_decodes_to_eight_frames_with_dates(rutor_gif: Path, tmp_path: Path) -> None:
    """The real Copernicus export (read where it lies); its dates come from a sidecar we write."""
    gif = tmp_path / "rutor.gif"
    gif.symlink_to(rutor_gif)
    dates = ["2017-07-04", "2018-08-28", "2019-09-12", "2020-08-07", "2022-07-08", "2023-09-26", "2024-09-15",
             "2025-07-09"]
    (tmp_path / "rutor.dates.txt").write_text("\n".join(dates) + "\n")
    seq = read_sequence(gif)
    assert seq.frames.shape == (8, 128, 128, 3)
    assert seq.original_size == (479, 547)
    assert seq.dates[0] == date(2017, 7, 4) and seq.dates[-1] == date(2025, 7, 9)


def test_sample_frames_match_pillow_per_frame_palette_decode(sample_gif: Path) -> None:
    """imageio must apply each frame's own palette: compare with Pillow's own RGB conversion."""
    seq = read_sequence(sample_gif)
    with Image.open(sample_gif) as image:
        for index in (0, 5, 11):
            image.seek(index)
            expected = resize_frame(np.asarray(image.convert("RGB")))
            assert np.array_equal(seq.frames[index], expected)


def test_aletsch_folder_decodes_to_two_frames_dated_from_names(aletsch: Path) -> None:
    seq = read_sequence(aletsch)
    assert seq.frames.shape == (2, 128, 128, 3)
    assert seq.dates == [date(1987, 8, 17), date(2019, 8, 18)]
    assert seq.labels == ["1987-08-17_landsat5.jpg", "2019-08-18_landsat8.jpg"]


def test_several_files_form_one_sequence_in_given_order(scenes: Path) -> None:
    files = sorted(scenes.glob("*.jpg"))[:3]
    seq = read_sequence(list(reversed(files)))
    assert seq.num_frames == 3
    assert seq.labels == [f.name for f in reversed(files)]
    assert seq.dates == [None, None, None]


def test_synthetic_gif_round_trips_exactly(synthetic_gif) -> None:
    path, frames, _ = synthetic_gif
    assert np.array_equal(read_sequence(path).frames, frames)


def test_folder_is_sorted_naturally(tmp_path: Path) -> None:
    for index in (10, 2, 1):
        iio.imwrite(tmp_path / f"frame_{index}.png", np.full((8, 8, 3), index, np.uint8))
    seq = read_sequence(tmp_path)
    assert seq.labels == ["frame_1.png", "frame_2.png", "frame_10.png"]
    assert [int(f[0, 0, 0]) for f in seq.frames] == [1, 2, 10]


def test_dates_sidecar_must_match_frame_count(tmp_path: Path, sample_gif: Path) -> None:
    gif = tmp_path / "seq.gif"
    gif.write_bytes(sample_gif.read_bytes())
    (tmp_path / "seq.dates.txt").write_text("2020-01-01\n2020-02-01\n")
    with pytest.raises(BadInputError, match=r"seq.dates.txt: 2 dates for 12 frames"):
        read_sequence(gif)


def test_to_rgb8_handles_gray_alpha_16bit_and_float() -> None:
    gray = np.array([[0, 255]], np.uint8)
    assert to_rgb8(gray).tolist() == [[[0, 0, 0], [255, 255, 255]]]
    rgba = np.array([[[200, 100, 50, 0], [200, 100, 50, 255]]], np.uint8)
    assert to_rgb8(rgba).tolist() == [[[0, 0, 0], [200, 100, 50]]]
    sixteen = np.array([[0, 65535, 257 * 128]], np.uint16)
    assert to_rgb8(sixteen)[0, :, 0].tolist() == [0, 255, 128]
    floats = np.array([[0.0, 0.5, 1.0]], np.float32)
    assert to_rgb8(floats)[0, :, 0].tolist() == [0, 128, 255]


def test_palette_grayscale_and_odd_sizes_are_resized_to_square(tmp_path: Path) -> None:
    Image.new("P", (333, 97), color=3).save(tmp_path / "a_palette.png")
    Image.new("L", (51, 640), color=200).save(tmp_path / "b_gray.png")
    Image.new("RGBA", (129, 127), color=(10, 20, 30, 255)).save(tmp_path / "c_rgba.png")
    seq = read_sequence(tmp_path)
    assert seq.frames.shape == (3, FRAME_SIZE, FRAME_SIZE, 3)
    assert seq.frames[1].min() == seq.frames[1].max() == 200
    assert seq.frames[2][64, 64].tolist() == [10, 20, 30]


@pytest.mark.parametrize("kind", sorted(BAD_INPUT_MESSAGES))
def test_bad_inputs_raise_one_clear_message(kind: str, bad_inputs: dict[str, Path]) -> None:
    with pytest.raises(BadInputError) as caught:
        read_sequence(bad_inputs[kind])
    assert BAD_INPUT_MESSAGES[kind] in str(caught.value)
    assert "\n" not in str(caught.value)


def test_pixel_limit_refuses_before_decoding(sample_gif: Path) -> None:
    with pytest.raises(BadInputError, match=r"frame of 240×200 = 48,000 pixels exceeds the limit of 40,000"):
        read_sequence(sample_gif, max_pixels=40_000)


def test_animated_file_inside_a_folder_is_refused(tmp_path: Path, sample_gif: Path) -> None:
    (tmp_path / "a.gif").write_bytes(sample_gif.read_bytes())
    iio.imwrite(tmp_path / "b.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(BadInputError, match="a.gif: holds several frames"):
        read_sequence(tmp_path)


def test_real_world_encodings_decode_like_their_rgb_source(tmp_path: Path) -> None:
    """CMYK JPEG, animated WebP/APNG and multi-page TIFF must give the same RGB frames."""
    rng = np.random.default_rng(0)
    sources = [Image.fromarray(rng.integers(0, 255, (90, 120, 3), np.uint8)) for _ in range(3)]
    sources[0].save(tmp_path / "anim.png", save_all=True, append_images=sources[1:], duration=100)
    sources[0].save(tmp_path / "anim.webp", save_all=True, append_images=sources[1:], lossless=True)
    sources[0].save(tmp_path / "multi.tif", save_all=True, append_images=sources[1:])
    reference = read_sequence(tmp_path / "anim.png").frames
    assert reference.shape == (3, 128, 128, 3)
    for name in ("anim.webp", "multi.tif"):
        assert np.array_equal(read_sequence(tmp_path / name).frames, reference)
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(np.full((40, 40, 3), (200, 120, 40), np.uint8)).convert("CMYK").save(cmyk, quality=100)
    frame = read_sequence([cmyk, cmyk]).frames[0]
    assert np.abs(frame[20, 20].astype(int) - [200, 120, 40]).max() <= 3


def test_optimised_gif_with_partial_frames_and_transparency(tmp_path: Path, sample_gif: Path) -> None:
    """Pillow's optimiser writes later frames as transparent sub-rectangles; decoding must rebuild them."""
    with Image.open(sample_gif) as image:
        frames = []
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(image.convert("RGB"))
    path = tmp_path / "optimised.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], optimize=True, disposal=1, transparency=0)
    decoded = read_sequence(path).frames
    original = read_sequence(sample_gif).frames
    assert decoded.shape == original.shape
    assert np.abs(decoded.astype(int) - original).mean() < 3


def test_decompression_bomb_png_is_refused_by_our_limit(tmp_path: Path) -> None:
    """A 400-megapixel PNG compresses to a few hundred KB; refuse it from its header alone."""
    bomb = tmp_path / "bomb.png"
    Image.new("L", (20000, 20000)).save(bomb, optimize=True)
    with pytest.raises(BadInputError, match=r"frame of 20000×20000 = 400,000,000 pixels exceeds the limit"):
        read_sequence([bomb, bomb])
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's global guard is restored afterwards
