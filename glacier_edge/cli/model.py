"""The model commands: frames, train, evaluate, export, verify, run, bench, sample, demo.

Commands that need torch (train, export, verify, demo) import the torch wing inside their
body, so `glacier-edge run` and `--help` work on an edge install without torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from glacier_edge.cli.shared import (
    DEFAULTS,
    EXIT_ALERT,
    EXIT_OOD,
    config_from,
    echo_err,
    format_r,
    invoked_as,
    max_pixels_option,
    model_option,
    progress,
    regions_option,
    require_torch_wing,
    speed_model_option,
    training_options,
)
from glacier_edge.contracts import (
    EVALUATION_GROUPS,
    INT8_FORMATS,
    OUTPUT_FORMATS,
    PRECISIONS,
    PROVIDER_CHOICES,
    PROVIDERS,
    SpeedModelRecord,
)
from glacier_edge.paths import default_bundle_dir, default_run_dir


@click.command()
@click.argument("sequence", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@max_pixels_option
def frames(sequence: tuple[Path, ...], out_dir: Path, max_pixels: int) -> None:
    """Decode SEQUENCE into OUT_DIR/frame_000.jpg, frame_001.jpg, … at 128×128 RGB.

    Shows exactly what the model sees.

    Example: glacier-edge frames sample.gif frames/
    """
    from glacier_edge.ingest.frame_export import write_frames
    from glacier_edge.ingest.frames import read_sequence

    seq = read_sequence(list(sequence), max_pixels=max_pixels)
    written = write_frames(seq, out_dir)
    click.echo(f"wrote {len(written)} frames of {seq.source} to {out_dir}")


@click.command()
@click.argument("sequences", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help=f"Run directory to write (replaced as a whole).  [default: {default_run_dir()}]")
@click.option("--val", "val_sequences", multiple=True, type=click.Path(path_type=Path),
              help="A held-out sequence to report metrics on (repeatable); never trained on.")
@regions_option
@training_options
def train(sequences: tuple[Path, ...], out_dir: Path | None, val_sequences: tuple[Path, ...],
          regions_csv: Path | None, **options: Any) -> None:
    """Train the frame encoder + GraphSAGE melt model on SEQUENCES (default: generated glaciers).

    Each sequence is one graph (frames = nodes, consecutive frames linked); Adam and MSE on
    mini-batches of sequence graphs; the loss is printed every 50 epochs. With 3 or more
    sequences, held-out calibration folds set how far the model may correct persistence and
    the width of its interval. A single folder of sequence folders counts as its sequences.
    Writes model.pt, run.json and melt.png and prints MAE, RMSE and Pearson r on the training
    and --val sequences.

    \b
    Examples:
      glacier-edge train corpus/ --val held_out.gif --out runs/corpus
      glacier-edge train corpus/ --backbone resnet18 --out runs/r18
      glacier-edge train corpus/ --backbone resnet18 --weights seco \\
        --weights-file resnet18_sentinel2_rgb_seco.pth --out runs/seco
      glacier-edge train cam/frames --register --stable-mask cam/stable.png --out runs/cam
    """
    require_torch_wing("train")
    from glacier_edge.training.pipeline import run_training

    config, cache_dir, store = config_from(options)
    out_dir = out_dir or default_run_dir()
    with progress(config.epochs, "training") as (advance, log):
        record = run_training(list(sequences), out_dir, config=config, val_sequences=list(val_sequences),
                              cache_dir=cache_dir, store=store, echo=log, progress=lambda epoch: advance(1),
                              regions_csv=regions_csv)
    for role, summaries in (("train", record.train_sequences), ("val", record.val_sequences)):
        for entry in summaries:
            m = entry.metrics
            click.echo(f"{role:5s} {Path(entry.source).name}: MAE {m.mae:.4f}  RMSE {m.rmse:.4f}  "
                       f"Pearson r {format_r(m.pearson_r)}  ({m.n} melt values)")
    click.echo(f"encoder: {record.encoder.label()}")
    click.echo(f"trained in {record.seconds.fit:.1f} s (+ {record.seconds.embed:.1f} s embedding); wrote {out_dir}/"
               f"{{model.pt, run.json, melt.png}}")


@click.command("run")
@click.argument("sequence", nargs=-1, required=True, type=click.Path(path_type=Path))
@model_option
@click.option("--provider", type=click.Choice(PROVIDER_CHOICES), default="auto", show_default=True,
              help="auto: CUDA when ONNX Runtime really gets it, else CPU. cuda, tensorrt (onnxruntime-gpu), "
                   "openvino (onnxruntime-openvino): fail (exit 2) if the session does not really get it, unless "
                   "--allow-fallback.")
@click.option("--allow-fallback", is_flag=True,
              help="With --provider cuda/tensorrt/openvino: fall back to CPU instead of failing.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="ONNX Runtime intra-op threads "
              "[default: all cores].")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="Encoder variant: int8 needs a bundle exported with --int8 (measured 3.3× faster than fp32 with "
                   "AVX-512/VNNI, 1.4–2× with AVX2 only; melt MAE ≤ 0.005 vs fp32 on the calibration imagery).")
@click.option("--format", "output_format", type=click.Choice(OUTPUT_FORMATS), default="table",
              show_default=True, help="json follows the schema glacier-edge/run-result v2 (RunResult in contracts.py).")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Write the result to this file (atomically) instead of stdout.")
@click.option("--plot", type=click.Path(path_type=Path), default=None,
              help="Also draw measured (blue) vs predicted (red dashed) melt with its interval band as PNG "
                   "(needs matplotlib); with a per-region model also P-regions.png: melt per region over the frame "
                   "with the most unexpected regions (outlined red).")
@click.option("--alert-threshold", type=float, default=None,
              help="Flag frames whose predicted melt exceeds this value.")
@click.option("--fail-on-alert", is_flag=True,
              help=f"Exit with code {EXIT_ALERT} when any frame is above --alert-threshold or its measured melt is "
                   "outside the interval of the prediction made for it (UNEXPECTED).")
@click.option("--fail-on-ood", is_flag=True,
              help=f"Exit with code {EXIT_OOD} when any frame is out of distribution (unlike the training imagery); "
                   "checked after --fail-on-alert.")
@click.option("--trusted-key", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Ed25519 public key (PEM): run only a bundle signed by it (`glacier-edge sign`).")
@click.option("--region", default=None, metavar="LABEL",
              help="This glacier's region, as the training regions were labelled (`train --regions`): when the "
                   "bundle never trained on it, the output says that its calibration is a prior from elsewhere. "
                   "Without it, GLIMS IDs in the names decide (farther than 50 km from every training glacier).")
@click.option("--glacier-mask", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also measure surface motion (torch-free, whatever the bundle knows): white on the glacier, "
                   "the frames' size; frames are co-registered on everything outside it. See `glacier-edge motion`. "
                   "With --plot P, P-motion.png shows the speed map and series.")
@click.option("--stable-mask", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also measure surface motion, co-registering frames on this mask's white (stable ground).")
@click.option("--pixel-size", type=float, default=None, metavar="METRES",
              help="With motion: ground size of one original pixel, for speeds in m/day.")
@click.option("--baseline-days", type=float, default=None,
              help="With motion: pair each frame with the frame closest to this many days earlier.")
@click.option("--regions-mask", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Label image of the frames' size: each non-zero grey level is a region (names from "
                   "NAME.names.txt lines 'LEVEL name'). Melt per region (bundles trained with --frame-regions) "
                   "and, with --glacier-mask, speed per region are reported for these regions instead of the "
                   "bundle's 4×4 grid.")
@click.option("--superpixels", type=click.IntRange(min=2), default=None, metavar="N",
              help="Melt per region over about N superpixels (SLIC on the first frame, kept for every frame; "
                   "needs scikit-image: the 'regions' extra) instead of the bundle's 4×4 grid.")
@speed_model_option
@max_pixels_option
def run_command(sequence: tuple[Path, ...], model_dir: Path | None, provider: str, allow_fallback: bool,
                threads: int | None, precision: str, output_format: str, output: Path | None, plot: Path | None,
                alert_threshold: float | None, fail_on_alert: bool, fail_on_ood: bool, trusted_key: Path | None,
                region: str | None, glacier_mask: Path | None, stable_mask: Path | None, pixel_size: float | None,
                baseline_days: float | None, regions_mask: Path | None, superpixels: int | None,
                speed_model: SpeedModelRecord | None, max_pixels: int) -> None:
    """Predict melt for SEQUENCE on ONNX Runtime alone (no torch): the station command.

    SEQUENCE is an animated GIF, a folder of images, or several image files in order. Prints
    per frame the date (from a NAME.dates.txt sidecar or dated file names), measured melt,
    predicted melt ± its calibrated 90 % interval, |error|, the out-of-distribution score and
    flags (ALERT: above the threshold; UNEXPECTED: measured outside the interval; OOD: unlike
    the training imagery — the bundle's best naive answer then replaces the model; when most
    frames are, every frame is, since the graph mixes neighbours; KIND: a camera view for a bundle
    trained on satellite chips, or the reverse), then a summary with provider and per-stage
    latency. A bundle trained with --frame-regions adds melt per region of the frame (the 4×4
    grid, --regions-mask or --superpixels) and names the region of an unexpected change.

    \b
    Examples:
      glacier-edge sample sample.gif && glacier-edge run sample.gif
      glacier-edge run scenes/ --format json --output result.json --plot melt.png
      glacier-edge run sequence.gif --alert-threshold 0.08 --fail-on-alert   # exit 3 on alert
      glacier-edge run radar.gif --fail-on-ood                                # exit 4 if unlike training
      glacier-edge run cam/frames --stable-mask cam/stable.png                # + registration and speed
      glacier-edge run scenes/ --regions-mask scenes/parts.png                # melt per named region

    Exit codes: 0 ok, 2 bad input/bundle/provider/output, 3 alert, 4 out of distribution.
    """
    from glacier_edge.edge.report import format_result
    from glacier_edge.edge.runner import run_edge
    from glacier_edge.paths import resolve_bundle_dir

    _check_writable(output, "--output")
    _check_writable(plot, "--plot")
    motion = None
    if glacier_mask is not None or stable_mask is not None:
        from glacier_edge.edge.runner import MotionRequest
        from glacier_edge.motion.pipeline import MotionOptions

        motion = MotionRequest(glacier_mask, stable_mask, MotionOptions(
            baseline_days=baseline_days, pixel_size=pixel_size, speed_model=speed_model), regions_mask)
    elif pixel_size is not None or baseline_days is not None or speed_model is not None:
        from glacier_edge.errors import BadInputError

        raise BadInputError("--pixel-size, --baseline-days and --speed-model are motion options: give "
                            "--glacier-mask or --stable-mask too")
    if regions_mask is not None and superpixels is not None:
        from glacier_edge.errors import BadInputError

        raise BadInputError("--regions-mask and --superpixels each choose the regions: give one")
    frame_regions = None
    if regions_mask is not None or superpixels is not None:
        from glacier_edge.edge.regional import RegionRequest

        frame_regions = RegionRequest(regions_mask, superpixels)
    result, prediction = run_edge(list(sequence), resolve_bundle_dir(model_dir), provider=provider, threads=threads,
                                  allow_fallback=allow_fallback, precision=precision, max_pixels=max_pixels,
                                  alert_threshold=alert_threshold, trusted_key=trusted_key, region=region,
                                  motion=motion, frame_regions=frame_regions)
    text = format_result(result, output_format)
    if plot is not None:
        from glacier_edge.edge.plot import MeltPanel, plot_melt

        seq = prediction.sequence
        plot_melt(plot, [MeltPanel(Path(seq.source).name, prediction.measured, prediction.predicted, seq.dates,
                                   prediction.halfwidth)],
                  suptitle=f"glacier-edge run — encoder: {result.model.encoder_weights}"
                           f"{'' if result.model.pretrained else ' — NOT PRETRAINED'}")
        if prediction.motion is not None:
            from glacier_edge.edge.plot import plot_motion

            motion_plot = plot.with_name(f"{plot.stem}-motion{plot.suffix or '.png'}")
            plot_motion(motion_plot, prediction.motion, f"glacier-edge run — surface motion of {seq.source}")
            echo_err(f"wrote {motion_plot}")
        if prediction.regions is not None:
            from glacier_edge.edge.plot import plot_regions

            alerts = prediction.regions.unexpected.sum(axis=1).tolist()
            shown = alerts.index(max(alerts)) if max(alerts) else seq.num_frames - 1
            regions_plot = plot.with_name(f"{plot.stem}-regions{plot.suffix or '.png'}")
            plot_regions(regions_plot, seq.frames, prediction.regions, shown,
                         f"glacier-edge run — {Path(seq.source).name}, {prediction.regions.layout.source}")
            echo_err(f"wrote {regions_plot}")
    if output is not None:
        from glacier_edge.fileio import write_text_atomic

        write_text_atomic(output, text + "\n")
        echo_err(f"wrote {output}")
    else:
        click.echo(text)
    if not result.model.pretrained:
        echo_err("note: this bundle's encoder is NOT PRETRAINED (random init); numbers show the pipeline, "
                 "not a trained glacier model")
    if fail_on_alert and result.summary.alerts:
        echo_err(f"glacier-edge: {result.summary.alerts} alert(s): above the threshold, unexpected change or motion")
        sys.exit(EXIT_ALERT)
    if fail_on_ood and result.summary.other_kind_frames:
        from glacier_edge.edge.report import kind_refusal

        echo_err(f"glacier-edge: another kind of scene: {kind_refusal(result)}")
        sys.exit(EXIT_OOD)
    if fail_on_ood and result.summary.ood_frames:
        whole = " (most of the sequence: all frames treated as such)" if result.summary.ood_window else ""
        echo_err(f"glacier-edge: {result.summary.ood_frames} frame(s) out of distribution{whole}")
        sys.exit(EXIT_OOD)


def _check_writable(path: Path | None, option: str) -> None:
    """Fail before any work when an output path cannot be written."""
    from glacier_edge.fileio import check_writable

    if path is not None:
        check_writable(path, f"{option} {path}")


@click.command()
@click.argument("sequences", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for evaluation.json and evaluation.png (measured vs predicted per held-out sequence).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="auto", default=None, metavar="[ADDRESS]",
              help="Run the outer folds as Ray tasks: a local Ray with no ADDRESS, else the cluster at ADDRESS "
                   "(needs the 'scale' extra).")
@click.option("--group-by", type=click.Choice(EVALUATION_GROUPS), default="sequence", show_default=True,
              help="Hold out sequences (grouped k-fold, --folds) or one whole region at a time (leave-one-region-out). "
                   "Regions come from --regions, else from GLIMS IDs in the names (glaciers within 50 km of each "
                   "other, transitively, form one region); whenever they are known each region is reported.")
@regions_option
@training_options
def evaluate(sequences: tuple[Path, ...], out_dir: Path | None, ray_address: str | None, group_by: str,
             regions_csv: Path | None, **options: Any) -> None:
    """Held-out evaluation: sequences split into folds, the default recipe trained on the rest.

    Reports MAE, RMSE and Pearson r per held-out sequence and pooled for the graph model, a
    no-graph MLP on the same embeddings (does the graph earn its place?), persistence (last
    measured melt), the causal running mean and the training mean; skill against the best of
    those baselines, and the coverage of the stored interval. SEQUENCES: two or more
    GIFs/folders, or one folder of them.

    Example: glacier-edge evaluate corpus/ --task forecast --group-by region --out eval/
    """
    require_torch_wing("evaluate")
    from glacier_edge.training.evaluation import evaluation_table, run_evaluation

    config, cache_dir, store = config_from(options)
    fold_runner = None
    if ray_address is not None:
        from functools import partial

        from glacier_edge.archive.ray_jobs import run_folds_on_ray

        fold_runner = partial(run_folds_on_ray, address=ray_address)
    result = run_evaluation(list(sequences), config=config, cache_dir=cache_dir, out_dir=out_dir, echo=echo_err,
                            store=store, fold_runner=fold_runner, group_by=group_by, regions_csv=regions_csv)
    click.echo(evaluation_table(result))
    if out_dir is not None:
        click.echo(f"wrote {out_dir}/evaluation.json and evaluation.png")


@click.command("export")
@click.argument("run_dir", required=False, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help=f"Bundle directory to write (replaced as a whole).  [default: {default_bundle_dir()}]")
@click.option("--int8", is_flag=True,
              help="Also write encoder.int8.onnx: ONNX Runtime static quantisation calibrated on the training "
                   "frames. With VNNI or on ARM each documented format is timed and the fastest within melt MAE "
                   "0.005 is kept; on x86 without VNNI, 7-bit weights (no 16-bit saturation).")
@click.option("--int8-format", type=click.Choice(INT8_FORMATS), default=None,
              help="Write this int8 format instead of choosing on this machine (implies --int8): for a station "
                   "whose CPU differs. x86 without VNNI (AVX2 only): qop-u8s8-reduced (7-bit weights, no 16-bit "
                   "saturation; measured 3× smaller melt error at the same speed). VNNI or ARM dot product: "
                   "qdq-u8s8 or qop-u8s8. Recorded in the manifest with the reason.")
@click.option("--opset", type=click.IntRange(min=17), default=18, show_default=True, help="ONNX opset.")
def export_command(run_dir: Path | None, out_dir: Path | None, int8: bool, int8_format: str | None,
                   opset: int) -> None:
    """Export a training run to an ONNX model bundle for the edge runner.

    Writes encoder.onnx (the backbone, uint8 frames in, preprocessing inside, dynamic N),
    gnn.onnx (the dense-adjacency graph model, dynamic T, no Scatter ops) and manifest.json
    (sha256 of every file, versions, opset, I/O spec, weights, training summary). RUN_DIR
    defaults to the last `glacier-edge train` run.

    \b
    Examples:
      glacier-edge export runs/rutor --out bundles/rutor --int8
      glacier-edge export runs/rutor --out bundles/pi --int8-format qop-u8s8-reduced
    """
    require_torch_wing("export")
    from glacier_edge.export.bundle_export import export_bundle

    run_dir = run_dir or default_run_dir()
    out_dir = out_dir or default_bundle_dir()
    manifest = export_bundle(run_dir, out_dir, int8=int8 or int8_format is not None, opset=opset,
                             int8_format=int8_format, echo=echo_err)
    for name, record in manifest.files.items():
        click.echo(f"{name:20s} {record.bytes / 1e6:8.1f} MB  sha256 {record.sha256[:16]}…")
    click.echo(f"encoder weights: {manifest.encoder.description}")
    click.echo(f"exported in {manifest.export_seconds:.1f} s to {out_dir}; next: glacier-edge verify {out_dir}")


@click.command()
@click.argument("bundle_dir", required=False, type=click.Path(path_type=Path))
@click.argument("sequences", nargs=-1, type=click.Path(path_type=Path))
@click.option("--run", "run_dir", type=click.Path(path_type=Path), default=None,
              help="Training run to compare against.  [default: the run recorded in the manifest]")
@max_pixels_option
def verify(bundle_dir: Path | None, sequences: tuple[Path, ...], run_dir: Path | None, max_pixels: int) -> None:
    """Prove the bundle's ONNX Runtime output equals the trained PyTorch model's.

    Compares encoder embeddings (|Δ| ≤ 1e-4 + 1e-4·|ref|) and melt (|Δ| ≤ 1e-5 + 1e-4·|ref|),
    every element, on the embedded sample, the given SEQUENCES and random frames at
    T = 2, 8, 37, 128; reports int8 melt MAE and mean-centred cosine when the bundle has int8.
    Prints a table, records it in manifest.json and exits 1 when a tolerance fails.

    Example: glacier-edge verify bundles/rutor extra.gif
    """
    require_torch_wing("verify")
    from glacier_edge.errors import ParityError
    from glacier_edge.export.parity import parity_table, verify_bundle

    bundle_dir = bundle_dir or default_bundle_dir()
    parity = verify_bundle(bundle_dir, list(sequences), run_dir=run_dir, max_pixels=max_pixels, echo=echo_err)
    click.echo(parity_table(parity))
    click.echo(f"encoder: {parity.encoder}")
    if not parity.passed:
        raise ParityError("PyTorch and ONNX Runtime disagree beyond the tolerance (rows marked NO)")
    click.echo(f"PASS: ONNX Runtime ≡ PyTorch within tolerance on {len(parity.rows)} inputs; "
               f"figures written to {bundle_dir}/manifest.json")


@click.command()
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True)
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True)
def demo(epochs: int, seed: int) -> None:
    """The whole pipeline on generated glaciers, end to end, in a few minutes.

    Trains on six generated glaciers (ImageNet weights if cached, else random init, labelled
    NOT PRETRAINED), exports fp32 + int8 ONNX to the default bundle, verifies parity against
    PyTorch, runs the edge runner on a generated glacier it never saw and prints a latency
    table. Ends with the `glacier-edge run` line to use next.

    Example: glacier-edge demo --epochs 300
    """
    require_torch_wing("demo")
    from glacier_edge.demo import run_demo

    run_demo(DEFAULTS.with_(epochs=epochs, seed=seed), progress=progress, invoked_as=invoked_as())


@click.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--frames", "frame_count", type=click.IntRange(min=2, max=400), default=None,
              help="Frames to draw  [default: 12, the demo's sample].")
@click.option("--seed", type=int, default=0, show_default=True, help="Another seed draws another glacier.")
@click.option("--as-files", is_flag=True,
              help="Write OUT as a folder of dated PNGs, one per frame (glacier_YYYY-MM-DD.png): a station inbox.")
@click.option("--camera", is_flag=True,
              help="Write OUT as a fixed camera station's folder instead: daily shaken frames of a flowing glacier "
                   "with a serac that fails on a known day, its masks and truth.csv (for `glacier-edge motion`).")
def sample(out: Path, frame_count: int | None, seed: int, as_files: bool, camera: bool) -> None:
    """Write the project's generated glacier time-lapse (GIF + dates sidecar) to OUT.

    A valley glacier that retreats, with snow line, clouds, light, sensor cast and a date
    label, drawn by glacier-edge itself; its true ice area per frame is printed. With
    --camera: an oblique camera view whose flow, shake and serac failure day are known.

    \b
    Examples:
      glacier-edge sample sample.gif && glacier-edge run sample.gif
      glacier-edge sample inbox/ --as-files && glacier-edge watch inbox/ --once
      glacier-edge sample cam/ --camera && glacier-edge motion cam/frames --glacier-mask cam/glacier.png \\
          --stable-mask cam/stable.png --regions-mask cam/regions.png --template 32 --spacing 16 --out motion/
    """
    from glacier_edge.errors import OutputError
    from glacier_edge.fileio import check_writable
    from glacier_edge.ingest.samples import SAMPLE_FRAMES, glacier_timelapse, write_frame_files, write_timelapse

    if camera:
        from glacier_edge.ingest.camera_samples import CAMERA_SAMPLE_FRAMES, write_camera_sample

        if out.exists() and not out.is_dir():
            raise OutputError(f"OUT {out}: exists and is not a folder")
        check_writable(out / "x.png", f"OUT {out}") if out.is_dir() else check_writable(out, f"OUT {out}")
        truth = write_camera_sample(out, frame_count or CAMERA_SAMPLE_FRAMES, seed=seed if seed else 1)
        click.echo(f"wrote {out}: {len(truth.glacier_median_px_per_day) + 1} daily camera frames; true median ice "
                   f"speed {min(truth.glacier_median_px_per_day):.2f}–{max(truth.glacier_median_px_per_day):.2f} "
                   f"px/day; serac speeds up from {truth.serac_median_px_per_day[0]:.2f} to "
                   f"{truth.serac_median_px_per_day[-1]:.2f} px/day and fails on {truth.failure_date} (truth.csv)")
        return
    if as_files:
        if out.exists() and not out.is_dir():
            raise OutputError(f"OUT {out}: exists and is not a folder")
        check_writable(out / "x.png", f"OUT {out}") if out.is_dir() else check_writable(out, f"OUT {out}")
    else:
        check_writable(out, f"OUT {out}")
    timelapse = glacier_timelapse(frame_count or SAMPLE_FRAMES, seed=seed)
    if as_files:
        write_frame_files(timelapse, out)
    else:
        write_timelapse(timelapse, out)
    areas = ", ".join(f"{d.isoformat()} {a:.2f}" for d, a in zip(timelapse.dates, timelapse.ice_area_km2))
    what = "one dated PNG per frame" if as_files else "its dates sidecar"
    click.echo(f"wrote {out} and {what}: {len(timelapse.dates)} frames; true ice area km²: {areas}")


@click.command()
@model_option
@click.option("--frames", "frame_counts", type=click.IntRange(min=2, max=4096), multiple=True, default=(24,),
              show_default=True, help="Sequence length(s) T to time (repeatable); the sample's frames are cycled.")
@click.option("--providers", type=click.Choice(tuple(PROVIDERS)), multiple=True, default=("cpu",), show_default=True,
              help="Execution provider(s) to time (repeatable); one not available is skipped with its reason.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads for ORT and torch "
              "[default: all cores].")
@click.option("--runs", type=click.IntRange(min=3), default=20, show_default=True,
              help="Timed runs per measurement, after 3 warm-up runs.")
@click.option("--cold-runs", type=click.IntRange(min=0), default=3, show_default=True,
              help="Fresh `glacier-edge run` processes to time for cold start (0 skips).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="Also write results here.")
@click.option("--compare", "compare_dirs", multiple=True, metavar="BUNDLE",
              type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Also measure this bundle (repeatable) and print all side by side in one table (the --model "
                   "bundle first; the first --frames count, CPU).")
def bench(model_dir: Path | None, frame_counts: tuple[int, ...], providers: tuple[str, ...], threads: int | None,
          runs: int, cold_runs: int, json_out: Path | None, compare_dirs: tuple[Path, ...]) -> None:
    """Time every model variant per stage: mean/P50/P90/P95/P99, frames/s, RSS, parity.

    Variants: ORT fp32, ORT int8 (if exported) on each provider, and PyTorch eager fp32 when
    torch is installed (the parity reference then). Ends with the cold start (wall time, peak
    RSS) of fresh `glacier-edge run` processes, and a PyTorch path for comparison.

    \b
    Examples:
      glacier-edge bench --frames 8 --frames 24 --threads 2 --json bench.json
      glacier-edge bench --model bundles/r50 --compare bundles/r18 --compare bundles/mnv3s
    """
    from glacier_edge.bench.run import compare_bundles, run_bench, torch_available

    if torch_available():
        import glacier_edge.training.reference  # noqa: F401  (registers the PyTorch eager variant)
    from glacier_edge.fileio import write_json_atomic
    from glacier_edge.paths import resolve_bundle_dir

    _check_writable(json_out, "--json")
    if compare_dirs:
        reports, text = compare_bundles([resolve_bundle_dir(model_dir), *compare_dirs], frames=frame_counts[0],
                                        threads=threads, runs=runs, cold_runs=cold_runs, echo=echo_err)
        click.echo(text)
        if json_out is not None:
            write_json_atomic(json_out, {"bundles": [r.to_json() for r in reports]})
            echo_err(f"wrote {json_out}")
        return
    report, text = run_bench(resolve_bundle_dir(model_dir), frame_counts=frame_counts, providers=list(providers),
                             threads=threads, runs=runs, cold_runs=cold_runs, echo=echo_err)
    click.echo(text)
    if json_out is not None:
        write_json_atomic(json_out, report.to_json())
        echo_err(f"wrote {json_out}")


