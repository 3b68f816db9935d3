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


def default_cache_dir() -> Path:
    """Embeddings and optimised ONNX graphs: $GLACIER_EDGE_CACHE, else $XDG_CACHE_HOME/glacier-edge,
    else ~/.cache/glacier-edge. Safe to delete; everything in it is rebuilt on demand."""
    if os.environ.get("GLACIER_EDGE_CACHE"):
        return Path(os.environ["GLACIER_EDGE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "glacier-edge"


def default_run_dir() -> Path:
    return glacier_edge_home() / "run"


def default_bundle_dir() -> Path:
    return glacier_edge_home() / "model"


MODEL_ENVVAR = "GLACIER_EDGE_MODEL"
"""The bundle `run` and `bench` use without --model (click reads it: ``envvar=``)."""


def resolve_bundle_dir(model: Path | None) -> Path:
    """--model (or $GLACIER_EDGE_MODEL, which click puts there), else the default bundle; one
    clear line if none exists."""
    from glacier_edge.errors import ModelBundleError

    if model is not None:
        return model
    candidate = default_bundle_dir()
    if not candidate.is_dir():
        raise ModelBundleError(
            f"no model bundle given and none at {candidate}; create one with `glacier-edge demo` "
            "(or `glacier-edge train` then `glacier-edge export`), or pass --model / set GLACIER_EDGE_MODEL"
        )
    return candidate
