"""ONNX Runtime sessions and prediction: the edge runner's engine (numpy + onnxruntime only).

Provider choice checks what the session really got (``session.get_providers()``): ONNX Runtime
falls back from CUDA to CPU silently when the CUDA libraries do not load, and a station must
know which one produced its latency figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from glacier_edge.contracts import (
    ENCODER_BATCH,
    PRECISIONS,
    PROVIDER_CHOICES,
    PROVIDER_PACKAGES,
    PROVIDERS,
    ROLE_ENCODER,
    ROLE_ENCODER_INT8,
    ROLE_GNN,
    ROLE_OOD,
    ROLE_REGIONS,
)
from glacier_edge.edge.bundle import Bundle
from glacier_edge.edge.machine import this_machine
from glacier_edge.edge.regional import RegionModel, RegionPrediction
from glacier_edge.errors import ModelBundleError, OutputError, ProviderError
from glacier_edge.fileio import write_file_atomic
from glacier_edge.ingest.frames import FrameSequence
from glacier_edge.ingest.layout import scene_kind_of
from glacier_edge.motion.pipeline import MotionResult
from glacier_edge.paths import default_cache_dir
from glacier_edge.signals.features import node_inputs
from glacier_edge.signals.frame_regions import RegionLayout
from glacier_edge.signals.graph import dense_adjacency
from glacier_edge.signals.history import naive
from glacier_edge.signals.mask import mask_from_record, with_border
from glacier_edge.signals.melt import align_to_frames, measured_melt, normalize_melt, task_targets
from glacier_edge.signals.online import ONLINE_EXPERTS, OnlineReplay, replay, station_trust
from glacier_edge.signals.ood import COLOUR_FEATURES, WINDOW_MAJORITY, colour_features, window_is_ood


def session_options(threads: int | None) -> ort.SessionOptions:
    """Options for every session: no idle spinning, so two sessions used one after the other
    on 2 cores do not steal time from each other's spinning worker threads (measured: 137 →
    100 ms per encoder + GNN call on 8 frames)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options


def optimised_cache_path(sha256: str) -> Path:
    """Where this machine keeps the optimised graph of the model with this sha256."""
    return default_cache_dir() / "ort" / f"{sha256[:32]}-ort{ort.__version__}-{this_machine()}.onnx"


def cpu_session(path: Path, options: ort.SessionOptions, sha256: str | None) -> ort.InferenceSession:
    """A CPU session, through a per-machine cache of the fully optimised graph when possible.

    Full graph optimisation (fusions, NCHWc layout) costs ~250 ms per session start on 2 cores
    and its result is specific to this CPU and ORT version, so it cannot ship in the bundle.
    ORT's offline mode saves it once and later starts load it with optimisation off. The key is
    the verified file's sha256, the ORT version and the machine (architecture + ISA flags,
    :func:`glacier_edge.edge.machine.machine_key`), so no optimised graph crosses machines through a
    shared cache. An unreadable cache entry is dropped and rebuilt.
    """
    providers = [PROVIDERS["cpu"]]
    if sha256 is None:
        return ort.InferenceSession(str(path), options, providers=providers)
    cached = optimised_cache_path(sha256)
    if cached.is_file():
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(cached), options, providers=providers)
        except Exception:  # noqa: BLE001 - a damaged cache entry must not stop a station
            cached.unlink(missing_ok=True)
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sessions: list[ort.InferenceSession] = []

    def build_and_save(staging: Path) -> None:
        options.optimized_model_filepath = str(staging)
        sessions.append(ort.InferenceSession(str(path), options, providers=providers))

    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(cached, build_and_save)
    except (OSError, OutputError):
        if not sessions:  # the cache cannot be written here: optimise in memory, as ORT does by default
            options.optimized_model_filepath = ""
            return ort.InferenceSession(str(path), options, providers=providers)
    return sessions[0]


def create_session(path: Path, provider: str = "cpu", threads: int | None = None,
                   allow_fallback: bool = False, sha256: str | None = None) -> tuple[ort.InferenceSession, str]:
    """Create a session on ``provider`` (auto, cpu, cuda, tensorrt, openvino); return it with the
    provider it really got.

    A provider that cannot be had raises :class:`ProviderError` unless ``allow_fallback``: the
    installed onnxruntime package lacks it, or ORT offered it and then fell back to CPU
    silently (checked with ``session.get_providers()``). ``auto`` uses CUDA when the session
    really gets it and the CPU otherwise.
    """
    if provider not in PROVIDER_CHOICES:
        raise ProviderError(f"unknown provider {provider!r}; use one of {', '.join(PROVIDER_CHOICES)}")
    if provider == "cpu":
        return cpu_session(path, session_options(threads), sha256), "cpu"
    wanted = "cuda" if provider == "auto" else provider
    session, reason = _accelerated_session(path, wanted, threads)
    if session is not None:
        return session, wanted
    if provider != "auto" and not allow_fallback:
        raise ProviderError(f"--provider {provider}: {reason}; use --provider cpu or add --allow-fallback")
    return cpu_session(path, session_options(threads), sha256), "cpu"


def _accelerated_session(path: Path, name: str, threads: int | None) -> tuple[ort.InferenceSession | None, str]:
    """A session whose first provider really is ``name``, or None and why not."""
    wanted = PROVIDERS[name]
    available = ort.get_available_providers()
    if wanted not in available:
        return None, (f"this onnxruntime build has no {wanted} (available: {', '.join(available)}; "
                      f"install {PROVIDER_PACKAGES[name]})")
    chain = [wanted, *([PROVIDERS["cuda"]] if name == "tensorrt" else []), PROVIDERS["cpu"]]
    try:
        session = ort.InferenceSession(str(path), session_options(threads), providers=chain)
    except Exception as exc:  # noqa: BLE001 - ORT raises bare RuntimeError/Fail for provider load errors
        return None, f"the {wanted} session could not be created ({str(exc).splitlines()[0][:200]})"
    if session.get_providers()[0] == wanted:
        return session, ""
    return None, (f"ONNX Runtime offered {wanted} but the session fell back to {session.get_providers()[0]} "
                  "(its libraries or driver are missing)")


@dataclass
class StageTimes:
    """Wall-clock seconds per stage of one run."""

    decode: float = 0.0
    encode: float = 0.0
    graph: float = 0.0
    regions: float = 0.0
    """The per-region model: region melt, inputs, regions.onnx, guard (the encoder pass is shared)."""

    @property
    def total(self) -> float:
        return self.decode + self.encode + self.graph + self.regions


@dataclass
class Prediction:
    sequence: FrameSequence
    measured: np.ndarray
    """Measured melt per frame (frame 0: placeholder 0)."""
    predicted: np.ndarray
    """Prediction for each frame's melt (NaN for frame 0), aligned whatever the task."""
    task: str = "nowcast"
    forecast_next: float | None = None
    """forecast task: predicted melt of the step after the last frame."""
    times: StageTimes = field(default_factory=StageTimes)
    ood_score: np.ndarray | None = None
    """Per frame: out-of-distribution score of its embedding (None: the bundle has no OOD model)."""
    ood: np.ndarray | None = None
    """Per frame: out of distribution, by its own score or because most of the window is."""
    fallback: np.ndarray | None = None
    """Per frame (aligned like ``predicted``): the naive answer replaced the model (its input was OOD)."""
    halfwidth: np.ndarray | None = None
    """Per frame (aligned): half-width of the calibrated interval (None: the bundle has none)."""
    forecast_next_fallback: bool = False
    forecast_next_halfwidth: float | None = None
    ood_window: bool = False
    """Most frames scored above the threshold, so every frame counts as out of distribution."""
    online: OnlineReplay | None = None
    """Per node: the online combination, replayed causally (None: the bundle has no melt range)."""
    perspective: np.ndarray | None = None
    """Per frame: the layout's perspective (:func:`glacier_edge.ingest.layout.perspective`)."""
    other_kind: np.ndarray | None = None
    """Per frame: its layout shows another kind of scene than the bundle knows (counted as OOD)."""
    motion: MotionResult | None = None
    """Surface motion, when `run` was asked for it (set by the runner)."""
    regions: RegionPrediction | None = None
    """Melt per region, when the bundle has the per-region model."""


def _check_colour_width(bundle: Bundle) -> None:
    """A bundle whose OOD model reads another set of colour features was made by another version."""
    widths = [spec.shape[-1] for spec in bundle.manifest.models[ROLE_OOD].inputs if spec.name == "colour"]
    if widths != [len(COLOUR_FEATURES)]:
        raise ModelBundleError(f"{bundle.directory}: its {bundle.manifest.models[ROLE_OOD].file} reads "
                               f"{widths[0] if widths else 'no'} colour features, this glacier-edge computes "
                               f"{len(COLOUR_FEATURES)}; export the bundle again with this version")


def encoder_role_for(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ModelBundleError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return ROLE_ENCODER_INT8 if precision == "int8" else ROLE_ENCODER


class EdgeModel:
    """The two sessions of a bundle, created once and reused for every sequence."""

    def __init__(self, bundle: Bundle, *, provider: str = "auto", threads: int | None = None,
                 allow_fallback: bool = False, precision: str = "fp32") -> None:
        encoder_role = encoder_role_for(precision)
        if not bundle.has_model(encoder_role):
            raise ModelBundleError(f"{bundle.directory}: bundle has no int8 encoder; export it with --int8")
        self.bundle = bundle
        self.precision, self.encoder_role = precision, encoder_role
        self.encoder, self.provider = create_session(bundle.model_path(encoder_role), provider, threads,
                                                     allow_fallback, bundle.model_sha256(encoder_role))
        self.gnn, graph_provider = create_session(bundle.model_path(ROLE_GNN), self.provider, threads,
                                                  sha256=bundle.model_sha256(ROLE_GNN))
        assert graph_provider == self.provider
        manifest = bundle.manifest
        self.normalization, self.task, self.graph_kind = manifest.normalization, manifest.task, manifest.graph_kind
        self.mask = mask_from_record(manifest.melt_mask)
        self.features = manifest.node_features
        self.calibration = manifest.calibration
        self.scene_kind = manifest.training.scene_kind
        self.register = manifest.training.config.register
        """The bundle's melt is measured on frames co-registered to the first (`train --register`)."""
        self.ood = None
        if bundle.has_model(ROLE_OOD):
            _check_colour_width(bundle)
            self.ood, _ = create_session(bundle.model_path(ROLE_OOD), self.provider, threads,
                                         sha256=bundle.model_sha256(ROLE_OOD))
        self.regions: RegionModel | None = None
        if manifest.regions is not None and bundle.has_model(ROLE_REGIONS):
            session, _ = create_session(bundle.model_path(ROLE_REGIONS), self.provider, threads,
                                        sha256=bundle.model_sha256(ROLE_REGIONS))
            self.regions = RegionModel(session, manifest.regions, self.task, self.graph_kind, self.normalization)
        self.last_cells: np.ndarray | None = None

    def embed(self, frames: np.ndarray, batch_size: int = ENCODER_BATCH) -> np.ndarray:
        """uint8 (T, 128, 128, 3) → float32 (T, D), in batches to bound memory. An encoder with the
        feature-map output (bundles with the per-region model) leaves its cells (T, C, D) in
        ``last_cells``: the same pass."""
        outputs = [self.encoder.run(None, {"frames": np.ascontiguousarray(frames[i : i + batch_size])})
                   for i in range(0, len(frames), batch_size)]
        self.last_cells = np.concatenate([o[1] for o in outputs]) if len(outputs[0]) > 1 else None
        return np.concatenate([o[0] for o in outputs])

    def measured(self, frames: np.ndarray, border: np.ndarray | None = None) -> np.ndarray:
        """Measured melt of uint8 frames, with the bundle's mask and normalisation (and, for
        co-registered frames, without the ``border`` a moved frame may not cover)."""
        return normalize_melt(measured_melt(frames, with_border(self.mask, border)), self.normalization)

    def melt(self, embeddings: np.ndarray, sequence: FrameSequence | None = None,
             measured: np.ndarray | None = None) -> np.ndarray:
        """Per-node outputs. Metadata features come from ``sequence``; without one (random
        benchmark frames) the training means stand in."""
        x = node_inputs(embeddings, sequence, self.features, measured, self.task)
        adjacency = dense_adjacency(len(embeddings), self.graph_kind)
        return self.gnn.run(None, {"x": x, "adjacency": adjacency})[0]

    def predict(self, sequence: FrameSequence, decode_seconds: float = 0.0,
                layout: RegionLayout | None = None) -> Prediction:
        """``layout``: the regions of the per-region model (default: its training grid)."""
        times = StageTimes(decode=decode_seconds)
        start = time.perf_counter()
        embeddings = self.embed(sequence.frames)
        times.encode = time.perf_counter() - start
        start = time.perf_counter()
        measured = self.measured(sequence.frames, sequence.border)
        outputs = self.melt(embeddings, sequence, measured).astype(np.float64)
        scores = None
        if self.ood is not None:
            feeds = {"embeddings": embeddings, "colour": colour_features(sequence.frames)}
            scores = self.ood.run(None, feeds)[0].astype(np.float64)
        times.graph = time.perf_counter() - start
        prediction = self.guard(sequence, measured, outputs, scores, times, sequence.perspectives())
        if self.regions is not None and self.last_cells is not None:
            start = time.perf_counter()
            prediction.regions = self.regions.predict(self.last_cells, sequence.frames,
                                                      layout or self.regions.default_layout(),
                                                      with_border(self.mask, sequence.border),
                                                      prediction.ood)
            times.regions = time.perf_counter() - start
        return prediction

    def guard(self, sequence: FrameSequence, measured: np.ndarray, outputs: np.ndarray, scores: np.ndarray | None,
              times: StageTimes, perspective: np.ndarray | None = None) -> Prediction:
        """Apply what held-out folds said: an out-of-distribution input gets the best naive answer
        instead of the model, and every prediction its calibrated interval. Per node t (input
        frame t), then placed on the frame whose melt it predicts. A frame whose layout shows
        another kind of scene than the bundle knows (``perspective``) is out of distribution
        whatever its score: the embedding and colour distances do not see geometry."""
        cal = self.calibration
        threshold = cal.ood_threshold if cal is not None else None
        ood, ood_window = np.zeros(len(outputs), bool), False
        other_kind = None
        if perspective is not None:
            other_kind = scene_kind_of(perspective) != self.scene_kind
            ood = ood | other_kind
        if scores is not None and threshold is not None:
            ood = ood | (scores > threshold)
        if (scores is not None and threshold is not None) or other_kind is not None:
            majority = cal.ood_window_majority if cal is not None else WINDOW_MAJORITY
            ood_window = window_is_ood(ood, majority)
            ood = ood | ood_window
        values, halfwidth = outputs, None
        if cal is not None:
            values = np.where(ood, naive(cal.fallback, measured, self.task, cal.train_mean), outputs)
            halfwidth = np.where(ood, cal.fallback_halfwidth, cal.halfwidth)
        aligned_fallback = align_to_frames(ood.astype(np.float64), self.task) == 1.0
        last = len(values) - 1
        online = self.online(values, measured)
        return Prediction(
            sequence, measured, align_to_frames(values, self.task), self.task,
            float(values[last]) if self.task == "forecast" else None, times, scores,
            ood if scores is not None or other_kind is not None else None, aligned_fallback,
            None if halfwidth is None else align_to_frames(halfwidth, self.task),
            bool(ood[last]) if self.task == "forecast" else False,
            float(halfwidth[last]) if halfwidth is not None and self.task == "forecast" else None, ood_window,
            online, perspective, other_kind)

    def online(self, served: np.ndarray, measured: np.ndarray) -> OnlineReplay | None:
        """The station's own trust over this sequence: the served answers (model, or fallback) and
        the naive answers combined causally, node by node (:func:`glacier_edge.signals.online.replay`)."""
        cal = self.calibration
        if cal is None or cal.melt_range is None:
            return None
        targets, valid = task_targets(measured, self.task)
        answers = np.stack([served, *(naive(kind, measured, self.task, cal.train_mean)
                                      for kind in ONLINE_EXPERTS[1:])], axis=1)
        low, high = cal.melt_range
        return replay(answers, targets.astype(np.float64), valid, station_trust(low, high, cal.halfwidth))
