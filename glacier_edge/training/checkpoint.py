"""A training run directory: ``model.pt`` (state dict), ``run.json`` (:class:`RunRecord`) and
``melt.png``. Written as a whole (temporary directory, then rename)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from glacier_edge.contracts import MODEL_FILE, RUN_FILE, SUMMARY_FILE, RunRecord
from glacier_edge.errors import ModelBundleError
from glacier_edge.signals.ood import COLOUR_FEATURES, EmbeddingSummary
from glacier_edge.training.models import MODEL_CLASSES, ScaledRegressor


def save_checkpoint(directory: Path, model: ScaledRegressor, record: RunRecord) -> None:
    """Write model and run record into ``directory`` (the caller makes it atomic)."""
    torch.save(model.state_dict(), directory / MODEL_FILE)
    (directory / RUN_FILE).write_text(record.dumps(), encoding="utf-8")


def save_summary(path: Path, summary: EmbeddingSummary) -> None:
    np.savez(path, mean=summary.mean, basis=summary.basis, variance=summary.variance,
             residual_energy=np.float64(summary.residual_energy), colour_mean=summary.colour_mean,
             colour_precision=summary.colour_precision, term_scale=summary.term_scale)


def load_summary(run_dir: Path) -> EmbeddingSummary:
    try:
        with np.load(Path(run_dir) / SUMMARY_FILE) as data:
            summary = EmbeddingSummary(data["mean"], data["basis"], data["variance"], float(data["residual_energy"]),
                                       data["colour_mean"], data["colour_precision"], data["term_scale"])
    except (OSError, KeyError, ValueError) as exc:
        raise ModelBundleError(f"{run_dir}/{SUMMARY_FILE}: cannot load ({exc}); train the run again") from exc
    if summary.colour_mean.shape != (len(COLOUR_FEATURES),):
        raise ModelBundleError(f"{run_dir}/{SUMMARY_FILE}: made by an older glacier-edge ({summary.colour_mean.size} "
                               f"colour features, this one uses {len(COLOUR_FEATURES)}); train the run again")
    return summary


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
                                             final_activation=record.model.final_activation,
                                             base_column=record.model.base_column,
                                             anchor_column=record.model.anchor_column)
    model.measure_residual_in(record.model.scale_column, record.model.scale_floor)
    model.refuse_outside(record.model.refuse_outside_range)
    try:
        state = torch.load(Path(run_dir) / MODEL_FILE, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise ModelBundleError(f"{run_dir}/{MODEL_FILE}: cannot load ({exc})") from exc
    return model.eval(), record
