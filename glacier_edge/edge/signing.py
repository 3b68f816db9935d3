"""Signed bundles: Ed25519 over ``manifest.json``, whose sha256 list covers every other file.

The manifest's hashes catch corruption, not a replaced bundle whose manifest was rewritten to
match. A signature by a key the station trusts catches that. Why Ed25519 through
``cryptography`` rather than OpenSSF ``model-signing``: measured on this project's registry,
model-signing brings 35 wheels (15 MB: sigstore, pydantic, requests, protobuf, ...) to a station
install, ``cryptography`` 3 wheels (4.9 MB); both verify offline. Keys are standard PEM files
(``openssl genpkey -algorithm ed25519``), so no tool of ours is needed to make them.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from glacier_edge.contracts import MANIFEST_FILE, Record
from glacier_edge.errors import MissingDependencyError, ModelBundleError
from glacier_edge.fileio import write_text_atomic

SIGNATURE_FILE = "manifest.sig"


class SignatureError(ModelBundleError):
    """A bundle is unsigned, signed by another key, or its manifest changed after signing."""


@dataclass(frozen=True)
class BundleSignature(Record):
    """``manifest.sig``: who signed the manifest, and the signature."""

    SCHEMA: ClassVar[str] = "glacier-edge/signature"
    VERSION: ClassVar[int] = 1
    WHAT: ClassVar[str] = "bundle signature"

    algorithm: str
    public_key_sha256: str
    """sha256 of the signer's raw public key: names the key without trusting it."""
    manifest_sha256: str
    signature: str
    """base64 Ed25519 signature of the manifest.json bytes."""
    schema: str = SCHEMA
    schema_version: int = VERSION


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise MissingDependencyError("signed bundles need the 'cryptography' package: "
                                     "pip install 'glacier-edge[station]'") from exc
    return serialization, ed25519, InvalidSignature


def _raw_public(public_key) -> bytes:
    serialization, _, _ = _crypto()
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_private_key(path: Path):
    serialization, ed25519, _ = _crypto()
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0]
        raise SignatureError(f"{path}: not a readable unencrypted PEM private key ({reason})") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise SignatureError(f"{path}: not an Ed25519 key (make one with `openssl genpkey -algorithm ed25519`)")
    return key


def load_public_key(path: Path):
    serialization, ed25519, _ = _crypto()
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise SignatureError(f"{path}: not a readable PEM public key ({str(exc).splitlines()[0]})") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise SignatureError(f"{path}: not an Ed25519 public key")
    return key


def sign_bundle(directory: Path, private_key_path: Path) -> BundleSignature:
    """Write ``manifest.sig`` beside the manifest (atomically)."""
    key = load_private_key(private_key_path)
    manifest = Path(directory) / MANIFEST_FILE
    try:
        data = manifest.read_bytes()
    except OSError as exc:
        raise ModelBundleError(f"{directory}: not a model bundle (no {MANIFEST_FILE})") from exc
    signature = BundleSignature(
        "ed25519", hashlib.sha256(_raw_public(key.public_key())).hexdigest(), hashlib.sha256(data).hexdigest(),
        base64.b64encode(key.sign(data)).decode("ascii"))
    write_text_atomic(Path(directory) / SIGNATURE_FILE, signature.dumps())
    return signature


def verify_signature(directory: Path, public_key_path: Path) -> BundleSignature:
    """Refuse, with one line, a bundle not signed by this key or changed since it was signed."""
    key = load_public_key(public_key_path)
    _, _, invalid = _crypto()
    directory = Path(directory)
    if not (directory / SIGNATURE_FILE).is_file():
        raise SignatureError(f"{directory}: bundle is not signed (no {SIGNATURE_FILE}) and --trusted-key is set")
    signature = BundleSignature.read(directory / SIGNATURE_FILE)
    key_id = hashlib.sha256(_raw_public(key)).hexdigest()
    if signature.public_key_sha256 != key_id:
        raise SignatureError(f"{directory}: bundle is signed by another key ({signature.public_key_sha256[:16]}…), "
                             f"not the trusted one ({key_id[:16]}…)")
    try:
        key.verify(base64.b64decode(signature.signature), (directory / MANIFEST_FILE).read_bytes())
    except (invalid, ValueError) as exc:
        raise SignatureError(f"{directory}: signature does not match {MANIFEST_FILE} (changed after signing)") from exc
    except OSError as exc:
        raise ModelBundleError(f"{directory}: cannot read {MANIFEST_FILE} ({exc.strerror})") from exc
    return signature
