"""Static int8 quantisation of the encoder with ONNX Runtime, choosing the format by measurement.

ORT documents several formats (QDQ or QOperator; signed or unsigned activations; per-tensor or
per-channel weights) whose speed depends on the CPU's int8 kernels. Each candidate is
calibrated on the training frames, timed here and checked for melt agreement with fp32 and for
the embedding's direction (centred cosine); the fastest one within both bounds is kept.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from glacier_edge.bench.stats import measure
from glacier_edge.contracts import Int8Trial
from glacier_edge.edge.runtime import create_session

INT8_MELT_MAE_BOUND = 0.005
INT8_MIN_CENTRED_COSINE = 0.9
"""An int8 encoder must also keep the embedding's direction: the melt bound alone passed int8
MobileNetV3 and EfficientNet-B0 encoders (random init) whose centred embeddings were unrelated to
fp32's (cosine 0.001–0.003) because the graph model leaned on the station-known inputs — yet the
OOD guard and the per-region model read that embedding. ResNet18/50 keep 0.99."""


@dataclass(frozen=True)
class Int8Format:
    key: str
    """What `export --int8-format` takes."""
    name: str
    quant_format: QuantFormat
    activation_type: QuantType
    weight_type: QuantType
    per_channel: bool
    reduce_range: bool = False
    """7-bit weights: ORT's documented remedy for the int16 saturation of U8S8 on x86 without VNNI."""


FORMATS = (
    Int8Format("qdq-s8s8", "QDQ S8S8 per-channel", QuantFormat.QDQ, QuantType.QInt8, QuantType.QInt8, True),
    Int8Format("qdq-u8s8", "QDQ U8S8 per-channel", QuantFormat.QDQ, QuantType.QUInt8, QuantType.QInt8, True),
    Int8Format("qop-u8s8", "QOperator U8S8 per-channel", QuantFormat.QOperator, QuantType.QUInt8,
               QuantType.QInt8, True),
    Int8Format("qop-u8s8-tensor", "QOperator U8S8 per-tensor", QuantFormat.QOperator, QuantType.QUInt8,
               QuantType.QInt8, False),
    Int8Format("qop-u8u8", "QOperator U8U8 per-channel", QuantFormat.QOperator, QuantType.QUInt8,
               QuantType.QUInt8, True),
    Int8Format("qop-u8s8-reduced", "QOperator U8S8 per-channel 7-bit", QuantFormat.QOperator, QuantType.QUInt8,
               QuantType.QInt8, True, reduce_range=True),
)
FORMATS_BY_KEY = {fmt.key: fmt for fmt in FORMATS}
CANDIDATES = FORMATS[:4]
"""What the export race tries where int8 products cannot saturate (VNNI, ARM dot product)."""
SATURATION_FREE = (FORMATS_BY_KEY["qop-u8s8-reduced"],)
"""x86 without VNNI: U8S8 products pass through 16-bit sums. Measured on a Zen 3 (AVX2):
7-bit weights cut the melt error 3× (6.3e-4 → 2.2e-4 vs fp32) at the same speed, while
``session.x64quantprecision`` cuts it 4× but costs 30–50 % of the int8 speed-up
(benchmarks/results/int8_avx2.txt)."""


def candidates_for_this_machine() -> tuple[tuple[Int8Format, ...], str]:
    """The formats the export race tries here, and why (recorded in the manifest)."""
    from glacier_edge.edge.machine import int8_kernel_path

    path = int8_kernel_path()
    if "can saturate" in path:
        return SATURATION_FREE, ("x86 without VNNI on the exporting machine: 7-bit weights, measured to avoid the "
                                 "16-bit saturation at no speed cost")
    return CANDIDATES, f"race on the exporting machine ({path}): fastest within the melt bound"


class FramesReader(CalibrationDataReader):
    """Feeds calibration frames to ORT's calibrator in small batches."""

    def __init__(self, frames: np.ndarray, batch: int = 8) -> None:
        self.batches = iter([frames[i : i + batch] for i in range(0, len(frames), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {"frames": np.ascontiguousarray(batch)}


def median_seconds(run: Callable[[], object], repeats: int = 5) -> float:
    """P50 of ``repeats`` timed calls after one warm-up (the benchmarks' own measure)."""
    return measure(run, runs=repeats, warmup=1).p50


def centred_cosine(a: np.ndarray, b: np.ndarray, centre: np.ndarray) -> float:
    """Mean over frames of cos(a − centre, b − centre): raw cosine of ResNet embeddings is
    ≈ 0.93 even for unrelated frames, so it says nothing about quantisation damage."""
    a, b = a - centre, b - centre
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return float(cos.mean())


def prepare(fp32_path: Path, out: Path) -> Path:
    """ORT's pre-processing (shape inference, folding) before static quantisation."""
    quant_pre_process(str(fp32_path), str(out))
    return out


def quantize_format(prepared: Path, out: Path, calibration_frames: np.ndarray, fmt: Int8Format) -> Path:
    """Calibrate on the frames and write one int8 format (ORT's own progress output silenced)."""
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(str(prepared), str(out), FramesReader(calibration_frames),
                            quant_format=fmt.quant_format, activation_type=fmt.activation_type,
                            weight_type=fmt.weight_type, per_channel=fmt.per_channel,
                            reduce_range=fmt.reduce_range)
    finally:
        logging.disable(logging.NOTSET)
    return out


def quantize_encoder(
    fp32_path: Path,
    out_path: Path,
    calibration_frames: np.ndarray,
    evaluation: list[np.ndarray],
    melt_of: Callable[[np.ndarray], np.ndarray],
    centre: np.ndarray,
    echo: Callable[[str], None] = print,
    candidates: tuple[Int8Format, ...] = CANDIDATES,
    require_bound: bool = True,
) -> tuple[Int8Trial | None, list[Int8Trial], float]:
    """Try each format; write the fastest acceptable one to ``out_path`` (without
    ``require_bound``, the fastest one even if it misses the bound: a format asked for by name).

    ``evaluation`` holds uint8 frame sequences; ``melt_of`` maps (T, D) embeddings to melt.
    Returns (chosen trial or None, all trials, fp32 ms per frame).
    """
    fp32_session, _ = create_session(fp32_path, "cpu")
    timing_batch = np.ascontiguousarray(np.concatenate(evaluation)[:24])
    fp32_seconds = median_seconds(lambda: fp32_session.run(None, {"frames": timing_batch}))
    fp32_embeddings = [fp32_session.run(None, {"frames": frames})[0] for frames in evaluation]
    records = []
    with tempfile.TemporaryDirectory(dir=out_path.parent) as scratch:
        prepared = prepare(fp32_path, Path(scratch) / "prepared.onnx")
        best: tuple[float, Path, Int8Trial] | None = None
        for index, fmt in enumerate(candidates):
            candidate = Path(scratch) / f"candidate{index}.onnx"
            started = time.perf_counter()
            quantize_format(prepared, candidate, calibration_frames, fmt)
            session, _ = create_session(candidate, "cpu")
            seconds = median_seconds(lambda s=session: s.run(None, {"frames": timing_batch}))
            int8_embeddings = [session.run(None, {"frames": frames})[0] for frames in evaluation]
            mae = float(np.mean(np.concatenate([
                np.abs(melt_of(q)[1:] - melt_of(f)[1:]) for q, f in zip(int8_embeddings, fp32_embeddings)])))
            cosine = centred_cosine(np.concatenate(int8_embeddings), np.concatenate(fp32_embeddings), centre)
            record = Int8Trial(format=fmt.name, ms_per_frame=1000 * seconds / len(timing_batch),
                               speedup_vs_fp32=fp32_seconds / seconds, melt_mae_vs_fp32=mae, centred_cosine=cosine,
                               bytes=candidate.stat().st_size,
                               quantize_seconds=round(time.perf_counter() - started, 1),
                               acceptable=mae <= INT8_MELT_MAE_BOUND and cosine >= INT8_MIN_CENTRED_COSINE)
            records.append(record)
            echo(f"  int8 {fmt.name:28s} {record.ms_per_frame:6.2f} ms/frame  ×{record.speedup_vs_fp32:.2f} "
                 f"vs fp32  melt MAE {mae:.2e}  centred cos {cosine:.4f}")
            if (record.acceptable or not require_bound) and (best is None or seconds < best[0]):
                best = (seconds, candidate, record)
            del session
        fp32_ms = 1000 * fp32_seconds / len(timing_batch)
        if best is None:
            return None, records, fp32_ms
        shutil.copyfile(best[1], out_path)
        return best[2], records, fp32_ms
