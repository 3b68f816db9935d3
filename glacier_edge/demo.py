"""`glacier-edge demo`: train → export → verify → run → bench on the generated sample, each step
through the same functions the individual commands call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from glacier_edge.bench.measure import run_variants
from glacier_edge.bench.tables import variants_table
from glacier_edge.bench.variants import variant_table
from glacier_edge.contracts import TrainConfig
from glacier_edge.edge.bundle import load_bundle
from glacier_edge.edge.report import format_result
from glacier_edge.edge.runner import run_edge
from glacier_edge.errors import ParityError
from glacier_edge.export.bundle_export import export_bundle
from glacier_edge.export.parity import parity_table, verify_bundle
from glacier_edge.ingest.samples import default_training_paths, sample_sequence_path
from glacier_edge.paths import default_bundle_dir, default_cache_dir, default_run_dir
from glacier_edge.training.pipeline import run_training

STEPS = 6
UNSEEN_SEED = 99
"""A generated glacier outside the training seeds, for the demo's station run."""


def run_demo(config: TrainConfig, *, progress: Callable[[int, str], Any], invoked_as: str) -> None:
    """Print each step's outcome; raise ParityError (exit 1) if the bundle fails verification.
    Trains on the generated glaciers `train` defaults to (run_training with no sequences)."""
    started = time.perf_counter()
    run_dir, bundle_dir = default_run_dir(), default_bundle_dir()
    training, unseen = default_training_paths(), sample_sequence_path(UNSEEN_SEED)

    def step(number: int, text: str) -> None:
        click.echo(f"[{number}/{STEPS}] {text}")

    def err(message: str) -> None:
        click.echo(message, err=True)

    step(1, f"train on {len(training)} generated glaciers ({config.epochs} epochs, held-out calibration folds) "
            f"→ {run_dir}")
    with progress(config.epochs, "training") as (advance, log):
        record = run_training([], run_dir, config=config, cache_dir=default_cache_dir(), echo=log,
                              progress=lambda epoch: advance(1))
    click.echo(f"      encoder: {record.encoder.label()}")
    cal = record.calibration
    if cal is not None:
        click.echo(f"      held out by sequence: model MAE {cal.heldout_mae:.4f} vs best naive answer ({cal.fallback}) "
                   f"{cal.fallback_mae:.4f}; gain toward the model {cal.gain:.2f}; 90 % interval ± {cal.halfwidth:.4f}")
    step(2, f"export fp32 + int8 ONNX → {bundle_dir}")
    manifest = export_bundle(run_dir, bundle_dir, int8=True, echo=err)
    click.echo(f"      exported in {manifest.export_seconds:.0f} s")
    step(3, "verify ONNX Runtime ≡ PyTorch")
    parity = verify_bundle(bundle_dir, echo=err)
    click.echo(parity_table(parity))
    if not parity.passed:
        raise ParityError("parity failed; the bundle must not be used")
    step(4, f"glacier-edge run on a generated glacier it never saw ({unseen.name}; ONNX Runtime only)")
    result, _ = run_edge([unseen], bundle_dir, provider="auto", max_pixels=config.max_pixels)
    click.echo(format_result(result, "table"))
    frames = result.sequence.frames
    step(5, f"latency on this machine ({frames} frames, 20 runs after warm-up; full table: glacier-edge bench)")
    specs = variant_table(load_bundle(bundle_dir), ["cpu"], None)
    click.echo(variants_table(run_variants(specs, bundle_dir, frames, runs=20, warmup=3, threads=None, echo=err)))
    step(6, "surface motion at a generated camera station (known flow and shake; a serac fails on a known day)")
    motion_demo(err)
    click.echo(f"demo finished in {time.perf_counter() - started:.0f} s. Next, on your own sequence:")
    click.echo(f"  {invoked_as} run YOUR_SEQUENCE.gif --model {bundle_dir} --plot melt.png")


def motion_demo(err: Callable[[str], None]) -> None:
    """`glacier-edge motion`'s pipeline on the camera sample: measured speeds beside the true ones."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from glacier_edge.ingest.camera_samples import write_camera_sample
    from glacier_edge.motion.pipeline import MotionOptions, measure_files

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        truth = write_camera_sample(folder)
        result = measure_files([folder / "frames"], glacier_mask=folder / "glacier.png",
                               stable_mask=folder / "stable.png", regions_mask=folder / "regions.png",
                               options=MotionOptions(template=32, spacing=16))
    sequence = result.sequence
    shakes = [r for r in result.registrations[1:] if r.ok]
    errors = [np.hypot(r.dx - s[0], r.dy - s[1]) for r, s in zip(result.registrations[1:],
                                                                  truth.timelapse.shake_px[1:]) if r.ok]
    click.echo(f"      registered {len(shakes) + 1} of {len(result.registrations)} frames on stable ground; shake "
               f"recovered to {np.sqrt(np.mean(np.square(errors))):.3f} px RMS")
    click.echo(f"      {'pair':23s}  {'glacier, median px/day':>32s}  {'serac, px/day':>20s}")
    click.echo(f"      {'':23s}  {'measured':>9s} {'true':>6s} {'|error| per window':>15s}  {'measured':>9s} "
               f"{'true':>10s}")
    for index, pair in enumerate(result.pairs):
        flow, _ = truth.timelapse.ice_flow_px(pair.first, pair.second)
        measured, valid = pair.field, pair.field.valid
        true_here = flow[measured.rows[valid], measured.cols[valid]] / pair.days
        error = np.hypot(measured.dx[valid] / pair.days - true_here[:, 0], measured.dy[valid] / pair.days
                         - true_here[:, 1])
        serac = pair.region_speeds.get("serac")
        click.echo(f"      {sequence.labels[pair.first][4:14]} → {sequence.labels[pair.second][4:14]}  "
                   f"{pair.median_speed or float('nan'):9.2f} {float(np.median(np.hypot(*true_here.T))):6.2f} "
                   f"{float(np.median(error)):15.3f}  {serac if serac is not None else float('nan'):9.2f} "
                   f"{truth.serac_median_px_per_day[index]:10.2f}")
    for alert in result.alerts:
        click.echo(f"      {alert.kind.upper()}: {alert.message}")
    click.echo(f"      true failure of the serac: {truth.failure_date} 00:00 (the whole glacier, which speeds up "
               "with the serac inside it, gets no forecast)")
