"""The station page and metrics (issue 23): every section, values escaped, odd states shown instead of
breaking, the Prometheus textfile as prometheus_client parses it, and the page in headless Chromium
with the network cut off (skipped, with the reason, where Chromium is not installed)."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from browser import ARTEFACTS, render
from click.testing import CliRunner

from glacier_edge.cli import main
from glacier_edge.ingest.samples import glacier_timelapse, write_frame_files
from glacier_edge.station.page import SECTIONS
from glacier_edge.station.records import Alert
from glacier_edge.station.store import Store

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"
HOSTILE = "<script>alert(1)</script>"
HOSTILE_NAME = "<script>alert(1)<script>"
"""A file name cannot hold the closing tag's slash; this opening tag is as hostile."""


def cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def station(tmp_path: Path) -> dict[str, Path]:
    """Eight generated images, one corrupt file whose name carries HTML, a copy of the tiny bundle,
    and `watch --once --page --metrics` run over them."""
    inbox = tmp_path / "inbox"
    write_frame_files(glacier_timelapse(8, seed=3), inbox)
    (inbox / f"{HOSTILE_NAME}_2010-01-01.png").write_bytes(b"not an image")
    model = Path(shutil.copytree(TINY, tmp_path / "model"))
    paths = {"inbox": inbox, "model": model, "db": tmp_path / "station.db", "page": tmp_path / "www" / "station.html",
             "metrics": tmp_path / "station.prom"}
    (tmp_path / "www").mkdir()
    code, output = cli("watch", inbox, "--once", "--model", model, "--db", paths["db"], "--settle", "0",
                       "--page", paths["page"], "--metrics", paths["metrics"])
    assert code == 0, output
    return paths


def test_watch_writes_a_page_with_every_section_and_escapes_every_foreign_value(station: dict[str, Path]) -> None:
    with Store(station["db"]) as store:  # an alert whose details carry HTML, as a hostile file name would
        store.insert_alert(Alert(None, 1, "speed", 2.0, {"message": f"glacier: {HOSTILE} fast", "region": HOSTILE},
                                 "2026-01-01T00:00:00Z"))
    code, output = cli("history", "--db", station["db"], "--page", station["page"])
    assert code == 0, output
    page = station["page"].read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert HOSTILE not in page and "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;script&gt;_2010-01-01.png" in page  # the quarantined file, escaped
    assert "glacier: &lt;script&gt;alert(1)&lt;/script&gt; fast" in page  # the alert's message, escaped
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)  # nothing from elsewhere
    assert "images taken<b>8</b>" in page and "quarantined<b>" in page and ">1</span>" in page
    assert "unsigned" in page and "No surface motion" in page and "no per-region model" in page
    assert "data:image/png;base64," in page  # the latest frame, embedded


def test_odd_states_show_on_the_page(tmp_path: Path) -> None:
    """An empty station (the page is written at start) and a station of one image."""
    inbox, page = tmp_path / "inbox", tmp_path / "p.html"
    inbox.mkdir()
    code, output = cli("watch", inbox, "--once", "--model", TINY, "--db", tmp_path / "s.db", "--settle", "0",
                       "--page", page)
    assert code == 0, output
    text = page.read_text()
    assert all(f'<section id="{s}">' in text for s in SECTIONS)
    assert "No image processed yet." in text and "No alert." in text and "Nothing quarantined." in text
    write_frame_files(glacier_timelapse(2, seed=1), inbox)[1].unlink()
    code, output = cli("watch", inbox, "--once", "--model", TINY, "--db", tmp_path / "s.db", "--settle", "0",
                       "--page", page)
    assert code == 0, output
    text = page.read_text()
    assert "images taken<b>1</b>" in text and "not enough values yet" in text


def test_metrics_parse_with_prometheus_clients_own_parser(station: dict[str, Path]) -> None:
    parser = pytest.importorskip("prometheus_client.parser", reason="prometheus_client is in the dev extra")
    families = {family.name: family for family in parser.text_string_to_metric_families(station["metrics"].read_text())}
    def value(name: str, **labels: str) -> float:
        return next(s.value for s in families[name].samples if all(s.labels.get(k) == v for k, v in labels.items()))

    with sqlite3.connect(station["db"]) as connection:
        ok = connection.execute("SELECT count(*) FROM images WHERE status = 'ok'").fetchone()[0]
        last_melt = connection.execute("SELECT measured_melt FROM images WHERE status = 'ok' ORDER BY id DESC"
                                       ).fetchone()[0]
        alerts = connection.execute("SELECT count(*) FROM alerts WHERE delivered_at IS NULL").fetchone()[0]
    assert value("glacier_edge_images", status="ok") == ok == 8
    assert value("glacier_edge_images", status="quarantined") == 1
    assert value("glacier_edge_last_melt") == pytest.approx(last_melt)
    assert value("glacier_edge_alerts_undelivered") == alerts
    assert value("glacier_edge_last_image_timestamp_seconds") > 1.7e9
    info = families["glacier_edge_model_info"].samples[0]
    assert info.value == 1 and info.labels["signer"] == "unsigned" and len(info.labels["sha256"]) == 64
    assert "glacier_edge_running_skill" in families


def test_the_page_in_headless_chromium_loads_nothing_and_logs_nothing(station: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    """At a desktop and a phone width: no console line, no request but the file, every section in the
    rendered DOM; screenshots kept in build/test-artefacts/ for a person to look at. The harness is
    first shown to catch a page that does log and does fetch."""
    probe = tmp_path / "probe.html"
    probe.write_text('<!DOCTYPE html><html><body><section id="x"></section><script>console.error("probe")</script>'
                     '<img src="http://example.com/a.png"></body></html>')
    caught = render(probe, 390, 600, tmp_path / "probe.png", tmp_path)
    assert caught.console and caught.requests == ["http://example.com/a.png"]
    for width, height in ((1280, 2200), (390, 4200)):
        rendered = render(station["page"], width, height, ARTEFACTS / f"station-page-{width}.png", tmp_path)
        assert rendered.console == [] and rendered.requests == []
        for section in SECTIONS:
            assert f'<section id="{section}">' in rendered.dom
        assert rendered.screenshot.stat().st_size > 10_000
