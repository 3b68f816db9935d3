"""What `glacier-edge run` prints: a per-frame table, JSON or CSV, all from one
:class:`~glacier_edge.contracts.RunResult` (schema ``glacier-edge/run-result`` v4; its fields are
documented there). Frame 0 has no previous frame: its melt fields are null.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass

import numpy as np

from glacier_edge.contracts import (
    SCENE_KINDS,
    Calibration,
    FrameMotion,
    FrameRow,
    Latency,
    ModelInfo,
    MotionRunSummary,
    OnlineSummary,
    RegionAlert,
    RegionInfo,
    RegionRunSummary,
    RegionSkill,
    RegionValue,
    RegisteredMeltSummary,
    ResultSummary,
    RunResult,
    SceneKind,
    SequenceInfo,
)
from glacier_edge.edge.regional import RegionPrediction, region_alert_message
from glacier_edge.edge.runtime import Prediction
from glacier_edge.ingest.layout import kind_note, majority_kind, scene_kind_of
from glacier_edge.motion.pipeline import MotionResult
from glacier_edge.motion.report import alert_rows, failure_records, speed_forecast_line, speed_forecast_records
from glacier_edge.signals.melt import align_to_frames, melt_valid_mask
from glacier_edge.signals.metrics import melt_metrics
from glacier_edge.signals.online import ONLINE_EXPERTS, OnlineReplay, OnlineTrust, coverage_gap_bound


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
    scene_kind: SceneKind = "nadir"
    """The kind of imagery the bundle knows."""
    motion_seconds: float = 0.0
    image_inputs: bool | None = None
    """The bundle's calibration: whether its melt model reads the image embedding."""


def _clean(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _value(array: np.ndarray | None, index: int) -> float | None:
    if array is None or not np.isfinite(array[index]):
        return None
    return float(array[index])


def _above_threshold(scores: np.ndarray | None, calibration: Calibration | None) -> int:
    if scores is None or calibration is None or calibration.ood_threshold is None:
        return 0
    return int(np.sum(scores > calibration.ood_threshold))


def frame_motions(motion: MotionResult, frames: int) -> list[FrameMotion]:
    """Per frame: its registration, and the pair that ends at it (if any), in original pixels."""
    to_original = 1.0 / motion.sequence.scale
    ending = {pair.second: pair for pair in motion.pairs}
    out = []
    for index in range(frames):
        registration = motion.registrations[index]
        pair = ending.get(index)
        out.append(FrameMotion(
            registration.ok, registration.dx * to_original if registration.ok else None,
            registration.dy * to_original if registration.ok else None,
            pair.median_speed if pair is not None else None, pair.p90_speed if pair is not None else None,
            pair.valid_share if pair is not None else None))
    return out


def motion_summary(motion: MotionResult) -> MotionRunSummary:
    return MotionRunSummary(motion.unit, motion.options.template, failure_records(motion), alert_rows(motion),
                            speed_forecast_records(motion))


def region_values(regions: RegionPrediction, frame: int, motion: MotionResult | None = None
                  ) -> tuple[RegionValue, ...]:
    ending = [pair for pair in motion.pairs if pair.second == frame] if motion is not None else []
    speeds = ending[0].region_speeds if ending else {}
    out = []
    for region in range(regions.layout.count):
        measured = _value(regions.measured[:, region], frame) if frame > 0 else None
        predicted = _value(regions.predicted[:, region], frame)
        width = _value(regions.halfwidth[:, region], frame) if regions.halfwidth is not None else None
        low = high = None
        if predicted is not None and width is not None:
            low, high = predicted - width, predicted + width
        out.append(RegionValue(region, measured, predicted, low, high, bool(regions.unexpected[frame, region]),
                               speeds.get(regions.layout.names[region])))
    return tuple(out)


def _skill(errors: np.ndarray, naive_errors: np.ndarray) -> float | None:
    naive_mae = float(np.mean(naive_errors)) if len(naive_errors) else 0.0
    return 1.0 - float(np.mean(errors)) / naive_mae if naive_mae > 0 else None


def region_summary(regions: RegionPrediction, labels: list[str], original_size: tuple[int, int]) -> RegionRunSummary:
    """Where each region lies, its skill against its own persistence, and the alerts that name it."""
    layout = regions.layout
    boxes = layout.boxes(original_size)
    total = float(regions.areas.sum()) or 1.0
    infos = tuple(RegionInfo(r, layout.names[r], boxes[r], round(float(regions.areas[r]) / total, 6))
                  for r in range(layout.count))
    scored = np.isfinite(regions.measured) & np.isfinite(regions.predicted) & np.isfinite(regions.persistence)
    scored[:2] = False  # frame 1 has no persistence of its own (melt_0 is a placeholder)
    error = np.abs(regions.predicted - regions.measured)
    naive_error = np.abs(regions.persistence - regions.measured)
    covered = error <= regions.halfwidth if regions.halfwidth is not None else None
    skills = []
    for r in range(layout.count):
        rows = scored[:, r]
        skills.append(RegionSkill(
            r, float(error[rows, r].mean()) if rows.any() else None,
            float(naive_error[rows, r].mean()) if rows.any() else None, _skill(error[rows, r], naive_error[rows, r]),
            float(covered[rows, r].mean()) if covered is not None and rows.any() else None))
    alerts = []
    for frame, region in zip(*np.nonzero(regions.unexpected)):
        low = regions.predicted[frame, region] - regions.alert_halfwidth[frame, region]  # type: ignore[index]
        high = regions.predicted[frame, region] + regions.alert_halfwidth[frame, region]  # type: ignore[index]
        measured = float(regions.measured[frame, region])
        alerts.append(RegionAlert(
            int(frame), int(region), layout.names[region], boxes[region], measured,
            float(regions.predicted[frame, region]), float(low), float(high),
            region_alert_message(f"frame {frame} ({labels[frame]})", layout.names[region], boxes[region], measured,
                                 float(low), float(high))))
    return RegionRunSummary(
        layout.source, regions.spatial_edges, infos, tuple(alerts), tuple(skills),
        _skill(error[scored], naive_error[scored]),
        float(covered[scored].mean()) if covered is not None and scored.any() else None,
        tuple(float(v) for v in regions.forecast_next) if regions.forecast_next is not None else None)


def build_result(prediction: Prediction, context: RunContext, calibration: Calibration | None = None,
                 motion: MotionResult | None = None) -> RunResult:
    """The run as one typed record (the single source for all three formats)."""
    seq = prediction.sequence
    valid = melt_valid_mask(seq.num_frames)
    threshold = context.alert_threshold
    online = prediction.online
    online_value = align_to_frames(online.value, prediction.task) if online is not None else None
    online_halfwidth = align_to_frames(online.halfwidth, prediction.task) if online is not None else None
    perspective = prediction.perspective
    kinds = scene_kind_of(perspective) if perspective is not None else None
    motions = frame_motions(motion, seq.num_frames) if motion is not None else None
    rows = []
    for index in range(seq.num_frames):
        measured = float(prediction.measured[index]) if valid[index] else None
        predicted = float(prediction.predicted[index]) if valid[index] else None
        halfwidth = _value(prediction.halfwidth, index) if valid[index] else None
        low = high = None
        if predicted is not None and halfwidth is not None:
            low, high = predicted - halfwidth, predicted + halfwidth
        online_melt = _value(online_value, index) if valid[index] else None
        online_half = _value(online_halfwidth, index) if valid[index] else None
        online_low = online_high = None
        if online_melt is not None and online_half is not None:
            online_low, online_high = online_melt - online_half, online_melt + online_half
        rows.append(FrameRow(
            index=index, label=seq.labels[index], date=seq.dates[index].isoformat() if seq.dates[index] else None,
            measured_melt=measured, predicted_melt=predicted,
            abs_error=abs(predicted - measured) if predicted is not None and measured is not None else None,
            alert=bool(threshold is not None and predicted is not None and predicted > threshold),
            interval_low=low, interval_high=high,
            unexpected=bool(low is not None and high is not None and measured is not None
                            and not low <= measured <= high),
            ood_score=_value(prediction.ood_score, index),
            ood=bool(prediction.ood[index]) if prediction.ood is not None else False,
            fallback=bool(prediction.fallback[index]) if prediction.fallback is not None and valid[index] else False,
            online_melt=online_melt, online_low=online_low, online_high=online_high,
            online_unexpected=bool(online_low is not None and online_high is not None and measured is not None
                                   and not online_low <= measured <= online_high),
            scene_kind=str(kinds[index]) if kinds is not None else None,
            perspective=float(perspective[index]) if perspective is not None else None,
            motion=motions[index] if motions is not None else None,
            regions=region_values(prediction.regions, index, motion) if prediction.regions is not None else (),
        ))
    predicted_valid = prediction.predicted[valid]
    forecast = prediction.forecast_next
    forecast_alert = bool(threshold is not None and forecast is not None and forecast > threshold)
    metrics = melt_metrics(predicted_valid, prediction.measured[valid])
    times = prediction.times
    unexpected = sum(row.unexpected for row in rows)
    return RunResult(
        sequence=SequenceInfo(seq.source, seq.num_frames, seq.original_size),
        model=ModelInfo(context.bundle, context.encoder_weights, context.pretrained, context.precision,
                        context.parity_verified, context.mask_excluded_pixels, context.image_inputs),
        task=prediction.task, provider=context.provider, threads=context.threads, alert_threshold=threshold,
        frames=tuple(rows),
        summary=ResultSummary(
            mean_predicted=float(predicted_valid.mean()), max_predicted=float(predicted_valid.max()),
            max_predicted_frame=int(np.argmax(predicted_valid)) + 1, mae=metrics["mae"], rmse=metrics["rmse"],
            pearson_r=_clean(metrics["pearson_r"]),
            alerts=sum(row.alert for row in rows) + unexpected + int(forecast_alert)
            + (len(motion.alerts) if motion is not None else 0),
            forecast_next=forecast, forecast_alert=forecast_alert, unexpected=unexpected,
            ood_frames=_above_threshold(prediction.ood_score, calibration),
            ood_threshold=calibration.ood_threshold if calibration is not None else None,
            ood_window=prediction.ood_window,
            ood_window_majority=calibration.ood_window_majority if calibration is not None else None,
            fallback=calibration.fallback if calibration is not None else None,
            interval_coverage=calibration.coverage if calibration is not None else None,
            forecast_next_halfwidth=prediction.forecast_next_halfwidth,
            forecast_next_fallback=prediction.forecast_next_fallback,
            online=online_summary(online, prediction.task),
            bundle_scene_kind=context.scene_kind,
            other_kind_frames=int(np.sum(kinds != context.scene_kind)) if kinds is not None else 0,
            seen_scene_kind=majority_kind(perspective)[0] if perspective is not None else None,
            motion=motion_summary(motion) if motion is not None else None,
            regions=(region_summary(prediction.regions, seq.labels, seq.original_size)
                     if prediction.regions is not None else None)),
        latency_ms=Latency(load=context.load_seconds * 1000, decode=times.decode * 1000,
                           encode=times.encode * 1000, graph=times.graph * 1000,
                           total=(context.load_seconds + times.total + context.motion_seconds) * 1000,
                           motion=context.motion_seconds * 1000, regions=times.regions * 1000),
    )


def motion_lines(motion: MotionRunSummary) -> list[str]:
    """The motion summary: what the columns are, each region's failure forecast and the alerts."""
    lines = [f"motion: shift = where the frame's stable ground lies relative to the first frame (original px); "
             f"speed = median over the valid windows of the pair ending at the frame ({motion.unit}, "
             f"{motion.template}-px templates, orientation correlation)"]
    lines += [speed_forecast_line(forecast, motion.unit) for forecast in motion.speed_forecasts]
    for failure in motion.failures:
        if not failure.issued:
            lines.append(f"failure forecast, {failure.region}: none ({failure.reason})")
    lines += [f"{a.kind.upper().replace('_', ' ')}: {a.message}" for a in motion.alerts]
    return lines


def region_lines(regions: RegionRunSummary) -> list[str]:
    """Melt per region in words: the layout, its skill against each region's persistence, the alerts."""
    skill = "n/a" if regions.pooled_skill is None else f"{regions.pooled_skill:+.2f}"
    coverage = "" if regions.pooled_coverage is None else f", interval coverage {regions.pooled_coverage:.0%}"
    worst = [r for r in regions.skill if r.skill is not None]
    low = min(worst, key=lambda r: r.skill or 0.0) if worst else None
    edges = "on" if regions.spatial_edges else "off"
    lines = [f"regions: {len(regions.regions)} ({regions.layout}; spatial edges {edges}); skill vs each region's "
             f"persistence {skill} pooled"
             + (f", lowest {low.skill:+.2f} ({regions.regions[low.region].name})" if low is not None else "")
             + coverage + f"; {len(regions.alerts)} unexpected region change(s)"]
    lines += [f"UNEXPECTED REGION: {alert.message}" for alert in regions.alerts]
    if regions.forecast_next is not None:
        top = int(np.argmax(regions.forecast_next))
        lines.append(f"region forecast for the next step: highest {regions.forecast_next[top]:.4f} in "
                     f"{regions.regions[top].name} {regions.regions[top].box}")
    return lines


def kind_refusal(result: RunResult) -> str:
    """One line: which kind of scene the frames show and which kind the bundle knows."""
    s = result.summary
    perspectives = np.array([np.nan if row.perspective is None else row.perspective for row in result.frames])
    return kind_note(perspectives, s.bundle_scene_kind, s.fallback) or ""


def _flagged(result: RunResult) -> int:
    """Frames out of distribution on their own: score above the threshold, or another kind of scene."""
    s = result.summary
    return sum(1 for row in result.frames
               if (row.ood_score is not None and s.ood_threshold is not None and row.ood_score > s.ood_threshold)
               or (row.scene_kind is not None and row.scene_kind != s.bundle_scene_kind))


def online_summary(online: OnlineReplay | None, task: str) -> OnlineSummary | None:
    """The online block of the summary: final weights, running skill and coverage, the guarantees,
    when one expert first held the majority, and (forecast) the online answer for the next step."""
    if online is None:
        return None
    favourite = int(np.argmax(online.final.prior))  # what a new station trusts: the majority held "from 0"
    majority = [(k, int(np.argmax(w))) for k, w in enumerate(online.weights)
                if w.max() > 0.5 and int(np.argmax(w)) != favourite]
    scored_before = np.concatenate([[0], np.cumsum(online.scored)[:-1]])
    forecast = task == "forecast"
    return trust_summary(
        online.final, majority_after=int(scored_before[majority[0][0]]) if majority else None,
        majority_expert=ONLINE_EXPERTS[majority[0][1]] if majority else None,
        forecast_next=float(online.value[-1]) if forecast else None,
        forecast_next_halfwidth=_clean(float(online.halfwidth[-1])) if forecast else None)


def trust_summary(trust: OnlineTrust, **extra: object) -> OnlineSummary:
    """What a learnt online state says (weights, running skill and coverage, both guarantees), the
    same for `run` and `history`; ``extra`` fills the fields only a replay knows."""
    bounds = trust.regret_bounds()
    return OnlineSummary(
        experts=ONLINE_EXPERTS, weights=tuple(round(float(w), 6) for w in trust.weights()), scored=trust.scored,
        running_skill=_clean(trust.running_skill()), coverage=_clean(trust.coverage()),
        regret_bound=_clean(bounds[ONLINE_EXPERTS.index("persistence")]) or 0.0,
        regret_bound_model=_clean(bounds[ONLINE_EXPERTS.index("model")]),
        coverage_gap_bound=None if trust.scored == 0 else coverage_gap_bound(trust.scored),
        prior=tuple(round(float(p), 6) for p in trust.prior), **extra)


def _cell(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _predicted(row: FrameRow) -> str:
    if row.predicted_melt is None:
        return "—"
    text = f"{row.predicted_melt:.4f}"
    if row.interval_low is not None and row.interval_high is not None:
        text += f" ± {(row.interval_high - row.interval_low) / 2:.4f}"
    return text + ("*" if row.fallback else "")


def _online(row: FrameRow) -> str:
    if row.online_melt is None:
        return "—"
    text = f"{row.online_melt:.4f}"
    if row.online_low is not None and row.online_high is not None and math.isfinite(row.online_high):
        text += f" ± {(row.online_high - row.online_low) / 2:.4f}"
    return text


def _flags(row: FrameRow, bundle_kind: str) -> str:
    """ALERT, UNEXPECTED, OOD, and KIND where the frame's layout shows another kind of scene."""
    other = row.scene_kind is not None and row.scene_kind != bundle_kind
    return " ".join(flag for flag, on in (("ALERT", row.alert), ("UNEXPECTED", row.unexpected), ("OOD", row.ood),
                                          ("KIND", other)) if on)


def _motion_cells(row: FrameRow) -> str:
    """Registration shift and the median speed of the pair ending at this frame."""
    m = row.motion
    if m is None:
        return ""
    shift = f"{m.shift_x:+.2f},{m.shift_y:+.2f}" if m.registered and m.shift_x is not None else "UNREGISTERED"
    speed = f"{m.speed_median:.3g}" if m.speed_median is not None else "—"
    return f"  {shift:>13s}  {speed:>7s}"


def format_table(result: RunResult) -> str:
    online = result.summary.online
    station = f"  {'station (online)':>17s}" if online is not None else ""
    moving = result.summary.motion
    motion_head = f"  {'shift px':>13s}  {'speed':>7s}" if moving is not None else ""
    lines = [f"{'frame':>5s}  {'date':10s}  {'measured':>8s}  {'predicted':>17s}{station}  {'|error|':>7s}  "
             f"{'ood':>5s}{motion_head}  {'flags':16s}  label"]
    kind = result.summary.bundle_scene_kind
    for row in result.frames:
        ood = f"{row.ood_score:5.2f}" if row.ood_score is not None else f"{'—':>5s}"
        cell = f"  {_online(row):>17s}" if online is not None else ""
        lines.append(f"{row.index:5d}  {row.date or '':10s}  {_cell(row.measured_melt):>8s}  "
                     f"{_predicted(row):>17s}{cell}  {_cell(row.abs_error):>7s}  {ood}{_motion_cells(row)}  "
                     f"{_flags(row, kind):16s}  "
                     f"{row.label}")
    s, m, lat = result.summary, result.model, result.latency_ms
    r = "n/a" if s.pearson_r is None else f"{s.pearson_r:.3f}"
    lines.append("")
    masked = m.mask_excluded_pixels
    lines.append("melt = mean |Δ RGB| / 255 between consecutive frames; frame 0 has no previous frame"
                 + (f"; {masked} overlay pixels masked out" if masked else ""))
    if s.interval_coverage is not None:
        lines.append(f"± : {s.interval_coverage:.0%} interval calibrated on held-out sequences; UNEXPECTED: measured "
                     f"melt outside the interval of the prediction made for it ({s.unexpected} frame(s))")
    if s.ood_threshold is not None:
        lines.append(f"out of distribution: {s.ood_frames} of {len(result.frames)} frames score above "
                     f"{s.ood_threshold:.2f} (unlike the training imagery); * = the model was not used there, the "
                     f"{s.fallback} answer stands in")
    if s.other_kind_frames:
        lines.append(f"ANOTHER KIND OF SCENE: {kind_refusal(result)}")
    if s.ood_window:
        lines.append(f"OUT OF DISTRIBUTION AS A WHOLE: {_flagged(result)} of {len(result.frames)} frames "
                     f"(≥ {s.ood_window_majority or 0.5:.0%}) are unlike the training imagery (another sensor, band "
                     f"order or kind of scene); every frame is treated as out of distribution")
    if result.task == "forecast" and s.forecast_next is not None:
        lines.append("task: forecast — each 'predicted' value was made from frames up to the previous one")
        band = f" ± {s.forecast_next_halfwidth:.4f}" if s.forecast_next_halfwidth is not None else ""
        lines.append(f"FORECAST for the step after frame {len(result.frames) - 1}: {s.forecast_next:.4f}{band}"
                     f"{' (' + str(s.fallback) + ', input out of distribution)' if s.forecast_next_fallback else ''}"
                     f"{'  ALERT' if s.forecast_alert else ''}")
    if online is not None:
        lines += online_lines(online)
    if s.prior_note is not None:
        lines.append(f"PRIOR FROM ELSEWHERE: {s.prior_note}")
    if s.registered_melt is not None:
        lines += registered_lines(s.registered_melt)
    if moving is not None:
        lines += motion_lines(moving)
    if s.regions is not None:
        lines += region_lines(s.regions)
    lines.append(f"predicted: mean {s.mean_predicted:.4f}, max {s.max_predicted:.4f} (frame "
                 f"{s.max_predicted_frame});  vs measured: MAE {s.mae:.4f}, Pearson r {r}")
    if result.alert_threshold is not None:
        lines.append(f"alerts: {s.alerts} frame(s) above {result.alert_threshold}")
    verified = {True: "parity verified", False: "PARITY FAILED", None: "parity not verified"}[m.parity_verified]
    reads = "; melt from the last melts and the graph, without the image embedding" if m.image_inputs is False else ""
    lines.append(f"model: {m.bundle} ({m.precision}, {verified}); encoder: {m.encoder_weights}; knows: "
                 f"{SCENE_KINDS[s.bundle_scene_kind]}s{reads}")
    lines.append(f"provider: {result.provider}  threads: {result.threads or 'default'}  latency ms: "
                 f"load {lat.load:.0f}, decode {lat.decode:.0f}, encode {lat.encode:.0f}, "
                 f"graph {lat.graph:.1f}" + (f", regions {lat.regions:.1f}" if s.regions is not None else "")
                 + (f", motion {lat.motion:.0f}" if moving is not None else "")
                 + f", total {lat.total:.0f}")
    return "\n".join(lines)


def online_lines(online: OnlineSummary) -> list[str]:
    """The station's own trust in words: its weights, skill and coverage, and what is guaranteed."""
    weights = ", ".join(f"{name.replace('_', ' ')} {weight:.2f}"
                        for name, weight in zip(online.experts, online.weights))
    skill = "n/a" if online.running_skill is None else f"{online.running_skill:+.3f}"
    coverage = "n/a" if online.coverage is None else f"{online.coverage:.0%}"
    gap = "—" if online.coverage_gap_bound is None else f"{online.coverage_gap_bound:.2f}"
    start = ", ".join(f"{name.replace('_', ' ')} {weight:g}" for name, weight in zip(online.experts, online.prior))
    versus_model = ("" if online.regret_bound_model is None
                    else f" and ≤ the model's + {online.regret_bound_model:.4f}")
    lines = [f"station (online): weights {weights} after {online.scored} scored forecast(s), starting from "
             f"{start}; running skill {skill} vs persistence; adaptive 90 % interval coverage {coverage}",
             f"  guaranteed whatever the glacier does: cumulative |error| ≤ persistence's + "
             f"{online.regret_bound:.4f}{versus_model}; |miss rate − 10 %| ≤ {gap}"]
    if online.majority_expert is None and online.prior and online.scored:
        favourite = online.experts[int(np.argmax(online.prior))].replace("_", " ")
        lines.append(f"  no expert has taken the majority of the weight from {favourite}, the prior's choice, yet")
    if online.majority_expert is not None:
        lines.append(f"  {online.majority_expert.replace('_', ' ')} first held the majority of the weight after "
                     f"{online.majority_after} scored forecast(s)")
    if online.forecast_next is not None:
        band = "" if online.forecast_next_halfwidth is None else f" ± {online.forecast_next_halfwidth:.4f}"
        lines.append(f"  station's FORECAST for the next step: {online.forecast_next:.4f}{band}")
    return lines


CSV_FIELDS = ("index", "date", "label", "measured_melt", "predicted_melt", "abs_error", "alert", "interval_low",
              "interval_high", "unexpected", "ood_score", "ood", "fallback", "online_melt", "online_low",
              "online_high", "online_unexpected")


def format_csv(result: RunResult) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in result.frames:
        writer.writerow({key: ("" if getattr(row, key) is None else getattr(row, key)) for key in CSV_FIELDS})
    return buffer.getvalue()


def format_result(result: RunResult, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(result.to_json(), indent=2)
    if output_format == "csv":
        return format_csv(result)
    return format_table(result)


def registered_lines(registered: RegisteredMeltSummary) -> list[str]:
    """The co-registered melt's account: how many frames were aligned, and which were not and why."""
    lines = [f"co-registered (the bundle was trained so): {registered.registered} of {registered.frames} frames "
             f"aligned to the first, {registered.stable_ground}; the outer {registered.border_share:.0%} of each "
             "frame (what a moved frame may not cover) is left out of melt"]
    for frame in registered.unregistered:
        lines.append(f"NOT REGISTERED: frame {frame.index} ({frame.label}) kept as taken: {frame.reason}")
    return lines
