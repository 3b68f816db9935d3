"""`glacier-edge frames`: write a decoded sequence as the seed's frame_000.jpg, … files."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from glacier_edge.fileio import atomic_directory
from glacier_edge.ingest.frames import FrameSequence

JPEG_QUALITY = 95


def write_frames(sequence: FrameSequence, out_dir: Path) -> list[Path]:
    """Write every frame as JPEG into ``out_dir`` (created or replaced as a whole)."""
    names = [f"frame_{index:03d}.jpg" for index in range(sequence.num_frames)]
    with atomic_directory(out_dir) as staging:
        for name, frame in zip(names, sequence.frames):
            Image.fromarray(frame).save(staging / name, quality=JPEG_QUALITY)
    return [out_dir / name for name in names]
