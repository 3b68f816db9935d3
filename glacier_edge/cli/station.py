"""The station commands: `watch`, `history` and `sign` (torch-free, registered on the main group)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from glacier_edge.cli.shared import echo_err, max_pixels_option, model_option, speed_model_option
from glacier_edge.contracts import OUTPUT_FORMATS, PRECISIONS, PROVIDER_CHOICES, SpeedModelRecord
from glacier_edge.paths import default_bundle_dir, glacier_edge_home

if TYPE_CHECKING:
    from glacier_edge.station.engine import Engine
    from glacier_edge.station.store import Store

DEFAULT_DB = "station.db"


def default_db() -> Path:
    return glacier_edge_home() / DEFAULT_DB


db_option = click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
                         help=f"Station database (SQLite).  [default: {default_db()}]")
trusted_key_option = click.option(
    "--trusted-key", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
    help="Ed25519 public key (PEM): accept only bundles signed by it (`glacier-edge sign`); refuse unsigned or "
         "foreign ones.")


@click.command("watch")
@click.argument("inbox", type=click.Path(path_type=Path, file_okay=False))
@model_option
@db_option
@click.option("--once", is_flag=True, help="Take what is in INBOX now and exit (for cron or a systemd timer).")
@click.option("--window", type=click.IntRange(min=2, max=4096), default=None,
              help="Images the graph model sees.  [default: the longest training sequence, at most 64]")
@click.option("--alert-threshold", type=float, default=None, help="Alert when predicted melt exceeds this value.")
@click.option("--alerts", "alerts_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Append each alert as one JSON line here (fsync'd before it counts as delivered).")
@click.option("--on-alert", default=None, metavar="CMD",
              help="Run this shell command per alert with the alert JSON on its stdin (killed after "
                   "--alert-timeout; a failure is retried later: delivery is at least once).")
@click.option("--alert-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds an --on-alert command may take.")
@trusted_key_option
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True)
@click.option("--provider", type=click.Choice(PROVIDER_CHOICES), default="cpu", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="ONNX Runtime threads [default: all].")
@click.option("--settle", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Seconds a file's size and mtime must stay unchanged before it is read (still being written).")
@click.option("--poll", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Without --once: look at INBOX at least this often, events or not.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds to wait for a database another process is writing.")
@click.option("--region", default=None, metavar="LABEL",
              help="This station's region, as the training regions were labelled (`train --regions`): when the "
                   "bundle never trained on it, the log says once that its calibration is a prior from elsewhere.")
@click.option("--glacier-mask", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also measure each image's surface motion (see `glacier-edge motion`): white on the glacier, "
                   "the images' size; registration uses everything outside it.")
@click.option("--stable-mask", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also measure surface motion, registering each image on this mask's white (stable ground).")
@click.option("--regions-mask", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="A label image of the images' size (each non-zero grey level a region, names in NAME.names.txt): "
                   "with motion, each region gets its own speed series, forecasts and alerts; with a bundle trained "
                   "with --frame-regions, its melt per region is reported for these regions instead of the 4×4 grid.")
@click.option("--page", "page_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Rewrite this self-contained HTML page (atomically) after each processed image: status, the "
                   "latest frame with its regions, melt and speed over time, alerts, quarantined files. Open it "
                   "from disk or serve it with any static web server; it loads nothing from elsewhere.")
@click.option("--metrics", "metrics_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Rewrite this Prometheus textfile (node_exporter's textfile collector) after each processed "
                   "image: images by status, last image time, melt and speed, alerts, OOD, skill, model.")
@click.option("--pixel-size", type=float, default=None, metavar="METRES", help="Motion speeds in m/day.")
@click.option("--speed-alert", type=float, default=None, help="Motion: alert when the median speed exceeds this.")
@click.option("--acceleration-alert", type=float, default=None,
              help="Motion: alert when the median speed grows faster than this per day.")
@speed_model_option
@max_pixels_option
def watch_command(inbox: Path, model_dir: Path | None, db_path: Path | None, once: bool, window: int | None,
                  alert_threshold: float | None, alerts_file: Path | None, on_alert: str | None,
                  alert_timeout: float, trusted_key: Path | None, precision: str, provider: str,
                  threads: int | None, settle: float, poll: float, lock_timeout: float, region: str | None,
                  glacier_mask: Path | None, stable_mask: Path | None, regions_mask: Path | None,
                  page_file: Path | None, metrics_file: Path | None, pixel_size: float | None,
                  speed_alert: float | None, acceleration_alert: float | None,
                  speed_model: SpeedModelRecord | None, max_pixels: int) -> None:
    """Station mode: take each new image in INBOX once, keep every result in SQLite.

    Per image (in date order: file name, NAME.dates.txt sidecar, else arrival time, stated):
    decode, encoder once (the embedding is stored, never recomputed), graph model over the last
    W images, interval and out-of-distribution guard as `run` applies them, alerts. The
    forecast made at the previous image is scored when the next arrives, and the running skill
    against persistence is kept. Corrupt files and images dated before the last one are
    quarantined (recorded with the reason, left in place); the same image under another name is
    recorded once. The station runs a verified copy of the bundle (DB.model/ beside the
    database); a new bundle at --model replaces it only if it verifies.

    \b
    Examples:
      glacier-edge watch /srv/inbox --once --db /var/lib/glacier/station.db
      glacier-edge watch /srv/inbox --alert-threshold 0.05 --alerts /var/log/glacier-alerts.jsonl
      glacier-edge watch /srv/inbox --trusted-key keys/lab.pub --on-alert 'mail -s melt ops@example.org'
      glacier-edge watch /srv/camera --stable-mask rock.png --speed-alert 20 --alerts /var/log/glacier.jsonl
      glacier-edge watch /srv/inbox --page /var/www/station.html --metrics /var/lib/prom/glacier.prom

    Exit codes: 0 ok, 2 bad inbox/bundle/database (one line).
    """
    from glacier_edge.errors import BadInputError
    from glacier_edge.station.active_model import ActiveModel, active_dir_for
    from glacier_edge.station.alerts import AlertSinks
    from glacier_edge.station.store import Store
    from glacier_edge.station.watch import BatchSummary, process_inbox, watch_forever

    if not inbox.is_dir():
        raise BadInputError(f"{inbox}: inbox is not a directory")
    motion = None
    if glacier_mask is not None or stable_mask is not None:
        from glacier_edge.motion.pipeline import MotionOptions
        from glacier_edge.station.motion import StationMotionOptions, check_motion_options

        motion = StationMotionOptions(glacier_mask, stable_mask, MotionOptions(
            pixel_size=pixel_size, speed_alert=speed_alert, acceleration_alert=acceleration_alert,
            speed_model=speed_model), regions_mask)
        check_motion_options(motion)
    elif pixel_size is not None or speed_alert is not None or acceleration_alert is not None or speed_model:
        raise BadInputError("--pixel-size, --speed-alert, --acceleration-alert and --speed-model are motion options: "
                            "give --glacier-mask or --stable-mask too")
    if regions_mask is not None and not regions_mask.is_file():
        raise BadInputError(f"--regions-mask {regions_mask}: no such file")
    db_path = db_path or default_db()
    if db_path == default_db():
        db_path.parent.mkdir(parents=True, exist_ok=True)
    sinks = AlertSinks(alerts_file, on_alert, alert_timeout)

    def log(message: str) -> None:
        click.echo(message)
        sys.stdout.flush()

    with Store(db_path, lock_timeout) as store:
        active = ActiveModel(model_dir or default_bundle_dir(), active_dir_for(db_path), trusted_key, echo_err)
        engines: list[Engine] = []

        def engine() -> Engine:
            """Built on the first new image: numpy, Pillow and onnxruntime load only when there is work."""
            if not engines:
                from glacier_edge.station.engine import Engine, StationOptions

                options = StationOptions(window, alert_threshold, precision, provider, threads, max_pixels, motion,
                                         regions_mask)
                engines.append(Engine(store, active, options, echo_err))
                note = engines[0].prior_note([str(inbox.resolve())], region)
                if note is not None:
                    log(f"PRIOR FROM ELSEWHERE: {note}")
            return engines[0]

        def report(summary: BatchSummary) -> None:
            if summary.taken:
                skill, scored = store.running_skill()
                text = "n/a" if skill is None else f"{skill:+.3f}"
                log(f"{summary.processed} processed, {summary.duplicates} duplicate(s), {summary.quarantined} "
                    f"quarantined, {summary.alerts} alert(s); skill vs persistence {text} over {scored} scored "
                    "prediction(s)")

        def publish() -> None:
            """The page and the metrics after each processed image (each written whole, atomically)."""
            write_outputs(store, active_dir_for(db_path), page_file, metrics_file)

        if page_file is not None or metrics_file is not None:
            publish()  # at start too: an idle or new station shows its state
        if once:
            summary = process_inbox(inbox, store, engine, sinks, settle, log, publish)
            if not summary.taken:
                log(f"nothing new in {inbox}")
            report(summary)
        else:
            watch_forever(inbox, store, engine, sinks, settle, poll, log, report, publish)


def write_outputs(store: Store, model_dir: Path, page_file: Path | None, metrics_file: Path | None) -> None:
    """The station page and the Prometheus textfile, each written atomically (when asked for)."""
    from glacier_edge.fileio import write_text_atomic

    if page_file is not None:
        from glacier_edge.station.page import build_page

        write_text_atomic(page_file, build_page(store, model_dir))
    if metrics_file is not None:
        from glacier_edge.station.metrics import station_metrics

        write_text_atomic(metrics_file, station_metrics(store, model_dir))


@click.command("history")
@db_option
@click.option("--format", "output_format", type=click.Choice(OUTPUT_FORMATS), default="table", show_default=True,
              help="json follows the schema glacier-edge/station-history v4.")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also draw measured and predicted melt with the interval band, dates on the x-axis (PNG; needs "
                   "matplotlib).")
@click.option("--region", default=None, metavar="NAME",
              help="Show one region's melt series instead (a station whose bundle was trained with "
                   "--frame-regions; names: r0c0 … r3c3 of the grid, or those of --regions-mask). json: "
                   "glacier-edge/region-history v1.")
@click.option("--page", "page_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the station page (self-contained HTML, as `watch --page` keeps it).")
def history_command(db_path: Path | None, output_format: str, plot: Path | None, region: str | None,
                    page_file: Path | None) -> None:
    """Everything the station has seen and said: per image its date, measured melt, the
    prediction made for it ± interval, |error| against persistence's, OOD score, the forecast it
    led to, alerts, and why it was quarantined.

    \b
    Examples:
      glacier-edge history --db /var/lib/glacier/station.db
      glacier-edge history --format csv > station.csv
      glacier-edge history --plot station.png
      glacier-edge history --region r2c1              # one region of the frame
      glacier-edge history --page station.html        # the page an operator opens in a browser
    """
    from glacier_edge.station.report import format_history, plot_history, read_history
    from glacier_edge.station.store import open_existing

    if region is not None:
        from glacier_edge.station.report import format_region_history, read_region_history

        with open_existing(db_path or default_db()) as store:
            text = format_region_history(read_region_history(store, region), output_format)
        click.echo(text, nl=not text.endswith("\n"))
        return

    with open_existing(db_path or default_db()) as store:
        history = read_history(store)
        if page_file is not None:
            from glacier_edge.station.active_model import active_dir_for

            write_outputs(store, active_dir_for(db_path or default_db()), page_file, None)
            echo_err(f"wrote {page_file}")
    if plot is not None:
        plot_history(history, plot)
        echo_err(f"wrote {plot}")
    text = format_history(history, output_format)
    click.echo(text, nl=not text.endswith("\n"))


@click.command("sign")
@click.argument("bundle", type=click.Path(path_type=Path, file_okay=False))
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Ed25519 private key (PEM, unencrypted).")
def sign_command(bundle: Path, key_path: Path) -> None:
    """Sign BUNDLE's manifest (which hashes every file) with an Ed25519 key: writes manifest.sig.

    `run`/`watch --trusted-key PUB` then accept this bundle and refuse unsigned, foreign or
    altered ones. Make a key pair with openssl (keep the private key off the station).

    \b
    Examples:
      openssl genpkey -algorithm ed25519 -out lab.key && openssl pkey -in lab.key -pubout -out lab.pub
      glacier-edge sign ~/.local/share/glacier-edge/model --key lab.key
      glacier-edge run sample.gif --trusted-key lab.pub
    """
    from glacier_edge.edge.signing import load_private_key, sign_bundle
    from glacier_edge.station.active_model import verified

    load_private_key(key_path)  # the likelier mistake first
    verified(bundle, None)  # never sign a bundle whose files do not match its manifest
    signature = sign_bundle(bundle, key_path)
    click.echo(f"signed {bundle}/manifest.json (key {signature.public_key_sha256[:16]}…)")
