"""Regions of the frame as nodes (issue 21): the Kronecker-sum graph, region layouts, the per-region
model through train → export → verify → run, and alerts that name the place.

Known answers: the model's two means equal the dense (T·R)² aggregation with A_t ⊗ I + I ⊗ A_s; a
region painted white at a known frame raises the alert for exactly that region with its box in the
original image's pixels; the area-weighted mean of the regions' melts is the whole-frame melt.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from glacier_edge.cli import main
from glacier_edge.signals.frame_regions import (
    RegionLayout,
    frame_melt_from_regions,
    grid_layout,
    layout_from_masks,
    region_cells,
)
from glacier_edge.signals.graph import dense_adjacency

PAINTED_FRAME = 8
PAINTED_BOX = (60, 100, 120, 150)
"""x0, y0, x1, y1 of the sample's grid cell r2c1 in its 240×200 original pixels."""


def test_the_grid_pools_each_cell_into_its_own_region_and_joins_four_neighbours() -> None:
    layout = grid_layout()
    assert layout.count == 16 and layout.names[0] == "r0c0" and layout.names[9] == "r2c1"
    assert np.array_equal(layout.pooling(), np.eye(16, dtype=np.float32))
    adjacency = layout.adjacency()
    assert adjacency.sum() == 2 * 24 and np.array_equal(adjacency, adjacency.T) and not adjacency.diagonal().any()
    assert adjacency[5, [1, 4, 6, 9]].tolist() == [1, 1, 1, 1] and adjacency[5, 0] == 0 and adjacency[5, 10] == 0
    assert layout.boxes((240, 200))[9] == PAINTED_BOX


def test_a_label_layout_pools_the_feature_map_by_pixel_share() -> None:
    """Two regions: the top half (cells 0–7) and a 32×16 strip of cell 8 and 16 rows of cell 12."""
    top = np.zeros((128, 128), bool)
    top[:64] = True
    strip = np.zeros((128, 128), bool)
    strip[64:128, :16] = True  # half of cells 8 and 12 each, by width
    layout = layout_from_masks({"upper": top, "strip": strip}, "mask test")
    pooling = layout.pooling()
    assert np.allclose(pooling[0, :8], 1 / 8) and np.allclose(pooling[0, 8:], 0)
    assert np.allclose(pooling[1, [8, 12]], 0.5) and pooling[1].sum() == pytest.approx(1.0)
    cells = np.random.default_rng(0).normal(size=(3, 16, 5)).astype(np.float32)
    pooled = region_cells(cells, layout)
    assert np.allclose(pooled[:, 0], cells[:, :8].mean(axis=1), atol=1e-6)
    assert np.allclose(pooled[:, 1], cells[:, [8, 12]].mean(axis=1), atol=1e-6)
    assert layout.adjacency().tolist() == [[0, 1], [1, 0]]
    with pytest.raises(Exception, match="smaller than one pixel"):
        layout_from_masks({"upper": top, "empty": np.zeros((128, 128), bool)}, "mask test")


def test_superpixels_keep_one_labelling_for_the_whole_sequence() -> None:
    pytest.importorskip("skimage", reason="superpixels need the 'regions' extra (scikit-image)")
    from glacier_edge.signals.frame_regions import slic_layout

    frame = np.zeros((128, 128, 3), np.uint8)
    frame[:, 64:] = 200  # two flat halves: SLIC must not cut across the edge
    layout = slic_layout(frame, 8)
    assert 2 <= layout.count <= 16 and (layout.labels >= 0).all()
    for region in range(layout.count):
        columns = np.nonzero(layout.labels == region)[1]
        assert columns.max() < 64 or columns.min() >= 64


def test_the_regional_model_is_the_kronecker_sum_graph_without_building_it() -> None:
    """Each layer's two means equal SAGE-style mean aggregation over the dense (T·R)² adjacency
    A_t ⊗ I + I ⊗ A_s (time and space weights apart), so the product is never materialised."""
    torch = pytest.importorskip("torch")
    from glacier_edge.training.models.regional import RegionalSAGE, mean_over

    frames, layout = 6, grid_layout()
    temporal = torch.from_numpy(dense_adjacency(frames, "causal"))
    spatial = torch.from_numpy(layout.adjacency())
    h = torch.randn(frames, layout.count, 7, generator=torch.Generator().manual_seed(1))
    flat = h.reshape(-1, 7)
    dense_time = torch.kron(temporal, torch.eye(layout.count))
    dense_space = torch.kron(torch.eye(frames), spatial)
    expected_time = (dense_time @ flat) / dense_time.sum(1, keepdim=True).clamp(min=1)
    expected_space = (dense_space @ flat) / dense_space.sum(1, keepdim=True).clamp(min=1)
    assert torch.allclose(mean_over(temporal, h).reshape(-1, 7), expected_time, atol=1e-6)
    assert torch.allclose(mean_over(spatial, h.transpose(0, 1)).transpose(0, 1).reshape(-1, 7), expected_space,
                          atol=1e-6)
    # without spatial edges, a region never hears its neighbours
    model = RegionalSAGE(7, spatial_edges=False).eval()
    x = torch.randn(frames, layout.count, 7, generator=torch.Generator().manual_seed(2))
    changed = x.clone()
    changed[:, 1] += 5.0
    with torch.no_grad():
        assert torch.equal(model(x, temporal, spatial)[:, 0], model(changed, temporal, spatial)[:, 0])
        connected = RegionalSAGE(7).eval()
        assert not torch.equal(connected(x, temporal, spatial)[:, 0], connected(changed, temporal, spatial)[:, 0])
        # causal: frame 2 never hears frame 3
        later = x.clone()
        later[3:] += 5.0
        assert torch.equal(connected(x, temporal, spatial)[:3], connected(later, temporal, spatial)[:3])


@pytest.fixture(scope="module")
def regions_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A bundle with the per-region model with spatial edges (not the default: the export must carry both
    means), random encoder, short training, int8 too."""
    pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
    root = tmp_path_factory.mktemp("regions")
    runner = CliRunner()
    result = runner.invoke(main, ["train", "--frame-regions", "--spatial-edges", "--epochs", "30", "--weights",
                                  "random", "--augmentations", "0", "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    assert "regions: held-out MAE" in result.output
    result = runner.invoke(main, ["export", str(root / "run"), "--out", str(root / "bundle"), "--int8"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["verify", str(root / "bundle")])
    assert result.exit_code == 0, result.output
    return root / "bundle", json.loads((root / "bundle" / "manifest.json").read_text())


@pytest.mark.slow
def test_the_bundle_carries_the_regional_model_and_its_parity(regions_bundle: tuple[Path, dict]) -> None:
    bundle, manifest = regions_bundle
    assert manifest["models"]["regions"]["file"] == "regions.onnx"
    assert [o["name"] for o in manifest["models"]["encoder"]["outputs"]] == ["embeddings", "cells"]
    regions = manifest["regions"]
    assert regions["layout"] == "grid 4x4" and regions["spatial_edges"] is True and len(regions["names"]) == 16
    calibration = regions["calibration"]
    assert calibration["alert_halfwidth"] >= calibration["halfwidth"] > 0 and calibration["alert_level"] == 0.99375
    rows = {row["input"]: row for row in manifest["parity"]["rows"]}
    for frames in (2, 8, 37, 128):
        row = rows[f"random frames T={frames}"]
        assert row["passed"] and row["regions_worst_ratio"] <= 1 and row["cells_worst_ratio"] <= 1
        assert row["regions_max_abs"] < 1e-5
    import onnxruntime as ort

    session = ort.InferenceSession(str(bundle / "encoder.int8.onnx"))
    assert [o.name for o in session.get_outputs()] == ["embeddings", "cells"]


@pytest.fixture(scope="module")
def painted_gif(tmp_path_factory: pytest.TempPathFactory, sample_gif: Path) -> Path:
    """The sample with grid cell r2c1 painted white from frame 8 on: a known local change."""
    frames = iio.imread(sample_gif)[..., :3].copy()
    x0, y0, x1, y1 = PAINTED_BOX
    frames[PAINTED_FRAME:, y0:y1, x0:x1] = 250
    path = tmp_path_factory.mktemp("painted") / "painted.gif"
    iio.imwrite(path, frames, loop=0, duration=500)
    return path


@pytest.mark.slow
def test_an_unexpected_change_names_its_region_and_box(regions_bundle: tuple[Path, dict], painted_gif: Path,
                                                       tmp_path: Path) -> None:
    bundle, _ = regions_bundle
    out = tmp_path / "result.json"
    result = CliRunner().invoke(main, ["run", str(painted_gif), "--model", str(bundle), "--format", "json",
                                       "--output", str(out), "--plot", str(tmp_path / "melt.png")])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["schema_version"] == 8
    summary = data["summary"]["regions"]
    painted = [a for a in summary["alerts"] if a["frame"] == PAINTED_FRAME]
    assert [(a["name"], tuple(a["box"])) for a in painted] == [("r2c1", PAINTED_BOX)]
    assert painted[0]["measured"] > 0.5 and "r2c1 (x 60–120, y 100–150 px)" in painted[0]["message"]
    frame = data["frames"][PAINTED_FRAME]
    assert [r["region"] for r in frame["regions"] if r["unexpected"]] == [9]
    # the whole-frame melt is the area-weighted mean of the regions' melts
    shares = np.array([r["area_share"] for r in summary["regions"]])
    measured = np.array([r["measured"] for r in frame["regions"]])
    assert float(shares @ measured) == pytest.approx(frame["measured_melt"], abs=1e-6)
    assert data["latency_ms"]["regions"] > 0 and data["summary"]["alerts"] >= 1
    assert (tmp_path / "melt-regions.png").is_file()
    table = CliRunner().invoke(main, ["run", str(painted_gif), "--model", str(bundle)])
    assert "UNEXPECTED REGION: frame 8 (painted.gif#8): region r2c1 (x 60–120, y 100–150 px)" in table.output


@pytest.mark.slow
def test_a_label_image_gives_named_regions_with_boxes_in_original_pixels(
        regions_bundle: tuple[Path, dict], painted_gif: Path, tmp_path: Path) -> None:
    bundle, _ = regions_bundle
    labels = np.zeros((200, 240), np.uint8)
    labels[:100] = 1
    labels[100:150, 60:120] = 2
    labels[150:, :] = 3
    mask = tmp_path / "parts.png"
    Image.fromarray(labels).save(mask)
    (tmp_path / "parts.names.txt").write_text("1 upper basin\n2 lake margin\n3 tongue\n", encoding="utf-8")
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["run", str(painted_gif), "--model", str(bundle), "--regions-mask", str(mask),
                                       "--format", "json", "--output", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())["summary"]["regions"]
    assert summary["layout"] == "mask parts.png"
    assert [(r["name"], tuple(r["box"])) for r in summary["regions"]] == [
        ("upper basin", (0, 0, 240, 100)), ("lake margin", (60, 100, 120, 150)), ("tongue", (0, 150, 240, 200))]
    assert [a["name"] for a in summary["alerts"] if a["frame"] == PAINTED_FRAME] == ["lake margin"]
    if importlib.util.find_spec("skimage") is not None:  # superpixels: the 'regions' extra
        result = CliRunner().invoke(main, ["run", str(painted_gif), "--model", str(bundle), "--superpixels", "12",
                                           "--format", "json", "--output", str(out)])
        assert result.exit_code == 0, result.output
        summary = json.loads(out.read_text())["summary"]["regions"]
        assert summary["layout"].startswith("slic ") and 6 <= len(summary["regions"]) <= 24
        assert sum(r["area_share"] for r in summary["regions"]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_region_options_refuse_bad_input_in_one_line(regions_bundle: tuple[Path, dict], painted_gif: Path,
                                                     exported_bundle: Path, tmp_path: Path) -> None:
    bundle, _ = regions_bundle
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((200, 240), np.uint8)).save(empty)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(small)
    runner = CliRunner()
    cases = {
        ("--regions-mask", str(empty)): f"--regions-mask {empty}: no region (every pixel is 0)",
        ("--regions-mask", str(small)): f"--regions-mask {small}: mask is 100×100 px, the frames 240×200",
        ("--regions-mask", str(empty), "--superpixels", "9"): "--regions-mask and --superpixels each choose the "
                                                             "regions: give one",
    }
    for options, message in cases.items():
        result = runner.invoke(main, ["run", str(painted_gif), "--model", str(bundle), *options])
        assert result.exit_code == 2 and message in result.output, result.output
    result = runner.invoke(main, ["run", str(painted_gif), "--model", str(exported_bundle), "--superpixels", "9"])
    assert result.exit_code == 2 and "this bundle has no per-region model; train it with --frame-regions" in \
        result.output


def test_frame_melt_from_regions_ignores_empty_regions() -> None:
    layout = RegionLayout(np.zeros((128, 128), np.int32), "mask x", ("a", "b"))
    melt = np.array([[0.0, np.nan], [0.2, np.nan]])
    assert frame_melt_from_regions(melt, np.array([128.0 * 128, 0.0])).tolist() == [0.0, 0.2]
    assert layout.count == 2


@pytest.mark.slow
def test_a_station_stores_melt_per_region_names_the_place_and_equals_run(
        regions_bundle: tuple[Path, dict], tmp_path: Path) -> None:
    """Ten dated images with cell r2c1 painted over from the eighth on: the station raises
    ``unexpected_region_change`` for r2c1 on that image, with its box; its per-region values for the
    last image equal `run` over the same ten files (the window holds them all); `history --region`
    shows the series; the feature-map cells are kept only for the images a window can reach."""
    pytest.importorskip("torch")
    import sqlite3

    from glacier_edge.ingest.samples import glacier_timelapse, write_frame_files

    bundle, _ = regions_bundle
    timelapse = glacier_timelapse(10, seed=3)
    frames = [np.asarray(frame)[..., :3].copy() for frame in timelapse.frames]
    height, width = frames[0].shape[:2]
    x0, y0, x1, y1 = grid_layout().boxes((width, height))[9]
    far = np.where(frames[6][y0:y1, x0:x1] > 127, 0, 255).astype(np.uint8)  # each channel as far as it can go
    for frame in frames[7:]:
        frame[y0:y1, x0:x1] = far
    timelapse.frames[:] = [Image.fromarray(frame) for frame in frames]
    inbox = tmp_path / "inbox"
    files = write_frame_files(timelapse, inbox)
    db = tmp_path / "station.db"
    runner = CliRunner()
    page = tmp_path / "station.html"
    result = runner.invoke(main, ["watch", str(inbox), "--once", "--model", str(bundle), "--db", str(db),
                                  "--settle", "0", "--window", "8", "--page", str(page)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as connection:
        alerts = connection.execute("SELECT image_id, detail FROM alerts WHERE kind = 'unexpected_region_change'"
                                    ).fetchall()
        cells_kept = connection.execute("SELECT count(*) FROM region_cells").fetchone()[0]
        stored = connection.execute("SELECT region, measured, predicted, interval_low FROM region_values WHERE "
                                    "image_id = (SELECT max(id) FROM images) ORDER BY region").fetchall()
    painted = [json.loads(detail) for image_id, detail in alerts if image_id == 8]
    assert [(a["name"], tuple(a["box"])) for a in painted] == [("r2c1", (x0, y0, x1, y1))]
    assert painted[0]["image"] == files[7].name and painted[0]["message"].startswith(
        f"{files[7].name} ({timelapse.dates[7].isoformat()}): region r2c1 (x {x0}–{x1}, y {y0}–{y1} px) changed ")
    assert cells_kept == 8  # --window 8: older cells are dropped
    # `run` over the last window's eight files gives the same per-region values (the station runs the
    # per-region model on the last frames its output can depend on: the same numbers)
    out = tmp_path / "run.json"
    result = runner.invoke(main, ["run", *map(str, files[-8:]), "--model", str(bundle), "--format", "json",
                                  "--output", str(out)])
    assert result.exit_code == 0, result.output
    last = json.loads(out.read_text())["frames"][-1]["regions"]
    assert [row[2] for row in stored] == pytest.approx([r["predicted"] for r in last], abs=1e-6)
    assert [row[1] for row in stored] == pytest.approx([r["measured"] for r in last], abs=1e-6)
    history = runner.invoke(main, ["history", "--db", str(db), "--region", "r2c1"])
    assert history.exit_code == 0, history.output
    assert f"region r2c1 of grid 4x4: x {x0}–{x1}, y {y0}–{y1} px" in history.output
    painted_line = next(line for line in history.output.splitlines() if files[7].name in line)
    assert "UNEXPECTED" in painted_line
    html = page.read_text()  # the page shows the regions of the latest image and names the alert's region
    assert "<td>r2c1</td>" in html and "unexpected_region_change</td>" in html and "grid 4x4; red" in html
    bad = runner.invoke(main, ["history", "--db", str(db), "--region", "tongue"])
    assert bad.exit_code == 2 and "--region 'tongue': not a region of this station (grid 4x4: r0c0, r0c1" in \
        bad.output


@pytest.mark.slow
def test_with_motion_each_region_gets_its_speed_and_motion_names_the_same_regions(
        regions_bundle: tuple[Path, dict], tmp_path: Path) -> None:
    """The generated camera station: sky cells have no speed, ice cells do, and motion's per-region
    series and forecasts are the melt's regions (the grid, or the camera's own label image)."""
    bundle, _ = regions_bundle
    runner = CliRunner()
    assert runner.invoke(main, ["sample", str(tmp_path / "cam"), "--camera"]).exit_code == 0
    cam = tmp_path / "cam"
    out = tmp_path / "grid.json"
    result = runner.invoke(main, ["run", str(cam / "frames"), "--model", str(bundle), "--stable-mask",
                                  str(cam / "stable.png"), "--glacier-mask", str(cam / "glacier.png"),
                                  "--format", "json", "--output", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    speeds = [r["speed"] for r in data["frames"][5]["regions"]]
    assert speeds[:4] == [None] * 4  # the top row is sky and mountains: no glacier window
    assert all(s is not None and s > 0.5 for s in speeds[8:])  # the lower rows are ice that moves
    assert [f["region"] for f in data["summary"]["motion"]["speed_forecasts"]][:3] == ["glacier", "r0c0", "r0c1"]
    out = tmp_path / "named.json"
    result = runner.invoke(main, ["run", str(cam / "frames"), "--model", str(bundle), "--stable-mask",
                                  str(cam / "stable.png"), "--regions-mask", str(cam / "regions.png"),
                                  "--glacier-mask", str(cam / "glacier.png"), "--format", "json", "--output", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    names = [r["name"] for r in data["summary"]["regions"]["regions"]]
    assert names == [f["region"] for f in data["summary"]["motion"]["speed_forecasts"]][1:]
    assert all(r["speed"] is not None for r in data["frames"][5]["regions"])


@pytest.mark.slow
@pytest.mark.parametrize("task, kind", [("nowcast", "bidirectional"), ("forecast", "causal")])
def test_the_last_frame_needs_only_the_frames_its_layers_reach(regions_bundle: tuple[Path, dict], task: str,
                                                               kind: str) -> None:
    """A station asks for the last frame only: the model then runs on the last layers + 2 frames of
    the window, and the last frame's values are exactly those of the whole window."""
    import onnxruntime as ort

    from glacier_edge.contracts import BundleManifest
    from glacier_edge.edge.regional import RegionModel

    bundle, _ = regions_bundle
    manifest = BundleManifest.read(bundle / "manifest.json")
    model = RegionModel(ort.InferenceSession(str(bundle / "regions.onnx")), manifest.regions, task, kind, "absolute")
    rng = np.random.default_rng(3)
    cells = rng.normal(size=(20, 16, 2048)).astype(np.float32)
    measured = rng.random((20, 16)) * 0.2
    measured[0] = 0.0
    layout, areas = grid_layout(), np.full(16, 1024.0)
    ood = np.zeros(20, bool)
    ood[17] = True  # a fallback inside the tail is carried the same way
    whole = model.predict_measured(cells, measured, layout, areas, ood)
    last = model.predict_measured(cells, measured, layout, areas, ood, last_only=True)
    assert np.isnan(last.predicted[:10]).all()
    assert np.allclose(last.predicted[-1], whole.predicted[-1], atol=1e-6, rtol=0)
    assert np.array_equal(last.unexpected[-1], whole.unexpected[-1])
    assert np.array_equal(last.halfwidth[-1], whole.halfwidth[-1])


@pytest.mark.parametrize("spatial_edges", [False, True])
def test_regions_onnx_equals_the_module_with_and_without_spatial_edges(spatial_edges: bool, tmp_path: Path) -> None:
    """The default (no spatial edges) and the ablation both export, and ONNX Runtime computes what
    the module computes at T and R it was not exported with."""
    torch = pytest.importorskip("torch")
    import onnxruntime as ort

    from glacier_edge.export.onnx_export import export_regions
    from glacier_edge.training.models.regional import RegionalSAGE

    model = RegionalSAGE(9, base_column=7, spatial_edges=spatial_edges).eval()
    spec = export_regions(model, tmp_path / "regions.onnx")
    assert [t.name for t in spec.inputs] == ["x", "temporal", "spatial"]
    session = ort.InferenceSession(str(tmp_path / "regions.onnx"))
    for frames, layout in ((2, grid_layout()), (37, grid_layout())):
        x = np.random.default_rng(frames).normal(size=(frames, layout.count, 9)).astype(np.float32)
        temporal, spatial = dense_adjacency(frames, "causal"), layout.adjacency()
        with torch.no_grad():
            expected = model(torch.from_numpy(x), torch.from_numpy(temporal), torch.from_numpy(spatial)).numpy()
        got = session.run(None, {"x": x, "temporal": temporal, "spatial": spatial})[0]
        assert np.allclose(got, expected, atol=1e-5, rtol=1e-4)
