"""File-naming conventions of the inputs, kept free of numpy and Pillow: which files are images,
where a date sits in a name, where a dates sidecar lives and how it reads. A station's idle
start needs only these (~0.1 s less than importing the decoder)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from glacier_edge.contracts import DEFAULT_MAX_PIXELS  # noqa: F401  (re-exported beside the other limits)
from glacier_edge.errors import BadInputError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".bmp", ".webp"})

_DATE_IN_NAME = re.compile(r"(?<!\d)(19[5-9]\d|20\d\d)[-_.]?(0[1-9]|1[0-2])[-_.]?([0-2]\d|3[01])(?!\d)")


def date_from_name(name: str) -> date | None:
    match = _DATE_IN_NAME.search(name)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def sidecar_path(source: Path) -> Path:
    """Where acquisition dates for ``source`` are looked for: ``x.dates.txt`` beside a file
    ``x.gif``, or ``dates.txt`` inside a folder."""
    if source.is_dir():
        return source / "dates.txt"
    return source.with_name(f"{source.stem}.dates.txt")


def read_dates_sidecar(path: Path, num_frames: int) -> tuple[list[date], dict[str, list[float]]]:
    """Parse a dates sidecar: one ISO date (YYYY-MM-DD) per frame, in frame order.

    Blank lines and ``#`` comments are skipped. A CSV with a header ``date,name,...`` also gives
    numeric covariates per frame (``date,temperature_c,precip_mm``), returned by column name.
    """
    dates: list[date] = []
    names: list[str] = []
    values: list[list[float]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: cannot read dates sidecar ({exc})") from exc
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [part.strip() for part in line.split(",")]
        if not dates and not names and fields[0].lower() == "date":
            names = fields[1:]
            continue
        try:
            dates.append(date.fromisoformat(fields[0]))
        except ValueError as exc:
            raise BadInputError(f"{path}:{number}: {fields[0]!r} is not a date (YYYY-MM-DD)") from exc
        if names:
            try:
                row = [float(value) for value in fields[1:]]
            except ValueError as exc:
                raise BadInputError(f"{path}:{number}: covariates must be numbers ({exc})") from exc
            if len(row) != len(names):
                raise BadInputError(f"{path}:{number}: {len(row)} values for columns {', '.join(names)}")
            values.append(row)
    if len(dates) != num_frames:
        raise BadInputError(f"{path}: {len(dates)} dates for {num_frames} frames")
    return dates, {name: [row[i] for row in values] for i, name in enumerate(names)}


_SENSOR_IN_NAME = re.compile(r"(?:^|[_\-.])(L[45789]|LC0[89]|LE07|LT05|S2[AB]?|S1[AB]?)(?=[_\-.]|$)", re.IGNORECASE)


def sensor_from_name(name: str) -> str | None:
    """Landsat/Sentinel label in a file name (``..._L8.png``, ``S2B_...``), upper-cased."""
    match = _SENSOR_IN_NAME.search(Path(name).stem)
    return match.group(1).upper() if match else None
