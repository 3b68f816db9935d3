"""What every command of the CLI shares: the error-to-exit-code group, progress, and the options
built once from the contracts' defaults and choices (so `train` and `evaluate` cannot drift)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from glacier_edge.contracts import (
    ARCHS,
    BACKBONE_NAMES,
    CALIBRATION_GROUPS,
    FINAL_ACTIVATIONS,
    GAIN_RULES,
    IMAGE_INPUTS,
    NORMALIZATIONS,
    RESIDUAL_SCALES,
    TASKS,
    WEIGHT_NAMES,
    TrainConfig,
)
from glacier_edge.errors import BadInputError, GlacierEdgeError, MissingDependencyError
from glacier_edge.paths import MODEL_ENVVAR, default_bundle_dir

DEFAULTS = TrainConfig()

EXIT_ALERT = 3
EXIT_OOD = 4

# PyG's import calls torch.jit.script, which torch ≥2.9 reports as deprecated on every run.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)


def echo_err(message: str) -> None:
    click.echo(message, err=True)


@contextmanager
def progress(length: int, label: str) -> Iterator[tuple[Callable[[int], None], Callable[[str], None]]]:
    """Yield (advance, log): a progress bar on a terminal, plain log lines otherwise.

    Log lines clear the bar's line first so bar and messages do not interleave.
    """
    if not sys.stderr.isatty():
        yield (lambda steps: None), echo_err
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update, (lambda message: echo_err(f"\r\033[K{message}"))


class GlacierEdgeGroup(click.Group):
    """Turns every GlacierEdgeError into one line on stderr and its exit code (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GlacierEdgeError as exc:
            echo_err(f"glacier-edge: error: {exc}")
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            echo_err("glacier-edge: interrupted; nothing was written")
            ctx.exit(130)


def invoked_as() -> str:
    """How to call this tool again: the full script path when it is not on PATH (e.g. run as
    .venv/bin/glacier-edge by tasks.py), so the printed next step works when pasted."""
    import shutil

    script = Path(sys.argv[0])
    if script.name == "glacier-edge" and shutil.which("glacier-edge") != str(script.resolve()):
        return str(script.resolve()) if script.exists() else "glacier-edge"
    return "glacier-edge"


def format_r(value: float) -> str:
    """Pearson r, or 'n/a' where it is undefined (fewer than 2 values, or a constant side)."""
    return "n/a" if value != value else f"{value:.3f}"


def require_torch_wing(command: str) -> None:
    """Fail with one line naming the extra when torch, torchvision or PyG is missing."""
    missing = []
    for module in ("torch", "torchvision", "torch_geometric"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise MissingDependencyError(
            f"`glacier-edge {command}` needs {', '.join(missing)}: pip install 'glacier-edge[train]'"
        )


max_pixels_option = click.option(
    "--max-pixels", type=click.IntRange(min=1), default=DEFAULTS.max_pixels, show_default=True,
    help="Refuse any frame larger than this many pixels before decoding it (decompression-bomb guard).",
)



def _read_speed_model(ctx: click.Context, param: click.Parameter, value: Path | None) -> Any:
    """The --speed-model file, read and checked once while the options are parsed."""
    if value is None:
        return None
    from glacier_edge.motion.speed_model import read_speed_model

    return read_speed_model(value)


speed_model_option = click.option(
    "--speed-model", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
    callback=_read_speed_model,
    help="A learnt next-speed forecast (`glacier-edge speed-model`) for the online trust's model slot "
         "(default: the naive trend). Out of its range it serves persistence.",
)

model_option = click.option(
    "--model", "model_dir", type=click.Path(path_type=Path), default=None, envvar=MODEL_ENVVAR,
    help=f"Model bundle.  [default: ${MODEL_ENVVAR}, else {default_bundle_dir()}]",
)

regions_option = click.option(
    "--regions", "regions_csv", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
    help="CSV with the columns sequence,region (sequence: the file or folder name); default: regions from GLIMS IDs "
         "in the names (glaciers within 50 km of each other, transitively, form one region).")

ENCODER_OPTIONS = (
    click.option("--backbone", type=click.Choice(BACKBONE_NAMES), default=DEFAULTS.backbone, show_default=True,
                 help="Frame encoder. resnet50 is the design's; resnet18, mobilenet_v3_large/small and efficientnet_b0 "
                      "cost 2–75× less per frame (benchmarks/results/backbones.md); 'none': no image embedding, the "
                      "station-known inputs and the graph only."),
    click.option("--weights", default=DEFAULTS.weights, show_default=True,
                 help="Encoder weights: 'imagenet' (torchvision IMAGENET1K_V1, from $TORCH_HOME/hub/checkpoints or "
                      "downloaded), 'random' (seeded, NOT pretrained), 'auto' (imagenet if cached, else random), "
                      f"remote-sensing weights by name ({', '.join(WEIGHT_NAMES)}; with --weights-file, their own "
                      "input scaling goes into encoder.onnx) or a path to a state dict of the backbone."),
    click.option("--weights-file", type=click.Path(path_type=str, exists=True, dir_okay=False), default=None,
                 help="The checkpoint of named --weights, downloaded by you (torchgeo's release, e.g. "
                      "resnet18_sentinel2_rgb_moco-*.pth): nothing is downloaded."),
    click.option("--image-size", type=int, default=DEFAULTS.image_size, show_default=True,
                 help="Pixels the backbone sees: the 128-px frames are resized to this inside the encoder (and "
                      "encoder.onnx). Pretrained weights were trained at 224 px; GMAC grow as its square."),
)
"""The encoder's options, shared by `train`, `evaluate` and `embed`."""

TRAINING_OPTIONS = (
    click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True),
    click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULTS.lr, show_default=True,
                 help="Adam learning rate."),
    click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True,
                 help="Seeds initialisation, view choice and augmentation: same seed, same model bit for bit."),
    *ENCODER_OPTIONS,
    click.option("--augmentations", type=click.IntRange(min=0), default=DEFAULTS.augmentations, show_default=True,
                 help="Augmented copies (flip, ±5° rotation) embedded per training sequence."),
    click.option("--normalize", "normalization", type=click.Choice(NORMALIZATIONS), default=DEFAULTS.normalization,
                 show_default=True, help="absolute: mean|Δ|/255, comparable across sequences; minmax: the seed's "
                                         "per-sequence [0, 1] rescaling."),
    click.option("--arch", type=click.Choice(ARCHS), default=DEFAULTS.arch, show_default=True,
                 help="Graph layers: GraphSAGE (the seed) or GAT (one attention head, self-loops); both export in a "
                      "dense, scatter-free form and are verified the same way."),
    click.option("--task", type=click.Choice(TASKS), default=DEFAULTS.task, show_default=True,
                 help="nowcast: melt_t from frames up to t. forecast: melt_{t+1} from frames up to t; `run` then "
                      "prints the forecast for the step after the last frame. Both on the causal graph (edges "
                      "from past frames only: what a station knows when a frame arrives)."),
    click.option("--final-activation", type=click.Choice(FINAL_ACTIVATIONS), default=DEFAULTS.final_activation,
                 show_default=True,
                 help="Output of the last graph layer. 'relu' is the seed's literal design; it is not the default "
                      "because its last ReLU sits at 0 for these small targets and stops training (measured: "
                      "MSE = mean(y²) for 5 seeds of 5)."),
    click.option("--metadata", is_flag=True, default=DEFAULTS.metadata,
                 help="Add node features beyond the image: day-of-year sin/cos and years since the first frame "
                      "(needs dates: NAME.dates.txt or dated file names) plus numeric sidecar columns that every "
                      "training sequence has (a CSV sidecar: date,temperature_c,...). `run` computes the same."),
    click.option("--mask", "mask_specs", multiple=True, metavar="SPEC",
                 help="Leave burned-in overlays out of the melt measure (repeatable): x0,y0,x1,y1 in fractions of "
                      "the frame, the preset 'copernicus' (date label, scale bar and logo of Copernicus Browser GIFs), "
                      "or 'auto' (pixels of one fixed colour in every frame: opaque labels; translucent ones need a "
                      "preset). Stored with the model; `run` applies the same mask."),
    click.option("--history/--no-history", default=DEFAULTS.history, show_default=True,
                 help="Node features a station knows before the target: the last measured melt, the causal "
                      "running mean and the embedding change from the previous frame."),
    click.option("--residual/--no-residual", default=DEFAULTS.residual, show_default=True,
                 help="Predict a correction to persistence (the last measured melt), shrunk toward it by "
                      "held-out folds: the model is never trusted further than held-out data allows."),
    click.option("--residual-scale", type=click.Choice(RESIDUAL_SCALES), default=DEFAULTS.residual_scale,
                 show_default=True,
                 help="The correction's unit: 'absolute' (melt) or 'relative' (the sequence's own running mean of "
                      "melt, the loss weighted alike), so a correction learnt where melt is large is not noise "
                      "where it is small."),
    click.option("--image-inputs", type=click.Choice(IMAGE_INPUTS), default=DEFAULTS.image_inputs, show_default=True,
                 help="Whether the melt model reads the image embedding (the encoder runs either way, for the "
                      "out-of-distribution guard and the regions). 'auto': the calibration folds train it with and "
                      "without and keep the embedding only if the worst fold's skill is as high with it."),
    click.option("--refuse-outside-range/--extrapolate-outside-range", default=DEFAULTS.refuse_outside_range,
                 show_default=True,
                 help="Where the last measured melt lies outside the training melts' range, serve it as it is "
                      "instead of a correction extrapolated from other melts (a region with larger melts than the "
                      "corpus). Residual models only; the default since it held out best region by region."),
    click.option("--calibration-folds", type=click.IntRange(min=2), default=DEFAULTS.calibration_folds,
                 show_default=True,
                 help="Held-out folds inside training, grouped by sequence (3+ sequences): they set the residual "
                      "gain, the interval and the out-of-distribution threshold stored with the model."),
    click.option("--calibration-groups", type=click.Choice(CALIBRATION_GROUPS), default=DEFAULTS.calibration_groups,
                 show_default=True,
                 help="What the calibration folds hold out: sequences, or whole regions (GLIMS IDs in the names; "
                      "used when the training sequences span 2+ regions), so the gain and interval measure transfer "
                      "to an unseen region."),
    click.option("--gain-rule", type=click.Choice(GAIN_RULES), default=DEFAULTS.gain_rule, show_default=True,
                 help="How the calibration folds set the gain toward the model: 'pooled' minimises the squared "
                      "error of all held-out values together; 'worst_group' maximises the worst calibration group's "
                      "(region's) skill, so a region where the model's correction hurts pulls it toward the naive "
                      "answer."),
    click.option("--scene-kind", type=click.Choice(["auto", "nadir", "camera"]), default=DEFAULTS.scene_kind,
                 show_default=True,
                 help="The kind of imagery trained on: nadir satellite chips or a fixed oblique camera; 'auto': the "
                      "kind most training frames show (perspective in their layout). Stored with the model; `run` "
                      "and `watch` treat frames of the other kind as out of distribution."),
    click.option("--frame-regions/--no-frame-regions", default=DEFAULTS.frame_regions, show_default=True,
                 help="Also train the per-region model: each of the encoder's 4×4 feature-map cells of each frame is "
                      "a node, linked to the same cell in the linked frames (and to its neighbour cells with "
                      "--spatial-edges); `run` and `watch` then report melt per region and name the region of an "
                      "unexpected change."),
    click.option("--spatial-edges/--no-spatial-edges", default=None,
                 help="With --frame-regions: also link adjacent regions of a frame.  [default: on — what held out "
                      "best on the corpus: forecast +0.199 pooled skill with, +0.178 without; nowcast +0.271 with, "
                      "+0.265 without]"),
    click.option("--register/--no-register", default=DEFAULTS.register, show_default=True,
                 help="Co-register every frame to its sequence's first on stable ground before melt, embedding and "
                      "regions are measured, so camera shake does not read as change. Stored with the model; `run` "
                      "and `watch` then align their frames the same way (their --glacier-mask/--stable-mask say "
                      "where the stable ground is). Off by default: the corpus and the sample already lie on one "
                      "grid (benchmarks/results/register_melt.md)."),
    click.option("--glacier-mask", type=click.Path(path_type=str, exists=True, dir_okay=False), default=None,
                 help="With --register: stable ground is everything outside this mask (white = glacier; an image "
                      "of the frames' size).  [default: the whole frame, where the windows that agree are kept]"),
    click.option("--stable-mask", type=click.Path(path_type=str, exists=True, dir_okay=False), default=None,
                 help="With --register: stable ground is this mask (white = rock that does not move)."),
    click.option("--folds", type=click.IntRange(min=2), default=DEFAULTS.folds, show_default=True,
                 help="evaluate: outer folds grouped by sequence (leave-one-sequence-out up to this many)."),
    click.option("--batch-graphs", type=click.IntRange(min=1), default=DEFAULTS.batch_graphs, show_default=True,
                 help="Sequence graphs per mini-batch."),
    click.option("--weight-decay", type=click.FloatRange(min=0), default=DEFAULTS.weight_decay, show_default=True,
                 help="Adam weight decay."),
    max_pixels_option,
    click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
                 help="Embedding cache.  [default: $GLACIER_EDGE_CACHE or ~/.cache/glacier-edge]"),
    click.option("--store", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help="Embedding store filled by `glacier-edge embed`: embeddings of the sequences it holds are "
                      "read from it instead of running the encoder."),
)
"""Options of `train` and `evaluate`, built once from :class:`TrainConfig`'s defaults and choices."""


def encoder_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(ENCODER_OPTIONS):
        command = option(command)
    return command


def training_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(TRAINING_OPTIONS):
        command = option(command)
    return command


def config_from(options: dict[str, Any]) -> tuple[TrainConfig, Path, Path | None]:
    """The TrainConfig the options describe (their names are its fields), the cache folder and
    the embedding store."""
    from glacier_edge.paths import default_cache_dir

    cache_dir = options.pop("cache_dir") or default_cache_dir()
    store = options.pop("store")
    options["mask_specs"] = tuple(options["mask_specs"])
    if options["frame_regions"] and options["image_size"] != DEFAULTS.image_size:
        raise BadInputError(f"--frame-regions needs --image-size {DEFAULTS.image_size}: the regions are the "
                            "4×4 cells of the feature map at the frame's own size")
    if options["frame_regions"] and options["backbone"] == "none":
        raise BadInputError("--frame-regions needs an image encoder: a region's embedding is its cell of the "
                            "encoder's feature map, and --backbone none has none")
    context = click.get_current_context(silent=True)
    asked = context is not None and context.get_parameter_source("refuse_outside_range") == ParameterSource.COMMANDLINE
    if options["refuse_outside_range"] and asked and not (options["residual"] and options["history"]):
        raise BadInputError("--refuse-outside-range serves the last measured melt, which only the residual model "
                            "builds on: drop --no-residual/--no-history, or the option")
    if options["image_inputs"] != DEFAULTS.image_inputs and options["backbone"] == "none":
        raise BadInputError(f"--image-inputs {options['image_inputs']}: --backbone none has no image embedding "
                            "to read or leave out: drop one of the two")
    if not options["register"] and (options["glacier_mask"] or options["stable_mask"]):
        given = "--glacier-mask" if options["glacier_mask"] else "--stable-mask"
        raise BadInputError(f"{given} says where to co-register frames: add --register (without it the frames "
                            "are used as taken and the mask would be ignored)")
    return TrainConfig(**options), cache_dir, store
