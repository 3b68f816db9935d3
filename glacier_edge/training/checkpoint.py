"""A training run directory: ``model.pt`` (state dict), ``run.json`` (config + provenance) and
``melt.png``. Written as a whole (temporary directory, then rename)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from glacier_edge.errors import ModelBundleError
from glacier_edge.training.sage import MODEL_CLASSES, ScaledRegressor

RUN_SCHEMA = "glacier-edge/run"
RUN_SCHEMA_VERSION = 1
MODEL_FILE = "model.pt"
RUN_FILE = "run.json"
PLOT_FILE = "melt.png"


def save_checkpoint(directory: Path, model: ScaledRegressor, run_info: dict[str, Any]) -> None:
    """Write model and run description into ``directory`` (the caller makes it atomic)."""
    torch.save(model.state_dict(), directory / MODEL_FILE)
    record = {"schema": RUN_SCHEMA, "schema_version": RUN_SCHEMA_VERSION, **run_info}
    (directory / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """Read and check ``run.json``; one clear error for a missing or foreign directory."""
    run_file = Path(run_dir) / RUN_FILE
    if not run_file.is_file():
        raise ModelBundleError(
            f"{run_dir}: not a training run (no {RUN_FILE}); create one with `glacier-edge train --out {run_dir}`"
        )
    try:
        info = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelBundleError(f"{run_file}: unreadable ({exc})") from exc
    if info.get("schema") != RUN_SCHEMA or info.get("schema_version") != RUN_SCHEMA_VERSION:
        raise ModelBundleError(
            f"{run_file}: schema {info.get('schema')} v{info.get('schema_version')} is not "
            f"{RUN_SCHEMA} v{RUN_SCHEMA_VERSION}"
        )
    return info


def load_checkpoint(run_dir: Path) -> tuple[ScaledRegressor, dict[str, Any]]:
    """Rebuild the trained model (GraphSAGE or GAT, as recorded) from a run directory."""
    info = read_run_info(run_dir)
    arch = info["model"].get("arch", "sage")
    if arch not in MODEL_CLASSES:
        raise ModelBundleError(f"{run_dir}: unknown architecture {arch!r}")
    model = MODEL_CLASSES[arch](in_dim=int(info["model"].get("in_dim", 2048)),
                                final_activation=info["model"]["final_activation"])
    try:
        state = torch.load(Path(run_dir) / MODEL_FILE, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise ModelBundleError(f"{run_dir}/{MODEL_FILE}: cannot load ({exc})") from exc
    return model.eval(), info
