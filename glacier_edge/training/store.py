"""The embedding store: frozen-encoder embeddings of an archive, one Parquet file per sequence.

Embedding is the cost of training on an archive (ResNet50, every view of every frame); training
on embeddings is small. ``glacier-edge embed`` fills a store once, in parallel and resumably;
`train` and `evaluate` then read embeddings from it instead of running the encoder.

Layout::

    STORE/store.json                  EmbeddingStoreInfo: encoder, augmentations, seed, columns
    STORE/sequences/<key>.parquet     one sequence: a row per (view, frame)
    STORE/sources/<source id>.json    which key a source (paths, sizes, mtimes) produced: resume
                                      skips it without decoding

``key`` is content-addressed, the embedding cache's own key (frames digest, encoder weights,
augmentations, seed), so a sequence stored under another name is found, and a changed file is
embedded again. Every file is written under a temporary name and renamed: a killed run leaves
whole sequences or nothing, and the next run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from glacier_edge.contracts import EncoderRecord, Record
from glacier_edge.errors import BadInputError, MissingDependencyError
from glacier_edge.fileio import write_file_atomic, write_text_atomic
from glacier_edge.ingest.frames import FrameSequence, list_folder_images
from glacier_edge.ingest.naming import sensor_from_name
from glacier_edge.signals.melt import measured_melt

INFO_FILE = "store.json"
PARQUET_OPTIONS = {
    "compression": "zstd",
    "use_dictionary": ["label", "date", "sensor", "frame_sha256"],
    "column_encoding": {"embedding.list.element": "BYTE_STREAM_SPLIT"},
}
"""Measured on random-init ResNet50 embeddings: a dictionary on the float column (pyarrow's
default) makes it 11.3 KB per 2048-d row, plain 7.7 KB, byte-stream-split 7.2 KB (raw: 8.2 KB)."""


@dataclass(frozen=True)
class EmbeddingStoreInfo(Record):
    """``store.json``: what every sequence file of the store was embedded with."""

    SCHEMA: ClassVar[str] = "glacier-edge/embedding-store"
    VERSION: ClassVar[int] = 1
    WHAT: ClassVar[str] = "embedding store"

    encoder: EncoderRecord
    augmentations: int
    seed: int
    columns: tuple[str, ...]
    schema: str = SCHEMA
    schema_version: int = VERSION


COLUMNS = ("view", "frame", "label", "date", "sensor", "frame_sha256", "measured_melt", "embedding")
"""A row per (view, frame). view 0 is the frames as read, 1.. the augmented copies; measured_melt
is the absolute, unmasked melt of view 0 (null for frame 0); frame_sha256 hashes the 128×128 RGB
frame of view 0."""


def pyarrow_modules():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("the embedding store needs pyarrow: pip install 'glacier-edge[train]'") from exc
    return pa, pq


CACHE_FORMAT = 1
"""Bumped when what an embedding of the same frames means changes: old cache entries then miss."""


def sequence_key(frames_digest: str, weights: EncoderRecord, augmentations: int, seed: int) -> str:
    """The embedding cache's key: the same frames, encoder, views and seed give the same file."""
    text = f"{CACHE_FORMAT}|{frames_digest}|{weights.weights_id}|{augmentations}|{seed}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def source_id(path: Path) -> str:
    """Identity of a source as the filesystem shows it (paths, sizes, mtimes): cheap, no decode."""
    files = list_folder_images(path) if path.is_dir() else [path]
    extra = [path / "dates.txt"] if path.is_dir() else [path.with_name(f"{path.stem}.dates.txt")]
    digest = hashlib.sha256()
    for file in [*files, *[e for e in extra if e.is_file()]]:
        stat = file.stat()
        digest.update(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


class EmbeddingStore:
    """A store directory bound to one encoder, number of augmented views and seed."""

    def __init__(self, root: Path, info: EmbeddingStoreInfo) -> None:
        self.root, self.info = Path(root), info

    @classmethod
    def open(cls, root: Path, encoder: EncoderRecord | None = None, augmentations: int | None = None,
             seed: int | None = None) -> EmbeddingStore:
        """Open (or, given the settings, create) a store; refuse one made with other settings."""
        root = Path(root)
        info_path = root / INFO_FILE
        if info_path.is_file():
            info = EmbeddingStoreInfo.read(info_path)
            wanted = {"encoder weights": (encoder.weights_id if encoder else None, info.encoder.weights_id),
                      "augmentations": (augmentations, info.augmentations), "seed": (seed, info.seed)}
            for name, (asked, stored) in wanted.items():
                if asked is not None and asked != stored:
                    raise BadInputError(f"{root}: store holds embeddings with {name} {stored}, not {asked}; "
                                        "use another --store (or the store's settings)")
            return cls(root, info)
        if encoder is None or augmentations is None or seed is None:
            raise BadInputError(f"{root}: not an embedding store (no {INFO_FILE}); fill one with "
                                "`glacier-edge embed SEQUENCES --store DIR`")
        try:
            (root / "sequences").mkdir(parents=True, exist_ok=True)
            (root / "sources").mkdir(exist_ok=True)
        except OSError as exc:
            raise BadInputError(f"{root}: cannot create the store ({exc.strerror})") from exc
        info = EmbeddingStoreInfo(encoder, augmentations, seed, COLUMNS)
        write_text_atomic(info_path, info.dumps())
        return cls(root, info)

    def path_for(self, key: str) -> Path:
        return self.root / "sequences" / f"{key}.parquet"

    def key_for(self, frames_digest: str) -> str:
        return sequence_key(frames_digest, self.info.encoder, self.info.augmentations, self.info.seed)

    def done(self, source: Path) -> bool:
        """True when this source, unchanged, was embedded into the store before."""
        marker = self.root / "sources" / f"{source_id(source)}.json"
        if not marker.is_file():
            return False
        try:
            return self.path_for(json.loads(marker.read_text())["key"]).is_file()
        except (OSError, ValueError, KeyError):
            return False

    def write(self, sequence: FrameSequence, views: np.ndarray, frames_digest: str, source: Path | None) -> Path:
        """One sequence's rows, written atomically; then the source marker that lets resume skip it."""
        pa, pq = pyarrow_modules()
        key = self.key_for(frames_digest)
        table = sequence_table(sequence, views, frames_digest)
        write_file_atomic(self.path_for(key), lambda tmp: pq.write_table(table, tmp, **PARQUET_OPTIONS))
        if source is not None:
            self.write_marker(source, key)
        return self.path_for(key)

    def write_marker(self, source: Path, key: str) -> None:
        """Remember that this source (as the filesystem shows it now) is stored under ``key``."""
        write_text_atomic(self.root / "sources" / f"{source_id(source)}.json",
                          json.dumps({"key": key, "source": str(source)}) + "\n")

    def read_views(self, frames_digest: str, num_frames: int) -> np.ndarray | None:
        """float32 (V, T, D) of a stored sequence, or None when the store does not hold it."""
        path = self.path_for(self.key_for(frames_digest))
        if not path.is_file():
            return None
        _, pq = pyarrow_modules()
        table = pq.read_table(path, columns=["view", "frame", "embedding"])
        views = table.column("view").to_numpy()
        embedding = np.stack(table.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)
        count = int(views.max()) + 1
        if len(embedding) != count * num_frames:
            return None
        order = np.lexsort((table.column("frame").to_numpy(), views))
        return embedding[order].reshape(count, num_frames, -1)

    def sequence_files(self) -> list[Path]:
        return sorted((self.root / "sequences").glob("*.parquet"))


def sequence_table(sequence: FrameSequence, views: np.ndarray, frames_digest: str):
    pa, _ = pyarrow_modules()
    count, frames, dim = views.shape
    melt = measured_melt(sequence.frames).astype(np.float32)
    frame_sha = [hashlib.sha256(np.ascontiguousarray(f).tobytes()).hexdigest() for f in sequence.frames]
    dates = [d.isoformat() if d else None for d in sequence.dates]
    sensors = [sensor_from_name(label.split("#")[0]) for label in sequence.labels]
    rows = {
        "view": np.repeat(np.arange(count, dtype=np.int16), frames),
        "frame": np.tile(np.arange(frames, dtype=np.int32), count),
        "label": sequence.labels * count,
        "date": dates * count,
        "sensor": sensors * count,
        "frame_sha256": frame_sha * count,
        "measured_melt": [None if i == 0 else float(melt[i]) for i in range(frames)] * count,
    }
    embedding = pa.FixedSizeListArray.from_arrays(
        pa.array(np.ascontiguousarray(views, dtype=np.float32).reshape(-1)), dim)
    table = pa.table({**{k: pa.array(v) for k, v in rows.items()}, "embedding": embedding})
    metadata = {b"glacier_edge": json.dumps({"source": sequence.source, "frames_digest": frames_digest,
                                             "frames": frames, "views": count}).encode()}
    return table.replace_schema_metadata(metadata)


def store_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in Path(root).rglob("*") if f.is_file())

