"""`glacier-edge verify`: prove the bundle computes what the trained PyTorch model computes.

Reference: the PyTorch encoder and the *sparse* PyG model the run trained (not the dense copy),
so the check covers the dense rewrite, the exporter and ONNX Runtime together. Inputs: the
embedded sample, any given sequences and seeded random frames at T ∈ {2, 8, 37, 128}.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from glacier_edge.contracts import ROLE_ENCODER_INT8, Int8Parity, Parity, ParityRow, RunRecord, Tolerance
from glacier_edge.edge.bundle import load_bundle, record_parity
from glacier_edge.edge.runtime import EdgeModel
from glacier_edge.errors import BadInputError
from glacier_edge.export.bundle_export import embedding_centre, encoder_for_run
from glacier_edge.export.quantize import INT8_MELT_MAE_BOUND, INT8_MIN_CENTRED_COSINE, centred_cosine
from glacier_edge.ingest.frames import DEFAULT_MAX_PIXELS, FRAME_SIZE, FrameSequence, read_sequence
from glacier_edge.ingest.samples import sample_sequence_path
from glacier_edge.provenance import utc_now
from glacier_edge.signals.features import metadata_matrix, node_inputs, region_node_inputs
from glacier_edge.signals.frame_regions import grid_layout, region_cells
from glacier_edge.signals.graph import dense_adjacency
from glacier_edge.signals.ood import colour_features, ood_scores
from glacier_edge.training.checkpoint import load_checkpoint, load_summary
from glacier_edge.training.encoder import FrameEncoder, encode_cells, encode_frames
from glacier_edge.training.loop import predict
from glacier_edge.training.models.regional import RegionalSAGE
from glacier_edge.training.regional import build_regional_example, load_regional, predict_regional

RANDOM_LENGTHS = (2, 8, 37, 128)
RANDOM_PREFIX = "random frames "
"""Uniform-noise frames: the fp32 parity holds on any input, but they lie far outside the
imagery an int8 encoder is calibrated on, so its melt bound is judged on real imagery only."""


def worst_ratio(tolerance: Tolerance, got: np.ndarray, ref: np.ndarray) -> float:
    """max |Δ| / (atol + rtol·|ref|): ≤ 1 passes; 0 for an empty output (the ``none`` encoder's)."""
    return float(np.max(np.abs(got - ref) / (tolerance.atol + tolerance.rtol * np.abs(ref)), initial=0.0))


ENCODER_TOLERANCE = Tolerance(atol=1e-4, rtol=1e-4)
MELT_TOLERANCE = Tolerance(atol=1e-5, rtol=1e-4)
CELLS_TOLERANCE = Tolerance(atol=1e-3, rtol=1e-3)
"""The encoder's feature-map cells before pooling: each is one 4×4 cell's value, not a mean of 16,
so fp32 summation-order differences are ~4× those of the pooled embedding (measured: up to 4.5×
ENCODER_TOLERANCE on random frames). What the station serves, the region melt, is held to
MELT_TOLERANCE end to end (ONNX cells → regions.onnx against PyTorch cells → the PyTorch model)."""
OOD_TOLERANCE = Tolerance(atol=1e-4, rtol=1e-4)
"""ood.onnx (float32) against the float64 numpy score it was built from."""


def _inputs(sequences: Sequence[Path], max_pixels: int) -> list[tuple[str, np.ndarray, FrameSequence | None]]:
    real = [read_sequence(sample_sequence_path())] + [read_sequence(p, max_pixels=max_pixels) for p in sequences]
    names = [f"sample {sample_sequence_path().name}"] + [str(path) for path in sequences]
    inputs: list[tuple[str, np.ndarray, FrameSequence | None]] = [
        (name, seq.frames, seq) for name, seq in zip(names, real)]
    rng = np.random.default_rng(2024)
    inputs += [(f"{RANDOM_PREFIX}T={t}", rng.integers(0, 256, (t, FRAME_SIZE, FRAME_SIZE, 3), np.uint8), None)
               for t in RANDOM_LENGTHS]
    return inputs


def _metadata_source(sequence: FrameSequence | None, names: list[str]) -> tuple[FrameSequence | None, str]:
    """Use a row's own dates/covariates when it has them, else the training means: parity is a
    property of the computation, so it is checked either way."""
    if not names:
        return sequence, "none"
    if sequence is not None:
        try:
            metadata_matrix(sequence, names)
            return sequence, "sequence"
        except BadInputError:
            pass
    return None, "training means"


def _region_parity(fp32: EdgeModel, regional: RegionalSAGE, record: RunRecord, encoder: FrameEncoder,
                   frames: np.ndarray, name: str) -> dict[str, float]:
    """The encoder's cells (ONNX vs PyTorch), and the region melt end to end: ONNX cells through
    regions.onnx against PyTorch cells through the PyTorch per-region model, every element. The ONNX
    cells come from ``fp32.embed``, just called on ``frames``."""
    assert fp32.regions is not None and fp32.last_cells is not None and record.regions is not None
    ref_cells = encode_cells(encoder, frames)
    sequence = FrameSequence(frames, [name] * len(frames), [None] * len(frames), name, (FRAME_SIZE, FRAME_SIZE))
    ref_regions = predict_regional(regional, build_regional_example(sequence, ref_cells, record.config, fp32.mask),
                                   record.regions.features)
    layout = grid_layout()
    x = region_node_inputs(region_cells(fp32.last_cells, layout), fp32.regions.measured(frames, layout, fp32.mask),
                           record.regions.features, record.config.task)
    temporal = dense_adjacency(len(frames), record.config.graph_kind)
    ort_regions = fp32.regions.session.run(None, {"x": x, "temporal": temporal, "spatial": layout.adjacency()})[0]
    return {"cells_worst_ratio": worst_ratio(CELLS_TOLERANCE, fp32.last_cells, ref_cells),
            "regions_max_abs": float(np.max(np.abs(ort_regions - ref_regions))),
            "regions_worst_ratio": worst_ratio(MELT_TOLERANCE, ort_regions, ref_regions)}


def _max_rel(got: np.ndarray, ref: np.ndarray) -> float:
    scale = np.abs(ref)
    mask = scale > 1e-3 * max(float(scale.max(initial=0.0)), 1e-12)
    return float(np.max(np.abs(got - ref)[mask] / scale[mask])) if mask.any() else 0.0


def verify_bundle(bundle_dir: Path, sequences: Sequence[Path] = (), *, run_dir: Path | None = None,
                  max_pixels: int = DEFAULT_MAX_PIXELS, echo: Callable[[str], None] = print) -> Parity:
    """Compare PyTorch with ONNX Runtime row by row; write the figures into the manifest."""
    bundle = load_bundle(bundle_dir)
    run_dir = Path(run_dir or bundle.manifest.training.run_dir)
    model, record = load_checkpoint(run_dir)
    summary = load_summary(run_dir)
    encoder = encoder_for_run(record)
    fp32 = EdgeModel(bundle, provider="cpu")
    int8 = EdgeModel(bundle, provider="cpu", precision="int8") if bundle.has_model(ROLE_ENCODER_INT8) else None
    centre = embedding_centre(model, record)
    regional = load_regional(run_dir, record.regions) if record.regions is not None else None
    rows = []
    for name, frames, sequence in _inputs(sequences, max_pixels):
        sequence, metadata_source = _metadata_source(sequence, list(fp32.features.metadata))
        echo(f"checking {name} ({len(frames)} frames)")
        ref_embeddings = encode_frames(encoder, frames)
        ort_embeddings = fp32.embed(frames)
        measured = fp32.measured(frames)
        ref_inputs = node_inputs(ref_embeddings, sequence, fp32.features, measured, record.config.task)
        ref_melt = predict(model, ref_inputs, record.config.task)
        ort_melt = fp32.melt(ort_embeddings, sequence, measured)
        graph_only = fp32.melt(ref_embeddings, sequence, measured)
        ood_fields = {}
        if fp32.ood is not None:
            colours = colour_features(frames)
            ort_scores = fp32.ood.run(None, {"embeddings": ref_embeddings, "colour": colours})[0]
            ood_fields["ood_worst_ratio"] = worst_ratio(OOD_TOLERANCE, ort_scores,
                                                        ood_scores(summary, ref_embeddings, colours))
        encoder_ratio = worst_ratio(ENCODER_TOLERANCE, ort_embeddings, ref_embeddings)
        melt_ratio = worst_ratio(MELT_TOLERANCE, ort_melt, ref_melt)
        region_fields = {}
        if regional is not None and record.regions is not None and fp32.regions is not None:
            region_fields = _region_parity(fp32, regional, record, encoder, frames, name)
        int8_fields = {}
        if int8 is not None:
            int8_embeddings = int8.embed(frames)
            int8_fields = {
                "int8_melt_mae": float(np.mean(np.abs(int8.melt(int8_embeddings, sequence, measured)[1:]
                                                      - ort_melt[1:]))),
                "int8_centred_cosine": centred_cosine(int8_embeddings, ort_embeddings, centre),
                "int8_in_calibration_range": not name.startswith(RANDOM_PREFIX)}
        rows.append(ParityRow(
            input=name, frames=len(frames), metadata=metadata_source,
            encoder_max_abs=float(np.max(np.abs(ort_embeddings - ref_embeddings), initial=0.0)),
            encoder_max_rel=_max_rel(ort_embeddings, ref_embeddings), encoder_worst_ratio=encoder_ratio,
            melt_max_abs=float(np.max(np.abs(ort_melt - ref_melt))), melt_worst_ratio=melt_ratio,
            graph_only_melt_max_abs=float(np.max(np.abs(graph_only - ref_melt))),
            passed=(encoder_ratio <= 1 and melt_ratio <= 1 and ood_fields.get("ood_worst_ratio", 0.0) <= 1
                    and region_fields.get("cells_worst_ratio", 0.0) <= 1
                    and region_fields.get("regions_worst_ratio", 0.0) <= 1),
            **int8_fields, **ood_fields, **region_fields))
    int8_parity = None
    if int8 is not None:
        real = [row for row in rows if row.int8_in_calibration_range]
        noise = [row.int8_melt_mae for row in rows if not row.int8_in_calibration_range]
        maes = [row.int8_melt_mae for row in real]
        cosine = min(row.int8_centred_cosine for row in real)
        int8_parity = Int8Parity(
            format=bundle.manifest.models[ROLE_ENCODER_INT8].int8_format, melt_mae_max=max(maes),
            melt_mae_mean=float(np.mean(maes)), centred_cosine_min=cosine,
            within_bound=max(maes) <= INT8_MELT_MAE_BOUND and cosine >= INT8_MIN_CENTRED_COSINE,
            noise_frames_melt_mae_max=max(noise, default=None))
    parity = Parity(
        verified=utc_now(), reference=f"PyTorch encoder + PyG {record.model.arch} model from {run_dir.resolve()}",
        encoder=bundle.weights_label, encoder_tolerance=ENCODER_TOLERANCE, melt_tolerance=MELT_TOLERANCE,
        int8_melt_mae_bound=INT8_MELT_MAE_BOUND, rows=tuple(rows), passed=all(row.passed for row in rows),
        int8=int8_parity)
    record_parity(bundle.directory, parity)
    return parity


def parity_table(parity: Parity) -> str:
    """The verify report as a fixed-width table."""
    has_int8 = parity.int8 is not None
    header = f"{'input':34s} {'T':>4s} {'enc max|Δ|':>11s} {'enc max rel':>11s} {'melt max|Δ|':>11s} {'ok':>4s}"
    if has_int8:
        header += f" {'int8 MAE':>9s} {'int8 cos':>8s}"
    lines = [header, "-" * len(header)]
    for row in parity.rows:
        line = (f"{row.input[-34:]:34s} {row.frames:4d} {row.encoder_max_abs:11.2e} "
                f"{row.encoder_max_rel:11.2e} {row.melt_max_abs:11.2e} {'yes' if row.passed else 'NO':>4s}")
        if row.int8_melt_mae is not None and row.int8_centred_cosine is not None:
            line += f" {row.int8_melt_mae:9.2e} {row.int8_centred_cosine:8.4f}"
        lines.append(line)
    enc, melt = parity.encoder_tolerance, parity.melt_tolerance
    lines.append(f"tolerances: encoder |Δ| ≤ {enc.atol:g} + {enc.rtol:g}·|ref|, "
                 f"melt |Δ| ≤ {melt.atol:g} + {melt.rtol:g}·|ref| (every element)")
    i8 = parity.int8
    if i8 is not None:
        verdict = "within" if i8.within_bound else "WARNING: above"
        from glacier_edge.edge.machine import int8_kernel_path

        lines.append(f"int8 kernels on this machine: {int8_kernel_path()}")
        lines.append(f"int8 ({i8.format}) on imagery like the training data: melt MAE vs fp32 max "
                     f"{i8.melt_mae_max:.2e}, centred cosine ≥ {i8.centred_cosine_min:.4f} ({verdict} the bounds "
                     f"{parity.int8_melt_mae_bound} and {INT8_MIN_CENTRED_COSINE}); reported, not held to the fp32 "
                     "tolerance")
        if i8.noise_frames_melt_mae_max is not None:
            lines.append(f"int8 on uniform-noise frames (outside its calibration range): melt MAE up to "
                         f"{i8.noise_frames_melt_mae_max:.2e}; use fp32 for imagery unlike the training data")
    return "\n".join(lines)
