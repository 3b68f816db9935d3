#!/usr/bin/env python3
"""Set up and run glacier-edge with nothing but Python ≥3.10 and pip.

    python3 tasks.py demo   # .venv with the train extra, then the whole pipeline on the generated sample
    python3 tasks.py test   # ruff, import contracts, every test tier in .venv, the fast tier again in a
                            # torch-free .venv-edge. Installs into the clone only; changes nothing else.
    python3 tasks.py fast   # ruff, import contracts and the fast tier in .venv (under a minute)
    python3 tasks.py ci     # `test`, then the end-to-end checks: a ResNet50 bundle trained and exported,
                            # `run`/`watch` with it in .venv-edge, and the ARM64 check under QEMU, which
                            # installs Debian's qemu-user-static (and chromium, for the page test) as
                            # root. What CI runs; yours on request.

Uses only the standard library, so it runs before anything is installed. Every tool it runs
writes its caches inside the clone (``.cache/``) or in a temporary directory removed at the end:
`test` leaves your home directory, system packages and package lists as they were (`ci` proves it
for `test` by running it with an empty home and checking the home stayed empty).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEV_VENV = ROOT / ".venv"
EDGE_VENV = ROOT / ".venv-edge"
CLONE_CACHE = ROOT / ".cache"


def bin_path(env: Path, name: str) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / name


def run(*command: object, **kwargs: object) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], check=True, **kwargs)  # type: ignore[arg-type]


def pip_env() -> dict[str, str]:
    """pip's download cache inside the clone (unless the user chose one), not in ~/.cache/pip."""
    return {**os.environ, "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(CLONE_CACHE / "pip"))}


def ensure_venv(env: Path, requirement: str) -> Path:
    """Create ``env`` once and install ``requirement`` into it; again (pip only adds what changed)
    when pyproject.toml or the requirement changed."""
    stamp_value = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + requirement.encode()).hexdigest()
    stamp = env / ".glacier-edge-installed"
    if stamp.is_file() and stamp.read_text() == stamp_value and bin_path(env, "python").exists():
        return env
    if not bin_path(env, "python").exists():
        print(f"creating {env.name} and installing {requirement} (first time: a few minutes, torch is large)")
        venv.create(env, with_pip=True)
    else:
        print(f"updating {env.name}: pyproject.toml changed")
    run(bin_path(env, "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", requirement,
        env=pip_env())
    stamp.write_text(stamp_value)
    return env


def dev_venv() -> Path:
    """One development venv for every command: editable install with every extra."""
    return ensure_venv(DEV_VENV, f"--editable={ROOT}[train,station,scale,motion,regions,dev]")


def edge_venv() -> Path:
    """The station install (no torch, no onnx) plus the test tools: proves the edge path alone."""
    return ensure_venv(EDGE_VENV, f"{ROOT}[station,dev]")


def scratch_env(scratch: Path) -> dict[str, str]:
    """Environment for tools run by `test`: the home directory and every config and cache directory
    they would write (glacier-edge's own, XDG, matplotlib, Ray's ~/.ray) inside ``scratch``;
    hypothesis' examples in the clone; torch's weight cache read where the user keeps it."""
    torch_home = os.environ.get("TORCH_HOME") or str(Path.home() / ".cache" / "torch")  # read only: cached weights
    (scratch / "home-directory").mkdir(exist_ok=True)
    return {
        **os.environ,
        "HOME": str(scratch / "home-directory"),  # what writes to ~ regardless of XDG (Ray: ~/.ray) writes here
        "TORCH_HOME": torch_home,
        "GLACIER_EDGE_HOME": str(scratch / "home"),
        "GLACIER_EDGE_CACHE": str(scratch / "cache"),
        "XDG_CACHE_HOME": str(scratch / "xdg-cache"),
        "XDG_CONFIG_HOME": str(scratch / "xdg-config"),
        "XDG_DATA_HOME": str(scratch / "xdg-data"),
        "MPLCONFIGDIR": str(scratch / "matplotlib"),
        "RAY_TMPDIR": str(scratch / "ray"),
        "HYPOTHESIS_STORAGE_DIRECTORY": str(CLONE_CACHE / "hypothesis"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def lint(env: Path, environ: dict[str, str]) -> None:
    run(bin_path(env, "ruff"), "check", "--no-cache", ROOT, env=environ)
    run(bin_path(env, "lint-imports"), "--no-cache", cwd=ROOT, env=environ)


def pytest(env: Path, environ: dict[str, str], *args: str) -> None:
    run(bin_path(env, "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, cwd=ROOT, env=environ)


def demo() -> None:
    run(bin_path(dev_venv(), "glacier-edge"), "demo")


def fast() -> None:
    env = dev_venv()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="glacier-edge-fast-") as scratch:
        environ = scratch_env(Path(scratch))
        lint(env, environ)
        pytest(env, environ, "-m", "not slow")
    print(f"fast: {time.monotonic() - started:.0f} s after the install")


def test() -> None:
    env, edge = dev_venv(), edge_venv()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="glacier-edge-test-") as scratch:
        environ = scratch_env(Path(scratch))
        lint(env, environ)
        pytest(env, environ)
        run(bin_path(edge, "python"), "-c", "import importlib.util as u, sys; "
            "heavy = [m for m in ('torch', 'torchvision', 'torch_geometric', 'onnx') if u.find_spec(m)]; "
            "print('torch-free edge venv' if not heavy else f'unexpected in edge venv: {heavy}'); "
            "sys.exit(int(bool(heavy)))")
        pytest(edge, environ, "-m", "not slow")  # the installed package, without torch
    print(f"test: {time.monotonic() - started:.0f} s after the install")


def end_to_end(scratch: Path) -> None:
    """A ResNet50 bundle trained and exported in .venv; `run` on the generated sample and `watch
    --once` on it as an inbox in the torch-free .venv-edge; then the ARM64 check."""
    env, edge = dev_venv(), edge_venv()
    home = scratch_env(scratch)
    bundle = scratch / "bundle"
    run(bin_path(env, "glacier-edge"), "train", "--epochs", "100", "--weights", "random",
        "--out", scratch / "run", env=home)
    run(bin_path(env, "glacier-edge"), "export", scratch / "run", "--out", bundle, env=home)
    sample = scratch / "sample.gif"
    run(bin_path(edge, "glacier-edge"), "sample", sample, env=home)
    run(bin_path(edge, "glacier-edge"), "run", sample, "--model", bundle, env=home)
    inbox = scratch / "inbox"
    run(bin_path(edge, "glacier-edge"), "sample", inbox, "--as-files", env=home)
    for _ in range(2):  # the second pass finds nothing new
        run(bin_path(edge, "glacier-edge"), "watch", inbox, "--once", "--settle", "0", "--model", bundle, env=home)
    run(bin_path(edge, "glacier-edge"), "history", env=home)
    print("edge venv: `run` works with numpy, imageio (Pillow), click and onnxruntime alone (a test proves it "
          "imports nothing else); `watch` with the station extra (watchdog, cryptography)")
    arm64_check(env, scratch, home, sample)


def arm64_check(env: Path, scratch: Path, home: dict[str, str], sample: Path) -> None:
    """The torch-free edge path on Linux aarch64 under QEMU, against the tiny bundle (+ int8) built
    here: fp32 within 1e-5 of x86 per frame, int8 within its bound (benchmarks/arm64/check.sh).
    Installs qemu-user-static with apt-get when it is missing: only `ci` calls this."""
    bundle = scratch / "tiny_int8"
    python = bin_path(env, "python")
    run(python, ROOT / "benchmarks" / "arm64" / "tiny_int8_bundle.py", bundle, env=home)
    run("bash", ROOT / "benchmarks" / "arm64" / "check.sh", bundle, sample, scratch / "arm64",
        env={**home, "PYTHON": str(python)})


def test_leaves_home_alone() -> None:
    """`test` with an empty home directory: afterwards the home must still be empty. The venvs are
    installed first, with the real home (pip reads its index configuration there)."""
    dev_venv(), edge_venv()
    with tempfile.TemporaryDirectory(prefix="glacier-edge-home-") as home:
        run(sys.executable, __file__, "test", env={**os.environ, "HOME": home, "CI": "", "XDG_CACHE_HOME": "",
                                                    "XDG_CONFIG_HOME": "", "XDG_DATA_HOME": ""})
        written = sorted(str(path.relative_to(home)) for path in Path(home).rglob("*"))
        if written:
            sys.exit(f"`tasks.py test` wrote outside the clone, into the home directory: {written[:10]}")
        print("`tasks.py test` wrote nothing into the (empty) home directory")


def ensure_chromium() -> None:
    """Debian's chromium for the browser test of the station page (tests/test_station_page.py), installed
    with apt-get as root when missing: only `ci` calls this; `test` uses a Chromium that is already there
    and skips the browser test otherwise."""
    if any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("chromium is not installed and cannot be installed here (needs root and apt-get): the browser test "
              "will skip")
        return
    print("installing chromium (Debian) for the station page's browser test")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, capture_output=True).returncode:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, check=True, capture_output=True)


def ci() -> None:
    started = time.monotonic()
    ensure_chromium()
    test_leaves_home_alone()
    with tempfile.TemporaryDirectory(prefix="glacier-edge-ci-") as scratch:
        end_to_end(Path(scratch))
    print(f"ci: {time.monotonic() - started:.0f} s after the install")


COMMANDS = {"demo": demo, "test": test, "fast": fast, "ci": ci}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python3 tasks.py {{{'|'.join(COMMANDS)}}}")
    try:
        COMMANDS[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
