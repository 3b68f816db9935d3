#!/usr/bin/env python3
"""Copy the tiny test bundle to OUT and add an int8 encoder (QOperator U8S8, calibrated on the
project's generated glaciers), so the ARM64 check can hold int8 to its bound in seconds.

    python benchmarks/arm64/tiny_int8_bundle.py OUT        # needs the onnx package (train extra)
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from glacier_edge.contracts import ENCODER_INT8_FILE, MANIFEST_FILE, ROLE_ENCODER, ROLE_ENCODER_INT8
from glacier_edge.edge.bundle import file_record, read_manifest
from glacier_edge.export.quantize import FORMATS_BY_KEY, prepare, quantize_format
from glacier_edge.ingest.frames import resize_frame
from glacier_edge.ingest.samples import glacier_timelapse

TINY = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "tiny_bundle"
FORMAT = FORMATS_BY_KEY["qop-u8s8"]


def main(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(TINY, out)
    frames = np.stack([resize_frame(f) for seed in range(3) for f in glacier_timelapse(12, seed=seed).frames])
    with tempfile.TemporaryDirectory() as scratch:
        prepared = prepare(out / "encoder.onnx", Path(scratch) / "prepared.onnx")
        quantize_format(prepared, out / ENCODER_INT8_FILE, frames, FORMAT)
    manifest = read_manifest(out)
    models = {**manifest.models, ROLE_ENCODER_INT8: dataclasses.replace(
        manifest.models[ROLE_ENCODER], file=ENCODER_INT8_FILE, int8_format=FORMAT.name)}
    files = {**manifest.files, ENCODER_INT8_FILE: file_record(out / ENCODER_INT8_FILE)}
    (out / MANIFEST_FILE).write_text(dataclasses.replace(manifest, models=models, files=files).dumps())
    print(f"wrote {out} (tiny bundle + {ENCODER_INT8_FILE}, {FORMAT.name})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
