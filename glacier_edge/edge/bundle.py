"""The model bundle: ONNX files plus ``manifest.json``, verified before any use.

The manifest (:class:`~glacier_edge.contracts.BundleManifest`) records sha256 and size of every
file, what each model takes and returns, how it was built and the parity figures that proved
it. :func:`load_bundle` needs only the standard library, so the edge runner can refuse a
damaged bundle without torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from glacier_edge.contracts import MANIFEST_FILE, ROLE_ENCODER_INT8, ROLE_OOD, BundleManifest, FileRecord, Parity
from glacier_edge.errors import ModelBundleError
from glacier_edge.fileio import sha256_file, write_text_atomic


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: every file it will load present with the recorded size and hash."""

    directory: Path
    manifest: BundleManifest

    def model_path(self, role: str) -> Path:
        return self.directory / self.manifest.models[role].file

    def model_sha256(self, role: str) -> str:
        return self.manifest.files[self.manifest.models[role].file].sha256

    def model_bytes(self, role: str) -> int:
        return self.manifest.files[self.manifest.models[role].file].bytes

    def has_model(self, role: str) -> bool:
        return role in self.manifest.models

    @property
    def pretrained(self) -> bool:
        """False only when the embedding comes from random weights (reports then say so)."""
        return not self.manifest.encoder.untrained_features

    @property
    def weights_label(self) -> str:
        return self.manifest.encoder.description


def file_record(path: Path) -> FileRecord:
    return FileRecord(sha256_file(path), path.stat().st_size)


def read_manifest(directory: Path) -> BundleManifest:
    """Parse and validate ``manifest.json`` against its contract (no hashing)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelBundleError(f"{directory}: no model bundle there; create one with `glacier-edge export`")
    if not (directory / MANIFEST_FILE).is_file():
        raise ModelBundleError(f"{directory}: not a model bundle (no {MANIFEST_FILE}); create one with "
                               "`glacier-edge export`")
    return BundleManifest.read(directory / MANIFEST_FILE)


def load_bundle(directory: str | Path, roles: tuple[str, ...] | None = None) -> Bundle:
    """Read the manifest and verify the size and sha256 of every file, or of the files of
    ``roles`` only (a station run skips hashing the 94 MB fp32 encoder when it runs int8)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    for role in roles or ():
        if role not in manifest.models:
            hint = "; export it with --int8" if role == ROLE_ENCODER_INT8 else ""
            raise ModelBundleError(f"{directory}: bundle has no {role} model{hint}")
    if roles is not None and ROLE_OOD in manifest.models:
        roles = (*roles, ROLE_OOD)  # every session loads the OOD score when the bundle has one
    names = list(manifest.files) if roles is None else [manifest.models[role].file for role in roles]
    for name in names:
        record = manifest.files[name]
        path = directory / name
        if not path.is_file():
            raise ModelBundleError(f"{directory}: {name} is missing; re-export the bundle")
        if path.stat().st_size != record.bytes:
            raise ModelBundleError(f"{directory}: {name} has {path.stat().st_size} bytes, manifest says "
                                   f"{record.bytes} (truncated or replaced); re-export the bundle")
        if sha256_file(path) != record.sha256:
            raise ModelBundleError(f"{directory}: {name} sha256 does not match the manifest (file changed "
                                   "after export); re-export the bundle")
    return Bundle(directory, manifest)


def record_parity(directory: Path, parity: Parity) -> BundleManifest:
    """Store verify's figures in the manifest, rewritten atomically."""
    manifest = dataclasses.replace(read_manifest(directory), parity=parity)
    write_text_atomic(Path(directory) / MANIFEST_FILE, manifest.dumps())
    return manifest
