"""Sequence ingest: an animated GIF, a folder of images or several image files → uint8 frames.

Every path in the project (training, export calibration, the edge runner) reads frames through
:func:`read_sequence`, so the decode, colour conversion and the one resize are identical
everywhere; parity between training and the edge is impossible otherwise.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from glacier_edge.errors import BadInputError
from glacier_edge.ingest.layout import perspective
from glacier_edge.ingest.naming import (  # noqa: F401  (re-exported: where callers have always found them)
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    date_from_name,
    read_dates_sidecar,
    sidecar_path,
)

FRAME_SIZE = 128
"""Frames are square FRAME_SIZE × FRAME_SIZE RGB, as in the seed design."""

MAX_FRAMES = 4096
"""Refuse longer sequences: 4096 frames are 200 MB at 128×128 and ~25 s of encoder on 2 cores."""

MIN_FRAMES = 2
"""Melt is a difference between consecutive frames, so a sequence needs at least two."""

RESAMPLING = Image.Resampling.BILINEAR
"""Pillow's bilinear filter widens its support when downscaling, i.e. it antialiases."""

_CONVERT_TO_RGB_MODES = frozenset({"CMYK", "YCbCr", "LAB", "HSV"})
"""Colour spaces whose channels are not RGB(A): Pillow converts them; numpy cannot tell them apart."""



@dataclass(frozen=True)
class FrameSequence:
    """A decoded sequence: frames in order plus what is known of each frame."""

    frames: np.ndarray
    """uint8 array (T, FRAME_SIZE, FRAME_SIZE, 3), RGB."""
    labels: list[str]
    """One label per frame: the file name, or ``name.gif#i`` for frames of one file."""
    dates: list[date | None]
    """Acquisition date per frame when a sidecar or the file names give one, else None."""
    source: str
    """What was read, for reports."""
    original_size: tuple[int, int]
    """(width, height) of the first frame before resizing."""
    covariates: dict[str, list[float]] = field(default_factory=dict)
    """Numeric per-frame columns of a CSV dates sidecar (temperature, precipitation, ...)."""
    perspective: np.ndarray | None = None
    """float64 (T,): :func:`glacier_edge.ingest.layout.perspective` of each frame at its original
    size (the scene-kind guard); None where the sequence was built from resized frames."""
    border: np.ndarray | None = None
    """bool (FRAME_SIZE, FRAME_SIZE): pixels left out of melt because the frames were co-registered
    and a moved frame may not cover them (:func:`glacier_edge.motion.aligned.border_band`); None
    for frames as taken."""

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def perspectives(self) -> np.ndarray:
        """Per frame perspective: measured at decode, else (frames only) on the resized frames."""
        if self.perspective is not None:
            return np.asarray(self.perspective, dtype=np.float64)
        return np.array([perspective(frame) for frame in self.frames], dtype=np.float64)


def resize_frame(rgb: np.ndarray) -> np.ndarray:
    """Resize one (H, W, 3) uint8 frame to (FRAME_SIZE, FRAME_SIZE, 3): the project's only resize."""
    if rgb.shape[:2] == (FRAME_SIZE, FRAME_SIZE):
        return np.ascontiguousarray(rgb)
    image = Image.fromarray(rgb, mode="RGB")
    return np.asarray(image.resize((FRAME_SIZE, FRAME_SIZE), RESAMPLING), dtype=np.uint8)


def to_rgb8(array: np.ndarray) -> np.ndarray:
    """Convert any decoded image array (gray, gray+alpha, RGBA, 16-bit, float) to uint8 RGB.

    Alpha is composited over black so transparent pixels are deterministic; 16-bit and float
    images (GeoTIFF-style exports) are scaled to 8 bits rather than clipped.
    """
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = (array.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif array.dtype != np.uint8:
        values = array.astype(np.float32)
        top = float(np.nanmax(values)) if values.size else 1.0
        scale = 255.0 if top <= 1.0 else 255.0 / top
        array = np.clip(np.nan_to_num(values) * scale, 0, 255).round().astype(np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise BadInputError(f"unsupported image array shape {array.shape}")
    channels = array.shape[2]
    if channels in (2, 4):
        colour, alpha = array[:, :, :-1].astype(np.uint16), array[:, :, -1:].astype(np.uint16)
        array = ((colour * alpha + 127) // 255).astype(np.uint8)
        channels -= 1
    if channels == 1:
        array = np.repeat(array, 3, axis=2)
    elif channels != 3:
        raise BadInputError(f"unsupported number of colour channels: {channels}")
    return np.ascontiguousarray(array)


def _check_readable_file(path: Path) -> None:
    if not path.exists():
        raise BadInputError(f"{path}: no such file or directory")
    if not path.is_file():
        raise BadInputError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise BadInputError(f"{path}: file is empty (0 bytes)")
    with open(path, "rb") as handle:
        head = handle.read(6)
        if head[:4] == b"GIF8":
            handle.seek(-1, 2)
            if handle.read(1) != b";":
                raise BadInputError(
                    f"{path}: truncated GIF (no end-of-file trailer after {size} bytes); "
                    "re-export or re-download it"
                )


@contextmanager
def _pillow_pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Set Pillow's own bomb guard for a block: off (None) while only the header is read, since
    our check follows with a clearer message, then at --max-pixels (Pillow refuses at twice its
    limit) for every later frame or page, so a user who raised our limit is not overruled."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _iter_decoded(path: Path, max_pixels: int) -> Iterator[np.ndarray]:
    """Yield the frames of one image file as uint8 RGB at their original size."""
    _check_readable_file(path)
    try:
        with _pillow_pixel_limit(None), Image.open(path) as header:  # the header only: size and mode
            width, height = header.size
            mode = "RGB" if header.mode in _CONVERT_TO_RGB_MODES else None
        if width * height > max_pixels:
            raise BadInputError(
                f"{path}: frame of {width}×{height} = {width * height:,} pixels exceeds "
                f"the limit of {max_pixels:,} (raise it with --max-pixels)"
            )
        import imageio.v3 as iio  # here, not at the top: ~50 ms a station's idle start does not need

        with _pillow_pixel_limit(max_pixels):
            with iio.imopen(path, "r", plugin="pillow") as image_file:
                for frame in image_file.iter(mode=mode):
                    yield to_rgb8(frame)
    except BadInputError:
        raise
    except Image.DecompressionBombError as exc:
        raise BadInputError(f"{path}: refused as a decompression bomb ({exc})") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "cannot identify image file" in reason or "can not handle the given uri" in reason:
            reason = "not an image file Pillow can read"
        raise BadInputError(f"{path}: cannot decode image ({reason})") from exc


def _natural_key(path: Path) -> list[object]:
    """Sort 'frame_2' before 'frame_10', as a person numbering files means."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_folder_images(folder: Path) -> list[Path]:
    """Image files of a folder in natural name order (hidden files and sidecars ignored)."""
    images = [
        entry
        for entry in folder.iterdir()
        if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not images:
        raise BadInputError(
            f"{folder}: directory holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return sorted(images, key=_natural_key)


def _sequence_dates(sources: list[Path], labels: list[str],
                    num_frames: int) -> tuple[list[date | None], dict[str, list[float]]]:
    if len(sources) == 1:
        sidecar = sidecar_path(sources[0])
        if sidecar.is_file():
            dates, covariates = read_dates_sidecar(sidecar, num_frames)
            return list(dates), covariates
    if len(labels) == num_frames:
        from_names = [date_from_name(label) for label in labels]
        if all(from_names):
            return from_names, {}
    return [None] * num_frames, {}


@dataclass(frozen=True)
class SequenceFiles:
    """What a sequence argument names: the image files in order, and how to read them."""

    sources: list[Path]
    """As given (one folder, one multi-frame file, or several image files)."""
    files: list[Path]
    one_frame_each: bool
    """A folder or a file list (each file one frame), else one multi-frame file (a GIF)."""

    @property
    def source(self) -> str:
        """What was read, for reports."""
        sources = self.sources
        return str(sources[0]) if len(sources) == 1 else f"{len(sources)} files from {sources[0].parent}"

    def dates(self, count: int) -> tuple[list[date | None], dict[str, list[float]]]:
        """Per frame date (sidecar or file names) and numeric sidecar columns."""
        return _sequence_dates(self.sources, [f.name for f in self.files] if self.one_frame_each else [], count)


def sequence_files(paths: str | Path | Sequence[str | Path]) -> SequenceFiles:
    """Resolve a sequence argument to its files (natural name order in a folder)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    sources = [Path(p) for p in paths]
    if not sources:
        raise BadInputError("no input sequence given")
    if len(sources) == 1 and sources[0].is_dir():
        return SequenceFiles(sources, list_folder_images(sources[0]), True)
    if len(sources) == 1:
        return SequenceFiles(sources, sources, False)
    for source in sources:
        if source.is_dir():
            raise BadInputError(f"{source}: give one folder, or image files, not both")
    return SequenceFiles(sources, sources, True)


def iter_sequence(files: SequenceFiles, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[tuple[str, np.ndarray]]:
    """(label, uint8 RGB frame at its original size) of every frame, in order, one at a time; one
    :class:`BadInputError` line for a multi-frame file in a folder, too many frames or a file
    that holds none."""
    count = 0
    for file in files.files:
        count_before = count
        for index, decoded in enumerate(_iter_decoded(file, max_pixels)):
            if files.one_frame_each and index > 0:
                raise BadInputError(
                    f"{file}: holds several frames; in a folder or file list each image must be one frame"
                )
            count += 1
            if count > MAX_FRAMES:
                raise BadInputError(f"{file}: more than {MAX_FRAMES} frames; split the sequence")
            yield (file.name if files.one_frame_each else f"{file.name}#{index}"), decoded
        if count == count_before:
            raise BadInputError(f"{file}: no frames could be decoded")


FrameAlign = Callable[[int, np.ndarray], np.ndarray]
"""(index, uint8 RGB frame at its original size) → the frame to resize in its place: the hook the
co-registered melt uses (:mod:`glacier_edge.motion.aligned`) to put every frame on the first one's grid."""


def read_sequence(
    paths: str | Path | Sequence[str | Path], *, max_pixels: int = DEFAULT_MAX_PIXELS,
    align: FrameAlign | None = None,
) -> FrameSequence:
    """Read one sequence: a multi-frame image file, a folder of images, or several image files.

    Frames keep their order (file order for a folder, natural name sort); each is converted to
    RGB, passed through ``align`` when given, and resized once with :func:`resize_frame`. The
    layout (perspective) is measured on the frame as decoded. Raises :class:`BadInputError`
    with one readable line for anything a user could have got wrong.
    """
    files = sequence_files(paths)
    frames: list[np.ndarray] = []
    perspectives: list[float] = []
    labels: list[str] = []
    original_size: tuple[int, int] | None = None
    for label, decoded in iter_sequence(files, max_pixels):
        if original_size is None:
            original_size = (int(decoded.shape[1]), int(decoded.shape[0]))
        frames.append(resize_frame(align(len(frames), decoded) if align is not None else decoded))
        perspectives.append(perspective(decoded))
        labels.append(label)
    source = files.source
    if len(frames) < MIN_FRAMES:
        raise BadInputError(
            f"{source}: {len(frames)} frame found; melt needs at least {MIN_FRAMES} frames"
        )
    stacked = np.stack(frames)
    dates, covariates = files.dates(len(frames))
    assert original_size is not None
    return FrameSequence(stacked, labels, dates, source, original_size, covariates,
                         np.asarray(perspectives, dtype=np.float64))


def iter_original_frames(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[np.ndarray]:
    """A sequence's frames at their original resolution (no resize), for overlay detection.

    Only files whose frames share one size are meaningful here; a folder is read file by file.
    """
    files = list_folder_images(path) if path.is_dir() else [path]
    for file in files:
        yield from _iter_decoded(file, max_pixels)


def expand_sequences(paths: Sequence[Path]) -> list[Path]:
    """A single folder holding sequences (GIFs or sub-folders) instead of frames is expanded."""
    if len(paths) == 1 and paths[0].is_dir():
        entries = sorted(p for p in paths[0].iterdir() if not p.name.startswith("."))
        has_frames = any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES - {".gif"} for p in entries)
        children = [p for p in entries if p.is_dir() or p.suffix.lower() == ".gif"]
        if children and not has_frames:
            return children
    return list(paths)


@dataclass(frozen=True)
class StationFrame:
    """One image as a station takes it: the resized frame and its layout at the original size."""

    pixels: np.ndarray
    """uint8 (FRAME_SIZE, FRAME_SIZE, 3)."""
    perspective: float
    original: np.ndarray | None = field(default=None, compare=False, repr=False)
    """uint8 (H, W, 3) as decoded: what surface motion measures at its own resolution."""


def read_frame(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One single-frame image file → uint8 (FRAME_SIZE, FRAME_SIZE, 3), decoded and resized as
    :func:`read_sequence` does (a station takes images one at a time)."""
    return decode_frame(path, max_pixels=max_pixels).pixels


def decode_frame(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> StationFrame:
    """:func:`read_frame` and the frame's perspective, measured before the resize."""
    frames = []
    for decoded in _iter_decoded(Path(path), max_pixels):
        frames.append(decoded)
        if len(frames) > 1:
            raise BadInputError(f"{path}: holds several frames; a station takes one image per file")
    if not frames:
        raise BadInputError(f"{path}: no frames could be decoded")
    return StationFrame(resize_frame(frames[0]), perspective(frames[0]), frames[0])
