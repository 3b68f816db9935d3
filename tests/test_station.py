"""Station mode on the tiny generated bundle (torch-free: CI runs these in the edge venv too).

Known answers: the station's prediction for the image that ends a window equals `run` over the
same files; a forecast is scored against the melt measured when the next image arrives;
persistence's error is |melt_{t−1} − melt_t| of the stored melts.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from glacier_edge.cli import main
from glacier_edge.ingest.frames import read_frame
from glacier_edge.ingest.samples import glacier_timelapse, write_frame_files
from glacier_edge.station.inbox import InboxFile, sensor_from_name, settled
from glacier_edge.station.store import SCHEMA_VERSION, Store

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"


def cli(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], input=input)
    return result.exit_code, result.output


@pytest.fixture
def station(tmp_path: Path) -> dict[str, Path]:
    """An inbox with 10 dated generated frames, a copy of the tiny bundle and a database path."""
    inbox = tmp_path / "inbox"
    write_frame_files(glacier_timelapse(10, seed=3), inbox)
    model = Path(shutil.copytree(TINY, tmp_path / "model"))
    return {"inbox": inbox, "model": model, "db": tmp_path / "state" / "station.db", "root": tmp_path}


def watch(st: dict[str, Path], *extra: str) -> tuple[int, str]:
    st["db"].parent.mkdir(exist_ok=True)
    return cli("watch", st["inbox"], "--once", "--model", st["model"], "--db", st["db"], "--settle", "0", *extra)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def as_forecast(bundle: Path) -> Path:
    """The tiny bundle declared a forecast model (its graph model does not depend on the task)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["training"]["config"]["task"] = "forecast"
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle


def test_watch_takes_each_image_once_in_date_order_and_matches_run(station: dict[str, Path]) -> None:
    code, output = watch(station)
    assert code == 0, output
    assert "10 processed, 0 duplicate(s), 0 quarantined" in output
    images = rows(station["db"], "SELECT name, date, date_source, status, measured_melt FROM images ORDER BY id")
    names = sorted(p.name for p in station["inbox"].iterdir())
    assert [r[0] for r in images] == names  # names sort as dates here
    assert [r[2] for r in images] == ["name"] * 10 and {r[3] for r in images} == {"ok"}
    assert images[0][4] is None and all(r[4] > 0 for r in images[1:])
    # the melt is the project's one definition (on 128×128 frames), against the previous image
    frames = [read_frame(station["inbox"] / n).astype(np.int16) for n in names[:2]]
    assert images[1][4] == pytest.approx(np.abs(frames[1] - frames[0]).mean() / 255, abs=1e-6)
    predictions = rows(station["db"], "SELECT value, target_image_id, image_id FROM predictions ORDER BY id")
    assert len(predictions) == 9 and all(p[1] == p[2] for p in predictions)  # nowcast: for the image itself
    # the window (default: the longest training sequence, 12) holds all 10 images: `run` over them agrees
    code, output = cli("run", *sorted(station["inbox"].iterdir()), "--model", station["model"], "--format", "json")
    result = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert predictions[-1][0] == pytest.approx(result["frames"][-1]["predicted_melt"], abs=1e-6)

    code, output = watch(station)
    assert code == 0 and "nothing new in" in output
    assert rows(station["db"], "SELECT count(*) FROM images")[0][0] == 10


def test_window_option_limits_what_the_graph_sees(station: dict[str, Path]) -> None:
    code, output = watch(station, "--window", "4")
    assert code == 0, output
    last = rows(station["db"], "SELECT value FROM predictions ORDER BY id DESC LIMIT 1")[0][0]
    files = sorted(station["inbox"].iterdir())[-4:]
    code, output = cli("run", *files, "--model", station["model"], "--format", "json")
    result = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert last == pytest.approx(result["frames"][-1]["predicted_melt"], abs=1e-6)


def test_duplicate_corrupt_and_late_images(station: dict[str, Path]) -> None:
    inbox = station["inbox"]
    assert watch(station)[0] == 0
    first = sorted(inbox.iterdir())[0]
    shutil.copy(first, inbox / "copy_of_first.png")  # same content, other name (and no date in it)
    (inbox / "notes_2030-01-01.png").write_text("not an image")
    good = (inbox / sorted(inbox.iterdir())[-1].name).read_bytes()
    (inbox / "cut_2030-02-01.png").write_bytes(good[: len(good) // 3])
    late = np.asarray(Image.open(first).convert("RGB")).copy()
    late[:10] = 0
    Image.fromarray(late).save(inbox / "late_1980-01-01.png")
    code, output = watch(station)
    assert code == 0, output
    assert "copy_of_first.png (no date in name or sidecar: arrival time used): already recorded (same content as " \
           f"{first.name})" in output
    assert "0 processed, 1 duplicate(s), 3 quarantined" in output
    reasons = dict(rows(station["db"], "SELECT name, reason FROM images WHERE status = 'quarantined'"))
    assert reasons["notes_2030-01-01.png"].endswith("cannot decode image (not an image file Pillow can read)")
    assert "cannot decode image" in reasons["cut_2030-02-01.png"]
    assert reasons["late_1980-01-01.png"].startswith("dated 1980-01-01 (name), before the last processed image")
    assert rows(station["db"], "SELECT count(*) FROM images WHERE sha256 = (SELECT sha256 FROM images "
                               "WHERE id = 1)")[0][0] == 1
    code, output = watch(station)  # quarantined files are not read again
    assert "nothing new" in output


def test_undated_image_takes_its_arrival_time(station: dict[str, Path], tmp_path: Path) -> None:
    inbox = tmp_path / "undated"
    inbox.mkdir()
    for index, path in enumerate(sorted(station["inbox"].iterdir())[:3]):
        shutil.copy(path, inbox / f"cam{index}.png")
    station["inbox"] = inbox
    code, output = watch(station)
    assert code == 0 and output.count("arrival time used") == 3
    assert {r[0] for r in rows(station["db"], "SELECT date_source FROM images")} == {"arrival"}


def test_sidecar_date_and_sensor_label(station: dict[str, Path], tmp_path: Path) -> None:
    inbox = tmp_path / "sidecar"
    inbox.mkdir()
    source = sorted(station["inbox"].iterdir())
    shutil.copy(source[0], inbox / "scene_a_L5.png")
    (inbox / "scene_a_L5.dates.txt").write_text("date,temperature_c\n2001-07-01,4.5\n")
    shutil.copy(source[1], inbox / "S2B_scene_b.png")
    (inbox / "S2B_scene_b.dates.txt").write_text("2002-07-01\n")
    station["inbox"] = inbox
    assert watch(station)[0] == 0
    got = rows(station["db"], "SELECT name, date, date_source, sensor, covariates FROM images ORDER BY id")
    assert got == [("scene_a_L5.png", "2001-07-01", "sidecar", "L5", '{"temperature_c": 4.5}'),
                   ("S2B_scene_b.png", "2002-07-01", "sidecar", "S2B", "{}")]
    assert sensor_from_name("001_1984-08-10_L7.png") == "L7" and sensor_from_name("glacier_1990.png") is None


def test_a_file_still_being_written_is_left_for_later(tmp_path: Path) -> None:
    path = tmp_path / "growing.png"
    path.write_bytes(b"x" * 10)
    stat = path.stat()
    seen = InboxFile(path, stat.st_size, stat.st_mtime_ns)
    now = stat.st_mtime
    waits: list[float] = []

    def grow(seconds: float) -> None:
        waits.append(seconds)
        path.write_bytes(b"x" * 20)  # the writer went on meanwhile

    assert settled([seen], 2.0, clock=lambda: now + 0.5, sleep=grow) == []
    assert waits == [pytest.approx(1.5)]
    stat = path.stat()
    done = InboxFile(path, stat.st_size, stat.st_mtime_ns)
    assert settled([done], 2.0, clock=lambda: stat.st_mtime + 5, sleep=waits.append) == [done]


def test_forecasts_are_scored_when_the_next_image_arrives(station: dict[str, Path]) -> None:
    as_forecast(station["model"])
    code, output = watch(station, "--alerts", station["root"] / "alerts.jsonl")
    assert code == 0, output
    predictions = rows(station["db"], "SELECT p.image_id, p.target_image_id, p.value, p.interval_low, "
                                      "p.interval_high, p.error, p.persistence_error, p.inside FROM predictions p "
                                      "ORDER BY p.id")
    melts = dict(rows(station["db"], "SELECT id, measured_melt FROM images"))
    assert len(predictions) == 10  # one forecast per image, the last one still open
    assert predictions[-1][1] is None and predictions[-1][5] is None
    total = baseline = 0.0
    for made_at, target, value, low, high, error, persistence, inside in predictions[:-1]:
        assert target == made_at + 1
        assert error == pytest.approx(abs(value - melts[target]))
        assert inside == (low <= melts[target] <= high)
        if melts[made_at] is not None:
            assert persistence == pytest.approx(abs(melts[made_at] - melts[target]))
            total, baseline = total + error, baseline + persistence
    assert f"skill vs persistence {1 - total / baseline:+.3f} over 8 scored" in output
    outside = sum(1 for p in predictions if p[7] == 0)
    unexpected = rows(station["db"], "SELECT count(*) FROM alerts WHERE kind = 'unexpected_change'")[0][0]
    assert outside > 0 and unexpected == outside
    lines = [json.loads(line) for line in (station["root"] / "alerts.jsonl").read_text().splitlines()]
    assert len(lines) == unexpected and {line["kind"] for line in lines} == {"unexpected_change"}
    assert rows(station["db"], "SELECT count(*) FROM alerts WHERE delivered_at IS NULL")[0][0] == 0


def test_alert_command_failure_is_retried_until_delivered(station: dict[str, Path]) -> None:
    received = station["root"] / "received.jsonl"
    code, output = watch(station, "--alert-threshold", "0", "--on-alert", "exit 7")
    assert code == 0 and "not delivered: --on-alert command exited 7" in output
    pending = rows(station["db"], "SELECT count(*) FROM alerts WHERE delivered_at IS NULL")[0][0]
    assert pending >= 9  # every nowcast is above 0
    code, output = watch(station, "--on-alert", f"cat >> {received}")
    assert code == 0
    lines = [json.loads(line) for line in received.read_text().splitlines()]
    assert len(lines) == pending and {line["kind"] for line in lines} >= {"threshold"}
    assert rows(station["db"], "SELECT count(*) FROM alerts WHERE delivered_at IS NULL")[0][0] == 0
    code, output = watch(station, "--on-alert", "sleep 5", "--alert-timeout", "0.2")
    assert code == 0


def test_database_locked_unwritable_or_full_is_one_line_and_records_nothing(station: dict[str, Path],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    station["db"].parent.mkdir()
    holder = sqlite3.connect(station["db"], isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE hold (x)")
    holder.execute("BEGIN IMMEDIATE")
    code, output = watch(station, "--lock-timeout", "0.1")
    holder.execute("ROLLBACK")
    holder.close()
    assert code == 2 and output.strip().startswith("glacier-edge: error: station database")
    assert "database is locked; another process holds it" in output and len(output.strip().splitlines()) == 1

    blocker = station["root"] / "plainfile"
    blocker.write_text("")
    code, output = cli("watch", station["inbox"], "--once", "--model", station["model"], "--db",
                       blocker / "station.db", "--settle", "0")
    assert code == 2 and "unable to open database file; check the path" in output

    original = Store.__init__

    def tiny_disk(self: Store, path: Path, lock_timeout: float = 10.0) -> None:
        original(self, path, lock_timeout)
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        self.db.execute(f"PRAGMA max_page_count = {pages + 2}")

    monkeypatch.setattr(Store, "__init__", tiny_disk)
    code, output = watch(station)
    assert code == 2 and "database or disk is full; free disk space" in output
    monkeypatch.undo()
    assert rows(station["db"], "SELECT count(*) FROM images")[0][0] == 0
    assert rows(station["db"], "SELECT count(*) FROM seen_files")[0][0] == 0
    assert watch(station)[0] == 0 and rows(station["db"], "SELECT count(*) FROM images")[0][0] == 10


def test_newer_database_schema_is_refused(station: dict[str, Path]) -> None:
    assert watch(station)[0] == 0
    assert rows(station["db"], "SELECT max(version) FROM schema_version") == [(SCHEMA_VERSION,)]
    with sqlite3.connect(station["db"]) as connection:
        connection.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    code, output = watch(station)
    assert code == 2 and f"schema version {SCHEMA_VERSION + 1} is newer than this glacier-edge reads" in output


def test_history_formats(station: dict[str, Path]) -> None:
    assert watch(station, "--alert-threshold", "0.03")[0] == 0
    code, table = cli("history", "--db", station["db"])
    assert code == 0 and "10 images (0 quarantined); 9 predictions scored" in table
    code, text = cli("history", "--db", station["db"], "--format", "json")
    history = json.loads(text)
    assert history["schema"] == "glacier-edge/station-history" and len(history["rows"]) == 10
    assert history["rows"][0]["predicted_melt"] is None and history["rows"][1]["abs_error"] is not None
    code, text = cli("history", "--db", station["db"], "--format", "csv")
    assert text.splitlines()[0].startswith("image_id,date,date_source,name") and len(text.splitlines()) == 11
    code, output = cli("history", "--db", station["root"] / "none.db")
    assert code == 2 and "no such file; `glacier-edge watch` creates it" in output


def test_history_plot(station: dict[str, Path]) -> None:
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (train extra)")
    assert watch(station)[0] == 0
    code, output = cli("history", "--db", station["db"], "--plot", station["root"] / "h.png")
    assert code == 0 and (station["root"] / "h.png").read_bytes()[:4] == b"\x89PNG"


def test_watch_keeps_watching_until_sigterm(station: dict[str, Path], tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    inbox = tmp_path / "live"
    inbox.mkdir()
    station["db"].parent.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", "from glacier_edge.cli import main; main()", "watch", str(inbox), "--model",
         str(station["model"]), "--db", str(station["db"]), "--settle", "0", "--poll", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith(f"watching {inbox} (") and "a poll every 0.3 s" in first
        for path in sorted(station["inbox"].iterdir())[:3]:
            shutil.copy(path, inbox)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if station["db"].exists() and rows(station["db"], "SELECT count(*) FROM images")[0][0] == 3:
                break
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert rows(station["db"], "SELECT count(*) FROM images")[0][0] == 3
    assert sum(".png:  melt" in line for line in output.splitlines()) == 3
    assert output.rstrip().endswith("stopped")


def test_a_version_1_database_is_migrated_and_every_per_image_query_uses_an_index(tmp_path: Path) -> None:
    from glacier_edge.station.store import MIGRATIONS

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as connection:
        connection.executescript(MIGRATIONS[1])
        connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version VALUES (1)")
        connection.execute("INSERT INTO images (sha256, name, path, date, date_source, status, received_at) "
                           "VALUES ('aa', 'a.png', '/x/a.png', '2020-01-01', 'name', 'ok', 'now')")
    with Store(db) as store:
        assert store.last_ok_image().name == "a.png"
        plans = {}
        for name, sql in {
            "last": "SELECT id FROM images WHERE status = 'ok' ORDER BY id DESC LIMIT 1",
            "window": "SELECT id FROM images WHERE status = 'ok' ORDER BY id DESC LIMIT 64",
            "open forecast": "SELECT id FROM predictions WHERE image_id = 1 AND task = 'forecast' "
                             "AND target_image_id IS NULL",
            "pending alerts": "SELECT id FROM alerts WHERE delivered_at IS NULL ORDER BY id",
            "by sha": "SELECT id FROM images WHERE sha256 = 'aa'",
        }.items():
            plans[name] = " ".join(row[-1] for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert rows(db, "SELECT max(version) FROM schema_version") == [(SCHEMA_VERSION,)]
    for name, plan in plans.items():
        assert "USING" in plan and "TEMP B-TREE" not in plan, f"{name}: {plan}"


def test_window_is_rescored_by_the_running_ood_model() -> None:
    """Stored scores came from the model of the day; the window is judged by the model running
    now, except images stored with another set of colour features (an older version)."""
    from types import SimpleNamespace

    from glacier_edge.signals.ood import COLOUR_FEATURES
    from glacier_edge.station.engine import window_scores
    from glacier_edge.station.records import WindowImage

    class SumOfInputs:
        def run(self, _outputs, feeds):
            return [feeds["embeddings"].sum(axis=1) + feeds["colour"].sum(axis=1)]

    width = len(COLOUR_FEATURES)
    window = [WindowImage(1, "a.png", None, {}, None, np.full(4, 1.0, np.float32), 0.5,
                          np.full(width, 0.1, np.float32)),
              WindowImage(2, "b.png", None, {}, 0.1, np.full(4, 2.0, np.float32), 0.7, np.full(6, 0.1, np.float32)),
              WindowImage(3, "c.png", None, {}, 0.1, np.full(4, 3.0, np.float32), None, None)]
    scores = window_scores(SimpleNamespace(ood=SumOfInputs()), window)
    assert scores[0] == pytest.approx(4.0 + 0.1 * width)
    assert scores[1] == 0.7 and np.isnan(scores[2])


def test_station_online_answers_equal_run_over_the_same_images(station: dict[str, Path]) -> None:
    """The station learns its own trust one image at a time, with its state in SQLite; `run` over
    the same files applies the same rule frame by frame: the same online answers, intervals and
    final weights (forecast bundle, window holding every image, so the served forecasts agree too)."""
    as_forecast(station["model"])
    code, output = watch(station)
    assert code == 0 and "station (online) " in output, output
    stored = rows(station["db"], "SELECT online_value, online_low, online_high FROM predictions ORDER BY id")
    assert len(stored) == 10
    code, output = cli("run", *sorted(station["inbox"].iterdir()), "--model", station["model"], "--format", "json")
    result = json.loads(output[output.index("{"):output.rindex("}") + 1])
    for k in range(1, 10):  # frame k's online answer is the forecast made when image k−1 arrived
        frame = result["frames"][k]
        assert stored[k - 1][0] == pytest.approx(frame["online_melt"], abs=1e-7)
        if stored[k - 1][1] is not None:
            assert stored[k - 1][1] == pytest.approx(frame["online_low"], abs=1e-7)
            assert stored[k - 1][2] == pytest.approx(frame["online_high"], abs=1e-7)
    online = result["summary"]["online"]
    assert stored[-1][0] == pytest.approx(online["forecast_next"], abs=1e-7)  # the open forecast
    code, output = cli("history", "--db", station["db"], "--format", "json")
    history = json.loads(output)
    assert history["schema_version"] == 4 and history["online"]["scored"] == online["scored"] == 9
    assert history["online"]["weights"] == pytest.approx(online["weights"], abs=1e-6)
    assert history["rows"][3]["online_melt"] == pytest.approx(result["frames"][3]["online_melt"], abs=1e-7)


def test_a_station_in_a_region_the_bundle_never_saw_says_so_once(station: dict[str, Path]) -> None:
    manifest = json.loads((station["model"] / "manifest.json").read_text())
    manifest["training"]["train_sequences"][0]["region"] = "alps"
    (station["model"] / "manifest.json").write_text(json.dumps(manifest))
    code, output = watch(station, "--region", "norway")
    assert code == 0, output
    note = "region 'norway' is not among the bundle's training regions (alps)"
    assert output.count(f"PRIOR FROM ELSEWHERE: {note}") == 1
    code, output = cli("history", "--db", station["db"])  # the keeper reading the station later sees it too
    assert code == 0 and f"PRIOR FROM ELSEWHERE: {note}" in output and "model knows: nadir satellite chips" in output
    history = json.loads(cli("history", "--db", station["db"], "--format", "json")[1])
    assert history["prior_note"].startswith(note) and history["model_scene_kind"] == "nadir"
    shutil.rmtree(station["db"].parent)
    code, output = watch(station, "--region", "alps")
    assert code == 0 and "PRIOR FROM ELSEWHERE" not in output
    assert "PRIOR FROM ELSEWHERE" not in cli("history", "--db", station["db"])[1]
