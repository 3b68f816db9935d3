"""The model bundle: ONNX files plus ``manifest.json``, verified before any use.

The manifest records sha256 and size of every file, the schema version, what each model takes
and returns, how it was built and the parity figures that proved it. :func:`load_bundle` needs
only the standard library, so the edge runner can refuse a damaged bundle without torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glacier_edge.errors import ModelBundleError
from glacier_edge.fileio import sha256_file, write_json_atomic

BUNDLE_SCHEMA = "glacier-edge/bundle"
BUNDLE_SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
ENCODER_FILE = "encoder.onnx"
ENCODER_INT8_FILE = "encoder.int8.onnx"
GRAPHSAGE_FILE = "graphsage.onnx"
REQUIRED_MODELS = ("encoder", "graphsage")


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: every file present with the recorded size and hash."""

    directory: Path
    manifest: dict[str, Any]

    def model_path(self, role: str) -> Path:
        return self.directory / self.manifest["models"][role]["file"]

    def model_sha256(self, role: str) -> str:
        return str(self.manifest["files"][self.manifest["models"][role]["file"]]["sha256"])

    def has_model(self, role: str) -> bool:
        return role in self.manifest["models"]

    @property
    def pretrained(self) -> bool:
        return bool(self.manifest["encoder_weights"]["pretrained"])

    @property
    def weights_label(self) -> str:
        return str(self.manifest["encoder_weights"]["description"])


def file_record(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def read_manifest(directory: Path) -> dict[str, Any]:
    """Parse and schema-check ``manifest.json`` (no hashing)."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST_FILE
    if not directory.is_dir():
        raise ModelBundleError(f"{directory}: no model bundle there; create one with `glacier-edge export`")
    if not manifest_path.is_file():
        raise ModelBundleError(f"{directory}: not a model bundle (no {MANIFEST_FILE}); create one with "
                               "`glacier-edge export`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelBundleError(f"{manifest_path}: corrupt manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA:
        raise ModelBundleError(f"{manifest_path}: not a glacier-edge bundle manifest")
    version = manifest.get("schema_version")
    if version != BUNDLE_SCHEMA_VERSION:
        raise ModelBundleError(
            f"{manifest_path}: bundle schema version {version} is not supported (this glacier-edge reads "
            f"version {BUNDLE_SCHEMA_VERSION}); re-export it with this version"
        )
    for key in ("files", "models", "encoder_weights"):
        if not isinstance(manifest.get(key), dict):
            raise ModelBundleError(f"{manifest_path}: manifest lacks '{key}'")
    return manifest


def load_bundle(directory: str | Path, roles: tuple[str, ...] | None = None) -> Bundle:
    """Read the manifest and verify the size and sha256 of every file, or of the files of
    ``roles`` only (a station run skips hashing the 94 MB fp32 encoder when it runs int8)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    for role in REQUIRED_MODELS + tuple(roles or ()):
        if role not in manifest["models"]:
            hint = "; export it with --int8" if role == "encoder_int8" else ""
            raise ModelBundleError(f"{directory}: bundle has no {role} model{hint}")
    for role, model in manifest["models"].items():
        if model.get("file") not in manifest["files"]:
            raise ModelBundleError(f"{directory}: model {role} names a file the manifest does not hash")
    names = manifest["files"] if roles is None else [manifest["models"][role]["file"] for role in roles]
    for name in names:
        record = manifest["files"][name]
        path = directory / name
        if not path.is_file():
            raise ModelBundleError(f"{directory}: {name} is missing; re-export the bundle")
        if path.stat().st_size != record.get("bytes"):
            raise ModelBundleError(f"{directory}: {name} has {path.stat().st_size} bytes, manifest says "
                                   f"{record.get('bytes')} (truncated or replaced); re-export the bundle")
        if sha256_file(path) != record.get("sha256"):
            raise ModelBundleError(f"{directory}: {name} sha256 does not match the manifest (file changed "
                                   "after export); re-export the bundle")
    return Bundle(directory, manifest)


def update_manifest(directory: Path, **fields: Any) -> dict[str, Any]:
    """Merge fields into an existing manifest and rewrite it atomically (used by verify)."""
    manifest = read_manifest(directory)
    manifest.update(fields)
    write_json_atomic(Path(directory) / MANIFEST_FILE, manifest)
    return manifest
