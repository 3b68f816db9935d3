"""Default locations, so `train` → `export` → `run` chain without typing paths.

All live under one home: $GLACIER_EDGE_HOME, else $XDG_DATA_HOME/glacier-edge, else
~/.local/share/glacier-edge. ``run/`` holds the last training run, ``model/`` the bundle that
``glacier-edge run`` uses when neither --model nor $GLACIER_EDGE_MODEL is given.
"""

from __future__ import annotations

import os
from pathlib import Path


def glacier_edge_home() -> Path:
    if os.environ.get("GLACIER_EDGE_HOME"):
        return Path(os.environ["GLACIER_EDGE_HOME"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "glacier-edge"


def default_run_dir() -> Path:
    return glacier_edge_home() / "run"


def default_bundle_dir() -> Path:
    return glacier_edge_home() / "model"
