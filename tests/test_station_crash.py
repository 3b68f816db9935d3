"""kill -9 at random moments: the station database ends equal to a clean run's.

100 generated images go through `watch --once`; the process is killed with SIGKILL at random
times at least 20 times and restarted until a run finishes. Then every image, prediction, score
and alert must equal the clean run's bit for bit (timestamps aside), with no duplicates and no
gaps, and every alert must have been delivered at least once.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glacier_edge.ingest.samples import glacier_timelapse, write_frame_files

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"
IMAGES, KILLS = 100, 20

TABLES = {
    "images": "SELECT id, sha256, name, path, date, date_source, sensor, covariates, status, reason, measured_melt, "
              "encoder_sha256, embedding, colour, ood_score FROM images ORDER BY id",
    "predictions": "SELECT id, image_id, model_sha256, task, value, interval_low, interval_high, ood, fallback, "
                   "target_image_id, error, persistence_error, inside FROM predictions ORDER BY id",
    "alerts": "SELECT id, image_id, kind, value, detail FROM alerts ORDER BY id",
    "seen_files": "SELECT path, size, mtime_ns, sha256 FROM seen_files ORDER BY path",
    "last_frame": "SELECT image_id, pixels FROM last_frame",
}


def command(inbox: Path, model: Path, db: Path, alerts: Path) -> list[str]:
    return [sys.executable, "-c", "from glacier_edge.cli import main; main()", "watch", str(inbox), "--once",
            "--model", str(model), "--db", str(db), "--settle", "0", "--alert-threshold", "0.03",
            "--alerts", str(alerts), "--threads", "1"]


def recorded(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        try:
            return connection.execute("SELECT count(*) FROM images").fetchone()[0]
        except sqlite3.OperationalError:  # killed before the schema was committed
            return 0


def snapshot(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as connection:
        return {name: connection.execute(sql).fetchall() for name, sql in TABLES.items()}


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_frame_files(glacier_timelapse(IMAGES, seed=11), inbox)
    model = Path(shutil.copytree(TINY, tmp_path / "model"))

    clean = tmp_path / "clean"
    clean.mkdir()
    subprocess.run(command(inbox, model, clean / "station.db", clean / "alerts.jsonl"), check=True,
                   capture_output=True)
    expected = snapshot(clean / "station.db")
    assert len(expected["images"]) == IMAGES and len(expected["predictions"]) == IMAGES - 1
    assert expected["alerts"], "the threshold should raise some alerts"

    crashed = tmp_path / "crashed"
    crashed.mkdir()
    rng = random.Random(20261127)
    kills = starts = 0
    progress: list[int] = []
    while True:
        starts += 1
        assert starts < 200, "the station never finished"
        process = subprocess.Popen(command(inbox, model, crashed / "station.db", crashed / "alerts.jsonl"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kills < KILLS:
            # a random moment while it works: after 0-4 images are reported, then 0-30 ms into the next
            # image(s) (one takes ~10 ms here), so kills land before, inside and after transactions
            for _ in range(rng.randint(0, 4)):
                if not process.stdout.readline():
                    break
            time.sleep(rng.uniform(0.0, 0.03))
            if process.poll() is None:
                process.kill()
                process.communicate()
                kills += 1
                progress.append(recorded(crashed / "station.db"))
                continue
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        if kills >= KILLS:
            break
    mid_run = [count for count in progress if 0 < count < IMAGES]
    assert len(set(mid_run)) >= 10, f"kills did not land while images were being taken: {progress}"
    got = snapshot(crashed / "station.db")
    for table in TABLES:
        assert got[table] == expected[table], f"{table} differs after {kills} kills"
    delivered = {json.loads(line)["id"] for line in (crashed / "alerts.jsonl").read_text().splitlines()}
    assert delivered == {row[0] for row in expected["alerts"]}  # at least once: every alert, repeats allowed
    with sqlite3.connect(crashed / "station.db") as connection:
        assert connection.execute("SELECT count(*) FROM alerts WHERE delivered_at IS NULL").fetchone()[0] == 0
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
