"""`glacier-edge embed`: an archive of sequences into an embedding store (torch wing; Ray optional)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from glacier_edge.cli.shared import DEFAULTS, echo_err, encoder_options, max_pixels_option, require_torch_wing


@click.command("embed")
@click.argument("sequences", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--store", "store_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Store directory (created if new): one Parquet file per sequence, content-addressed.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes, one encoder each.  [default: the cores]")
@click.option("--ray", "ray_address", is_flag=False, flag_value="auto", default=None, metavar="[ADDRESS]",
              help="Run on Ray Data instead of local workers: a local Ray with no ADDRESS, else the cluster at "
                   "ADDRESS (needs the 'scale' extra). Writes the same store.")
@encoder_options
@click.option("--augmentations", type=click.IntRange(min=0), default=DEFAULTS.augmentations, show_default=True,
              help="Augmented views stored per sequence (what `train` uses; keep the default to train from it).")
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True, help="Seeds the augmentations.")
@max_pixels_option
def embed_command(sequences: tuple[Path, ...], store_dir: Path, workers: int | None, ray_address: str | None,
                  backbone: str, weights: str, weights_file: str | None, image_size: int, augmentations: int,
                  seed: int, max_pixels: int) -> None:
    """Embed SEQUENCES into an embedding store once, so `train` and `evaluate --store` skip the encoder.

    SEQUENCES are GIFs or folders of frames; a single folder of sequences counts as its
    sequences. Each sequence becomes one Parquet file (per view and frame: embedding, measured
    melt, date, sensor label, frame sha256; the encoder in store.json). Content-addressed: a
    re-run skips what is stored, a killed run resumes where it stopped, a sequence that cannot
    be read is reported and the others go on (exit 2 at the end).

    \b
    Examples:
      glacier-edge embed ../shared/data/glacierview_landsat --store store/ --weights random
      glacier-edge train ../shared/data/glacierview_landsat --store store/ --weights random
      glacier-edge embed archive/ --store /shared/store --ray ray://head:10001
      glacier-edge embed archive/ --store store18/ --backbone resnet18 --weights random
    """
    require_torch_wing("embed")
    from glacier_edge.archive.embed_jobs import EmbedOutcome, embed_locally
    from glacier_edge.contracts import TrainConfig
    from glacier_edge.errors import BadInputError
    from glacier_edge.ingest.frames import expand_sequences
    from glacier_edge.training.encoder import encoder_for
    from glacier_edge.training.store import EmbeddingStore, store_bytes

    config = TrainConfig(weights=weights, backbone=backbone, weights_file=weights_file, image_size=image_size,
                         augmentations=augmentations, seed=seed, max_pixels=max_pixels)
    sources = expand_sequences(list(sequences))
    missing = [s for s in sources if not s.exists()]
    if missing:
        raise BadInputError(f"{missing[0]}: no such file or directory")
    _, record = encoder_for(config)
    store = EmbeddingStore.open(store_dir, record, augmentations, seed)
    echo_err(f"encoder: {record.label()}; {len(sources)} sequence(s) → {store_dir} "
             f"({augmentations + 1} views each)")
    failures: list[EmbedOutcome] = []
    frames_done = [0]
    started: list[float | None] = [None]

    def rate(_: object = None) -> str:
        elapsed = time.perf_counter() - started[0] if started[0] else 0
        return f"{frames_done[0] / elapsed:.1f} frames/s" if elapsed > 0 and frames_done[0] else ""

    with click.progressbar(length=len(sources), label="embedding", file=sys.stderr, show_eta=True,
                           item_show_func=rate) as bar:
        started[0] = time.perf_counter()

        def on_done(outcome: EmbedOutcome) -> None:
            if outcome.error is not None:
                failures.append(outcome)
            elif not outcome.skipped:
                frames_done[0] += outcome.frames
            bar.update(1)

        if ray_address is not None:
            from glacier_edge.archive.ray_jobs import embed_with_ray

            summary = embed_with_ray(sources, store, config, address=ray_address, on_done=on_done)
        else:
            summary = embed_locally(sources, store, config, workers=workers, on_done=on_done)
    for failure in failures:
        echo_err(f"not embedded: {failure.error}")
    click.echo(f"{summary.embedded} embedded, {summary.skipped} already in the store, {summary.failed} failed; "
               f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.frames_per_second:.1f} frames/s, "
               f"{summary.workers} worker(s)); store {store_bytes(store_dir) / 1e6:.1f} MB")
    if failures:
        sys.exit(2)
