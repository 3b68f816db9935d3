"""The variants a benchmark loops over, as one typed table (after Ultralytics' export_formats()).

A variant kind names the class that builds it as ``module:Class``; the ORT kind lives here, the
PyTorch kind is registered by the torch wing (:mod:`glacier_edge.training.reference`), so the
edge install never imports torch to list or run its own variants.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from glacier_edge.contracts import ROLE_ENCODER_INT8, ROLE_GNN
from glacier_edge.edge.bundle import Bundle, load_bundle
from glacier_edge.edge.runtime import EdgeModel, encoder_role_for

VARIANT_KINDS: dict[str, str] = {"ort": "glacier_edge.bench.variants:OrtVariant"}
"""kind → ``module:Class`` whose ``from_spec(spec, bundle_dir, threads)`` builds the variant."""


def register_kind(kind: str, target: str) -> None:
    VARIANT_KINDS[kind] = target


@dataclass(frozen=True)
class VariantSpec:
    kind: Literal["ort", "torch"]
    precision: Literal["fp32", "int8"]
    provider: str
    is_reference: bool = False
    """Parity of the others is measured against this one (PyTorch when installed, else ORT fp32)."""
    run_dir: str | None = None
    """For the PyTorch kind: the training run it rebuilds."""

    @property
    def label(self) -> str:
        engine = "PyTorch eager" if self.kind == "torch" else "ORT"
        return f"{engine} {self.precision}"


class Variant(Protocol):
    label: str
    provider: str
    size_mb: float

    def embed(self, frames: np.ndarray) -> np.ndarray: ...

    def melt(self, embeddings: np.ndarray) -> np.ndarray: ...


class OrtVariant:
    """An EdgeModel under the Variant interface."""

    def __init__(self, bundle: Bundle, spec: VariantSpec, threads: int | None) -> None:
        self.model = EdgeModel(bundle, provider=spec.provider, threads=threads, precision=spec.precision)
        self.label = spec.label
        self.provider = self.model.provider
        self.size_mb = (bundle.model_bytes(encoder_role_for(spec.precision)) + bundle.model_bytes(ROLE_GNN)) / 1e6

    @classmethod
    def from_spec(cls, spec: VariantSpec, bundle_dir: Path, threads: int | None) -> OrtVariant:
        return cls(load_bundle(bundle_dir), spec, threads)

    def embed(self, frames: np.ndarray) -> np.ndarray:
        return self.model.embed(frames)

    def melt(self, embeddings: np.ndarray) -> np.ndarray:
        return self.model.melt(embeddings)


def build_variant(spec: VariantSpec, bundle_dir: Path, threads: int | None) -> Variant:
    module, _, name = VARIANT_KINDS[spec.kind].partition(":")
    return getattr(importlib.import_module(module), name).from_spec(spec, bundle_dir, threads)


def variant_table(bundle: Bundle, providers: list[str], run_dir: Path | None) -> list[VariantSpec]:
    """ORT fp32 (and int8 when exported) on each provider, plus PyTorch eager when a run is given."""
    precisions = ("fp32", "int8") if bundle.has_model(ROLE_ENCODER_INT8) else ("fp32",)
    specs = [VariantSpec("ort", precision, provider) for provider in providers for precision in precisions]
    if run_dir is not None:
        return [VariantSpec("torch", "fp32", "cpu", is_reference=True, run_dir=str(run_dir)), *specs]
    return [replace(specs[0], is_reference=True), *specs[1:]] if specs else specs
