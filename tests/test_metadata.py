"""Dates and sidecar covariates as node features, the same at training, export and the edge."""

from __future__ import annotations

import math
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from conftest import train_and_export

from glacier_edge.errors import BadInputError
from glacier_edge.ingest.frames import read_sequence
from glacier_edge.signals.features import DATE_FEATURES, available_metadata, metadata_matrix

DATES = ["2017-07-04", "2018-08-28", "2019-09-12", "2020-08-07", "2022-07-08", "2023-09-26", "2024-09-15",
         "2025-07-09", "2025-08-10", "2025-09-01", "2025-09-20", "2026-07-15"]
TEMPERATURES = [3.1, 5.2, 4.4, 6.0, 7.5, 5.9, 6.8, 7.9, 8.2, 6.1, 4.0, 7.0]


@pytest.fixture
def dated_gif(tmp_path: Path, sample_gif: Path) -> Path:
    gif = tmp_path / "rutor.gif"
    shutil.copy(sample_gif, gif)
    rows = ["date,temperature_c"] + [f"{d},{t}" for d, t in zip(DATES, TEMPERATURES)]
    (tmp_path / "rutor.dates.txt").write_text("\n".join(rows) + "\n")
    return gif


def test_sidecar_csv_gives_dates_and_covariates(dated_gif: Path) -> None:
    seq = read_sequence(dated_gif)
    assert seq.dates[4] == date(2022, 7, 8)
    assert seq.covariates == {"temperature_c": TEMPERATURES}
    names = available_metadata([seq])
    assert names == [*DATE_FEATURES, "temperature_c"]
    matrix = metadata_matrix(seq, names)
    assert matrix.shape == (12, 4)
    doy = date(2017, 7, 4).timetuple().tm_yday - 1
    assert matrix[0, 0] == pytest.approx(math.sin(2 * math.pi * doy / 365.25), abs=1e-6)
    assert matrix[-1, 2] == pytest.approx((date(2026, 7, 15) - date(2017, 7, 4)).days / 365.25, abs=1e-5)
    assert np.allclose(matrix[:, 3], TEMPERATURES)


def test_metadata_needs_dates(tmp_path: Path, sample_gif: Path) -> None:
    gif = tmp_path / "undated.gif"
    shutil.copy(sample_gif, gif)
    with pytest.raises(BadInputError, match="metadata features need an acquisition date for every frame"):
        available_metadata([read_sequence(gif)])


@pytest.mark.slow
def test_metadata_model_end_to_end(dated_gif: Path, tmp_path: Path, sample_gif: Path) -> None:
    pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
    from click.testing import CliRunner

    from glacier_edge.cli import main

    runner = CliRunner()
    bundle, manifest = train_and_export(tmp_path, str(dated_gif), "--metadata", "--epochs", "40")
    assert manifest["node_features"]["metadata"] == [*DATE_FEATURES, "temperature_c"]
    assert manifest["models"]["gnn"]["inputs"][0]["shape"] == ["T", 2048 + 4 + 3]  # + metadata + history
    result = runner.invoke(main, ["verify", str(tmp_path / "bundle"), str(dated_gif)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["run", str(dated_gif), "--model", str(tmp_path / "bundle")])
    assert result.exit_code == 0, result.output
    undated = tmp_path / "elsewhere" / "undated.gif"
    undated.parent.mkdir()
    shutil.copy(sample_gif, undated)
    result = runner.invoke(main, ["run", str(undated), "--model", str(tmp_path / "bundle")])
    assert result.exit_code == 2
    assert "metadata features need an acquisition date for every frame" in result.output
