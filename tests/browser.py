"""Headless Chromium for the tests of what a person looks at: render a local HTML file with the
network cut off, and report its console messages, the requests the page itself made, its DOM and
a screenshot.

Chromium is a system package (CI installs it with apt, as it installs QEMU); a developer's test run
only uses it when it is already there, and skips with the reason otherwise. Cut off: every host
resolves to nothing and every connection goes to a dead proxy. A page request is a netlog
``URL_REQUEST_START_JOB`` whose network isolation key is the page's own ``file://`` site — that
tells it from Chromium's background requests (updates, time, accounts), which have other keys.
Console: the station page has no script, so *any* console line from the page (a failed load, a
parse or CSP error) counts as an error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = Path(os.environ.get("GLACIER_EDGE_ARTEFACTS", ROOT / "build" / "test-artefacts"))
"""Where screenshots are kept for a person to look at (``build/`` is not committed)."""
QUIET = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-domain-reliability", "--disable-extensions",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--enable-logging=stderr", "--v=0"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium is not installed (CI installs Debian's `chromium`; `apt install chromium` "
                "to run the browser tests here)")
    raise AssertionError  # unreachable


@dataclass(frozen=True)
class Rendered:
    console: list[str]
    requests: list[str]
    dom: str
    screenshot: Path


def render(page: Path, width: int, height: int, screenshot: Path, scratch: Path) -> Rendered:
    """Load ``page`` at ``width``×``height`` CSS px: console lines, page requests, DOM, screenshot."""
    browser = chromium()
    url = page.resolve().as_uri()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    netlog = scratch / f"netlog-{width}.json"
    profile = scratch / f"profile-{width}"
    common = [browser, *QUIET, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
    home = {**os.environ, "HOME": str(scratch), "XDG_CONFIG_HOME": str(scratch / "config"),
            "XDG_CACHE_HOME": str(scratch / "cache")}  # Chromium writes ~/.pki and caches: never the user's
    shot = subprocess.run([*common, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120,
                          env=home)
    dom = subprocess.run([*common, f"--log-net-log={netlog}", "--dump-dom", url], capture_output=True, text=True,
                         timeout=120, env=home)
    assert dom.returncode == 0 and shot.returncode == 0, (dom.stderr[-2000:], shot.stderr[-2000:])
    console = [line for line in (shot.stderr + dom.stderr).splitlines() if ":CONSOLE" in line]
    events = json.loads(netlog.read_text())
    kinds = {value: key for key, value in events["constants"]["logEventTypes"].items()}
    requests = sorted({event["params"]["url"] for event in events["events"]
                       if kinds.get(event["type"]) == "URL_REQUEST_START_JOB"
                       and "file://" in str(event.get("params", {}).get("network_isolation_key", ""))
                       and event["params"].get("url") != url})
    return Rendered(console, requests, dom.stdout, screenshot)
