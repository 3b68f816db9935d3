"""The `glacier-edge` command line: thin commands that parse, call one function and print.

Commands that need torch (train, export, verify, demo) import the torch wing inside their
body, so `glacier-edge run` and `--help` work on an edge install without torch.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from glacier_edge import __version__
from glacier_edge.errors import GlacierEdgeError, MissingDependencyError
from glacier_edge.frames import DEFAULT_MAX_PIXELS
from glacier_edge.melt import MELT_NORMALIZATIONS
from glacier_edge.paths import default_run_dir

EXIT_ALERT = 3

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
    "--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS, show_default=True,
    help="Refuse any frame larger than this many pixels before decoding it (decompression-bomb guard).",
)


@click.group(cls=GlacierEdgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="glacier-edge")
def main() -> None:
    """Glacier melt from satellite time-lapses: train a ResNet50 + GraphSAGE model, export it
    to ONNX with proven parity, and run it on a small CPU box.

    \b
    Typical use:
      glacier-edge demo                      # the whole pipeline on the embedded sample
      glacier-edge train seq1.gif seq2.gif   # train on your own sequences
      glacier-edge export                    # → ONNX bundle (default location)
      glacier-edge run sequence.gif          # edge runner: ONNX Runtime only, no torch

    A sequence is an animated GIF, a folder of images (natural name order), or several image
    files. Melt is the mean absolute RGB change between consecutive frames (/255): a pixel
    proxy that snow, cloud and light also move, not glacier mass loss.
    """


@main.command()
@click.argument("sequence", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@max_pixels_option
def frames(sequence: tuple[Path, ...], out_dir: Path, max_pixels: int) -> None:
    """Decode SEQUENCE into OUT_DIR/frame_000.jpg, frame_001.jpg, … at 128×128 RGB.

    Shows exactly what the model sees. Example: glacier-edge frames sample.gif frames/
    """
    from glacier_edge.frame_export import write_frames
    from glacier_edge.frames import read_sequence

    seq = read_sequence(list(sequence), max_pixels=max_pixels)
    written = write_frames(seq, out_dir)
    click.echo(f"wrote {len(written)} frames of {seq.source} to {out_dir}")


@main.command()
@click.argument("sequences", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help=f"Run directory to write (replaced as a whole).  [default: {default_run_dir()}]")
@click.option("--val", "val_sequences", multiple=True, type=click.Path(path_type=Path),
              help="A held-out sequence to report metrics on (repeatable); never trained on.")
@click.option("--epochs", type=click.IntRange(min=1), default=600, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.003, show_default=True,
              help="Adam learning rate.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds initialisation, view choice and augmentation: same seed, same model bit for bit.")
@click.option("--weights", default="auto", show_default=True,
              help="Encoder weights: 'imagenet' (torchvision IMAGENET1K_V1, from $TORCH_HOME/hub/checkpoints "
                   "or downloaded), 'random' (seeded, NOT pretrained), 'auto' (imagenet if cached, else random) "
                   "or a path to a ResNet50 state dict.")
@click.option("--augmentations", type=click.IntRange(min=0), default=4, show_default=True,
              help="Augmented copies (flip, ±5° rotation) embedded per training sequence.")
@click.option("--normalize", "normalization", type=click.Choice(MELT_NORMALIZATIONS), default="absolute",
              show_default=True, help="absolute: mean|Δ|/255, comparable across sequences; minmax: the seed's "
                                      "per-sequence [0, 1] rescaling.")
@click.option("--final-activation", type=click.Choice(["identity", "relu"]), default="identity",
              show_default=True,
              help="Output of the last SAGEConv. 'relu' is the seed's literal design; it is not the default "
                   "because its last ReLU sits at 0 for these small targets and stops training (measured: "
                   "MSE = mean(y²) for 5 seeds of 5).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Embedding cache.  [default: $GLACIER_EDGE_CACHE or ~/.cache/glacier-edge]")
@max_pixels_option
def train(sequences: tuple[Path, ...], out_dir: Path | None, val_sequences: tuple[Path, ...], epochs: int,
          lr: float, seed: int, weights: str, augmentations: int, normalization: str, final_activation: str,
          cache_dir: Path | None, max_pixels: int) -> None:
    """Train the ResNet50 + GraphSAGE melt model on SEQUENCES (default: the embedded sample).

    Each sequence is one graph (frames = nodes, consecutive frames linked both ways); Adam and
    MSE on one full sequence per step; the loss is printed every 50 epochs. Writes model.pt,
    run.json and melt.png (measured blue, predicted red dashed) and prints MAE, RMSE and
    Pearson r on the training and --val sequences.

    Example: glacier-edge train rutor.gif --val aletsch/ --out runs/rutor
    """
    require_torch_wing("train")
    from glacier_edge.training.dataset import default_cache_dir
    from glacier_edge.training.loop import TrainConfig
    from glacier_edge.training.pipeline import run_training

    out_dir = out_dir or default_run_dir()
    config = TrainConfig(epochs=epochs, lr=lr, seed=seed, final_activation=final_activation)
    with progress(epochs, "training") as (advance, log):
        info = run_training(
            list(sequences), out_dir, config=config, weights=weights, val_sequences=list(val_sequences),
            augmentations=augmentations, normalization=normalization, max_pixels=max_pixels,
            cache_dir=cache_dir or default_cache_dir(), echo=log, progress=lambda epoch: advance(1),
        )
    for role in ("train", "val"):
        for entry in info[f"{role}_sequences"]:
            m = entry["metrics"]
            click.echo(f"{role:5s} {Path(entry['source']).name}: MAE {m['mae']:.4f}  RMSE {m['rmse']:.4f}  "
                       f"Pearson r {format_r(m['pearson_r'])}  ({m['n']} melt values)")
    seconds = info["seconds"]
    click.echo(f"encoder: {info['encoder']['description']}")
    click.echo(f"trained in {seconds['fit']:.1f} s (+ {seconds['embed']:.1f} s embedding); wrote {out_dir}/"
               f"{{model.pt, run.json, melt.png}}")


if __name__ == "__main__":
    main(prog_name=os.path.basename(sys.argv[0]))
