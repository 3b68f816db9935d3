"""What crosses a file boundary, as frozen dataclasses: training configuration, run record
(``run.json``), bundle manifest (``manifest.json``) and run result (``run --format json``).

Torch-free, so the edge runner reads the same types the torch wing writes. Every choice list,
default and file name lives here once; the CLI builds its options from them. Values that follow
from others (the graph kind from the task, the embedding width from the backbone) are derived,
never stored twice.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, get_args

from glacier_edge.errors import ModelBundleError
from glacier_edge.schema import ContractError, from_json, to_json

DEFAULT_MAX_PIXELS = 50_000_000
"""Decompression-bomb guard: refuse a frame larger than this many pixels before decoding it."""

# Choices, each defined once (the CLI's click.Choice lists come from here).
Task = Literal["nowcast", "forecast"]
Arch = Literal["sage", "gat"]
FinalActivation = Literal["identity", "relu"]
Normalization = Literal["absolute", "minmax"]
Precision = Literal["fp32", "int8"]
CalibrationGroups = Literal["sequence", "region"]
GainRule = Literal["pooled", "worst_group", "glacier_p10"]
ImageInputs = Literal["auto", "on", "off"]
ResidualScale = Literal["absolute", "relative"]
RESIDUAL_SCALES: tuple[str, ...] = get_args(ResidualScale)
GAIN_RULES: tuple[str, ...] = get_args(GainRule)
IMAGE_INPUTS: tuple[str, ...] = get_args(ImageInputs)
SceneKind = Literal["nadir", "camera"]
SCENE_KINDS: dict[str, str] = {"nadir": "nadir satellite chip", "camera": "fixed oblique camera"}
"""Each kind of imagery a bundle can know, and its words in messages (the keys are what JSON stores)."""
DeclaredSceneKind = Literal["auto", "nadir", "camera"]
TASKS: tuple[str, ...] = get_args(Task)
CALIBRATION_GROUPS: tuple[str, ...] = get_args(CalibrationGroups)
ARCHS: tuple[str, ...] = get_args(Arch)
FINAL_ACTIVATIONS: tuple[str, ...] = get_args(FinalActivation)
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)
PRECISIONS: tuple[str, ...] = get_args(Precision)
GraphKind = Literal["bidirectional", "causal"]
GRAPH_KINDS: tuple[str, ...] = ("bidirectional", "causal")
TASK_GRAPHS = {"nowcast": "causal", "forecast": "causal"}
"""Both tasks on the causal graph (edges from earlier frames only), so node t sees exactly what a
station knows when frame t arrives. The seed's nowcast graph was bidirectional: with the history
features, node t+1's last melt *is* node t's target, so every node but the last saw its own answer.
Models trained on it (records of schema version 2) keep it: ``TrainConfig.temporal_graph``."""
OUTPUT_FORMATS: tuple[str, ...] = ("table", "json", "csv")
EVALUATION_GROUPS: tuple[str, ...] = ("sequence", "region")
"""What `evaluate` holds out at a time: sequences (grouped k-fold) or whole regions."""
INT8_FORMATS: tuple[str, ...] = ("qdq-s8s8", "qdq-u8s8", "qop-u8s8", "qop-u8s8-tensor", "qop-u8u8", "qop-u8s8-reduced")
"""int8 encoder formats `export --int8-format` takes (export/quantize.py defines each)."""
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider",
             "openvino": "OpenVINOExecutionProvider"}
"""ONNX Runtime execution providers by the name the CLI takes."""
PROVIDER_PACKAGES = {"cuda": "onnxruntime-gpu", "tensorrt": "onnxruntime-gpu (with TensorRT libraries)",
                     "openvino": "onnxruntime-openvino"}
"""The onnxruntime package that carries each provider (each replaces the plain `onnxruntime`)."""
PROVIDER_CHOICES: tuple[str, ...] = ("auto", *PROVIDERS)
ENCODER_BATCH = 32
"""Frames per encoder call, in training (PyTorch) and on the edge (ONNX Runtime): bounds memory."""

# File names, each defined once.
RUN_FILE = "run.json"
MODEL_FILE = "model.pt"
SUMMARY_FILE = "embedding_summary.npz"
"""Training-embedding summary of a run (mean, principal directions, variances) for the OOD score."""
PLOT_FILE = "melt.png"
MANIFEST_FILE = "manifest.json"
ENCODER_FILE = "encoder.onnx"
ENCODER_INT8_FILE = "encoder.int8.onnx"
GNN_FILE = "gnn.onnx"
"""The graph model (GraphSAGE or GAT, as ``training.model.arch`` says), in its dense form."""
OOD_FILE = "ood.onnx"
"""Embeddings (N, D) → out-of-distribution score (N,), from the run's embedding summary."""
REGIONS_FILE = "regions.onnx"
"""The per-region model (train --regions): node inputs (T, R, F), temporal (T, T) and spatial (R, R)
adjacency → region melt (T, R). Its encoder.onnx then has a second output, the feature-map cells."""
REGIONS_MODEL_FILE = "regions.pt"

ONNX_IR_VERSION = 10
"""IR of every bundle file at most (torch.onnx writes 10 for opset 18). onnx 1.23's helper would
write IR 14, which onnxruntime before 1.25 refuses — onnxruntime-openvino 1.24.1 among them."""

# Bundle roles: which model a file holds.
ROLE_ENCODER, ROLE_ENCODER_INT8, ROLE_GNN, ROLE_OOD = "encoder", "encoder_int8", "gnn", "ood"
ROLE_REGIONS = "regions"

R = TypeVar("R", bound="Record")


BACKBONE_NAMES = ("resnet50", "resnet18", "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0", "none")
"""The encoders of :mod:`glacier_edge.training.backbones` (named here so the CLI needs no torch)."""
WEIGHT_NAMES = ("ssl4eo-s12-rgb-moco", "seco")
"""Named remote-sensing weights (:mod:`glacier_edge.training.named_weights`), used with a weights file."""


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; `train` and `evaluate` build their options from it."""

    epochs: int = 200
    """Passes over the training sequences. 200, not the seed's 600: on the 35-sequence corpus an
    epoch is ~5 mini-batches, and held-out skill did not improve with more (see README)."""
    lr: float = 0.003
    seed: int = 0
    weights: str = "auto"
    backbone: str = "resnet50"
    """The frame encoder (:data:`BACKBONE_NAMES`); ``none``: no image embedding (the ablation)."""
    weights_file: str | None = None
    """The checkpoint of named remote-sensing weights (``weights`` names them)."""
    image_size: int = 128
    """Pixels the backbone sees: the 128-px frames are resized to this inside the encoder (and so
    inside encoder.onnx). Pretrained weights were trained at 224–256 px; the cost grows as its square."""
    augmentations: int = 4
    normalization: Normalization = "absolute"
    arch: Arch = "sage"
    task: Task = "nowcast"
    final_activation: FinalActivation = "identity"
    metadata: bool = False
    mask_specs: tuple[str, ...] = ()
    max_pixels: int = DEFAULT_MAX_PIXELS
    history: bool = True
    """Node features a station knows before the target: last melt, running mean, embedding change."""
    residual: bool = True
    """Predict a correction to persistence (needs ``history``), shrunk by held-out folds."""
    calibration_folds: int = 3
    """Grouped held-out folds (by sequence) inside `train`: residual gain, interval, OOD threshold."""
    folds: int = 5
    """Outer folds of `evaluate` (leave-one-sequence-out up to this many sequences)."""
    batch_graphs: int = 8
    """Sequence graphs per mini-batch."""
    weight_decay: float = 0.0
    calibration_groups: CalibrationGroups = "region"
    """What the calibration folds hold out: whole regions (from GLIMS IDs in the names, when the
    training sequences span two or more; else sequences), so that the gain, interval and OOD
    threshold measure transfer to a region the model has not seen instead of being set by the
    region that fills the corpus. Measured leave-one-region-out: the worst region's skill went from
    −0.27 to −0.05 (nowcast) and from −0.33 to −0.09 (forecast); "sequence" is the former default."""
    residual_scale: ResidualScale = "absolute"
    """The residual's unit: "absolute" (melt) or "relative" — the correction in units of the
    sequence's own running mean of melt, and the loss weighted by it, so that a correction learnt
    where the melt is large is not noise where it is small (a lever of issue 19)."""
    gain_rule: GainRule = "pooled"
    """How the held-out folds set the gain toward the model: "pooled" minimises the squared error of
    every held-out value together (the big region's melts dominate it); "worst_group" maximises the
    worst calibration group's skill against the anchor (MAE), so that a group where the model's
    correction hurts pulls the gain toward the naive answer; "glacier_p10" maximises the 10th
    percentile of the held-out glaciers' (sequences') skills — a station sits at one glacier, so the
    gain protects the tail of glaciers rather than the pooled melt."""
    refuse_outside_range: bool = True
    """Residual models: where the last measured melt lies outside the training targets' range
    (widened by 10 %, the clip range of every served value), serve it as it is instead of a correction
    extrapolated from other melts. A lever of issue 19, measured leave-one-region-out: with the image
    embedding always read it lifted the Western Alps but the Caucasus fell (−0.086 → −0.376 forecast),
    so it was not the default; with ``image_inputs="auto"`` the calibration folds see that and leave
    the embedding out there, and the refusal lifts the worst region from +0.013 to +0.097 (nowcast)
    and from +0.001 to +0.068 (forecast; ``benchmarks/README.md``). Ignored without the residual."""
    scene_kind: DeclaredSceneKind = "auto"
    """The kind of imagery trained on; "auto": the kind most training frames show
    (:func:`glacier_edge.ingest.layout.scene_kind_of`). The guard flags frames of another kind."""
    frame_regions: bool = False
    """Also train the per-region model (regions of the frame as nodes) on the encoder-aligned 4×4 grid."""
    spatial_edges: bool | None = None
    """The per-region model's edges between adjacent regions of a frame; None: on, as held out on the
    corpus (``benchmarks/frame_regions.py``) for both tasks: forecast +0.199 with, +0.178 without
    (worst region +0.125 against +0.094); nowcast on the causal graph +0.271 with, +0.265 without
    (worst region +0.166 against +0.131). Nowcast models of schema version 2 (bidirectional graph,
    where edges lowered skill: +0.256 against +0.301) had them off, and keep that."""
    image_inputs: ImageInputs = "auto"
    """Whether the melt model reads the image embedding (the encoder runs either way: the OOD guard,
    scene kind and per-region model use it). "auto": the calibration folds train the model with and
    without it and keep it only if the worst calibration fold's skill is at least as high with it —
    an input is kept only where it helps held out (issue 19: the random-init embedding did not travel
    to a held-out region; pretrained weights may)."""
    temporal_graph: GraphKind = "causal"
    """The temporal edges: "causal" for every new model (:data:`TASK_GRAPHS`); "bidirectional" only in
    nowcast models read from records written before it was recorded (schema version 2), which were
    trained on it and must run on it."""
    register: bool = False
    """Co-register every frame to its sequence's first on stable ground before it becomes a model
    frame (:mod:`glacier_edge.motion.aligned`): melt, embeddings and regions then see a camera's shake
    removed. Off by default: measured on the corpus and the generated sample, whose frames already
    lie on one grid (``benchmarks/register_melt.py``)."""
    glacier_mask: str | None = None
    """With ``register``: stable ground is everything outside this mask (an image of the frames' size)."""
    stable_mask: str | None = None
    """With ``register``: stable ground is this mask (white); else outside ``glacier_mask``, else the frame."""

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.augmentations < 0 or self.max_pixels < 1:
            raise ValueError("epochs, lr and max_pixels must be positive, augmentations ≥ 0")
        if self.folds < 2 or self.calibration_folds < 2 or self.batch_graphs < 1 or self.weight_decay < 0:
            raise ValueError("folds and calibration_folds must be ≥ 2, batch_graphs ≥ 1, weight_decay ≥ 0")

    @property
    def graph_kind(self) -> str:
        return self.temporal_graph

    @property
    def uses_spatial_edges(self) -> bool:
        """``spatial_edges`` as declared, else on (what held out best in both tasks)."""
        return self.spatial_edges if self.spatial_edges is not None else True

    def with_(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)


@dataclass(frozen=True)
class Record:
    """Base of the top-level contracts: a schema name and version, checked before the fields."""

    SCHEMA: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    WHAT: ClassVar[str] = "record"

    @classmethod
    def from_json(cls: type[R], data: Any, label: str) -> R:
        if not isinstance(data, dict) or data.get("schema") != cls.SCHEMA:
            raise ContractError(f"{label}: not a glacier-edge {cls.WHAT} ({cls.SCHEMA})")
        if data.get("schema_version") != cls.VERSION and data.get("schema_version") in cls.upgradable():
            data = cls.upgrade(data)
        if data.get("schema_version") != cls.VERSION:
            raise ContractError(f"{label}: {cls.WHAT} schema version {data.get('schema_version')!r} is not "
                                f"supported (this glacier-edge reads version {cls.VERSION}); write it again with "
                                "this version")
        return from_json(cls, data, label)

    @classmethod
    def upgradable(cls) -> tuple[int, ...]:
        """Older schema versions this version reads, through :meth:`upgrade`."""
        return ()

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        """An older version's JSON as this version's (only for :meth:`upgradable` versions)."""
        raise NotImplementedError

    @classmethod
    def read(cls: type[R], path: Path) -> R:
        """Parse and validate a JSON file; every failure is one :class:`ModelBundleError` line."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ModelBundleError(f"{path}: corrupt {cls.WHAT} ({exc})") from exc
        return cls.from_json(data, str(path))

    def to_json(self) -> dict[str, Any]:
        return to_json(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"


@dataclass(frozen=True)
class Metrics:
    """Agreement of predicted with measured melt (glacier_edge.signals.metrics.melt_metrics)."""

    mae: float
    rmse: float
    pearson_r: float
    """NaN where undefined (fewer than 2 values or a constant side)."""
    n: int


@dataclass(frozen=True)
class SequenceSummary:
    source: str
    frames: int
    metrics: Metrics
    frames_sha256: str = ""
    dates: tuple[str | None, ...] = ()
    region: str | None = None
    """From `train --regions CSV`, else from a GLIMS ID in the name (glacier_edge.ingest.regions);
    `run --region` compares a station's region with these."""


@dataclass(frozen=True)
class BackboneRecord:
    """Which CNN turns a frame into an embedding (torchgeo-style spec, recorded with the model)."""

    name: str
    embedding_dim: int
    gflop_per_frame: float
    """Multiply-accumulates ×2 of one frame at the frame size, counted by PyTorch's
    FlopCounterMode on the backbone itself (0 for ``none``), for throughput figures."""


@dataclass(frozen=True)
class EncoderRecord:
    backbone: BackboneRecord
    weights: str
    """What to pass to the backbone's builder to rebuild exactly this encoder."""
    weights_id: str
    pretrained: bool
    description: str
    weights_file: str | None = None
    """The checkpoint of named weights (``weights`` then names them), to rebuild the encoder."""
    normalisation: str = "imagenet"
    """Which input scaling the encoder (and so encoder.onnx) applies (:mod:`training.named_weights`)."""
    input_size: int = 128
    """Pixels the backbone sees: frames (128 px) are resized to this inside the encoder."""

    @property
    def untrained_features(self) -> bool:
        """The embedding comes from random weights (what every report warns about); the ``none``
        encoder has no embedding to warn about."""
        return not self.pretrained and self.backbone.name != "none"

    def label(self) -> str:
        return f"{self.description} — NOT PRETRAINED" if self.untrained_features else self.description


@dataclass(frozen=True)
class NodeFeatures:
    """Columns after the embedding: metadata (dates, covariates), then history (what a station
    knows before the target is measured: glacier_edge.signals.history)."""

    metadata: tuple[str, ...] = ()
    neutral: tuple[float, ...] = ()
    """Training means of the metadata columns, used where a sequence has none (random frames)."""
    history: tuple[str, ...] = ()
    history_neutral: tuple[float, ...] = ()
    """Training means of the history columns, used where nothing is measured yet."""

    def __post_init__(self) -> None:
        if len(self.metadata) != len(self.neutral) or len(self.history) != len(self.history_neutral):
            raise ValueError("each node feature needs one neutral value")

    @property
    def width(self) -> int:
        return len(self.metadata) + len(self.history)

    def history_column(self, name: str, embedding_dim: int) -> int:
        """Input column of history feature ``name`` after an embedding of ``embedding_dim`` columns."""
        return embedding_dim + len(self.metadata) + self.history.index(name)


@dataclass(frozen=True)
class ModelRecord:
    arch: Arch
    in_dim: int
    hidden: tuple[int, ...]
    final_activation: FinalActivation
    base_column: int | None = None
    """Input column of persistence when the model is a residual on it."""
    anchor_column: int | None = None
    """Input column of the naive answer the output is shrunk toward (None: a constant, or none)."""
    scale_column: int | None = None
    """``residual_scale="relative"``: input column (the running mean) the correction is measured in."""
    scale_floor: float = 0.0
    """The smallest scale used (melt units), so a quiet start does not blow the correction up."""
    refuse_outside_range: bool = False
    """Where the last measured melt lies outside the output range, it is served as it is
    (``TrainConfig.refuse_outside_range``; False in runs made before it existed)."""


@dataclass(frozen=True)
class Calibration:
    """What held-out folds (grouped by sequence) said about the model, stored with it.

    ``gain`` shrinks the residual toward persistence; ``halfwidth`` is the split-conformal
    half-width of the nominal ``coverage`` interval (|measured − predicted| quantile with the
    finite-sample correction) over ``n`` held-out predictions.
    """

    folds: int
    n: int
    gain: float
    coverage: float
    halfwidth: float
    heldout_mae: float
    persistence_mae: float
    fallback: Literal["persistence", "running_mean", "train_mean"]
    """The best naive answer on the held-out folds: what a station reports for a frame that is
    out of distribution."""
    fallback_mae: float
    fallback_halfwidth: float
    train_mean: float
    """Training mean of the targets: the naive answer where nothing is measured yet."""
    ood_threshold: float | None = None
    ood_heldout_flag_rate: float | None = None
    """Share of held-out (in-distribution) frames above the threshold."""
    ood_term_scale: tuple[float, ...] | None = None
    """Held-out 99th percentile of each OOD distance (embedding, colour); baked into ood.onnx."""
    ood_window_majority: float | None = None
    """A window (the frames the graph reads) with at least this share above the threshold counts
    as out of distribution as a whole; None: each frame on its own score."""
    ood_heldout_max_window_share: float | None = None
    """The largest share of frames above the threshold in one held-out in-distribution sequence."""
    melt_range: tuple[float, ...] | None = None
    """(low, high): the served melt's clip range, the training targets' range widened by 10 % of it.
    The station's online trust measures its losses in this unit; None in bundles exported before it."""
    image_inputs: bool | None = None
    """Whether the melt model reads the image embedding (``TrainConfig.image_inputs``; "auto": what
    these folds chose). None: an encoder without an embedding, or a bundle from before the choice
    (whose models all read it)."""
    image_skill: tuple[float, ...] | None = None
    """With "auto": the worst calibration fold's skill against the anchor (with, without the image
    embedding) at each one's own gain — what the choice was made by."""



@dataclass(frozen=True)
class RegionalCalibration:
    """The per-region model's held-out folds (grouped by sequence): anchor, gain and interval, as
    :class:`Calibration` is for the frame, pooled over regions and per region of the training grid."""

    folds: int
    n: int
    """Held-out region nodes with a defined target."""
    gain: float
    coverage: float
    halfwidth: float
    """Pooled split-conformal half-width (region melt units)."""
    region_halfwidth: tuple[float, ...]
    """Per region of the training grid, from its own held-out residuals; a layout other than the
    grid (a label mask, superpixels) uses the pooled one."""
    heldout_mae: float
    persistence_mae: float
    running_mean_mae: float
    fallback: Literal["persistence", "running_mean", "train_mean"]
    fallback_mae: float
    fallback_halfwidth: float
    train_mean: float
    alert_halfwidth: float
    """The band of the "unexpected change" alert: the held-out |residual| quantile at 1 − 0.1/R for
    the R training regions (Bonferroni), so a frame without real change raises a region alert in at
    most ~10 % of frames, not in 1 − 0.9^16 = 81 % as the 90 % interval per region would."""
    alert_level: float


@dataclass(frozen=True)
class RegionalRecord:
    """What the per-region model is and how it was trained (run.json, manifest.json)."""

    layout: str
    """The training regions (``grid 4x4``: one per encoder feature-map cell)."""
    names: tuple[str, ...]
    in_dim: int
    hidden: tuple[int, ...]
    spatial_edges: bool
    features: NodeFeatures
    """Per-region history columns (the region's own last melt, running mean, embedding change)."""
    base_column: int | None
    anchor_column: int | None
    calibration: RegionalCalibration | None
    final_train_mse: float | None
    melt_range: tuple[float, ...]


@dataclass(frozen=True)
class MaskRecord:
    specs: tuple[str, ...]
    rectangles: tuple[tuple[float, ...], ...]
    size: int
    auto_pixels: int | None
    excluded_pixels: int
    bitmap: str
    """base64 of numpy.packbits of the bool (size, size) mask."""

    def __post_init__(self) -> None:
        try:
            packed = base64.b64decode(self.bitmap, validate=True)
        except ValueError as exc:
            raise ValueError(f"mask bitmap is not base64 ({exc})") from exc
        if self.size < 1 or len(packed) != -(-self.size * self.size // 8):
            raise ValueError(f"mask bitmap holds {len(packed)} bytes, not a {self.size}×{self.size} mask")


@dataclass(frozen=True)
class LossPoint:
    epoch: int
    mse: float


@dataclass(frozen=True)
class Durations:
    embed: float
    fit: float


def with_legacy_graph(config: Any) -> Any:
    """A TrainConfig's JSON from schema version 2, which predates ``temporal_graph`` and
    ``image_inputs``: its nowcast models were trained on the seed's bidirectional graph, so they keep
    it (forecasts were causal), every model read the image embedding, none refused outside the
    range unless it said so, and per-region nowcasts had no spatial edges by default (the defaults
    of then, not of now)."""
    if not isinstance(config, dict) or "temporal_graph" in config:
        return config
    nowcast = config.get("task", "nowcast") == "nowcast"
    spatial = config.get("spatial_edges")
    return {**config, "temporal_graph": "bidirectional" if nowcast else "causal", "image_inputs": "on",
            "refuse_outside_range": config.get("refuse_outside_range", False),
            "spatial_edges": (not nowcast) if spatial is None else spatial}


@dataclass(frozen=True)
class RunRecord(Record):
    """``run.json`` of a training run."""

    SCHEMA: ClassVar[str] = "glacier-edge/run"
    VERSION: ClassVar[int] = 3
    WHAT: ClassVar[str] = "training run"

    @classmethod
    def upgradable(cls) -> tuple[int, ...]:
        return (2,)

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "config": with_legacy_graph(data.get("config")), "schema_version": cls.VERSION}

    created: str
    config: TrainConfig
    encoder: EncoderRecord
    model: ModelRecord
    node_features: NodeFeatures
    calibration: Calibration | None
    frame_size: int
    melt_mask: MaskRecord | None
    loss_log: tuple[LossPoint, ...]
    train_sequences: tuple[SequenceSummary, ...]
    val_sequences: tuple[SequenceSummary, ...]
    seconds: Durations
    versions: dict[str, str | None]
    scene_kind: SceneKind = "nadir"
    """The kind of imagery the model was trained on (declared, or shown by most training frames)."""
    regions: RegionalRecord | None = None
    """The per-region model, when trained with --regions (its weights in regions.pt)."""
    schema: str = SCHEMA
    schema_version: int = VERSION


@dataclass(frozen=True)
class FileRecord:
    sha256: str
    bytes: int


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    shape: tuple[int | str, ...]


@dataclass(frozen=True)
class ModelFile:
    file: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    int8_format: str | None = None


@dataclass(frozen=True)
class TrainingSummary:
    run_dir: str
    created: str
    config: TrainConfig
    model: ModelRecord
    final_train_mse: float | None
    train_sequences: tuple[SequenceSummary, ...]
    val_sequences: tuple[SequenceSummary, ...]
    scene_kind: SceneKind = "nadir"
    """The kind of imagery the model knows; bundles made before it was recorded were all trained
    on satellite chips."""


@dataclass(frozen=True)
class Int8Trial:
    """One int8 format calibrated, timed and checked at export."""

    format: str
    ms_per_frame: float
    speedup_vs_fp32: float
    melt_mae_vs_fp32: float
    centred_cosine: float
    bytes: int
    quantize_seconds: float
    acceptable: bool


@dataclass(frozen=True)
class Int8Summary:
    chosen: Int8Trial | None
    tried: tuple[Int8Trial, ...]
    fp32_ms_per_frame: float
    calibration_frames: int
    melt_mae_bound: float
    chosen_by: str = "race on the exporting machine"
    """Why this format: the exporting machine's race or rule, or `--int8-format` for a target
    machine that is not the exporting one."""
    exported_on: str = ""
    """CPU and int8-relevant flags of the exporting machine: where the race was run."""


@dataclass(frozen=True)
class Tolerance:
    """np.allclose-style: every element must satisfy |Δ| ≤ atol + rtol·|ref|."""

    atol: float
    rtol: float


@dataclass(frozen=True)
class ParityRow:
    input: str
    frames: int
    metadata: str
    encoder_max_abs: float
    encoder_max_rel: float
    encoder_worst_ratio: float
    melt_max_abs: float
    melt_worst_ratio: float
    graph_only_melt_max_abs: float
    passed: bool
    int8_melt_mae: float | None = None
    int8_centred_cosine: float | None = None
    int8_in_calibration_range: bool | None = None
    ood_worst_ratio: float | None = None
    """ood.onnx against the numpy score: max |Δ| / (atol + rtol·|ref|), ≤ 1 passes."""
    cells_worst_ratio: float | None = None
    """The encoder's feature-map cells (bundles with the per-region model), every element."""
    regions_max_abs: float | None = None
    """regions.onnx against the PyTorch per-region model: region melt, every element of (T, 16)."""
    regions_worst_ratio: float | None = None


@dataclass(frozen=True)
class Int8Parity:
    format: str | None
    melt_mae_max: float
    melt_mae_mean: float
    centred_cosine_min: float
    within_bound: bool
    noise_frames_melt_mae_max: float | None


@dataclass(frozen=True)
class Parity:
    verified: str
    reference: str
    encoder: str
    encoder_tolerance: Tolerance
    melt_tolerance: Tolerance
    int8_melt_mae_bound: float
    rows: tuple[ParityRow, ...]
    passed: bool
    int8: Int8Parity | None = None


@dataclass(frozen=True)
class BundleManifest(Record):
    """``manifest.json``: every file's hash, what each model takes and returns, how it was made."""

    SCHEMA: ClassVar[str] = "glacier-edge/bundle"
    VERSION: ClassVar[int] = 3
    WHAT: ClassVar[str] = "bundle manifest"

    @classmethod
    def upgradable(cls) -> tuple[int, ...]:
        return (2,)

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        training = data.get("training")
        if isinstance(training, dict):
            training = {**training, "config": with_legacy_graph(training.get("config"))}
        return {**data, "training": training, "schema_version": cls.VERSION}

    created: str
    files: dict[str, FileRecord]
    models: dict[str, ModelFile]
    opset: int
    frame_size: int
    encoder: EncoderRecord
    node_features: NodeFeatures
    calibration: Calibration | None
    melt_mask: MaskRecord | None
    training: TrainingSummary
    int8: Int8Summary | None
    versions: dict[str, str | None]
    export_seconds: float
    parity: Parity | None = None
    regions: RegionalRecord | None = None
    schema: str = SCHEMA
    schema_version: int = VERSION

    def __post_init__(self) -> None:
        for role in (ROLE_ENCODER, ROLE_GNN):
            if role not in self.models:
                raise ValueError(f"models has no '{role}'")
        for role, model in self.models.items():
            if model.file not in self.files:
                raise ValueError(f"model {role} names {model.file!r}, which files does not hash")

    @property
    def task(self) -> str:
        return self.training.config.task

    @property
    def graph_kind(self) -> str:
        return self.training.config.graph_kind

    @property
    def normalization(self) -> str:
        return self.training.config.normalization


@dataclass(frozen=True)
class SequenceInfo:
    source: str
    frames: int
    original_size: tuple[int, int]


@dataclass(frozen=True)
class ModelInfo:
    bundle: str
    encoder_weights: str
    pretrained: bool
    precision: Precision
    parity_verified: bool | None
    mask_excluded_pixels: int
    image_inputs: bool | None = None
    """Whether the melt model reads the image embedding (None: an encoder without one, or a bundle
    from before the choice, whose models all read it)."""


@dataclass(frozen=True)
class FrameMotion:
    """`run --glacier-mask`: this frame's registration and the motion of the pair ending at it."""

    registered: bool
    shift_x: float | None
    """Where the frame's stable ground lies relative to the first frame's, px of the original."""
    shift_y: float | None
    speed_median: float | None
    """Median speed of the valid windows of the pair ending at this frame (unit in the summary)."""
    speed_p90: float | None
    valid_share: float | None
    """Share of the pair's windows with a valid vector (null: no pair ends here)."""


@dataclass(frozen=True)
class RegionValue:
    """One region of one frame in `run`'s result (melt in the bundle's units)."""

    region: int
    measured: float | None
    """Null where the region has no unmasked pixel, and for frame 0."""
    predicted: float | None
    low: float | None
    high: float | None
    unexpected: bool
    """Measured melt outside the alert band around the prediction made for it."""
    speed: float | None = None
    """Median surface speed of the region's valid windows, pair ending at this frame (`run --glacier-mask`
    or `--stable-mask`; unit in the summary's ``motion.unit``)."""


@dataclass(frozen=True)
class RegionInfo:
    id: int
    name: str
    box: tuple[int, int, int, int]
    """x0, y0, x1, y1 in pixels of the original image (x1, y1 exclusive)."""
    area_share: float
    """Share of the frame's unmasked pixels (the weight of its melt in the whole-frame melt)."""


@dataclass(frozen=True)
class RegionAlert:
    """An unexpected change that names its place."""

    frame: int
    region: int
    name: str
    box: tuple[int, int, int, int]
    measured: float
    predicted: float
    low: float
    high: float
    message: str


@dataclass(frozen=True)
class RegionSkill:
    """How the per-region model fared on this sequence, per region, against its own naive answers."""

    region: int
    mae: float | None
    persistence_mae: float | None
    skill: float | None
    """1 − MAE / MAE(per-region persistence) over the frames with a measured target."""
    coverage: float | None


@dataclass(frozen=True)
class RegionRunSummary:
    layout: str
    """``grid 4x4`` (the bundle's training grid), ``mask NAME`` or ``slic N``."""
    spatial_edges: bool
    regions: tuple[RegionInfo, ...]
    alerts: tuple[RegionAlert, ...]
    skill: tuple[RegionSkill, ...]
    pooled_skill: float | None
    pooled_coverage: float | None
    forecast_next: tuple[float, ...] | None = None
    """forecast task: each region's melt for the step after the last frame."""


@dataclass(frozen=True)
class FrameRow:
    index: int
    label: str
    date: str | None
    measured_melt: float | None
    """None for frame 0: it has no previous frame."""
    predicted_melt: float | None
    abs_error: float | None
    alert: bool
    """Predicted melt above --alert-threshold."""
    interval_low: float | None = None
    interval_high: float | None = None
    """The calibrated interval of the prediction (null where the bundle has none)."""
    unexpected: bool = False
    """Measured melt outside the interval of the prediction made for it: the surprise alert."""
    ood_score: float | None = None
    """Out-of-distribution score of this frame's embedding (the input of the prediction placed here
    is the previous frame for forecast bundles)."""
    ood: bool = False
    fallback: bool = False
    """The prediction is the bundle's naive fallback, because its input frame was out of distribution."""
    online_melt: float | None = None
    """The station's own answer: the bundle's answer and the naive answers weighted by what the earlier
    frames of this sequence taught (exponentially weighted average; null where the bundle has no melt range)."""
    online_low: float | None = None
    online_high: float | None = None
    """Its adaptive conformal interval (nominal 90 %)."""
    online_unexpected: bool = False
    """Measured melt outside the online interval."""
    scene_kind: SceneKind | None = None
    """The kind of scene this frame shows (its layout: :mod:`glacier_edge.ingest.layout`)."""
    perspective: float | None = None
    motion: FrameMotion | None = None
    regions: tuple[RegionValue, ...] = ()
    """Per region (bundles with the per-region model); ids as in the summary's ``regions.regions``."""
    """Registration and speed (only with `run --glacier-mask` or `--stable-mask`)."""


@dataclass(frozen=True)
class OnlineSummary:
    """What a station learnt from its own scored forecasts (:mod:`glacier_edge.signals.online`)."""

    experts: tuple[str, ...]
    weights: tuple[float, ...]
    """After the last scored forecast: what the next forecast is made with (``prior`` before any)."""
    scored: int
    running_skill: float | None
    """1 − MAE(online) / MAE(persistence) over the scored forecasts."""
    coverage: float | None
    """Share of measured values inside the online interval."""
    regret_bound: float
    """Guaranteed: cumulative |error| of the online answer ≤ persistence's + this (melt units), for the
    forecasts scored so far (:meth:`glacier_edge.signals.online.OnlineTrust.regret_bounds`)."""
    coverage_gap_bound: float | None
    """Guaranteed: |miss rate − 10 %| ≤ this (null before any scored forecast)."""
    majority_after: int | None = None
    """Scored forecasts after which an expert other than the prior's choice (persistence) first held
    more than half of the weight: when the station began to trust something else."""
    majority_expert: str | None = None
    forecast_next: float | None = None
    forecast_next_halfwidth: float | None = None
    prior: tuple[float, ...] = ()
    """The weights a new station starts from (what it trusts before any scored forecast)."""
    regret_bound_model: float | None = None
    """Guaranteed: cumulative |error| of the online answer ≤ the model's + this (melt units)."""


@dataclass(frozen=True)
class MotionRunSummary:
    unit: str
    """"px/day" (pixels of the original frame) or "m/day" (with --pixel-size)."""
    template: int
    failures: tuple[FailureRecord, ...]
    """The inverse-velocity forecast per region, the whole glacier first."""
    alerts: tuple[MotionAlertRow, ...]
    speed_forecasts: tuple[SpeedForecastRecord, ...] = ()


@dataclass(frozen=True)
class RegisteredMeltSummary:
    """`run` with a bundle trained with --register: every frame aligned to the first on stable ground."""

    stable_ground: str
    """Where registration looked (--stable-mask, outside --glacier-mask, or the whole frame)."""
    registered: int
    """Frames aligned to the first (the first included)."""
    frames: int
    unregistered: tuple[UnregisteredFrame, ...]
    """Frames kept as taken (cloud, snow, no stable texture, too large a move), with why."""
    border_share: float
    """Share of the model frame left out of melt: the border a moved frame may not cover."""


@dataclass(frozen=True)
class UnregisteredFrame:
    index: int
    label: str
    reason: str


@dataclass(frozen=True)
class ResultSummary:
    mean_predicted: float
    max_predicted: float
    max_predicted_frame: int
    mae: float
    rmse: float
    pearson_r: float | None
    alerts: int
    """Frames above the threshold plus unexpected changes (plus the forecast, if above)."""
    forecast_next: float | None
    """forecast task: melt predicted for the step after the last frame."""
    forecast_alert: bool
    unexpected: int = 0
    ood_frames: int = 0
    """Frames whose own score is above the threshold."""
    ood_threshold: float | None = None
    ood_window: bool = False
    """At least ``ood_window_majority`` of the frames are above the threshold, so every frame is
    treated as out of distribution (the graph mixes neighbouring frames)."""
    ood_window_majority: float | None = None
    fallback: str | None = None
    """The naive answer used for out-of-distribution inputs (persistence, running_mean, train_mean)."""
    interval_coverage: float | None = None
    """Nominal coverage of the intervals (0.9); null without a calibrated bundle."""
    forecast_next_halfwidth: float | None = None
    forecast_next_fallback: bool = False
    online: OnlineSummary | None = None
    """The online combination over this sequence, applied causally frame by frame as a station would."""
    prior_note: str | None = None
    """Set when the glacier lies in a region the bundle never trained on (GLIMS IDs in the names)."""
    bundle_scene_kind: SceneKind = "nadir"
    """The kind of imagery the bundle knows."""
    other_kind_frames: int = 0
    """Frames whose layout shows another kind of scene than the bundle knows (flagged OOD)."""
    seen_scene_kind: SceneKind | None = None
    """The kind most frames of this sequence show."""
    motion: MotionRunSummary | None = None
    """Surface motion (only with `run --glacier-mask` or `--stable-mask`): it runs whatever the
    bundle knows — camera views included — since it needs no model."""
    regions: RegionRunSummary | None = None
    """Melt per region of the frame (bundles trained with --frame-regions)."""
    registered_melt: RegisteredMeltSummary | None = None
    """How the frames were co-registered (bundles trained with --register: melt, embeddings and regions
    are measured on frames aligned to the first)."""


@dataclass(frozen=True)
class Latency:
    """Milliseconds per stage of one run."""

    load: float
    decode: float
    encode: float
    graph: float
    total: float
    motion: float = 0.0
    """Surface motion (read again at full resolution, registration, fields); in ``total``."""
    regions: float = 0.0
    """The per-region model (region melt, inputs, regions.onnx, guard); the encoder pass is shared."""


@dataclass(frozen=True)
class RunResult(Record):
    """``glacier-edge run --format json``: the single source of the table, JSON and CSV outputs."""

    SCHEMA: ClassVar[str] = "glacier-edge/run-result"
    VERSION: ClassVar[int] = 8
    """v3: per-frame online answers and intervals, and the summary's ``online`` block; v4: scene kinds;
    v5: surface motion (per frame ``motion``, the summary's ``motion`` block); v6: melt per region of
    the frame (per frame ``regions``, the summary's ``regions`` block, ``latency_ms.regions``); v7: the
    co-registered melt (the summary's ``registered_melt``); v8: each speed forecast names the model in
    its model slot and counts the speed model's refusals."""
    WHAT: ClassVar[str] = "run result"

    sequence: SequenceInfo
    model: ModelInfo
    task: Task
    provider: str
    threads: int | None
    alert_threshold: float | None
    frames: tuple[FrameRow, ...]
    summary: ResultSummary
    latency_ms: Latency
    schema: str = SCHEMA
    schema_version: int = VERSION



@dataclass(frozen=True)
class RegistrationRow:
    """How one frame was aligned to the sequence's first on stable ground (pixels of the original)."""

    index: int
    label: str
    date: str | None
    registered: bool
    dx: float | None
    dy: float | None
    rotation_deg: float | None
    scale: float | None
    windows: int
    """Stable-ground windows the fit kept (of ``candidates`` tried)."""
    candidates: int
    rms_px: float | None
    reason: str
    """Why the frame was left out of motion ("" when registered)."""


@dataclass(frozen=True)
class MotionPairRow:
    first: int
    second: int
    first_label: str
    second_label: str
    days: float
    windows: int
    valid_share: float
    median_speed: float | None
    """Over the valid windows, in ``MotionRecord.unit`` (null when fewer than 10 % are valid)."""
    p90_speed: float | None
    field_file: str
    """The pair's displacement field (``.npz``, arrays documented in docs/motion.md)."""
    region_speeds: dict[str, float | None] = field(default_factory=dict)
    """Median speed of the valid windows centred in each region of --regions-mask."""
    forecast_speed: float | None = None
    """The glacier's speed forecast for this pair before it was measured (online trust)."""
    forecast_halfwidth: float | None = None


@dataclass(frozen=True)
class FailureRecord:
    region: str
    """"glacier" (everything measured) or a region of --regions-mask."""
    issued: bool
    failure_day: float | None
    """Days after the first frame when 1/v reaches zero (null unless issued)."""
    low_day: float | None
    high_day: float | None
    slope: float
    p_value: float
    observations: int
    reason: str = ""
    """Why no forecast was issued ("" when issued)."""


@dataclass(frozen=True)
class SpeedForecastRecord:
    """The next speed of one region from the online trust, and how its forecasts fared."""

    region: str
    next_speed: float | None
    next_halfwidth: float | None
    """Half-width of the adaptive 90 % interval (guaranteed long-run coverage, signals/online.py)."""
    skill: float | None
    """1 − MAE / MAE(persistence) over the scored forecasts of this sequence."""
    coverage: float | None
    scored: int
    model: str = "trend"
    """What filled the online trust's model slot: "trend" (the naive trend) or "speed model" (the
    learnt one of --speed-model, trained on the glaciers it names in the run's log)."""
    refused: int = 0
    """Forecasts for which the speed model's inputs were out of its range (persistence served)."""


@dataclass(frozen=True)
class MotionAlertRow:
    kind: Literal["speed", "acceleration", "unexpected_acceleration", "failure_forecast"]
    pair: int
    value: float
    message: str
    region: str = "glacier"


@dataclass(frozen=True)
class MotionRecord(Record):
    """``motion.json`` of `glacier-edge motion`: registration, per-pair speeds, forecast, alerts."""

    SCHEMA: ClassVar[str] = "glacier-edge/motion"
    VERSION: ClassVar[int] = 2
    WHAT: ClassVar[str] = "motion result"

    source: str
    frames: int
    original_size: tuple[int, int]
    scale: float
    """Pixels measured per original pixel (frames larger than --long-side are reduced)."""
    unit: Literal["px/day", "m/day"]
    pixel_size: float | None
    method: Literal["oc", "zncc"]
    template: int
    spacing: int
    radius: int
    baseline_days: float | None
    dated: bool
    """False: frames had no dates and were taken one day apart."""
    registration: tuple[RegistrationRow, ...]
    pairs: tuple[MotionPairRow, ...]
    failures: tuple[FailureRecord, ...]
    """The inverse-velocity forecast per region, the whole glacier first."""
    alerts: tuple[MotionAlertRow, ...]
    seconds: float
    speed_forecasts: tuple[SpeedForecastRecord, ...] = ()
    schema: str = SCHEMA
    schema_version: int = VERSION


@dataclass(frozen=True)
class SpeedGroupScore:
    """How a speed model fared on one glacier it was not fitted on (leave-one-glacier-out)."""

    group: str
    forecasts: int
    skill: float
    """1 − MAE / MAE(persistence), the answers served (the model; persistence where it refused)."""
    coverage: float
    """Share of measured speeds inside the model's 90 % split-conformal interval."""
    refused: float
    """Share of forecasts whose inputs were out of the training range (served as persistence)."""
    gain: float
    trend_skill: float
    """The naive trend's skill on the same forecasts, for comparison."""
    mean_skill: float
    """The running mean's skill on the same forecasts."""


@dataclass(frozen=True)
class SpeedModelRecord(Record):
    """``speed_model.json`` of `glacier-edge speed-model`: the learnt next-speed forecast.

    The answer is persistence corrected in log space: ln(ŝ + f) = ln(s_last + f) + gain · w·x, with
    x the unit-free features of :mod:`glacier_edge.motion.speed_model` and f the series' floor (the
    speed of 0.2 px over the pair), so one model serves m/day and px/day, satellites and cameras."""

    SCHEMA: ClassVar[str] = "glacier-edge/speed-model"
    VERSION: ClassVar[int] = 1
    WHAT: ClassVar[str] = "speed model"

    features: tuple[str, ...]
    weights: tuple[float, ...]
    gain: float
    """Chosen held out: the largest worst-glacier skill over leave-one-glacier-out (0: persistence)."""
    halfwidth: float
    """Split-conformal 90 % half-width of the log residual (held-out answers at ``gain``)."""
    center: tuple[float, ...]
    scale: tuple[float, ...]
    refuse_above: float
    """Inputs whose largest |feature − center| / scale exceeds this are out of range: persistence."""
    trained_on: tuple[str, ...]
    """The glaciers (motion folders) whose series it was fitted on."""
    series: int
    examples: int
    held_out: tuple[SpeedGroupScore, ...] = ()
    """Each glacier scored by a model fitted on the others (needs three or more)."""
    schema: str = SCHEMA
    schema_version: int = VERSION
