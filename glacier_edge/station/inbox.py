"""The inbox folder: which files are new, complete, and in what order to take them.

A file is taken once its size and modification time have stayed the same for ``settle``
seconds (a camera or rsync still writing it changes both). Order: acquisition date (file name,
then a ``NAME.dates.txt`` sidecar as `run` reads, else the file's arrival time, stated as such),
then name. Files already hashed (same path, size and mtime) are skipped without reading them,
so an idle start costs a directory listing and one query per file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from glacier_edge.errors import BadInputError
from glacier_edge.fileio import sha256_file
from glacier_edge.ingest.naming import (
    IMAGE_SUFFIXES,
    date_from_name,
    read_dates_sidecar,
    sensor_from_name,
    sidecar_path,
)
from glacier_edge.station.records import DateSource


@dataclass(frozen=True)
class InboxFile:
    path: Path
    size: int
    mtime_ns: int

    @property
    def key(self) -> str:
        """Absolute path (the inbox is resolved once by :func:`list_inbox`, not per file)."""
        return str(self.path)


@dataclass(frozen=True)
class DatedImage:
    file: InboxFile
    sha256: str
    date: date
    date_source: DateSource
    sensor: str | None
    covariates: dict[str, float]
    problem: str | None = None
    """Why the image cannot be taken before it is even decoded (a bad dates sidecar)."""


def list_inbox(inbox: Path, seen: set[tuple[str, int, int]] = frozenset()) -> list[InboxFile]:
    """Image files directly in ``inbox`` (hidden files and sidecars ignored), except those whose
    (path, size, mtime_ns) is in ``seen``: an idle pass over 5,000 files builds no Path objects."""
    if not inbox.is_dir():
        raise BadInputError(f"{inbox}: inbox is not a directory")
    found = []
    with os.scandir(inbox.resolve()) as entries:  # one readdir; stat results come with it where the OS can
        for entry in entries:
            name = entry.name
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except OSError:  # removed between listing and stat
                continue
            if (entry.path, stat.st_size, stat.st_mtime_ns) not in seen:
                found.append(InboxFile(Path(entry.path), stat.st_size, stat.st_mtime_ns))
    return found


def settled(files: list[InboxFile], settle: float, clock=time.time, sleep=time.sleep) -> list[InboxFile]:
    """The files whose size and mtime did not change over ``settle`` seconds (waits at most once)."""
    if settle <= 0 or not files:
        return files
    youngest = max(file.mtime_ns for file in files) / 1e9
    wait = settle - (clock() - youngest)
    if wait > 0:
        sleep(min(wait, settle))
    stable = []
    for file in files:
        try:
            stat = file.path.stat()
        except OSError:
            continue
        if stat.st_size == file.size and stat.st_mtime_ns == file.mtime_ns and clock() - stat.st_mtime > 0:
            stable.append(file)
    return stable


def date_image(file: InboxFile) -> DatedImage:
    """Hash and date one file (no decoding); a bad sidecar becomes the image's ``problem``."""
    sha256 = sha256_file(file.path)
    covariates: dict[str, float] = {}
    found = date_from_name(file.path.name)
    source: DateSource = "name"
    sidecar = sidecar_path(file.path)
    if sidecar.is_file():
        try:
            dates, columns = read_dates_sidecar(sidecar, 1)
        except BadInputError as exc:
            arrival = datetime.fromtimestamp(file.mtime_ns / 1e9, tz=timezone.utc).date()
            return DatedImage(file, sha256, arrival, "arrival", sensor_from_name(file.path.name), {}, str(exc))
        found, source = dates[0], "sidecar"
        covariates = {name: values[0] for name, values in columns.items()}
    if found is None:
        found = datetime.fromtimestamp(file.mtime_ns / 1e9, tz=timezone.utc).date()
        source = "arrival"
    return DatedImage(file, sha256, found, source, sensor_from_name(file.path.name), covariates)


def in_date_order(images: list[DatedImage]) -> list[DatedImage]:
    return sorted(images, key=lambda image: (image.date, image.file.path.name))
