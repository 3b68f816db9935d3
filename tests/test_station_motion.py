"""A station measuring surface motion image by image gives what `glacier-edge motion` gives over the
same folder, carries on across restarts, raises the motion alerts and shows them in `history`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from glacier_edge.cli import main

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"


def cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("station_camera")
    code, output = cli("sample", folder / "cam", "--camera", "--frames", 8)
    assert code == 0, output
    return folder / "cam"


def watch(inbox: Path, db: Path, cam: Path, *extra: object) -> tuple[int, str]:
    return cli("watch", inbox, "--once", "--model", TINY, "--db", db, "--settle", 0, "--glacier-mask",
               cam / "glacier.png", "--stable-mask", cam / "stable.png", *extra)


def motion_of(cam: Path, out: Path) -> dict:
    code, output = cli("motion", cam / "frames", "--glacier-mask", cam / "glacier.png", "--stable-mask",
                       cam / "stable.png", "--out", out)
    assert code == 0, output
    return json.loads((out / "motion.json").read_text())


def test_station_motion_equals_the_motion_command_and_survives_a_restart(camera: Path, tmp_path: Path) -> None:
    expected = motion_of(camera, tmp_path / "motion")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    frames = sorted((camera / "frames").iterdir())
    for path in frames[:4]:  # the station stops after four images, then takes the rest
        shutil.copy(path, inbox / path.name)
    code, output = watch(inbox, tmp_path / "s.db", camera)
    assert code == 0, output
    for path in frames[4:]:
        shutil.copy(path, inbox / path.name)
    code, output = watch(inbox, tmp_path / "s.db", camera)
    assert code == 0 and "4 processed" in output.splitlines()[-1], output
    history = json.loads(cli("history", "--db", tmp_path / "s.db", "--format", "json")[1])
    assert history["schema_version"] == 4
    rows = history["rows"]
    assert all(row["registered"] for row in rows) and rows[0]["speed_median"] is None
    for pair in expected["pairs"]:
        row = rows[pair["second"]]
        assert row["speed_median"] == pytest.approx(pair["median_speed"], abs=1e-6)
        assert row["speed_valid_share"] == pytest.approx(pair["valid_share"], abs=1e-9)
        if pair["forecast_speed"] is not None:  # the same online trust, replayed image by image
            assert row["speed_forecast"] == pytest.approx(pair["forecast_speed"], abs=1e-9)
            assert row["speed_forecast_halfwidth"] == pytest.approx(pair["forecast_halfwidth"], abs=1e-9)
    for row, registered in zip(rows, expected["registration"]):
        assert row["shift_x"] == pytest.approx(registered["dx"], abs=1e-6)
    table = cli("history", "--db", tmp_path / "s.db")[1]
    assert "speed" in table.splitlines()[0] and "speed: median of the valid windows" in table


def test_station_speed_alerts_are_delivered(camera: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(camera / "frames", inbox)
    alerts = tmp_path / "alerts.jsonl"
    page, metrics = tmp_path / "station.html", tmp_path / "station.prom"
    code, output = watch(inbox, tmp_path / "s.db", camera, "--speed-alert", 1.0, "--alerts", alerts,
                         "--page", page, "--metrics", metrics)
    assert code == 0, output
    assert "ALERT speed: glacier: median speed" in output
    html = page.read_text()  # the page charts the speed and marks the speed alerts; the metrics carry it
    assert "surface speed (median of the valid windows)" in html and "No surface motion" not in html
    assert "<td>speed</td>" in html and "glacier: median speed" in html
    assert "glacier_edge_last_speed " in metrics.read_text() and 'glacier_edge_alerts{kind="speed"}' in \
        metrics.read_text()
    delivered = [json.loads(line) for line in alerts.read_text().splitlines()]
    speed = [a for a in delivered if a["kind"] == "speed"]
    assert len(speed) == 7 and all(a["value"] > 1.0 and a["unit"] == "px/day" for a in speed)
    assert speed[0]["message"].startswith("glacier: median speed ") and speed[0]["message"].endswith(" px/day above 1")
    assert speed[0]["region"] == "glacier"


def test_motion_options_without_a_mask_are_refused(camera: Path, tmp_path: Path) -> None:
    code, output = cli("watch", camera / "frames", "--once", "--model", TINY, "--db", tmp_path / "s.db",
                       "--speed-alert", 2)
    assert code == 2 and output.strip().splitlines()[-1] == (
        "glacier-edge: error: --pixel-size, --speed-alert, --acceleration-alert and --speed-model are motion "
        "options: give --glacier-mask or --stable-mask too")
    code, output = cli("watch", camera / "frames", "--once", "--model", TINY, "--db", tmp_path / "s.db",
                       "--stable-mask", tmp_path / "missing.png")
    assert code == 2 and output.strip().splitlines()[-1] == (
        f"glacier-edge: error: --stable-mask {tmp_path / 'missing.png'}: no such file")
    assert not (tmp_path / "s.db").exists()


def test_a_station_forecasts_the_serac_failure_and_names_it(tmp_path: Path) -> None:
    """`watch --regions-mask` on the full camera sample: the serac's failure forecast arrives as an
    alert naming the serac; the glacier as a whole gets none."""
    code, output = cli("sample", tmp_path / "cam", "--camera")
    cam = tmp_path / "cam"
    alerts = tmp_path / "alerts.jsonl"
    code, output = watch(cam / "frames", tmp_path / "s.db", cam, "--regions-mask", cam / "regions.png",
                         "--alerts", alerts)
    assert code == 0, output
    delivered = [json.loads(line) for line in alerts.read_text().splitlines()]
    failures = [a for a in delivered if a["kind"] == "failure_forecast"]
    assert failures and {a["region"] for a in failures} == {"serac"}
    assert failures[-1]["failure_date"] in ("2021-08-14", "2021-08-15")  # the truth: 2021-08-15 00:00
    assert "ALERT failure forecast: serac: inverse velocity falls toward zero" in output
    history = json.loads(cli("history", "--db", tmp_path / "s.db", "--format", "json")[1])
    serac = [row["region_speeds"]["serac"] for row in history["rows"] if row["region_speeds"].get("serac")]
    assert len(serac) >= 5 and max(serac) > 5  # px/day: it accelerates from ~2 to ~7.6


def test_a_station_serves_the_speed_model_as_motion_does(camera: Path, tmp_path: Path) -> None:
    """With --speed-model the station's forecasts (model slot = the speed model, state in SQLite)
    equal `motion`'s replay over the same folder. The model is fabricated here, not fitted: it
    answers the running mean while its inputs lie within ±0.3 and persistence beyond."""
    from glacier_edge.contracts import SpeedModelRecord
    from glacier_edge.motion.speed_model import FEATURES

    model = SpeedModelRecord(FEATURES, (0.0, 0.0, 1.0, 0.0), 1.0, 0.2, (0.0,) * 4, (0.1,) * 4, 3.0,
                             ("fabricated for tests",), 1, 1)
    (tmp_path / "speed.json").write_text(model.dumps())
    code, output = cli("motion", camera / "frames", "--glacier-mask", camera / "glacier.png", "--stable-mask",
                       camera / "stable.png", "--speed-model", tmp_path / "speed.json", "--out", tmp_path / "m")
    assert code == 0, output
    expected = json.loads((tmp_path / "m" / "motion.json").read_text())
    assert expected["speed_forecasts"][0]["model"] == "speed model"
    without = motion_of(camera, tmp_path / "plain")
    forecasts = [p["forecast_speed"] for p in expected["pairs"] if p["forecast_speed"] is not None]
    plain = [p["forecast_speed"] for p in without["pairs"] if p["forecast_speed"] is not None]
    assert len(forecasts) >= 5 and forecasts != pytest.approx(plain, abs=1e-9)  # the model changed them
    inbox = tmp_path / "inbox"
    shutil.copytree(camera / "frames", inbox)
    code, output = watch(inbox, tmp_path / "s.db", camera, "--speed-model", tmp_path / "speed.json")
    assert code == 0, output
    rows = json.loads(cli("history", "--db", tmp_path / "s.db", "--format", "json")[1])["rows"]
    for pair in expected["pairs"]:
        if pair["forecast_speed"] is not None:
            assert rows[pair["second"]]["speed_forecast"] == pytest.approx(pair["forecast_speed"], abs=1e-9)
            assert rows[pair["second"]]["speed_forecast_halfwidth"] == pytest.approx(pair["forecast_halfwidth"],
                                                                                     abs=1e-9)
