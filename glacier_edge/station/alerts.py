"""Alert delivery, at least once: stored first (in the image's transaction), delivered after the
commit, marked delivered last. A crash between delivery and the mark delivers it again on the
next start, so a receiver must tolerate a repeated ``id``; an alert is never lost.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from glacier_edge.errors import OutputError
from glacier_edge.station.records import Alert
from glacier_edge.station.store import Store

COMMAND_TIMEOUT_S = 10.0
"""An ``--on-alert`` command taking longer is killed and the alert stays undelivered (retried)."""


@dataclass(frozen=True)
class AlertSinks:
    file: Path | None = None
    command: str | None = None
    timeout: float = COMMAND_TIMEOUT_S


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync it before the alert counts as delivered."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise OutputError(f"--alerts {path}: cannot append ({exc.strerror or exc})") from exc


def run_command(command: str, line: str, timeout: float) -> str | None:
    """Run the alert command with the alert JSON on stdin; None on success, else why not."""
    try:
        done = subprocess.run(command, shell=True, input=line + "\n", text=True, timeout=timeout,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except subprocess.TimeoutExpired:
        return f"--on-alert command did not finish in {timeout:g} s"
    except OSError as exc:
        return f"--on-alert command could not start ({exc.strerror or exc})"
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-1:] or [""]
        return f"--on-alert command exited {done.returncode} {tail[0][:200]}".rstrip()
    return None


def deliver_pending(store: Store, sinks: AlertSinks, log: Callable[[str], None]) -> int:
    """Deliver every stored, undelivered alert; return how many were delivered now."""
    if sinks.file is None and sinks.command is None:
        return 0
    delivered = 0
    for alert in store.undelivered_alerts():
        line = alert.to_json_line()
        if sinks.file is not None:
            append_line(sinks.file, line)
        if sinks.command is not None:
            problem = run_command(sinks.command, line, sinks.timeout)
            if problem is not None:
                log(f"alert {alert.id} not delivered: {problem}; retried on the next image or start")
                continue
        store.mark_delivered(int(alert.id), utc_now())
        delivered += 1
    return delivered


def describe_alert(alert: Alert) -> str:
    if alert.kind in ("speed", "acceleration", "unexpected_acceleration", "failure_forecast",
                      "unexpected_region_change"):
        return f"ALERT {alert.kind.replace('_', ' ')}: {alert.detail['message']}"
    if alert.kind == "threshold":
        return f"ALERT predicted melt {alert.value:.4f} above {alert.detail['threshold']:.4f}"
    return (f"ALERT unexpected change: measured melt {alert.value:.4f} outside the interval predicted for it "
            f"[{alert.detail['interval_low']:.4f}, {alert.detail['interval_high']:.4f}]")
