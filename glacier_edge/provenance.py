"""What built an artefact: package versions and a UTC timestamp, for checkpoints and manifests."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib import metadata

TRACKED_PACKAGES = ("glacier-edge", "numpy", "imageio", "pillow", "onnxruntime", "torch",
                    "torchvision", "torch_geometric", "onnx", "onnxscript")


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package, None where it is not installed."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
