"""`glacier-edge watch`: take what is in the inbox, then (without ``--once``) wait for more.

New files are noticed through filesystem events (``watchdog``: inotify on Linux) when the
package is installed and the filesystem delivers events; a poll every ``poll`` seconds runs
regardless, so NFS/SMB mounts and SD cards without events are still covered.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from glacier_edge.station.alerts import AlertSinks, deliver_pending, describe_alert
from glacier_edge.station.inbox import date_image, in_date_order, list_inbox, settled
from glacier_edge.station.store import Store

if TYPE_CHECKING:  # the engine brings numpy, Pillow and onnxruntime: imported only when there is work
    from glacier_edge.station.engine import Engine, Taken


@dataclass
class BatchSummary:
    processed: int = 0
    duplicates: int = 0
    quarantined: int = 0
    alerts: int = 0
    taken: list[Taken] = field(default_factory=list)

    def add(self, taken: Taken) -> None:
        self.taken.append(taken)
        if taken.outcome == "processed":
            self.processed += 1
            self.alerts += len(taken.alerts)
        elif taken.outcome == "duplicate":
            self.duplicates += 1
        else:
            self.quarantined += 1


def describe_taken(taken: Taken) -> str:
    """One log line per image: what was measured, predicted and scored."""
    image = taken.image
    head = f"{image.date} {image.file.path.name}"
    if image.date_source == "arrival":
        head += " (no date in name or sidecar: arrival time used)"
    if taken.outcome == "duplicate":
        return f"{head}: already recorded ({taken.reason})"
    if taken.outcome == "quarantined":
        return f"{head}: QUARANTINED: {taken.reason}"
    parts = [head + ":", "melt " + ("—" if taken.measured is None else f"{taken.measured:.4f}")]
    prediction = taken.prediction
    if prediction is not None:
        band = ""
        if prediction.interval_low is not None and prediction.interval_high is not None:
            band = f" ± {(prediction.interval_high - prediction.interval_low) / 2:.4f}"
        what = "forecast next" if prediction.task == "forecast" else "nowcast"
        parts.append(f"{what} {prediction.value:.4f}{band}")
        if prediction.online_value is not None:
            online_band = ("" if prediction.online_low is None or prediction.online_high is None
                           else f" ± {(prediction.online_high - prediction.online_low) / 2:.4f}")
            parts.append(f"station (online) {prediction.online_value:.4f}{online_band}")
        if prediction.ood:
            parts.append("OOD (naive answer used)" if prediction.fallback else "OOD")
    if taken.scored is not None:
        scored = taken.scored
        parts.append(f"|error| {scored.error:.4f}" + ("" if scored.persistence_error is None
                                                      else f" vs persistence {scored.persistence_error:.4f}"))
    motion = taken.motion
    if motion is not None:
        if not motion.registered:
            parts.append(f"NOT REGISTERED ({motion.reason})")
        elif motion.speed_median is not None:
            parts.append(f"shift ({motion.shift_x:+.2f}, {motion.shift_y:+.2f}) px, speed {motion.speed_median:.3g} "
                         f"({motion.valid_share:.0%} valid)")
    parts.extend(describe_alert(alert) for alert in taken.alerts)
    if taken.kind_note:
        parts.append(f"ANOTHER KIND OF SCENE: {taken.kind_note}")
    return "  ".join(parts)


def process_inbox(inbox: Path, store: Store, engine: Callable[[], Engine], sinks: AlertSinks, settle: float,
                  log: Callable[[str], None], after_each: Callable[[], None] = lambda: None) -> BatchSummary:
    """Take every new, complete file once, in date order; deliver alerts after each commit.

    ``engine`` is called only when there is a new file: an idle start creates no ONNX session
    and imports neither numpy nor onnxruntime."""
    summary = BatchSummary()
    deliver_pending(store, sinks, log)  # left over from a crash between commit and delivery
    fresh = list_inbox(inbox, store.seen_files())
    if not fresh:
        return summary
    for image in in_date_order([date_image(file) for file in settled(fresh, settle)]):
        taken = engine().take(image)
        summary.add(taken)
        log(describe_taken(taken))
        deliver_pending(store, sinks, log)
        after_each()
    return summary


def start_events(inbox: Path, wake: threading.Event) -> object | None:
    """A watchdog observer that sets ``wake`` on any change in the inbox (None: polling only)."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event) -> None:  # noqa: ANN001 - watchdog's event type
            wake.set()

    observer = Observer()
    try:
        observer.schedule(Wake(), str(inbox), recursive=False)
        observer.start()
    except OSError:  # no inotify (limits, filesystem): polling covers it
        return None
    return observer


def watch_forever(inbox: Path, store: Store, engine: Callable[[], Engine], sinks: AlertSinks, settle: float,
                  poll: float, log: Callable[[str], None], on_batch: Callable[[BatchSummary], None],
                  after_each: Callable[[], None] = lambda: None) -> None:
    """Loop until SIGTERM/SIGINT; a stop during an image rolls that image back (all or nothing)."""
    wake = threading.Event()
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()
        wake.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, request_stop)
    observer = start_events(inbox, wake)
    log(f"watching {inbox} ({'filesystem events' if observer else 'polling'} + a poll every {poll:g} s); "
        "stop with Ctrl-C or SIGTERM")
    try:
        while not stop.is_set():
            current = engine()
            if current.model_loaded and current.active.source_changed():
                current.model()  # verify and take the new bundle now, or log why not
            on_batch(process_inbox(inbox, store, engine, sinks, settle, log, after_each))
            wake.wait(poll)
            wake.clear()
    except KeyboardInterrupt:
        log("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
