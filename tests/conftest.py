"""Shared fixtures: the project's generated sample, synthetic sequences, bad files, and real
imagery read where it lies (``../shared/data``, never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from glacier_edge.ingest.samples import sample_sequence_path
from glacier_edge.ingest.synthetic import synthetic_frames

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""Real imagery from other public projects (see its README.md): beside the clone, not in it."""
SYNTHETIC_CHANGES = [1000, 5000, 200, 30000, 12000, 700, 2500]


SLOW_FIXTURES = frozenset({"trained_run", "exported_bundle", "bundle_copy"})
"""A test that needs a torch-built ResNet50 bundle is slow (training + export take minutes)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the user's ~/.local/share/glacier-edge or ~/.cache from a test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GLACIER_EDGE_HOME", str(home / "share"))
    monkeypatch.setenv("GLACIER_EDGE_CACHE", str(home / "cache"))
    monkeypatch.delenv("GLACIER_EDGE_MODEL", raising=False)
    return home


def shared_data(relative: str) -> Path:
    """A path under ../shared/data, or a skip naming what is missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real imagery {path} is absent (tests read ../shared/data beside the clone; see README)")
    return path


@pytest.fixture(scope="session")
def aletsch() -> Path:
    """Landsat-5/8 pair of the Aletsch area (2 frames, dated file names)."""
    return shared_data("aletsch_1987_2019")


@pytest.fixture(scope="session")
def scenes() -> Path:
    """Five unrelated Sentinel-2 glacier scenes (800×520 JPEG)."""
    return shared_data("sentinel2_scenes_2019")


@pytest.fixture(scope="session")
def rutor_gif() -> Path:
    """The Copernicus Browser GIF of Rutor Glacier (8 frames, burned-in overlays)."""
    return shared_data("rutor_s2_2017-2025.gif")


@pytest.fixture(scope="session")
def sample_gif(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's generated sample (drawn into a session cache, as the CLI does)."""
    import os

    cache = tmp_path_factory.mktemp("sample-cache")
    previous = os.environ.get("GLACIER_EDGE_CACHE")
    os.environ["GLACIER_EDGE_CACHE"] = str(cache)
    try:
        return sample_sequence_path()
    finally:
        if previous is None:
            os.environ.pop("GLACIER_EDGE_CACHE")
        else:
            os.environ["GLACIER_EDGE_CACHE"] = previous


@pytest.fixture(scope="session")
def synthetic_gif(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """An 8-frame GIF whose exact melt is known; returns (path, frames, melt)."""
    frames, melt = synthetic_frames(SYNTHETIC_CHANGES)
    path = tmp_path_factory.mktemp("synthetic") / "synthetic.gif"
    iio.imwrite(path, frames, extension=".gif", duration=200, loop=0)
    return path, frames, melt


def write_bad_inputs(folder: Path, sample: Path) -> dict[str, Path]:
    """Every malformed input the issues name, built fresh in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    bad: dict[str, Path] = {"missing": folder / "does-not-exist.gif"}
    bad["empty"] = folder / "empty.gif"
    bad["empty"].write_bytes(b"")
    bad["text"] = folder / "notes.gif"
    bad["text"].write_text("this is not an image\n")
    data = sample.read_bytes()
    bad["truncated"] = folder / "truncated.gif"
    bad["truncated"].write_bytes(data[: len(data) // 2])
    bad["one_frame"] = folder / "one.gif"
    iio.imwrite(bad["one_frame"], np.zeros((1, 16, 16, 3), np.uint8), extension=".gif")
    bad["no_images"] = folder / "empty_dir"
    bad["no_images"].mkdir(exist_ok=True)
    (bad["no_images"] / "readme.txt").write_text("no images here")
    return bad


BAD_INPUT_MESSAGES = {
    "missing": "does-not-exist.gif: no such file or directory",
    "empty": "empty.gif: file is empty (0 bytes)",
    "text": "notes.gif: cannot decode image (not an image file Pillow can read)",
    "truncated": "truncated.gif: truncated GIF (no end-of-file trailer after",
    "one_frame": "one.gif: 1 frame found; melt needs at least 2 frames",
    "no_images": "empty_dir: directory holds no images",
}


@pytest.fixture
def bad_inputs(tmp_path: Path, sample_gif: Path) -> dict[str, Path]:
    return write_bad_inputs(tmp_path / "bad", sample_gif)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short training run on the sample with the random encoder (60 epochs)."""
    pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
    from glacier_edge.contracts import TrainConfig
    from glacier_edge.training.pipeline import run_training

    run_dir = tmp_path_factory.mktemp("runs") / "run"
    run_training([], run_dir, config=TrainConfig(epochs=60, weights="random"), cache_dir=None,
                 echo=lambda message: None)
    return run_dir


@pytest.fixture(scope="session")
def exported_bundle(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fp32 + int8 bundle of ``trained_run``. Tests must copy it before changing it."""
    from glacier_edge.export.bundle_export import export_bundle

    bundle = tmp_path_factory.mktemp("bundles") / "bundle"
    export_bundle(trained_run, bundle, int8=True, echo=lambda message: None)
    return bundle


@pytest.fixture
def bundle_copy(exported_bundle: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(exported_bundle, tmp_path / "bundle"))


def train_and_export(root: Path, *train_args: str) -> tuple[Path, dict]:
    """`glacier-edge train` (random encoder, no augmentation) then `export`, through the CLI.

    Returns the bundle directory and its manifest.
    """
    import json

    from click.testing import CliRunner

    from glacier_edge.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["train", *train_args, "--weights", "random", "--augmentations", "0",
                                  "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", str(root / "run"), "--out", str(root / "bundle")])
    assert result.exit_code == 0, result.output
    return root / "bundle", json.loads((root / "bundle" / "manifest.json").read_text())
