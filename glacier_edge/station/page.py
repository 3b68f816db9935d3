"""The station page: one self-contained HTML file an operator opens from disk or any static web
server (`watch --page`, `history --page`).

Nothing is fetched from elsewhere: no script, no web font, no stylesheet link; charts are inline
SVG and the latest frame an embedded PNG. Every value the page did not write itself (file names,
reasons, alert details, region names) goes through :func:`html.escape`. Long histories are
summarised: charts draw at most :data:`CHART_POINTS` buckets (mean line, band from the extremes),
tables the newest :data:`TABLE_ROWS` rows with the total stated.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from glacier_edge.contracts import MANIFEST_FILE, BundleManifest
from glacier_edge.errors import GlacierEdgeError
from glacier_edge.ingest.frames import FRAME_SIZE
from glacier_edge.station.records import Alert, ImageRow
from glacier_edge.station.store import Store

CHART_POINTS = 600
TABLE_ROWS = 200
SECTIONS = ("status", "latest", "charts", "alerts", "quarantined")
"""The page's sections by id, in order (the browser test checks each is there)."""

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d3557;color:#fff;padding:10px 16px}header h1{font-size:18px;margin:0}
main{max-width:1200px;margin:0 auto;padding:8px 12px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:10px 0;padding:10px 14px}
h2{font-size:16px;margin:0 0 8px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:8px}
.fact{background:#f0f3f7;border-radius:4px;padding:6px 8px}.fact b{display:block;font-size:16px}
.bad{color:#b3261e}.ok{color:#1e7b34}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eceff3}
.scroll{overflow-x:auto}svg{max-width:100%;height:auto}
.frame{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.note{color:#5b6473;font-size:12px}
"""


@dataclass(frozen=True)
class ModelFacts:
    sha256: str | None
    backbone: str | None
    weights: str | None
    signer: str | None
    """sha256 of the signing key (manifest.sig), None: unsigned."""
    scene_kind: str | None


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def model_facts(store: Store, model_dir: Path | None) -> ModelFacts:
    """The model in use: its manifest in the station's verified copy, when it can be read."""
    latest = store.latest_model()
    sha, kind = (latest[0], latest[1]) if latest else (None, None)
    backbone = weights = signer = None
    if model_dir is not None and (model_dir / MANIFEST_FILE).is_file():
        try:
            manifest = BundleManifest.read(model_dir / MANIFEST_FILE)
            backbone, weights = manifest.encoder.backbone.name, manifest.encoder.label()
        except GlacierEdgeError:
            pass
        signature = model_dir / "manifest.sig"
        if signature.is_file():
            try:
                signer = json.loads(signature.read_text(encoding="utf-8")).get("public_key_sha256")
            except (OSError, ValueError):
                signer = "unreadable signature"
    return ModelFacts(sha, backbone, weights, signer, kind)


def _age(created: str | None, now: datetime) -> str:
    if not created:
        return "—"
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return _e(created)
    seconds = max((now - then).total_seconds(), 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _buckets(values: list[float | None], count: int = CHART_POINTS) -> list[tuple[int, float, float, float]]:
    """(first index, mean, min, max) of each bucket of finite values; at most ``count`` buckets."""
    size = max(1, math.ceil(len(values) / count))
    out = []
    for start in range(0, len(values), size):
        part = [v for v in values[start:start + size] if v is not None and math.isfinite(v)]
        if part:
            out.append((start, float(np.mean(part)), min(part), max(part)))
    return out


def _chart(title: str, unit: str, total: int, series: list[tuple[str, str, list[float | None], bool]],
           band: tuple[list[float | None], list[float | None]] | None, shaded: list[bool], marks: list[int],
           labels: tuple[str, str]) -> str:
    """An inline SVG line chart over image index: lines (name, colour, values, dashed), an optional
    band (low, high), shaded spans (out of distribution) and alert marks."""
    width, height, left, bottom = 900, 220, 56, 24
    finite = [v for _, _, values, _ in series for v in values if v is not None and math.isfinite(v)]
    if band is not None:
        finite += [v for v in band[0] + band[1] if v is not None and math.isfinite(v)]
    if total < 2 or not finite:
        return f"<p class=note>{_e(title)}: not enough values yet.</p>"
    low, high = min(finite), max(finite)
    high = high if high > low else low + 1e-9

    def x(index: float) -> float:
        return left + (width - left - 8) * index / max(total - 1, 1)

    def y(value: float) -> float:
        return 8 + (height - bottom - 8) * (1 - (value - low) / (high - low))

    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
             f'<rect x="{left}" y="8" width="{width - left - 8}" height="{height - bottom - 8}" fill="#fbfcfd" '
             'stroke="#d5dae1"/>']
    start = None
    for index, flag in enumerate([*shaded, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            parts.append(f'<rect x="{x(start - 0.5):.1f}" y="8" width="{max(x(index - 0.5) - x(start - 0.5), 2):.1f}" '
                         f'height="{height - bottom - 8}" fill="#9aa3ad" opacity="0.25"><title>out of distribution'
                         '</title></rect>')
            start = None
    if band is not None:
        lows, highs = _buckets(band[0]), _buckets(band[1])
        if lows and highs and len(lows) == len(highs):
            upper = " ".join(f"{x(i):.1f},{y(hi_max):.1f}" for (i, _, _, hi_max) in highs)
            lower = " ".join(f"{x(i):.1f},{y(lo_min):.1f}" for (i, _, lo_min, _) in reversed(lows))
            parts.append(f'<polygon points="{upper} {lower}" fill="#d62828" opacity="0.12"/>')
    for name, colour, values, dashed in series:
        points = " ".join(f"{x(i):.1f},{y(mean):.1f}" for i, mean, _, _ in _buckets(values))
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}>'
                     f'<title>{_e(name)}</title></polyline>')
    for index in marks[-TABLE_ROWS:]:
        parts.append(f'<circle cx="{x(index):.1f}" cy="14" r="3.5" fill="#d62828"><title>alert</title></circle>')
    parts += [f'<text x="{left - 4}" y="14" font-size="11" text-anchor="end">{high:.3g}</text>',
              f'<text x="{left - 4}" y="{height - bottom}" font-size="11" text-anchor="end">{low:.3g}</text>',
              f'<text x="{left}" y="{height - 6}" font-size="11">{_e(labels[0])}</text>',
              f'<text x="{width - 8}" y="{height - 6}" font-size="11" text-anchor="end">{_e(labels[1])}</text>',
              f'<text x="{left + 6}" y="24" font-size="12" fill="#5b6473">{_e(title)} ({_e(unit)})</text>', "</svg>"]
    legend = " · ".join(f'<span style="color:{colour}">{"- - " if dashed else "—— "}{_e(name)}</span>'
                        for name, colour, _, dashed in series)
    return "".join(parts) + f'<p class=note>{legend}{" · band: 90 % interval" if band else ""}' \
        f'{" · grey: out of distribution · red dots: alerts" if any(shaded) or marks else ""}</p>'


def _frame_png(store: Store) -> str | None:
    """The last frame the station took (its 128-px model view), as a base64 PNG."""
    last = store.last_frame((FRAME_SIZE, FRAME_SIZE, 3))
    if last is None:
        return None
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(last[1]).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _latest(store: Store, images: list[ImageRow]) -> str:
    png = _frame_png(store)
    if png is None or not images:
        return "<p class=note>No image processed yet.</p>"
    ok = [image for image in images if image.status == "ok"]
    last = ok[-1]
    scale = 3
    side = FRAME_SIZE * scale
    parts = [f'<svg viewBox="0 0 {side} {side}" width="{side}" role="img" aria-label="latest frame">'
             f'<image href="data:image/png;base64,{png}" width="{side}" height="{side}" '
             'style="image-rendering:pixelated"/>']
    layout = store.region_layout()
    rows = []
    if layout is not None:
        source, names, boxes, size = layout
        values = {row[0]: row for row in store.region_values(int(last.id))}
        width, height = size
        for region, (name, box) in enumerate(zip(names, boxes)):
            value = values.get(region)
            x0, y0 = box[0] * FRAME_SIZE * scale / width, box[1] * FRAME_SIZE * scale / height
            w, h = (box[2] - box[0]) * FRAME_SIZE * scale / width, (box[3] - box[1]) * FRAME_SIZE * scale / height
            unexpected = bool(value and value[6])
            measured = value[2] if value else None
            parts.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" fill="none" '
                         f'stroke="{"#d62828" if unexpected else "#ffffff"}" stroke-width="{3 if unexpected else 1}" '
                         f'opacity="0.9"><title>{_e(name)}: melt {_e("—" if measured is None else f"{measured:.4f}")}'
                         f'</title></rect>')
            parts.append(f'<text x="{x0 + 3:.1f}" y="{y0 + 13:.1f}" font-size="11" fill="#fff">{_e(name)}</text>')
            speed = value[7] if value and len(value) > 7 else None
            rows.append(f"<tr><td>{_e(name)}</td><td>{_e(box)}</td><td>{_cell(measured)}</td>"
                        f"<td>{_cell(value[3] if value else None)}</td><td>{_cell(speed)}</td>"
                        f"<td>{'<b class=bad>UNEXPECTED</b>' if unexpected else ''}</td></tr>")
        table = ("<div class=scroll><table><tr><th>region</th><th>box (px)</th><th>measured</th><th>predicted</th>"
                 f"<th>speed</th><th></th></tr>{''.join(rows)}</table><p class=note>{_e(source)}; red: unexpected "
                 "change</p></div>")
    else:
        table = "<p class=note>No regions: the bundle has no per-region model.</p>"
    motion = store.motion_rows().get(int(last.id))
    speed = "" if motion is None or motion.speed_median is None else f" · speed {motion.speed_median:.3g}"
    parts.append("</svg>")
    return (f'<div class=frame><div>{"".join(parts)}<p class=note>{_e(last.name)} ({_e(last.date)}) · melt '
            f'{_cell(last.measured_melt)}{_e(speed)}</p></div><div style="flex:1;min-width:280px">{table}</div></div>')


def _cell(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _alert_region(alert: Alert) -> str:
    detail = alert.detail
    name = detail.get("name") or detail.get("region")  # a region alert's name; a motion alert's region
    return _e(name if isinstance(name, str) else "")


def _alert_what(alert: Alert) -> str:
    detail = alert.detail
    if "message" in detail:
        return _e(detail["message"])
    if alert.kind == "threshold":
        return _e(f"predicted melt above {detail.get('threshold')}")
    return _e(f"measured melt outside [{detail.get('interval_low')}, {detail.get('interval_high')}] "
              f"({detail.get('image', '')})")


def build_page(store: Store, model_dir: Path | None = None, now: datetime | None = None) -> str:
    """The whole page as one string (the caller writes it atomically)."""
    now = now or datetime.now(timezone.utc)
    images = store.images()
    ok = [image for image in images if image.status == "ok"]
    quarantined = [image for image in images if image.status == "quarantined"]
    predictions = store.predictions()
    alerts = store.alerts()
    facts = model_facts(store, model_dir)
    skill, scored = store.running_skill()
    last = ok[-1] if ok else None
    database = store.path
    size = database.stat().st_size if database.is_file() else 0
    free = shutil.disk_usage(database.parent).free if database.parent.is_dir() else 0
    ood = sum(1 for p in predictions if p.ood)
    status = [("last image", f"{_e(last.date) if last else '—'}"),
              ("processed", f"{_e(last.received_at[:19].replace('T', ' ') if last else '—')} UTC<br>"
                            f"{_age(last.received_at if last else None, now)}"),
              ("images taken", f"{len(ok)}"),
              ("quarantined", f'<span class="{"bad" if quarantined else "ok"}">{len(quarantined)}</span>'),
              ("out of distribution", f"{ood} prediction(s)"),
              ("skill vs persistence", "n/a" if skill is None else f"{skill:+.3f} over {scored}"),
              ("alerts", f"{len(alerts)} ({sum(a.delivered_at is None for a in alerts)} undelivered)"),
              ("model", f"{_e((facts.sha256 or '—')[:16])}<br>{_e(facts.backbone or '')}"),
              ("signed by", _e(f"key {facts.signer[:16]}" if facts.signer else "unsigned")),
              ("database", f"{size / 1e6:.1f} MB · {free / 1e9:.1f} GB free")]
    status_html = "<div class=grid>" + "".join(f"<div class=fact>{label}<b>{value}</b></div>"
                                               for label, value in status) + "</div>"
    if facts.weights:
        status_html += f"<p class=note>encoder: {_e(facts.weights)}; knows: {_e(facts.scene_kind or '')}</p>"
    for_image = {p.target_image_id: p for p in predictions if p.target_image_id is not None}
    position = {int(image.id): index for index, image in enumerate(ok)}
    measured = [image.measured_melt for image in ok]
    predicted = [for_image[int(i.id)].value if int(i.id) in for_image else None for i in ok]
    lows = [for_image[int(i.id)].interval_low if int(i.id) in for_image else None for i in ok]
    highs = [for_image[int(i.id)].interval_high if int(i.id) in for_image else None for i in ok]
    shaded = [bool(for_image[int(i.id)].ood) if int(i.id) in for_image else False for i in ok]
    marks = sorted({position[a.image_id] for a in alerts if a.image_id in position})
    dates = (ok[0].date or "", ok[-1].date or "") if ok else ("", "")
    charts = _chart("melt: measured and predicted", "mean |ΔRGB| / 255", len(ok),
                    [("measured", "#1d4ed8", measured, False), ("predicted", "#d62828", predicted, True)],
                    (lows, highs) if any(v is not None for v in lows) else None, shaded, marks, dates)
    motion = store.motion_rows()
    if motion:
        rows = [motion.get(int(i.id)) for i in ok]
        speeds = [row.speed_median if row is not None else None for row in rows]
        forecasts = [(row.forecast_speed, row.forecast_halfwidth) if row is not None
                     and row.forecast_speed is not None and row.forecast_halfwidth is not None else None
                     for row in rows]
        forecast_low = [None if f is None else f[0] - f[1] for f in forecasts]
        forecast_high = [None if f is None else f[0] + f[1] for f in forecasts]
        speed_marks = sorted({position[a.image_id] for a in alerts if a.image_id in position
                              and a.kind in ("speed", "acceleration", "unexpected_acceleration", "failure_forecast")})
        charts += _chart("surface speed (median of the valid windows)", "px/day or m/day", len(ok),
                         [("speed", "#0f766e", speeds, False)],
                         (forecast_low, forecast_high) if any(v is not None for v in forecast_low) else None,
                         [False] * len(ok), speed_marks, dates)
        failures = [a for a in alerts if a.kind == "failure_forecast"]
        if failures:
            charts += f"<p><b class=bad>FAILURE FORECAST</b> {_alert_what(failures[-1])}</p>"
    else:
        charts += "<p class=note>No surface motion: the station runs without --glacier-mask/--stable-mask.</p>"
    alert_rows = "".join(
        f"<tr><td>{_e(a.created_at[:19].replace('T', ' '))}</td><td>{_e(a.kind)}</td><td>{a.value:.4g}</td>"
        f"<td>{_alert_region(a)}</td><td>{_alert_what(a)}</td>"
        f"<td>{_e(a.delivered_at[:19].replace('T', ' ')) if a.delivered_at else '<b class=bad>pending</b>'}</td></tr>"
        for a in reversed(alerts[-TABLE_ROWS:]))
    alerts_html = ("<p class=note>No alert.</p>" if not alerts else
                   f"<p class=note>{len(alerts)} alert(s), newest first" +
                   (f"; the newest {TABLE_ROWS} shown" if len(alerts) > TABLE_ROWS else "") +
                   "</p><div class=scroll><table><tr><th>time (UTC)</th><th>kind</th><th>value</th><th>region</th>"
                   f"<th>what</th><th>delivered</th></tr>{alert_rows}</table></div>")
    quarantine_rows = "".join(f"<tr><td>{_e(i.date)}</td><td>{_e(i.name)}</td><td>{_e(i.reason)}</td></tr>"
                              for i in reversed(quarantined[-TABLE_ROWS:]))
    quarantined_html = ("<p class=note>Nothing quarantined.</p>" if not quarantined else
                        "<div class=scroll><table><tr><th>date</th><th>file</th><th>reason</th></tr>"
                        f"{quarantine_rows}</table></div>")
    body = {"status": ("Status", status_html), "latest": ("Latest frame", _latest(store, images)),
            "charts": ("Over time", charts), "alerts": ("Alerts", alerts_html),
            "quarantined": ("Quarantined files", quarantined_html)}
    sections = "".join(f'<section id="{key}"><h2>{title}</h2>{content}</section>'
                       for key, (title, content) in body.items())
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>glacier-edge station — {_e(database.name)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>glacier-edge station · {_e(database.name)}</h1><div class=note style=color:#cfd8e3>"
            f"page written {now.strftime('%Y-%m-%d %H:%M:%S')} UTC</div></header><main>{sections}</main></body></html>")
