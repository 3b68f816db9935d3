"""Signed bundles and model updates of a running station (tiny bundle; needs the station extra's
``cryptography`` for the signature tests)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from glacier_edge.cli import main
from glacier_edge.edge.bundle import load_bundle
from glacier_edge.ingest.samples import glacier_timelapse, write_frame_files

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_bundle"


def cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def keypair(folder: Path, name: str) -> tuple[Path, Path]:
    pytest.importorskip("cryptography", reason="signed bundles need the station extra (cryptography)")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    private, public = folder / f"{name}.key", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def rehash(bundle: Path, name: str) -> None:
    """Rewrite the manifest so its sha256 and size match a changed file: what an attacker does."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    data = (bundle / name).read_bytes()
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


def with_unknown_field(path: Path) -> None:
    """Append a protobuf field ONNX does not know (number 1000): other bytes, same model."""
    path.write_bytes(path.read_bytes() + bytes([0xC2, 0x3E, 0x01, 0x2A]))


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return Path(shutil.copytree(TINY, tmp_path / "model"))


def test_signed_bundle_runs_and_a_rehashed_tampered_one_is_refused(bundle: Path, tmp_path: Path,
                                                                   sample_gif: Path) -> None:
    private, public = keypair(tmp_path, "lab")
    _, foreign_public = keypair(tmp_path, "other")
    code, output = cli("run", sample_gif, "--model", bundle, "--trusted-key", public)
    assert code == 2 and "bundle is not signed (no manifest.sig) and --trusted-key is set" in output
    code, output = cli("sign", bundle, "--key", private)
    assert code == 0 and "signed" in output
    assert cli("run", sample_gif, "--model", bundle, "--trusted-key", public)[0] == 0
    code, output = cli("run", sample_gif, "--model", bundle, "--trusted-key", foreign_public)
    assert code == 2 and "bundle is signed by another key" in output

    with_unknown_field(bundle / "gnn.onnx")
    rehash(bundle, "gnn.onnx")
    load_bundle(bundle)  # the hashes agree again: only the signature can tell
    code, output = cli("run", sample_gif, "--model", bundle, "--trusted-key", public)
    assert code == 2 and "signature does not match manifest.json (changed after signing)" in output
    assert len(output.strip().splitlines()) == 1


def test_sign_refuses_a_bundle_whose_files_do_not_match(bundle: Path, tmp_path: Path) -> None:
    private, _ = keypair(tmp_path, "lab")
    with_unknown_field(bundle / "gnn.onnx")
    code, output = cli("sign", bundle, "--key", private)
    assert code == 2 and "gnn.onnx has" in output and not (bundle / "manifest.sig").exists()
    code, output = cli("sign", bundle, "--key", tmp_path / "lab.pub")
    assert code == 2 and "not a readable unencrypted PEM private key" in output


def staged(tmp_path: Path, seed: int) -> tuple[list[Path], Path, Path]:
    """8 generated frames to deliver, an empty inbox and a database path."""
    write_frame_files(glacier_timelapse(8, seed=seed), tmp_path / "frames")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return sorted((tmp_path / "frames").iterdir()), inbox, tmp_path / "station.db"


def deliver(files: list[Path], inbox: Path) -> None:
    for path in files:
        shutil.copy(path, inbox)


def station_run(inbox: Path, model: Path, db: Path, *extra: object) -> tuple[int, str]:
    return cli("watch", inbox, "--once", "--model", model, "--db", db, "--settle", "0", *extra)


def test_a_bad_update_is_refused_and_the_old_model_keeps_running(bundle: Path, tmp_path: Path) -> None:
    private, public = keypair(tmp_path, "lab")
    files, inbox, db = staged(tmp_path, seed=5)
    deliver(files[:4], inbox)
    assert cli("sign", bundle, "--key", private)[0] == 0
    code, output = station_run(inbox, bundle, db, "--trusted-key", public)
    assert code == 0 and "signature verified" in output
    first_model = hashlib.sha256((tmp_path / "station.model" / "manifest.json").read_bytes()).hexdigest()

    with_unknown_field(bundle / "gnn.onnx")  # replaced and re-hashed, but not re-signed
    rehash(bundle, "gnn.onnx")
    deliver(files[4:6], inbox)
    code, output = station_run(inbox, bundle, db, "--trusted-key", public)
    assert code == 0 and "refused the bundle at" in output and "signature does not match" in output
    assert f"still running model {first_model[:12]}" in output and "2 processed" in output
    with sqlite3.connect(db) as connection:
        models = {row[0] for row in connection.execute("SELECT model_sha256 FROM predictions")}
    assert models == {first_model}


def test_a_new_encoder_never_mixes_with_embeddings_of_the_old(bundle: Path, tmp_path: Path) -> None:
    files, inbox, db = staged(tmp_path, seed=6)
    deliver(files[:4], inbox)
    assert station_run(inbox, bundle, db)[0] == 0
    with_unknown_field(bundle / "encoder.onnx")  # a new encoder (same outputs, other bytes and sha256)
    rehash(bundle, "encoder.onnx")
    deliver(files[4:7], inbox)
    code, output = station_run(inbox, bundle, db)
    assert code == 0 and "in use (was " in output
    with sqlite3.connect(db) as connection:
        encoders = [row[0] for row in connection.execute("SELECT encoder_sha256 FROM images ORDER BY id")]
        made_at = [row[0] for row in connection.execute("SELECT image_id FROM predictions ORDER BY id")]
    assert len(set(encoders[:4])) == 1 and len(set(encoders[4:])) == 1 and encoders[0] != encoders[4]
    # image 5 starts a new window of one (no nowcast possible); images 6 and 7 see only new embeddings
    assert made_at == [2, 3, 4, 6, 7]
