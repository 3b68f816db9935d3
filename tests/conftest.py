"""Shared fixtures: real imagery shipped in the repo, synthetic sequences, bad files."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from glacier_edge.frames import sample_sequence_path
from glacier_edge.synthetic import synthetic_frames

DATA = Path(__file__).parent / "data"
ALETSCH = DATA / "aletsch_1987_2019"
SCENES = DATA / "sentinel2_scenes_2019"
SYNTHETIC_CHANGES = [1000, 5000, 200, 30000, 12000, 700, 2500]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the user's ~/.local/share/glacier-edge or ~/.cache from a test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GLACIER_EDGE_HOME", str(home / "share"))
    monkeypatch.setenv("GLACIER_EDGE_CACHE", str(home / "cache"))
    monkeypatch.delenv("GLACIER_EDGE_MODEL", raising=False)
    return home


@pytest.fixture(scope="session")
def sample_gif() -> Path:
    return sample_sequence_path()


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
    from glacier_edge.frames import DEFAULT_MAX_PIXELS
    from glacier_edge.training.loop import TrainConfig
    from glacier_edge.training.pipeline import run_training

    run_dir = tmp_path_factory.mktemp("runs") / "run"
    run_training([], run_dir, config=TrainConfig(epochs=60), weights="random", max_pixels=DEFAULT_MAX_PIXELS,
                 cache_dir=None, echo=lambda message: None)
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
