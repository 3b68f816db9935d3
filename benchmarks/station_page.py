#!/usr/bin/env python3
"""Issue 23: the station page and metrics of a long-running station — size and time to write.

A station with the tiny test bundle takes N small dated images (`watch`'s own engine, as the soak
of benchmarks/station.py), with an alert threshold of 0 so that every prediction raises an alert
(the worst case for the alerts table and the chart's marks); then the page (`watch --page`) and
the Prometheus textfile are built 5 times each (median). Goal: the page for a 5,000-image station
≤ 2 MB, written in ≤ 0.5 s on this CPU. Saved to benchmarks/results/station_page.{txt,json}.

    python benchmarks/station_page.py [--images 5000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from station import TINY, quiet, write_small_images

from glacier_edge.bench.system import system_info
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.station.active_model import ActiveModel
from glacier_edge.station.alerts import AlertSinks
from glacier_edge.station.engine import Engine, StationOptions
from glacier_edge.station.metrics import station_metrics
from glacier_edge.station.page import build_page
from glacier_edge.station.store import Store
from glacier_edge.station.watch import process_inbox

RESULTS = Path(__file__).resolve().parent / "results"


def timed(function, runs: int = 5) -> tuple[float, object]:
    times, value = [], None
    for _ in range(runs):
        started = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        inbox = work / "inbox"
        write_small_images(inbox, args.images, 0)
        store = Store(work / "station.db")
        engine = Engine(store, ActiveModel(TINY, work / "station.model", None, quiet),
                        StationOptions(threads=1, alert_threshold=0.0), quiet)
        started = time.perf_counter()
        summary = process_inbox(inbox, store, lambda: engine, AlertSinks(), 0.0, quiet)
        fill_seconds = time.perf_counter() - started
        page_seconds, page = timed(lambda: build_page(store, work / "station.model"))
        metrics_seconds, metrics = timed(lambda: station_metrics(store, work / "station.model"))
        size = len(page.encode("utf-8"))
        row = {"images": summary.processed, "alerts": len(store.alerts()), "fill_seconds": round(fill_seconds, 1),
               "page_bytes": size, "page_seconds": page_seconds, "metrics_bytes": len(metrics.encode()),
               "metrics_seconds": metrics_seconds}
        store.db.close()
    lines = [system_info(None).line(), "",
             f"station of {row['images']} images ({row['alerts']} alerts; filled in {row['fill_seconds']} s with the "
             "tiny bundle)",
             f"page: {row['page_bytes'] / 1e6:.2f} MB, built in {row['page_seconds'] * 1000:.0f} ms (median of 5; "
             "goal ≤ 2 MB, ≤ 0.5 s)",
             f"metrics: {row['metrics_bytes']} bytes, built in {row['metrics_seconds'] * 1000:.0f} ms"]
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "station_page.txt", table + "\n")
    write_json_atomic(RESULTS / "station_page.json", row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
