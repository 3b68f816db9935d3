"""`glacier-edge run` as a function: verified bundle + sequence → RunResult (numpy + ORT only)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from glacier_edge.contracts import ROLE_GNN, RegisteredMeltSummary, RunResult, UnregisteredFrame
from glacier_edge.edge.bundle import load_bundle, read_manifest
from glacier_edge.edge.regional import RegionRequest
from glacier_edge.edge.report import RunContext, build_result
from glacier_edge.edge.runtime import EdgeModel, Prediction, encoder_role_for
from glacier_edge.errors import BadInputError, GlacierEdgeError
from glacier_edge.ingest.frames import FrameSequence, read_sequence
from glacier_edge.ingest.regions import bundle_prior_note
from glacier_edge.motion.aligned import RegisteredSequence, StableGround, read_registered_sequence
from glacier_edge.motion.pipeline import MotionOptions, MotionResult, measure_files
from glacier_edge.signals.frame_regions import RegionLayout


@dataclass(frozen=True)
class MotionRequest:
    """`run --glacier-mask/--stable-mask`: measure surface motion beside the model's melt."""

    glacier_mask: Path | None
    stable_mask: Path | None
    options: MotionOptions
    regions_mask: Path | None = None


def run_edge(sequence: Sequence[Path], bundle_dir: Path, *, provider: str = "auto", threads: int | None = None,
             allow_fallback: bool = False, precision: str = "fp32", max_pixels: int,
             alert_threshold: float | None = None, trusted_key: Path | None = None,
             region: str | None = None, motion: MotionRequest | None = None,
             frame_regions: RegionRequest | None = None) -> tuple[RunResult, Prediction]:
    """Decode the sequence, run both models, compare with the measured melt.

    Decoding runs in a thread while the bundle is hashed and the sessions are created (both
    mostly outside the GIL), which takes ~40 ms off a cold start. A bad sequence is reported
    before a bad bundle, as it is the likelier mistake.
    """
    ground = _stable_ground(bundle_dir, motion)
    with ThreadPoolExecutor(max_workers=1) as pool:
        decoding = pool.submit(_timed_read, list(sequence), max_pixels, ground)
        started = time.perf_counter()
        try:
            if trusted_key is not None:
                from glacier_edge.edge.signing import verify_signature

                verify_signature(bundle_dir, trusted_key)
            bundle = load_bundle(bundle_dir, roles=(encoder_role_for(precision), ROLE_GNN))
            model = EdgeModel(bundle, provider=provider, threads=threads, allow_fallback=allow_fallback,
                              precision=precision)
        except GlacierEdgeError:
            decoding.result()
            raise
        load_seconds = time.perf_counter() - started
        frames, decode_seconds, registered = decoding.result()
    layout = None
    if frame_regions is not None:
        if model.regions is None and (frame_regions.superpixels is not None or motion is None):
            raise BadInputError(f"{bundle.directory}: this bundle has no per-region model; train it with "
                                "--frame-regions (--regions-mask alone feeds per-region speeds with --glacier-mask)")
        if model.regions is not None:
            layout = frame_regions.layout(frames)
    prediction = model.predict(frames, decode_seconds=decode_seconds, layout=layout)
    parity = bundle.manifest.parity
    context = RunContext(
        bundle=str(bundle.directory), encoder_weights=bundle.weights_label, pretrained=bundle.pretrained,
        precision=precision, parity_verified=parity.passed if parity else None,
        provider=model.provider, threads=threads, load_seconds=load_seconds, alert_threshold=alert_threshold,
        mask_excluded_pixels=int(model.mask.sum()) if model.mask is not None else 0,
        scene_kind=model.scene_kind,
        image_inputs=bundle.manifest.calibration.image_inputs if bundle.manifest.calibration is not None else None,
    )
    started = time.perf_counter()
    motion_result = None
    if motion is not None:
        motion_result = measure_run_motion(list(sequence), motion, max_pixels,
                                           prediction.regions.layout if prediction.regions is not None else None)
    context = replace(context, motion_seconds=time.perf_counter() - started if motion is not None else 0.0)
    result = build_result(prediction, context, bundle.manifest.calibration, motion_result)
    prediction = replace(prediction, motion=motion_result)
    if registered is not None and ground is not None:
        summary = replace(result.summary, registered_melt=registered_summary(registered, ground))
        result = replace(result, summary=summary)
    note = bundle_prior_note([frames.source, *frames.labels[:1]], bundle.manifest.training, region)
    if note is not None:
        result = replace(result, summary=replace(result.summary, prior_note=note))
    return result, prediction


def measure_run_motion(paths: list[Path], request: MotionRequest, max_pixels: int,
                       layout: RegionLayout | None = None) -> MotionResult:
    """The sequence's motion at its own resolution (read again: the model's frames are 128 px); per
    region of --regions-mask, else of the per-region melt's ``layout``, so both name the same places."""
    return measure_files(paths, glacier_mask=request.glacier_mask, stable_mask=request.stable_mask,
                         regions_mask=request.regions_mask, options=request.options, max_pixels=max_pixels,
                         layout=layout)


def _stable_ground(bundle_dir: Path, motion: MotionRequest | None) -> StableGround | None:
    """Where to co-register the frames when the bundle's melt is co-registered (None: it is not).
    Only the manifest is read here, so the decode can start at once; a bundle that cannot be read
    is reported by :func:`load_bundle` after the sequence, as ever."""
    try:
        register = read_manifest(Path(bundle_dir)).training.config.register
    except GlacierEdgeError:
        return None
    if not register:
        return None
    return StableGround(motion.glacier_mask, motion.stable_mask) if motion is not None else StableGround()


def _timed_read(paths: list[Path], max_pixels: int,
                ground: StableGround | None) -> tuple[FrameSequence, float, RegisteredSequence | None]:
    started = time.perf_counter()
    if ground is None:
        return read_sequence(paths, max_pixels=max_pixels), time.perf_counter() - started, None
    registered = read_registered_sequence(paths, ground, max_pixels=max_pixels)
    return registered.sequence, time.perf_counter() - started, registered


def registered_summary(registered: RegisteredSequence, ground: StableGround) -> RegisteredMeltSummary:
    """What `run` reports of a co-registered sequence."""
    sequence = registered.sequence
    left = tuple(UnregisteredFrame(index, label, r.reason) for index, (label, r)
                 in enumerate(zip(sequence.labels, registered.registrations)) if not r.ok)
    border = float(sequence.border.mean()) if sequence.border is not None else 0.0
    return RegisteredMeltSummary(ground.describe(), sequence.num_frames - len(left), sequence.num_frames, left, border)
