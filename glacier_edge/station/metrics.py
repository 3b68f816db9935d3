"""A station's state in the Prometheus text format, for node_exporter's textfile collector
(`watch --metrics FILE`, written atomically: the collector never reads half a file).

Written by hand (one gauge per line, labels escaped as the format says) so a station gains no
dependency; the dev tests parse it with prometheus_client's own parser.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from glacier_edge.station.page import model_facts
from glacier_edge.station.store import Store

PREFIX = "glacier_edge_"


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _gauge(lines: list[str], name: str, help_text: str, samples: list[tuple[dict[str, object], float]]) -> None:
    lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} gauge"]
    for labels, value in samples:
        text = ",".join(f'{key}="{_label(val)}"' for key, val in labels.items())
        lines.append(f"{PREFIX}{name}{{{text}}} {value!r}" if text else f"{PREFIX}{name} {value!r}")


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def station_metrics(store: Store, model_dir: Path | None = None) -> str:
    """The textfile: images by status, the last image's time, melt and speed, alerts by kind and
    undelivered, out-of-distribution predictions, the running skill and the model as labels."""
    lines: list[str] = []
    statuses = {"ok": 0, "quarantined": 0, **store.image_counts()}
    _gauge(lines, "images", "Images the station recorded, by status (ok: processed).",
           [({"status": status}, float(count)) for status, count in sorted(statuses.items())])
    last = store.last_ok_image()
    if last is not None:
        _gauge(lines, "last_image_timestamp_seconds", "When the station processed its newest image (Unix time).",
               [({}, _seconds(last.received_at))])
        if last.measured_melt is not None:
            _gauge(lines, "last_melt", "Measured melt of the newest image (mean |dRGB| / 255 vs the one before).",
                   [({}, float(last.measured_melt))])
        moved = store.motion_row(int(last.id))
        if moved is not None and moved.speed_median is not None:
            _gauge(lines, "last_speed", "Median surface speed of the pair ending at the newest image.",
                   [({}, float(moved.speed_median))])
    kinds, undelivered = store.alert_counts()
    _gauge(lines, "alerts", "Alerts raised, by kind.",
           [({"kind": kind}, float(count)) for kind, count in sorted(kinds.items())])
    _gauge(lines, "alerts_undelivered", "Alerts not yet delivered to the alert file or command.",
           [({}, float(undelivered))])
    _gauge(lines, "ood_predictions", "Predictions whose input was out of distribution (the naive answer stood in).",
           [({}, float(store.ood_prediction_count()))])
    skill, scored = store.running_skill()
    if skill is not None:
        _gauge(lines, "running_skill", "1 - sum|error| / sum|persistence error| over the scored predictions.",
               [({}, float(skill))])
    _gauge(lines, "scored_predictions", "Predictions scored against what was then measured.", [({}, float(scored))])
    facts = model_facts(store, model_dir)
    if facts.sha256 is not None:
        _gauge(lines, "model_info", "The model in use (value 1; what it is in the labels).",
               [({"sha256": facts.sha256, "backbone": facts.backbone or "", "scene_kind": facts.scene_kind or "",
                  "signer": facts.signer or "unsigned"}, 1.0)])
    return "\n".join(lines) + "\n"
