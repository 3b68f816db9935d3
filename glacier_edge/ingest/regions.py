"""Which region a sequence comes from: a column of a sequences CSV, or derived from the glacier's
position in a GLIMS-style name.

Why: a pooled figure over a corpus is dominated by the region that fills it. Evaluating one
region held out at a time needs every sequence's region, and a station needs to know whether its
bundle was ever trained on its own.

The rule for names (stated, so a user can predict it): a GLIMS ID ``G<lon×1000>E<lat×1000><N|S>``
anywhere in the sequence's file or folder name (case-insensitive, e.g. ``gv_g007281e45526n``)
gives the position (longitude east in [0, 360), latitude north or south). Sequences are then
joined into regions by single linkage: two sequences whose glaciers lie within ``link_km``
(default 50 km, great-circle) of each other are in the same region, and so on transitively. On
the shared Landsat corpus this gives its three regions — Western Alps (6.9–8.1° E), Central and
Eastern Alps (9.8–10.6° E) and Caucasus — since the nearest glaciers of two regions are more than
100 km apart while neighbours within one are a few kilometres apart.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from glacier_edge.contracts import TrainingSummary
from glacier_edge.errors import BadInputError

DEFAULT_LINK_KM = 50.0
EARTH_RADIUS_KM = 6371.0
_GLIMS_ID = re.compile(r"(?:^|[^a-z0-9])g(\d{6})e(\d{5})([ns])(?:$|[^a-z0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class Position:
    """A glacier's position in degrees: longitude east in (−180, 180], latitude north."""

    lon: float
    lat: float


def glims_position(name: str) -> Position | None:
    """The position in a GLIMS-style ID inside ``name``, or None when it has none."""
    match = _GLIMS_ID.search(Path(name).name)
    if match is None:
        return None
    lon = int(match.group(1)) / 1000.0
    lat = int(match.group(2)) / 1000.0 * (1 if match.group(3).lower() == "n" else -1)
    if lon >= 360.0 or lat > 90.0:
        return None
    return Position(round(lon - 360.0, 3) if lon > 180.0 else lon, lat)


def distance_km(a: Position, b: Position) -> float:
    """Great-circle distance (haversine) in kilometres."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi, dlam = phi2 - phi1, math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def link_regions(positions: Sequence[Position], link_km: float = DEFAULT_LINK_KM) -> list[str]:
    """Single-linkage regions of ``positions``, each named by its extent, e.g. ``6.9–8.1E 45.5–46.5N``.

    Regions are numbered in no particular order; the name says where they are."""
    parent = list(range(len(positions)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(positions)):
        for j in range(i + 1, len(positions)):
            if distance_km(positions[i], positions[j]) <= link_km:
                parent[root(i)] = root(j)
    members: dict[int, list[Position]] = {}
    for i, position in enumerate(positions):
        members.setdefault(root(i), []).append(position)
    names = {key: _extent_name(group) for key, group in members.items()}
    return [names[root(i)] for i in range(len(positions))]


def _extent_name(group: list[Position]) -> str:
    def span(values: list[float], positive: str, negative: str) -> str:
        low, high = min(values), max(values)
        suffix = positive if low >= 0 else negative
        low, high = (low, high) if low >= 0 else (-high, -low)
        return f"{low:.1f}{suffix}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}–{high:.1f}{suffix}"

    return f"{span([p.lon for p in group], 'E', 'W')} {span([p.lat for p in group], 'N', 'S')}"


def region_groups(regions: Sequence[str]) -> list[list[int]]:
    """Positions of the sequences of each region, regions in name order: the folds that hold out
    one region at a time (`evaluate --group-by region`, the recipe's calibration folds)."""
    return [[i for i, region in enumerate(regions) if region == name] for name in sorted(set(regions))]


def read_regions_csv(path: Path) -> dict[str, str]:
    """``sequence,region`` rows (a header naming both columns; more columns are ignored): the
    sequence column holds the file or folder name as given to the command (its last part)."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BadInputError(f"{path}: cannot read the regions CSV: {exc}") from exc
    if not rows or not {"sequence", "region"} <= set(rows[0]):
        raise BadInputError(f"{path}: a regions CSV needs a header with the columns 'sequence' and 'region'")
    regions: dict[str, str] = {}
    for number, row in enumerate(rows, start=2):
        name, region = (row["sequence"] or "").strip(), (row["region"] or "").strip()
        if not name or not region:
            raise BadInputError(f"{path}: line {number}: empty sequence or region")
        regions[Path(name).name] = region
    return regions


def sequence_regions(paths: Sequence[Path], regions_csv: Path | None = None,
                     link_km: float = DEFAULT_LINK_KM) -> list[str] | None:
    """Each sequence's region: from ``regions_csv`` when given (every sequence must be listed),
    else from GLIMS-style names when every name has one, else None."""
    if regions_csv is not None:
        table = read_regions_csv(regions_csv)
        missing = [path.name for path in paths if path.name not in table]
        if missing:
            raise BadInputError(f"{regions_csv}: no region for {', '.join(missing[:5])}"
                                f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}")
        return [table[path.name] for path in paths]
    positions = [glims_position(path.name) for path in paths]
    if any(position is None for position in positions):
        return None
    return link_regions([p for p in positions if p is not None], link_km)


def bundle_prior_note(sources: Sequence[str], training: TrainingSummary, region: str | None = None) -> str | None:
    """:func:`prior_from_elsewhere` against a bundle's training sequences (their sources and regions)."""
    trained = training.train_sequences
    return prior_from_elsewhere(sources, [s.source for s in trained], region=region,
                                training_regions=[s.region for s in trained if s.region])


def prior_from_elsewhere(sources: Sequence[str], training_sources: Sequence[str], *, region: str | None = None,
                         training_regions: Sequence[str] = (), link_km: float = DEFAULT_LINK_KM) -> str | None:
    """One line when the bundle never trained on this glacier's region, so its calibration is a
    prior from elsewhere; None when it did, or when that cannot be told.

    With a ``region`` label: it is compared with the labels the training sequences carry (from
    `train --regions` or their names). Without one: this glacier (a GLIMS ID in one of
    ``sources``, its path or frame names) lies farther than ``link_km`` from every training glacier,
    i.e. by the region rule above it is in a region the bundle never saw."""
    if region is not None:
        known = sorted(set(training_regions))
        if not known or region in known:
            return None
        return (f"region '{region}' is not among the bundle's training regions ({'; '.join(known)}): its "
                f"calibration is a prior from elsewhere — trust the station (online) answer, which learns this place")
    here = next((p for p in (glims_position(s) for s in sources) if p is not None), None)
    trained = [p for p in (glims_position(s) for s in training_sources) if p is not None]
    if here is None or not trained:
        return None
    nearest = min(distance_km(here, p) for p in trained)
    if nearest <= link_km:
        return None
    regions = sorted(set(link_regions(trained, link_km)))
    return (f"this glacier ({here.lon:.3f}°, {here.lat:.3f}°) is {nearest:,.0f} km from the nearest of the bundle's "
            f"{len(trained)} training glaciers (regions {'; '.join(regions)}): its calibration is a prior from "
            f"elsewhere — trust the station (online) answer, which learns this place")
