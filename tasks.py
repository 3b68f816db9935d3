#!/usr/bin/env python3
"""Set up and run glacier-edge with nothing but Python ≥3.10 and pip.

    python3 tasks.py demo    # .venv with the train extra, then the whole pipeline on the sample
    python3 tasks.py test    # .venv with train+dev extras: ruff, every test tier; then a torch-free
                             # .venv-edge (no extras + test tools): the edge tests and `run`

Uses only the standard library, so it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEV_VENV = ROOT / ".venv"
EDGE_VENV = ROOT / ".venv-edge"


def bin_path(env: Path, name: str) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / name


def run(*command: object, **kwargs: object) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], check=True, **kwargs)  # type: ignore[arg-type]


def ensure_venv(env: Path, requirement: str) -> Path:
    """Create ``env`` and install ``requirement`` into it, again only when pyproject.toml changed."""
    stamp_value = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + requirement.encode()).hexdigest()
    stamp = env / ".glacier-edge-installed"
    if stamp.is_file() and stamp.read_text() == stamp_value and bin_path(env, "python").exists():
        return env
    if env.exists():
        shutil.rmtree(env)
    print(f"creating {env.name} and installing {requirement} (first time: a few minutes, torch is large)")
    venv.create(env, with_pip=True)
    run(bin_path(env, "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", requirement)
    stamp.write_text(stamp_value)
    return env


def dev_venv() -> Path:
    """One development venv for both commands: editable install with the train and dev extras."""
    return ensure_venv(DEV_VENV, f"--editable={ROOT}[train,station,scale,dev]")


def demo() -> None:
    run(bin_path(dev_venv(), "glacier-edge"), "demo")


def edge_check(bundle: Path, home: dict[str, str]) -> None:
    """Install the torch-free station extra (plus the test tools) into a second venv; there, run
    the fast test tier (torch tests skip, the edge CLI tests use the tiny generated bundle),
    `glacier-edge run` on the generated sample and `watch --once` on it as an inbox, with the
    ResNet50 bundle built in the first venv."""
    env = ensure_venv(EDGE_VENV, f"{ROOT}[station,dev]")
    run(bin_path(env, "python"), "-c", "import importlib.util as u, sys; "
        "heavy = [m for m in ('torch', 'torchvision', 'torch_geometric', 'onnx') if u.find_spec(m)]; "
        "print('torch-free edge venv' if not heavy else f'unexpected in edge venv: {heavy}'); "
        "sys.exit(int(bool(heavy)))")
    run(bin_path(env, "pytest"), "-q", "-p", "no:cacheprovider", "-m", "not slow", cwd=ROOT)  # the installed package
    sample = Path(home["GLACIER_EDGE_CACHE"]) / "sample.gif"
    run(bin_path(env, "glacier-edge"), "sample", sample, env=home)
    run(bin_path(env, "glacier-edge"), "run", sample, "--model", bundle, env=home)
    inbox = Path(home["GLACIER_EDGE_CACHE"]) / "inbox"
    run(bin_path(env, "glacier-edge"), "sample", inbox, "--as-files", env=home)
    for _ in range(2):  # the second pass finds nothing new
        run(bin_path(env, "glacier-edge"), "watch", inbox, "--once", "--settle", "0", "--model", bundle, env=home)
    run(bin_path(env, "glacier-edge"), "history", env=home)
    print("edge venv: `run` works with numpy, imageio (Pillow), click and onnxruntime alone (a test proves it "
          "imports nothing else); `watch` with the station extra (watchdog, cryptography)")


def test() -> None:
    env = dev_venv()
    run(bin_path(env, "ruff"), "check", ROOT)
    run(bin_path(env, "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        home = {**os.environ, "GLACIER_EDGE_HOME": scratch, "GLACIER_EDGE_CACHE": scratch}
        bundle = Path(scratch) / "bundle"
        run(bin_path(env, "glacier-edge"), "train", "--epochs", "100", "--weights", "random",
            "--out", Path(scratch) / "run", env=home)
        run(bin_path(env, "glacier-edge"), "export", Path(scratch) / "run", "--out", bundle, env=home)
        edge_check(bundle, home)
        arm64_check(env, Path(scratch), home)


def arm64_check(env: Path, scratch: Path, home: dict[str, str]) -> None:
    """The torch-free edge path on Linux aarch64 under QEMU, against the tiny bundle (+ int8) built
    here: fp32 within 1e-5 of x86 per frame, int8 within its bound (benchmarks/arm64/check.sh)."""
    bundle = scratch / "tiny_int8"
    python = bin_path(env, "python")
    run(python, ROOT / "benchmarks" / "arm64" / "tiny_int8_bundle.py", bundle, env=home)
    sample = Path(home["GLACIER_EDGE_CACHE"]) / "sample.gif"
    run("bash", ROOT / "benchmarks" / "arm64" / "check.sh", bundle, sample, scratch / "arm64",
        env={**home, "PYTHON": str(python)})


COMMANDS = {"demo": demo, "test": test}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python3 tasks.py {{{'|'.join(COMMANDS)}}}")
    try:
        COMMANDS[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
