"""Atomic file and directory writes: a reader never sees a half-written output.

Everything is written under a temporary name in the destination's own directory (so the final
``os.replace`` is a rename on one filesystem) and renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from glacier_edge.errors import OutputError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: Path, label: str | None = None) -> Path:
    """Refuse, with one line, an output path that cannot be written; return its directory.

    The CLI calls it before any work (``label`` names the option); every atomic write calls it
    again just before writing.
    """
    label = label or f"cannot write {path}"
    parent = path.resolve().parent
    if path.is_dir():
        raise OutputError(f"{label}: is a directory")
    if not parent.is_dir():
        raise OutputError(f"{label}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{label}: directory {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{label}: file is not writable")
    return parent


def write_file_atomic(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the result to ``path``; clean up on any failure."""
    path = Path(path)
    parent = check_writable(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp's 0600 would leave outputs private
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_file_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` as a whole when the block succeeds.

    An existing ``path`` is kept until the new one is complete, so an interrupted training or
    export leaves the previous run intact rather than a mixture of old and new files.
    """
    path = Path(path)
    parent = path.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {parent}: {exc.strerror or exc}") from exc
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot write {path}: a file of that name exists")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: directory {parent} is not writable")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    os.chmod(tmp, 0o777 & ~_current_umask())
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=parent))
            os.replace(path, old / "previous")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
