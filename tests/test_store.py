"""The embedding store: `embed` fills it once (in worker processes, resumably), `train` and
`evaluate` read it instead of running the encoder. Known answers: stored embeddings equal the
encoder's, stored melt equals the project's melt, each frame's sha256 is its pixels'."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("torch", reason="`embed` runs the PyTorch encoder (train extra)")
pytest.importorskip("pyarrow", reason="the embedding store is Parquet (train extra)")
import pyarrow.parquet as pq  # noqa: E402

from glacier_edge.cli import main  # noqa: E402
from glacier_edge.contracts import TrainConfig  # noqa: E402
from glacier_edge.ingest.frames import read_sequence  # noqa: E402
from glacier_edge.ingest.samples import glacier_timelapse, write_timelapse  # noqa: E402
from glacier_edge.signals.melt import measured_melt  # noqa: E402

pytestmark = pytest.mark.slow


def cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    folder = tmp_path / "archive"
    folder.mkdir()
    for seed in range(3):
        write_timelapse(glacier_timelapse(5, seed=seed), folder / f"glacier{seed}.gif")
    return folder


def embed(archive: Path, store: Path, *extra: object) -> tuple[int, str]:
    return cli("embed", archive, "--store", store, "--weights", "random", "--augmentations", "1", *extra)


def test_embed_stores_what_the_encoder_and_melt_give(archive: Path, tmp_path: Path) -> None:
    from glacier_edge.training.dataset import embed_views
    from glacier_edge.training.encoder import build_encoder

    store = tmp_path / "store"
    code, output = embed(archive, store, "--workers", "2")
    assert code == 0, output
    assert "3 embedded, 0 already in the store, 0 failed; 15 frames" in output
    files = sorted((store / "sequences").glob("*.parquet"))
    assert len(files) == 3
    info = json.loads((store / "store.json").read_text())
    assert info["schema"] == "glacier-edge/embedding-store" and info["augmentations"] == 1
    sequence = read_sequence(archive / "glacier1.gif")
    encoder, record = build_encoder("random")
    expected, digest = embed_views(sequence, encoder, record, 1, 0, cache_dir=None)
    table = next(pq.read_table(f) for f in files if json.loads(pq.read_schema(f).metadata[b"glacier_edge"])
                 ["frames_digest"] == digest)
    assert table.num_rows == 2 * 5 and table.column_names == ["view", "frame", "label", "date", "sensor",
                                                             "frame_sha256", "measured_melt", "embedding"]
    stored = np.stack(table.column("embedding").to_numpy(zero_copy_only=False)).reshape(2, 5, -1)
    np.testing.assert_allclose(stored, expected, rtol=1e-4, atol=1e-5)
    melt = measured_melt(sequence.frames)
    assert table.column("measured_melt").to_pylist()[:5] == [None, *[pytest.approx(float(m)) for m in melt[1:]]]
    assert table.column("frame_sha256").to_pylist()[2] == hashlib.sha256(sequence.frames[2].tobytes()).hexdigest()
    assert table.column("date").to_pylist()[0] == sequence.dates[0].isoformat()


def test_rerun_skips_and_a_lost_sequence_is_resumed(archive: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert embed(archive, store, "--workers", "1")[0] == 0
    files = sorted((store / "sequences").glob("*.parquet"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    code, output = embed(archive, store)
    assert code == 0 and "0 embedded, 3 already in the store" in output
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    files[1].unlink()  # as if the run had been killed before this sequence was written
    code, output = embed(archive, store)
    assert code == 0 and "1 embedded, 2 already in the store" in output
    assert files[1].is_file() and {f: f.stat().st_mtime_ns for f in (files[0], files[2])} == \
        {f: stamps[f] for f in (files[0], files[2])}
    renamed = tmp_path / "renamed"  # the same frames under another name are found by content
    shutil.copytree(archive, renamed)
    code, output = embed(renamed, store)
    assert code == 0 and "0 embedded, 3 already in the store" in output


def test_a_bad_sequence_is_reported_and_the_others_go_on(archive: Path, tmp_path: Path) -> None:
    (archive / "broken.gif").write_text("not an image")
    code, output = embed(archive, tmp_path / "store")
    assert code == 2 and "3 embedded, 0 already in the store, 1 failed" in output
    assert "not embedded: " in output and "broken.gif: cannot decode image" in output


def test_a_store_of_other_settings_is_refused(archive: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert embed(archive, store)[0] == 0
    code, output = cli("embed", archive, "--store", store, "--weights", "random", "--augmentations", "2")
    assert code == 2 and "store holds embeddings with augmentations 1, not 2" in output


def test_train_reads_the_store_instead_of_running_the_encoder(archive: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from glacier_edge.training import dataset
    from glacier_edge.training.pipeline import run_training

    store = tmp_path / "store"
    assert embed(archive, store)[0] == 0

    def no_encoder(*args: object, **kwargs: object) -> None:
        raise AssertionError("the encoder ran although the store holds these embeddings")

    monkeypatch.setattr(dataset, "encode_frames", no_encoder)
    config = TrainConfig(epochs=5, weights="random", augmentations=1, calibration_folds=3)
    messages: list[str] = []
    record = run_training([archive], tmp_path / "run", config=config, cache_dir=None, store=store,
                          echo=messages.append)
    assert len(record.train_sequences) == 3
    assert any("embeddings from the store" in m for m in messages)
    assert os.path.isfile(tmp_path / "run" / "run.json")
