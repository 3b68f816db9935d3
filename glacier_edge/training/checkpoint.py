"""A training run directory: ``model.pt`` (state dict), ``run.json`` (:class:`RunRecord`) and
``melt.png``. Written as a whole (temporary directory, then rename)."""

from __future__ import annotations

from pathlib import Path

import torch

from glacier_edge.contracts import MODEL_FILE, RUN_FILE, RunRecord
from glacier_edge.errors import ModelBundleError
from glacier_edge.training.models import MODEL_CLASSES, ScaledRegressor


def save_checkpoint(directory: Path, model: ScaledRegressor, record: RunRecord) -> None:
    """Write model and run record into ``directory`` (the caller makes it atomic)."""
    torch.save(model.state_dict(), directory / MODEL_FILE)
    (directory / RUN_FILE).write_text(record.dumps(), encoding="utf-8")


def read_run_record(run_dir: Path) -> RunRecord:
    """Read and validate ``run.json``; one clear error for a missing or foreign directory."""
    run_file = Path(run_dir) / RUN_FILE
    if not run_file.is_file():
        raise ModelBundleError(
            f"{run_dir}: not a training run (no {RUN_FILE}); create one with `glacier-edge train --out {run_dir}`"
        )
    return RunRecord.read(run_file)


def load_checkpoint(run_dir: Path) -> tuple[ScaledRegressor, RunRecord]:
    """Rebuild the trained model (GraphSAGE or GAT, as recorded) from a run directory."""
    record = read_run_record(run_dir)
    model = MODEL_CLASSES[record.model.arch](in_dim=record.model.in_dim,
                                             final_activation=record.model.final_activation)
    try:
        state = torch.load(Path(run_dir) / MODEL_FILE, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise ModelBundleError(f"{run_dir}/{MODEL_FILE}: cannot load ({exc})") from exc
    return model.eval(), record
