"""The bundle a station runs: a verified copy of the one it is given, replaced only by a verified one.

The station keeps its own copy (``station.model/`` beside ``station.db``), so a bundle being
copied in, corrupted or swapped for an unsigned one never stops it: the new bundle is checked
(signature when a trusted key is set, then every file's size and sha256), copied, checked again,
and only then used. A refused bundle is logged once and the previous copy keeps running.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

from glacier_edge.contracts import MANIFEST_FILE
from glacier_edge.edge.bundle import Bundle, load_bundle
from glacier_edge.edge.signing import SIGNATURE_FILE, verify_signature
from glacier_edge.errors import GlacierEdgeError, ModelBundleError
from glacier_edge.fileio import atomic_directory


def active_dir_for(db_path: Path) -> Path:
    return Path(db_path).with_name(f"{Path(db_path).stem}.model")


def manifest_sha256(directory: Path) -> str | None:
    try:
        return hashlib.sha256((Path(directory) / MANIFEST_FILE).read_bytes()).hexdigest()
    except OSError:
        return None


def verified(directory: Path, trusted_key: Path | None, roles: tuple[str, ...] | None = None) -> Bundle:
    """Every file (or those of ``roles``) checked; with a trusted key, the signature first."""
    if trusted_key is not None:
        verify_signature(directory, trusted_key)
    return load_bundle(directory, roles)


class ActiveModel:
    """Which bundle the station uses now, and whether the source offers a new one."""

    def __init__(self, source: Path, active: Path, trusted_key: Path | None, log: Callable[[str], None]) -> None:
        self.source, self.active, self.trusted_key, self.log = Path(source), Path(active), trusted_key, log
        self._refused: str | None = None

    def sha256(self) -> str | None:
        """Identifies the model in every stored prediction: sha256 of the active manifest."""
        return manifest_sha256(self.active)

    def source_changed(self) -> bool:
        """Cheap (one small read): does the source hold a bundle other than the active one?"""
        source = manifest_sha256(self.source)
        return source is not None and source != self.sha256() and source != self._refused

    def bundle(self, roles: tuple[str, ...]) -> Bundle:
        """The active bundle (the files of ``roles`` re-verified), after taking the source's if it
        is new and verifies in full."""
        if self.source_changed() or not self.active.is_dir():
            self._update()
        return verified(self.active, self.trusted_key, roles)

    def _update(self) -> None:
        previous = self.sha256()
        offered = manifest_sha256(self.source)
        try:
            verified(self.source, self.trusted_key)
            with atomic_directory(self.active) as staging:
                for entry in self.source.iterdir():
                    if entry.is_file() and not entry.name.startswith("."):
                        shutil.copy2(entry, staging / entry.name)
                verified(staging, self.trusted_key)
        except (GlacierEdgeError, OSError) as exc:
            if previous is None:
                if isinstance(exc, OSError):
                    raise ModelBundleError(f"{self.source}: cannot copy the bundle ({exc})") from exc
                raise
            if offered != self._refused:
                self.log(f"refused the bundle at {self.source}: {exc}; still running model {previous[:12]}")
            self._refused = offered
            return
        self._refused = None
        now = self.sha256() or "?"
        self.log(f"model {now[:12]} in use" + (f" (was {previous[:12]})" if previous else "")
                 + (", signature verified" if self.trusted_key and (self.active / SIGNATURE_FILE).is_file() else ""))
