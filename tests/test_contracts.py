"""Typed contracts: every stored record round-trips, and any mutation of a real manifest or run
record ends as one ModelBundleError line (property-based, Hypothesis), never a traceback."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glacier_edge.contracts import BundleManifest, RunRecord, TrainConfig
from glacier_edge.edge.bundle import load_bundle
from glacier_edge.errors import ModelBundleError
from glacier_edge.schema import ContractError, from_json

REPLACEMENTS = st.sampled_from([None, 0, -1, 1.5, "oops", "", [], {}, True, [1, "x"], {"a": None}])


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a JSON value (objects and list items)."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data[:3]):
            out += paths(value, prefix + (index,))
    return out


def mutate(data: Any, path: tuple, action: str, replacement: Any) -> Any:
    data = copy.deepcopy(data)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return data


def test_train_config_defaults_round_trip_and_choices_are_checked() -> None:
    config = TrainConfig(epochs=5, mask_specs=("copernicus",))
    assert from_json(TrainConfig, json.loads(json.dumps(config.__dict__)), "config") == config
    with pytest.raises(ContractError, match=r"config: field task: str 'hindcast' is not one of 'nowcast', 'forecast'"):
        from_json(TrainConfig, {"task": "hindcast"}, "config")
    with pytest.raises(ContractError, match=r"config: field epochs: expected int, got bool True"):
        from_json(TrainConfig, {"epochs": True}, "config")
    with pytest.raises(ContractError, match=r"config: unknown field 'epoch'"):
        from_json(TrainConfig, {"epoch": 3}, "config")
    with pytest.raises(ContractError, match=r"config: epochs, lr and max_pixels must be positive"):
        from_json(TrainConfig, {"epochs": 0}, "config")


def test_manifest_and_run_record_round_trip(exported_bundle: Path) -> None:
    manifest = BundleManifest.read(exported_bundle / "manifest.json")
    assert BundleManifest.from_json(json.loads(manifest.dumps()), "again") == manifest
    run = RunRecord.read(Path(manifest.training.run_dir) / "run.json")
    assert RunRecord.from_json(json.loads(run.dumps()), "again") == run
    assert manifest.graph_kind == "causal" and manifest.encoder == run.encoder
    assert manifest.training.config.temporal_graph == "causal" == run.config.temporal_graph


@pytest.mark.parametrize("task, kind", [("nowcast", "bidirectional"), ("forecast", "causal")])
def test_version_2_records_keep_the_graph_their_models_were_trained_on(exported_bundle: Path, task: str,
                                                                        kind: str) -> None:
    """Records of schema version 2 predate ``temporal_graph``: their nowcast models were trained on the
    seed's bidirectional graph and must run on it; version 1 is still refused in one line."""
    manifest = json.loads((exported_bundle / "manifest.json").read_text())
    manifest["schema_version"] = 2
    del manifest["training"]["config"]["temporal_graph"]
    manifest["training"]["config"]["task"] = task
    del manifest["training"]["config"]["image_inputs"]
    del manifest["training"]["config"]["refuse_outside_range"]  # before session 11's option
    loaded = BundleManifest.from_json(manifest, "old")
    assert loaded.graph_kind == kind and loaded.schema_version == BundleManifest.VERSION == 3
    assert loaded.training.config.image_inputs == "on" and loaded.training.config.refuse_outside_range is False
    assert loaded.training.config.uses_spatial_edges is (task == "forecast")  # the per-region default then
    run = json.loads((Path(loaded.training.run_dir) / "run.json").read_text())
    run["schema_version"] = 2
    del run["config"]["temporal_graph"], run["config"]["image_inputs"]
    run["config"]["task"] = task
    assert RunRecord.from_json(run, "old").config.graph_kind == kind
    manifest["schema_version"] = 1
    with pytest.raises(ContractError, match=r"^old: bundle manifest schema version 1 is not supported \(this "
                                            r"glacier-edge reads version 3\); write it again with this version$"):
        BundleManifest.from_json(manifest, "old")


def test_a_manifest_of_the_wrong_shape_is_one_line(bundle_copy: Path) -> None:
    """The crash the house issue measured: files["gnn.onnx"] = "oops" used to be an AttributeError."""
    from click.testing import CliRunner

    from glacier_edge.cli import main

    path = bundle_copy / "manifest.json"
    data = json.loads(path.read_text())
    data["files"]["gnn.onnx"] = "oops"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["run", "--model", str(bundle_copy), str(bundle_copy / "x.gif")])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["bench", "--model", str(bundle_copy), "--cold-runs", "0"])
    assert result.exit_code == 2
    assert result.output.strip() == (f"glacier-edge: error: {path}: field files.gnn.onnx: expected an object, "
                                     "got str 'oops'")


@pytest.fixture(scope="module")
def real_manifest(exported_bundle: Path) -> dict:
    return json.loads((exported_bundle / "manifest.json").read_text())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), action=st.sampled_from(["delete", "replace"]), replacement=REPLACEMENTS)
def test_every_manifest_mutation_ends_as_one_bundle_error(real_manifest: dict, bundle_copy: Path, data: st.DataObject,
                                                         action: str, replacement: Any) -> None:
    path = data.draw(st.sampled_from(paths(real_manifest)))
    mutated = mutate(real_manifest, path, action, replacement)
    (bundle_copy / "manifest.json").write_text(json.dumps(mutated))
    try:
        load_bundle(bundle_copy, roles=("gnn",))
    except ModelBundleError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=4000))
def test_truncated_manifests_end_as_one_bundle_error(real_manifest: dict, bundle_copy: Path, cut: int) -> None:
    (bundle_copy / "manifest.json").write_text(json.dumps(real_manifest)[:cut])
    with pytest.raises(ModelBundleError):
        load_bundle(bundle_copy)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), action=st.sampled_from(["delete", "replace"]), replacement=REPLACEMENTS)
def test_every_run_record_mutation_ends_as_one_bundle_error(real_manifest: dict, data: st.DataObject, action: str,
                                                           replacement: Any) -> None:
    record = json.loads((Path(real_manifest["training"]["run_dir"]) / "run.json").read_text())
    path = data.draw(st.sampled_from(paths(record)))
    try:
        RunRecord.from_json(mutate(record, path, action, replacement), "run.json")
    except ModelBundleError as exc:
        assert "\n" not in str(exc)
