"""What `glacier-edge run` prints: a per-frame table, JSON (schema below) or CSV.

JSON schema ``glacier-edge/run-result`` version 1::

    {"schema": "glacier-edge/run-result", "schema_version": 1,
     "sequence": {"source", "frames", "original_size": [w, h]},
     "model": {"bundle", "encoder_weights", "pretrained", "precision", "parity_verified",
               "mask_excluded_pixels"},
     "task": "nowcast" | "forecast", "provider": "cpu" | "cuda", "threads": int | null,
     "alert_threshold": float | null,
     "frames": [{"index", "label", "date" (YYYY-MM-DD | null), "measured_melt", "predicted_melt",
                 "abs_error", "alert"}],          # frame 0: melt fields null (no previous frame)
     "summary": {"mean_predicted", "max_predicted", "max_predicted_frame", "mae", "rmse",
                 "pearson_r" (null when undefined), "alerts",
                 "forecast_next" (forecast task: melt predicted for the step after the last frame,
                                  else null), "forecast_alert"},
     "latency_ms": {"load", "decode", "encode", "graph", "total"}}
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from glacier_edge.melt import melt_valid_mask
from glacier_edge.metrics import melt_metrics
from glacier_edge.runtime import Prediction

RESULT_SCHEMA = "glacier-edge/run-result"
RESULT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunContext:
    bundle: str
    encoder_weights: str
    pretrained: bool
    precision: str
    parity_verified: bool | None
    provider: str
    threads: int | None
    load_seconds: float
    alert_threshold: float | None
    mask_excluded_pixels: int = 0


def _clean(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def build_result(prediction: Prediction, context: RunContext) -> dict[str, Any]:
    """The run as one JSON-ready dict (the single source for all three formats)."""
    seq = prediction.sequence
    valid = melt_valid_mask(seq.num_frames)
    threshold = context.alert_threshold
    rows = []
    for index in range(seq.num_frames):
        measured = float(prediction.measured[index]) if valid[index] else None
        predicted = float(prediction.predicted[index]) if valid[index] else None
        rows.append({
            "index": index, "label": seq.labels[index],
            "date": seq.dates[index].isoformat() if seq.dates[index] else None,
            "measured_melt": measured, "predicted_melt": predicted,
            "abs_error": abs(predicted - measured) if valid[index] else None,
            "alert": bool(threshold is not None and valid[index] and predicted > threshold),
        })
    predicted_valid = prediction.predicted[valid]
    forecast = prediction.forecast_next
    forecast_alert = bool(threshold is not None and forecast is not None and forecast > threshold)
    metrics = melt_metrics(predicted_valid, prediction.measured[valid])
    times = prediction.times
    return {
        "schema": RESULT_SCHEMA, "schema_version": RESULT_SCHEMA_VERSION,
        "sequence": {"source": seq.source, "frames": seq.num_frames, "original_size": list(seq.original_size)},
        "model": {"bundle": context.bundle, "encoder_weights": context.encoder_weights,
                  "pretrained": context.pretrained, "precision": context.precision,
                  "parity_verified": context.parity_verified,
                  "mask_excluded_pixels": context.mask_excluded_pixels},
        "task": prediction.task, "provider": context.provider, "threads": context.threads,
        "alert_threshold": threshold,
        "frames": rows,
        "summary": {"mean_predicted": float(predicted_valid.mean()), "max_predicted": float(predicted_valid.max()),
                    "max_predicted_frame": int(np.argmax(predicted_valid)) + 1,
                    "mae": metrics["mae"], "rmse": metrics["rmse"], "pearson_r": _clean(metrics["pearson_r"]),
                    "alerts": sum(row["alert"] for row in rows) + int(forecast_alert),
                    "forecast_next": forecast, "forecast_alert": forecast_alert},
        "latency_ms": {"load": context.load_seconds * 1000, "decode": times.decode * 1000,
                       "encode": times.encode * 1000, "graph": times.graph * 1000,
                       "total": (context.load_seconds + times.total) * 1000},
    }


def _cell(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    lines = [f"{'frame':>5s}  {'date':10s}  {'measured':>8s}  {'predicted':>9s}  {'|error|':>7s}  alert  label"]
    for row in result["frames"]:
        lines.append(f"{row['index']:5d}  {row['date'] or '':10s}  {_cell(row['measured_melt']):>8s}  "
                     f"{_cell(row['predicted_melt']):>9s}  {_cell(row['abs_error']):>7s}  "
                     f"{'ALERT' if row['alert'] else '':5s}  {row['label']}")
    s, m, lat = result["summary"], result["model"], result["latency_ms"]
    r = "n/a" if s["pearson_r"] is None else f"{s['pearson_r']:.3f}"
    lines.append("")
    masked = result["model"].get("mask_excluded_pixels")
    lines.append("melt = mean |Δ RGB| / 255 between consecutive frames; frame 0 has no previous frame"
                 + (f"; {masked} overlay pixels masked out" if masked else ""))
    if result["task"] == "forecast":
        lines.append("task: forecast — each 'predicted' value was made from frames up to the previous one")
        lines.append(f"FORECAST for the step after frame {len(result['frames']) - 1}: "
                     f"{s['forecast_next']:.4f}{'  ALERT' if s['forecast_alert'] else ''}")
    lines.append(f"predicted: mean {s['mean_predicted']:.4f}, max {s['max_predicted']:.4f} (frame "
                 f"{s['max_predicted_frame']});  vs measured: MAE {s['mae']:.4f}, Pearson r {r}")
    if result["alert_threshold"] is not None:
        lines.append(f"alerts: {s['alerts']} frame(s) above {result['alert_threshold']}")
    verified = {True: "parity verified", False: "PARITY FAILED", None: "parity not verified"}[m["parity_verified"]]
    lines.append(f"model: {m['bundle']} ({m['precision']}, {verified}); encoder: {m['encoder_weights']}")
    lines.append(f"provider: {result['provider']}  threads: {result['threads'] or 'default'}  latency ms: "
                 f"load {lat['load']:.0f}, decode {lat['decode']:.0f}, encode {lat['encode']:.0f}, "
                 f"graph {lat['graph']:.1f}, total {lat['total']:.0f}")
    return "\n".join(lines)


def format_csv(result: dict[str, Any]) -> str:
    buffer = io.StringIO()
    fields = ["index", "date", "label", "measured_melt", "predicted_melt", "abs_error", "alert"]
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in result["frames"]:
        writer.writerow({key: ("" if row[key] is None else row[key]) for key in fields})
    return buffer.getvalue()


def format_result(result: dict[str, Any], output_format: str) -> str:
    if output_format == "json":
        return json.dumps(result, indent=2)
    if output_format == "csv":
        return format_csv(result)
    return format_table(result)
