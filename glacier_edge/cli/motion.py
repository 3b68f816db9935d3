"""`glacier-edge motion`: surface motion of a sequence, torch-free."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import click

from glacier_edge.cli.shared import EXIT_ALERT, echo_err, max_pixels_option, speed_model_option
from glacier_edge.contracts import SpeedModelRecord
from glacier_edge.motion.field import RADIUS, SPACING, TEMPLATE
from glacier_edge.motion.imagery import DEFAULT_LONG_SIDE
from glacier_edge.motion.speed_model import BLOCKS


@click.command("motion")
@click.argument("sequence", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder to write (replaced as a whole when complete): motion.json, series.csv, "
                   "registration.csv, fields/pair_NNN.npz, maps/pair_NNN.png.")
@click.option("--glacier-mask", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Image of the frames' size, white on the glacier: where motion is measured (default: everywhere).")
@click.option("--stable-mask", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Image of the frames' size, white on stable ground (rock): where frames are co-registered "
                   "(default: everything outside --glacier-mask).")
@click.option("--regions-mask", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Label image of the frames' size: each non-zero grey level is a region (a serac, a tongue) "
                   "with its own speed series, failure forecast and alerts; names from NAME.names.txt lines "
                   "'LEVEL name' beside it.")
@click.option("--pixel-size", type=float, default=None, metavar="METRES",
              help="Ground size of one original pixel: speeds in m/day instead of px/day.")
@click.option("--baseline-days", type=float, default=None,
              help="Pair each frame with the usable frame closest to this many days earlier (default: the "
                   "previous usable frame). Use it when daily motion is under a pixel.")
@click.option("--template", type=int, default=TEMPLATE, show_default=True,
              help="Template side, px: several crevasses or ogives wide.")
@click.option("--spacing", type=int, default=SPACING, show_default=True, help="Grid step, px.")
@click.option("--radius", type=int, default=RADIUS, show_default=True,
              help="Search radius, px: above the largest displacement of a pair.")
@click.option("--method", type=click.Choice(["oc", "zncc"]), default="oc", show_default=True,
              help="Orientation correlation (robust to illumination change) or zero-mean normalised "
                   "cross-correlation.")
@click.option("--long-side", type=int, default=DEFAULT_LONG_SIDE, show_default=True,
              help="Frames larger than this (px) are reduced once before matching; speeds stay in original pixels.")
@click.option("--speed-alert", type=float, default=None, help="Alert when a pair's median speed exceeds this.")
@click.option("--acceleration-alert", type=float, default=None,
              help="Alert when the median speed grows faster than this per day.")
@click.option("--fail-on-alert", is_flag=True, help=f"Exit with code {EXIT_ALERT} when any alert is raised.")
@speed_model_option
@max_pixels_option
def motion_command(sequence: tuple[Path, ...], out_dir: Path, glacier_mask: Path | None, stable_mask: Path | None,
                   regions_mask: Path | None, pixel_size: float | None, baseline_days: float | None, template: int,
                   spacing: int, radius: int, method: str, long_side: int, speed_alert: float | None,
                   acceleration_alert: float | None, fail_on_alert: bool, speed_model: SpeedModelRecord | None,
                   max_pixels: int) -> None:
    """Measure how the ice moves in SEQUENCE: co-register every frame on stable ground, match a
    grid of templates between usable frames, and report speeds, an inverse-velocity failure
    forecast and alerts, for the whole glacier and each region of --regions-mask. Torch-free;
    camera views and satellite chips alike, whatever a model bundle knows.

    \b
    Examples:
      glacier-edge motion scenes/ --glacier-mask glacier.png --pixel-size 10 --baseline-days 15 --out motion/
      glacier-edge motion camera/ --stable-mask rock.png --speed-alert 20 --fail-on-alert --out motion/

    Exit codes: 0 ok, 2 bad input or output, 3 alert (with --fail-on-alert).
    """
    from glacier_edge.errors import OutputError
    from glacier_edge.motion.pipeline import MotionOptions, measure_files
    from glacier_edge.motion.report import write_motion

    started = time.perf_counter()
    options = MotionOptions(template, spacing, radius, method, baseline_days, pixel_size, speed_alert,
                            acceleration_alert, speed_model)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir}: a file of that name exists")
    result = measure_files(sequence, glacier_mask=glacier_mask, stable_mask=stable_mask, regions_mask=regions_mask,
                           options=options, long_side=long_side, max_pixels=max_pixels, progress=echo_err)
    record = write_motion(result, out_dir, time.perf_counter() - started)
    unit = record.unit
    click.echo(f"{'first':24s}  {'second':24s}  {'days':>5s}  {'valid':>6s}  {'median':>9s}  {'p90':>9s}  ({unit})")
    for pair in record.pairs:
        median = "—" if pair.median_speed is None else f"{pair.median_speed:.3g}"
        p90 = "—" if pair.p90_speed is None else f"{pair.p90_speed:.3g}"
        click.echo(f"{pair.first_label[:24]:24s}  {pair.second_label[:24]:24s}  {pair.days:5g}  "
                   f"{pair.valid_share:6.0%}  {median:>9s}  {p90:>9s}")
    left_out = [r for r in record.registration if not r.registered]
    if glacier_mask is None and stable_mask is None:
        click.echo(f"frames taken as co-registered (no --stable-mask or --glacier-mask): {record.frames} frames")
    else:
        click.echo(f"registered {len(record.registration) - len(left_out)} of {record.frames} frames on stable "
                   "ground" + (f"; left out: {', '.join(r.label for r in left_out)}" if left_out else ""))
    from glacier_edge.motion.report import speed_forecast_line

    for forecast in record.speed_forecasts:
        click.echo(speed_forecast_line(forecast, unit))
    for failure in record.failures:
        if not failure.issued:
            click.echo(f"failure forecast, {failure.region}: none ({failure.reason})")
    for alert in record.alerts:
        if alert.kind == "failure_forecast":
            click.echo(f"FAILURE FORECAST: {alert.message}")
    for alert in record.alerts:
        if alert.kind != "failure_forecast":
            click.echo(f"ALERT {alert.kind.replace('_', ' ')}: {alert.message}")
    echo_err(f"wrote {out_dir} in {record.seconds:.1f} s")
    if fail_on_alert and record.alerts:
        sys.exit(EXIT_ALERT)


@click.command("speed-model")
@click.argument("motion_dirs", nargs=-1, required=True,
                type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The speed model to write (JSON, glacier-edge/speed-model), for --speed-model of motion, run "
                   "and watch.")
@click.option("--blocks", type=click.IntRange(1, 16), default=BLOCKS, show_default=True,
              help="Each field is cut into blocks × blocks tiles, each tile a speed series of its own.")
def speed_model_command(motion_dirs: tuple[Path, ...], out_file: Path, blocks: int) -> None:
    """Learn the next speed from the motion of several glaciers (folders written by `glacier-edge
    motion --out`, one per glacier): persistence corrected in log space from unit-free inputs, its
    gain chosen on glaciers the weights were not fitted on (0 unless it helps every one of them),
    a split-conformal 90 % interval, and the range of inputs it answers. With three glaciers or
    more, each is scored by a model fitted on the others, beside the naive trend and mean.

    \b
    Example:
      glacier-edge motion perito/ --glacier-mask mask.png --pixel-size 10 --baseline-days 15 --out m/perito
      glacier-edge motion cam/frames --stable-mask cam/stable.png --out m/cam
      glacier-edge motion other/ --glacier-mask other.png --out m/other
      glacier-edge speed-model m/perito m/cam m/other --out speed.json
      glacier-edge motion new/ --glacier-mask new.png --speed-model speed.json --out m/new

    Exit codes: 0 ok, 2 bad input or output.
    """
    from glacier_edge.fileio import check_writable, write_text_atomic
    from glacier_edge.motion.speed_corpus import folder_series
    from glacier_edge.motion.speed_model import train_speed_model

    check_writable(out_file, f"--out {out_file}")
    series = []
    for folder in motion_dirs:
        found = folder_series(folder, blocks)
        echo_err(f"{folder}: {len(found)} speed series (glacier, regions, blocks with enough speeds)")
        series += found
    model = train_speed_model(series)
    click.echo(f"fitted on {model.series} series, {model.examples} forecasts of {len(model.trained_on)} glaciers: "
               f"gain {model.gain:.2f}, 90 % interval ×/÷ {math.exp(model.halfwidth):.2f}, "
               f"answers inputs within {model.refuse_above:.1f} robust z")
    if not model.held_out:
        click.echo("held out: give three glaciers or more to score each on a model fitted on the others")
    else:
        click.echo(f"{'held out':24s}  {'forecasts':>9s}  {'skill':>7s}  {'cover':>6s}  {'refused':>7s}  "
                   f"{'trend':>7s}  {'mean':>7s}   (skill vs persistence)")
        for score in model.held_out:
            click.echo(f"{score.group[:24]:24s}  {score.forecasts:9d}  {score.skill:+7.3f}  {score.coverage:6.0%}  "
                       f"{score.refused:7.0%}  {score.trend_skill:+7.3f}  {score.mean_skill:+7.3f}")
    write_text_atomic(out_file, model.dumps())
    echo_err(f"wrote {out_file}")
