from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # trains models (minutes on 2 cores)

torch = pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")

from torch_helpers import sample_example  # noqa: E402

from glacier_edge.contracts import NodeFeatures, RunRecord, TrainConfig  # noqa: E402
from glacier_edge.signals.melt import melt_valid_mask  # noqa: E402
from glacier_edge.training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from glacier_edge.training.loop import predict, train_model  # noqa: E402
from glacier_edge.training.recipe import node_features  # noqa: E402

PLAIN = NodeFeatures()
"""The seed's model: embeddings only (no history columns, no residual), as these tests were written for."""


def plain(**changes) -> TrainConfig:
    return TrainConfig(history=False, residual=False, **changes)


def _training_mse(model, example) -> tuple[float, float]:
    valid = melt_valid_mask(len(example.melt))
    predicted = predict(model, example.views[0])[valid]
    return float(np.mean((predicted - example.melt[valid]) ** 2)), float(np.var(example.melt[valid]))


@pytest.mark.parametrize("seed", range(5))
def test_default_model_trains_on_sample_for_every_seed(seed: int) -> None:
    """MSE against Var(melt), not a loss ratio: a huge first loss makes any ratio look good."""
    example = sample_example()
    result = train_model([example], plain(seed=seed, epochs=600), PLAIN)
    mse, variance = _training_mse(result.model, example)
    assert mse <= 0.2 * variance, f"seed {seed}: MSE {mse:.2e} > 0.2 × Var {variance:.2e}"
    assert [epoch for epoch, _ in result.loss_log] == list(range(50, 601, 50))


def test_seed_literal_final_relu_does_not_train() -> None:
    """Why --final-activation relu is not the default: the output sits at 0."""
    example = sample_example()
    result = train_model([example], plain(seed=0, epochs=200, final_activation="relu"), PLAIN)
    mse, variance = _training_mse(result.model, example)
    assert mse > variance


def test_training_is_bit_for_bit_reproducible() -> None:
    example = sample_example()
    features = node_features([example], TrainConfig(), ())
    first = train_model([example], TrainConfig(seed=3, epochs=120), features).model.state_dict()
    second = train_model([example], TrainConfig(seed=3, epochs=120), features).model.state_dict()
    other = train_model([example], TrainConfig(seed=4, epochs=120), features).model.state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert not all(torch.equal(first[key], other[key]) for key in first)


def test_checkpoint_round_trips(tmp_path: Path, trained_run: Path) -> None:
    example = sample_example()
    model = train_model([example], plain(seed=1, epochs=30), PLAIN).model
    trained = RunRecord.read(trained_run / "run.json")
    plain_model = dataclasses.replace(trained.model, in_dim=2048, base_column=None, anchor_column=None)
    record = dataclasses.replace(trained, model=plain_model, node_features=PLAIN)
    save_checkpoint(tmp_path, model, record)
    loaded, loaded_record = load_checkpoint(tmp_path)
    assert loaded_record == record and loaded_record.schema == "glacier-edge/run"
    assert np.array_equal(predict(loaded, example.views[0]), predict(model, example.views[0]))


def test_calibration_folds_hold_out_whole_regions_when_asked() -> None:
    from types import SimpleNamespace

    from glacier_edge.training.recipe import calibration_groups

    names = ["gv_g007281e45526n", "gv_g009837e46351n", "gv_g007297e45961n", "gv_g044467e42706n", "gv_g009860e46370n"]
    examples = [SimpleNamespace(sequence=SimpleNamespace(source=f"corpus/{name}")) for name in names]
    by_region = calibration_groups(examples, TrainConfig(calibration_groups="region"))
    assert sorted(sorted(g.tolist()) for g in by_region) == [[0, 2], [1, 4], [3]]  # Western, Central, Caucasus
    by_sequence = calibration_groups(examples, TrainConfig())
    assert sorted(i for g in by_sequence for i in g.tolist()) == [0, 1, 2, 3, 4] and len(by_sequence) == 3
    unnamed = [SimpleNamespace(sequence=SimpleNamespace(source=f"seq{i}.gif")) for i in range(4)]
    assert len(calibration_groups(unnamed, TrainConfig(calibration_groups="region"))) == 3  # no regions: sequences


def test_the_ood_guard_is_calibrated_by_sequence_whatever_the_calibration_groups() -> None:
    """Held-out regions set the gain and interval; the OOD threshold and term scales still come from
    folds grouped by sequence (region folds widened them until radar-like frames went unflagged)."""
    from glacier_edge.training.recipe import calibrate

    base = sample_example()
    names = ["gv_g007281e45526n", "gv_g009837e46351n", "gv_g007297e45961n", "gv_g044467e42706n", "gv_g009860e46370n"]
    examples = []
    for index, name in enumerate(names):
        views = base.views * (1.0 + 0.05 * index)  # five distinguishable sequences
        examples.append(dataclasses.replace(base, views=views,
                                            sequence=dataclasses.replace(base.sequence, source=f"corpus/{name}")))
    by_region = calibrate(examples, TrainConfig(epochs=2, calibration_groups="region"), [], echo=lambda _: None)
    by_sequence = calibrate(examples, TrainConfig(epochs=2, calibration_groups="sequence"), [], echo=lambda _: None)
    assert by_region.ood_threshold == by_sequence.ood_threshold
    assert by_region.ood_term_scale == by_sequence.ood_term_scale
    assert by_region.n == by_sequence.n == sum(int(e.targets_and_valid[1].sum()) for e in examples)


def test_worst_group_gain_keeps_every_group_at_or_above_the_anchor() -> None:
    """Known answers: a model exactly right in one group and off by the anchor's error turned the other
    way in the other. Pooled squared error takes the gain that suits the bigger group; the worst-group
    rule maximises the smaller skill: the big group's is g, the small group's 1 − |1 − 4g|, equal
    (0.4) at g = 0.4."""
    from glacier_edge.training.recipe import shrinkage, worst_group_gain

    rng = np.random.default_rng(0)
    truth_big, truth_small = rng.normal(0, 1, 400), rng.normal(0, 0.1, 40)
    anchor_big = truth_big + rng.normal(0, 1, 400)
    anchor_small = truth_small + rng.normal(0, 0.02, 40)
    model_big = truth_big.copy()  # perfect where the corpus is
    model_small = truth_small - 3 * (anchor_small - truth_small)  # overshoots the other way elsewhere
    pooled, _ = shrinkage(np.concatenate([truth_big, truth_small]), np.concatenate([model_big, model_small]),
                          np.concatenate([anchor_big, anchor_small]))
    worst = worst_group_gain([truth_big, truth_small], [model_big, model_small], [anchor_big, anchor_small])
    assert pooled > 0.95  # the big group decides
    assert worst == pytest.approx(0.4, abs=0.011)
    for truth, model, anchor in ((truth_small, model_small, anchor_small), (truth_big, model_big, anchor_big)):
        shrunk = anchor + worst * (model - anchor)
        assert np.abs(truth - shrunk).mean() <= np.abs(truth - anchor).mean() + 1e-12
    assert worst_group_gain([truth_small], [model_small + 10], [anchor_small]) == 0.0  # hurts at any gain


def test_the_glacier_quantile_gain_protects_the_tail_of_glaciers() -> None:
    """Known answers: 20 held-out glaciers; on the good ones the model is exactly right (skill = gain),
    on the bad ones its correction points the wrong way (skill = −gain). One bad glacier of 20 sits
    below the 10th percentile: gain 1, where the worst-group rule gives 0. Two bad: the percentile
    interpolates 0.1·(−g) + 0.9·g, still best at 1. Five bad: it lies among them: gain 0."""
    from glacier_edge.training.recipe import GLACIER_QUANTILE, worst_group_gain

    rng = np.random.default_rng(1)

    def glaciers(bad: int) -> tuple[list, list, list]:
        truth, model, anchor = [], [], []
        for index in range(20):
            y = rng.normal(0, 1, 30)
            a = y + rng.choice([-1.0, 1.0], 30) * 0.5
            truth.append(y)
            anchor.append(a)
            model.append(2 * a - y if index < bad else y.copy())
        return truth, model, anchor

    assert worst_group_gain(*glaciers(1), quantile=GLACIER_QUANTILE) == 1.0
    assert worst_group_gain(*glaciers(1)) == 0.0
    assert worst_group_gain(*glaciers(2), quantile=GLACIER_QUANTILE) == 1.0
    assert worst_group_gain(*glaciers(5), quantile=GLACIER_QUANTILE) == 0.0


def test_a_relative_residual_is_measured_in_the_running_mean() -> None:
    """`--residual-scale relative`: the served value is persistence + (network output) × the node's
    running mean of melt (at least the floor), exactly; the unit column is the running mean's."""
    from glacier_edge.training.loop import RELATIVE_FLOOR

    example = sample_example()
    config = TrainConfig(epochs=20, residual_scale="relative")
    features = node_features([example], config, ())
    model = train_model([example], config, features).model
    embedding_dim = example.views.shape[-1]
    assert model.scale_column == embedding_dim + features.history.index("running_mean")
    targets, valid = example.targets_and_valid
    assert model.scale_floor == pytest.approx(RELATIVE_FLOOR * float(np.mean(np.abs(targets[valid]))), rel=1e-6)
    inputs = example.inputs(0, features)
    model.set_output_range(-1e6, 1e6)  # compare the unclipped outputs
    relative = predict(model, inputs)
    column, floor = model.scale_column, model.scale_floor
    model.measure_residual_in(None, 0.0)  # the same weights, the correction in melt units
    absolute = predict(model, inputs)
    base = inputs[:, model.base_column]
    unit = np.maximum(inputs[:, column], floor)
    np.testing.assert_allclose(relative - base, (absolute - base) * unit, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("refuse", [True, False])
def test_a_last_melt_outside_the_training_range_is_served_as_it_is(tmp_path: Path, trained_run: Path,
                                                                    refuse: bool) -> None:
    """`--refuse-outside-range` (the default): where the last measured melt (the residual's base column)
    lies outside the clip range, the served value is that melt exactly — in torch, in the exported
    ONNX graph and after a checkpoint round trip; inside the range, and with the option off
    everywhere, the served value stays within the range. Known answers on a constructed range."""
    import onnxruntime as ort

    from glacier_edge.export.onnx_export import export_gnn
    from glacier_edge.signals.graph import TASK_GRAPHS, dense_adjacency

    example = sample_example()
    config = TrainConfig(epochs=5, refuse_outside_range=refuse)
    features = node_features([example], config, ())
    model = train_model([example], config, features).model
    assert model.refuse_outside_range is refuse
    inputs = example.inputs(0, features).copy()
    low, high = 0.0, 0.01
    model.set_output_range(low, high)
    base = model.base_column
    known = np.linspace(-0.005, 0.03, len(inputs)).astype(np.float32)  # below, inside and above the range
    inputs[:, base] = known
    outside = (known < low) | (known > high)
    assert outside.any() and (~outside).any()
    served = predict(model, inputs)
    if refuse:
        np.testing.assert_array_equal(served[outside], known[outside])
    else:
        assert served[outside].min() >= low and served[outside].max() <= high
    assert served[~outside].min() >= low and served[~outside].max() <= high

    path = tmp_path / "gnn.onnx"
    export_gnn(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    adjacency = dense_adjacency(len(inputs), TASK_GRAPHS["nowcast"]).astype(np.float32)
    from_onnx = session.run(None, {"x": inputs, "adjacency": adjacency})[0]
    np.testing.assert_allclose(from_onnx, served, atol=1e-6)
    if refuse:
        np.testing.assert_array_equal(from_onnx[outside], known[outside])

    trained = RunRecord.read(trained_run / "run.json")
    record = dataclasses.replace(trained, model=dataclasses.replace(
        trained.model, in_dim=inputs.shape[1], base_column=base, anchor_column=model.anchor_column,
        refuse_outside_range=refuse))
    save_checkpoint(tmp_path, model, record)
    loaded, _ = load_checkpoint(tmp_path)
    assert loaded.refuse_outside_range is refuse  # not in the weights: the run record carries it
    np.testing.assert_array_equal(predict(loaded, inputs), served)


def test_a_model_without_image_inputs_does_not_hear_the_embedding() -> None:
    """``image_inputs=False``: the embedding columns and the embedding change enter the network as
    exactly 0, so replacing them changes nothing; with them it does (the same training otherwise)."""
    from glacier_edge.training.loop import image_columns

    example = sample_example()
    config = TrainConfig(epochs=20)
    features = node_features([example], config, ())
    inputs = example.inputs(0, features)
    columns = image_columns(features, example.views.shape[-1])
    assert len(columns) == example.views.shape[-1] + 1
    other = inputs.copy()
    other[:, columns] = np.random.default_rng(0).normal(0, 5, size=(len(inputs), len(columns)))
    for images in (False, True):
        model = train_model([example], config, features, image_inputs=images).model
        model.set_output_range(-1e6, 1e6)  # compare the unclipped outputs
        same = np.allclose(predict(model, inputs), predict(model, other), atol=0)
        assert same is (not images)


def _with_embeddings(base, name: str, views: np.ndarray):
    return dataclasses.replace(base, views=views.astype(np.float32),
                               sequence=dataclasses.replace(base.sequence, source=f"corpus/{name}"))


@pytest.mark.parametrize("carries_melt", [True, False])
def test_the_calibration_folds_keep_the_embedding_only_where_it_helps_held_out(carries_melt: bool) -> None:
    """Known answers on five sequences with their own melt: an embedding that shows the melt being
    nowcast (as a frame does) is kept; one that is each sequence's own noise (an encoder whose
    features do not travel) is left out, and the served model then ignores it."""
    from glacier_edge.training.recipe import fit

    base = sample_example()
    rng = np.random.default_rng(7)
    frames, views, dim = base.views.shape[1], base.views.shape[0], 64
    examples = []
    for index in range(5):
        melt = np.abs(rng.normal(0.02, 0.01, frames)).astype(np.float32)
        melt[0] = 0.0
        embedding = rng.normal(3.0 * index, 1.0, (views, frames, dim))  # each sequence its own offset
        if carries_melt:
            embedding[:, :, :8] = (melt / 0.01)[None, :, None]  # frame t's embedding shows melt_t
        examples.append(dataclasses.replace(_with_embeddings(base, f"seq{index}.gif", embedding), melt=melt))
    config = TrainConfig(epochs=60, calibration_groups="sequence", calibration_folds=5)
    fitted = fit(examples, config, [], echo=lambda _: None)
    with_images, without = fitted.calibration.image_skill
    assert fitted.calibration.image_inputs is carries_melt
    assert (with_images > without + 0.1) if carries_melt else (without > with_images)
    assert bool(np.isinf(fitted.model.feature_scale[:dim].numpy()).all()) is (not carries_melt)


def test_a_bidirectional_graph_is_never_trained_again() -> None:
    """Old nowcast bundles keep the bidirectional graph they were trained on; a new model never gets
    it (its nodes would hear a later frame and, through its last melt, their own target)."""
    example = sample_example()
    config = TrainConfig(epochs=1, temporal_graph="bidirectional")
    with pytest.raises(ValueError, match=r"^bidirectional graphs are only read from old records: on it a nowcast "
                                         r"node would hear a later frame$"):
        train_model([example], config, node_features([example], config, ()))
