"""The encoder family: every backbone builds, pools its own feature map, is costed by counting,
keys its caches apart; named remote-sensing weights load from a fabricated file with their own
input scaling, which encoder.onnx then applies; `none` and a small CNN train, export, verify
(int8 too) and run torch-free."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")

from glacier_edge.cli import main  # noqa: E402
from glacier_edge.errors import BadInputError  # noqa: E402

FRAMES = np.random.default_rng(5).integers(0, 256, (3, 128, 128, 3), np.uint8)
CNNS = ("resnet50", "resnet18", "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0")


@pytest.mark.parametrize("name", CNNS)
def test_each_cnn_pools_its_own_4x4_feature_map(name: str) -> None:
    from glacier_edge.training.encoder import build_encoder, encode_cells, encode_frames

    encoder, record = build_encoder("random", name)
    embeddings, cells = encode_frames(encoder, FRAMES), encode_cells(encoder, FRAMES)
    assert embeddings.shape == (3, record.backbone.embedding_dim)
    assert cells.shape == (3, 16, record.backbone.embedding_dim)  # every CNN of the family downsamples by 32
    np.testing.assert_allclose(cells.mean(axis=1), embeddings, rtol=1e-5, atol=1e-6)
    expected = {"resnet50": "random", "resnet18": "resnet18:random"}.get(name, f"{name}:random+bn-noise64")
    assert record.weights_id == expected  # caches keyed apart, and by how the random statistics were set


def test_random_small_networks_get_settled_batchnorm_and_keep_a_usable_scale() -> None:
    """torchvision's random MobileNetV3/EfficientNet-B0 shrink the embedding to ~1e-7/1e-12 (a
    parity tolerance of 1e-4 would then test nothing, int8 would round it to zero); with BatchNorm
    statistics from seeded noise every CNN's embedding is of order 1–100, varies between frames,
    and is the same encoder twice (seeded)."""
    from glacier_edge.ingest.frames import resize_frame
    from glacier_edge.ingest.samples import glacier_timelapse
    from glacier_edge.training.encoder import build_encoder, encode_frames

    glacier = np.stack([resize_frame(f) for f in glacier_timelapse(6, seed=7).frames])  # not the settling seed
    for name in CNNS:
        encoder, record = build_encoder("random", name)
        embeddings = encode_frames(encoder, glacier)
        norm = float(np.linalg.norm(embeddings, axis=1).mean())
        spread = float(np.linalg.norm(embeddings - embeddings.mean(0), axis=1).mean())
        assert 1 < norm < 1e4 and spread > 0.01 * norm, (name, norm, spread)
        settled = "BatchNorm statistics from seeded noise" in record.description
        assert settled == (not name.startswith("resnet"))
        np.testing.assert_array_equal(encode_frames(build_encoder("random", name)[0], glacier), embeddings)


def test_imagenet_scaling_is_each_backbones_own_transform() -> None:
    from glacier_edge.training.backbones import BACKBONES
    from glacier_edge.training.named_weights import IMAGENET_SCALING

    for name in CNNS:
        transform = BACKBONES[name].imagenet.transforms()
        assert (tuple(transform.mean), tuple(transform.std)) == (IMAGENET_SCALING.mean, IMAGENET_SCALING.std), name


def test_cost_is_counted_and_orders_the_family() -> None:
    from glacier_edge.training.encoder import build_encoder

    gflop = {name: build_encoder("random", name)[1].backbone.gflop_per_frame for name in (*CNNS, "none")}
    # torchvision's own figures at 224 px (GMAC): resnet50 4.09, resnet18 1.81, mobilenet_v3_small 0.057;
    # counted at 128 px they scale by (128/224)² for plain convolutions: 2 × 4.09 × 0.327 = 2.67 GFLOP
    assert gflop["resnet50"] == pytest.approx(2 * 4.089 * (128 / 224) ** 2, rel=0.01)
    assert gflop["resnet18"] == pytest.approx(2 * 1.814 * (128 / 224) ** 2, rel=0.01)
    assert (gflop["resnet50"] > gflop["resnet18"] > gflop["efficientnet_b0"] > gflop["mobilenet_v3_large"]
            > gflop["mobilenet_v3_small"] > gflop["none"] == 0)


def _fabricated_resnet18(path: Path, prefix: str = "") -> dict:
    """A state dict with torchgeo's (timm's = torchvision's) ResNet18 keys, seeded: no weights can
    be downloaded here, so the file is made locally and labelled as such."""
    from torchvision.models import resnet18

    torch.manual_seed(123)
    state = {f"{prefix}{key}": value for key, value in resnet18().state_dict().items()}
    torch.save(state, path)
    return state


def test_named_weights_load_and_carry_their_own_scaling(tmp_path: Path) -> None:
    from glacier_edge.training.encoder import build_encoder

    file = tmp_path / "resnet18_sentinel2_rgb_moco-fabricated.pth"
    state = _fabricated_resnet18(file, prefix="backbone.")
    encoder, record = build_encoder("ssl4eo-s12-rgb-moco", "resnet18", file)
    assert torch.equal(encoder.backbone.conv1.weight, state["backbone.conv1.weight"])
    assert record.weights == "ssl4eo-s12-rgb-moco" and record.weights_file == str(file.resolve())
    assert record.weights_id.startswith("resnet18:ssl4eo-s12-rgb-moco:file:") and record.pretrained
    assert record.normalisation == "ssl4eo-s12 /10000"
    pixels = torch.from_numpy(FRAMES)
    # torchgeo's SENTINEL2_RGB_MOCO transform: Normalize(mean=0, std=10000) on the input values
    expected = pixels.permute(0, 3, 1, 2).to(torch.float64) / 10000
    torch.testing.assert_close(encoder.normalised(pixels).double(), expected, rtol=1e-6, atol=1e-9)


def test_seco_scaling_folds_the_published_chain(tmp_path: Path) -> None:
    from glacier_edge.training.encoder import build_encoder

    file = tmp_path / "seco.pth"
    _fabricated_resnet18(file)
    encoder, _ = build_encoder("seco", "resnet18", file)
    x = torch.from_numpy(FRAMES).permute(0, 3, 1, 2).to(torch.float64)
    low, high = torch.tensor([3.0, 2, 0]).view(1, 3, 1, 1), torch.tensor([88.0, 103, 129]).view(1, 3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    chain = ((x - low) / (high - low) * 255 / 255 - mean) / std  # min–max, ×255 to 8 bits, ToTensor /255, ImageNet
    torch.testing.assert_close(encoder.normalised(torch.from_numpy(FRAMES)).double(), chain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("args", "message"), [
    (("seco", "resnet18", None), "--weights seco needs --weights-file PATH: the SeCo Sentinel-2 RGB (seasonal "
                                 "contrast) ResNet18 checkpoint, downloaded from https://hf.co/torchgeo/"),
    (("seco", "mobilenet_v3_small", "x"), "--weights seco is published for resnet18, resnet50, not --backbone "
                                          "mobilenet_v3_small"),
    (("random", "resnet18", "x"), "--weights-file goes with named weights (ssl4eo-s12-rgb-moco, seco), not "
                                  "--weights random"),
    (("random", "vgg16", None), "--backbone vgg16: expected one of resnet50, resnet18, mobilenet_v3_large, "
                                "mobilenet_v3_small, efficientnet_b0, none"),
])
def test_weights_mistakes_are_one_clear_line(args: tuple, message: str) -> None:
    from glacier_edge.training.encoder import build_encoder

    with pytest.raises(BadInputError) as caught:
        build_encoder(*args)
    assert message in str(caught.value)


def test_a_file_of_another_architecture_is_refused_by_name(tmp_path: Path) -> None:
    from glacier_edge.training.encoder import build_encoder

    file = tmp_path / "r18.pth"
    _fabricated_resnet18(file)
    with pytest.raises(BadInputError, match=r"r18.pth: not a ResNet50 state dict \("):
        build_encoder("ssl4eo-s12-rgb-moco", "resnet50", file)


def test_encoder_onnx_applies_the_named_scaling(tmp_path: Path) -> None:
    """The exported graph carries the weights' own normalisation: ORT on the file equals the
    ssl4eo-scaled encoder and differs from the same weights under ImageNet scaling."""
    import onnxruntime as ort

    from glacier_edge.export.onnx_export import export_encoder
    from glacier_edge.training.encoder import build_encoder, encode_frames

    file = tmp_path / "moco.pth"
    _fabricated_resnet18(file)
    named, _ = build_encoder("ssl4eo-s12-rgb-moco", "resnet18", file)
    imagenet_scaled, _ = build_encoder(str(file), "resnet18")
    export_encoder(named, tmp_path / "encoder.onnx")
    got = ort.InferenceSession(str(tmp_path / "encoder.onnx")).run(None, {"frames": FRAMES})[0]
    np.testing.assert_allclose(got, encode_frames(named, FRAMES), rtol=1e-4, atol=1e-4)
    assert np.abs(got - encode_frames(imagenet_scaled, FRAMES)).max() > 100 * 1e-4


def test_none_has_no_embedding_and_a_colour_only_guard() -> None:
    from glacier_edge.signals.history import embedding_change
    from glacier_edge.signals.ood import colour_features, fit_summary, ood_terms
    from glacier_edge.training.encoder import build_encoder, encode_frames

    encoder, record = build_encoder("random", "none")
    embeddings = encode_frames(encoder, FRAMES)
    assert embeddings.shape == (3, 0) and record.weights_id == "none:none" and not record.untrained_features
    assert record.label() == "no image embedding (history and graph only)"  # no NOT PRETRAINED warning
    np.testing.assert_array_equal(embedding_change(embeddings)[1:], [0.0, 0.0])
    colours = colour_features(FRAMES)
    terms = ood_terms(fit_summary(embeddings, colours), embeddings, colours)
    assert np.all(terms[:, 0] == 0) and np.all(np.isfinite(terms[:, 1]))  # the colour term alone decides


def test_frame_regions_refuse_the_none_backbone(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["train", "--backbone", "none", "--frame-regions", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert ("--frame-regions needs an image encoder: a region's embedding is its cell of the encoder's feature "
            "map, and --backbone none has none") in result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("backbone", ["mobilenet_v3_small", "none"])
def test_small_and_none_train_export_verify_and_run(backbone: str, tmp_path: Path) -> None:
    from glacier_edge.ingest.samples import sample_sequence_path

    runner = CliRunner()
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    for command in (["train", "--backbone", backbone, "--weights", "random", "--augmentations", "0", "--epochs", "20",
                     "--out", str(run)],
                    ["export", str(run), "--out", str(bundle), *([] if backbone == "none" else ["--int8"])],
                    ["verify", str(bundle)]):
        result = runner.invoke(main, command)
        assert result.exit_code == 0, result.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["encoder"]["backbone"]["name"] == backbone
    assert manifest["parity"]["passed"]
    if backbone != "none":  # settled statistics: int8 keeps the embedding's direction (else it is refused)
        assert manifest["parity"]["int8"]["within_bound"], manifest["parity"]["int8"]
        assert manifest["parity"]["int8"]["centred_cosine_min"] >= 0.9
    result = runner.invoke(main, ["run", str(sample_sequence_path()), "--model", str(bundle), "--format", "json"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    assert len(output["frames"]) == 12 and all(np.isfinite(f["predicted_melt"]) for f in output["frames"][1:])


def test_embed_store_records_the_backbone(tmp_path: Path, sample_gif: Path) -> None:
    from glacier_edge.training.store import EmbeddingStore

    store = tmp_path / "store"
    result = CliRunner().invoke(main, ["embed", str(sample_gif), "--store", str(store), "--backbone",
                                       "mobilenet_v3_small", "--weights", "random", "--augmentations", "0",
                                       "--workers", "1"])
    assert result.exit_code == 0, result.output
    info = EmbeddingStore.open(store).info
    assert info.encoder.backbone.name == "mobilenet_v3_small"
    assert info.encoder.weights_id == "mobilenet_v3_small:random+bn-noise64"
    # training from it with another backbone is refused, not silently mixed
    result = CliRunner().invoke(main, ["train", str(sample_gif), "--store", str(store), "--weights", "random",
                                       "--augmentations", "0", "--epochs", "2", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "encoder weights" in result.output, result.output


def test_image_size_resizes_inside_the_encoder_and_onnx(tmp_path: Path) -> None:
    """--image-size 224: the 128-px frame is resized inside the encoder, so the cost is counted at
    224 (torchvision's own 224-px figure for ResNet18, 1.814 GMAC) and encoder.onnx does the same
    resize (parity with PyTorch); the cache key says so."""
    import onnxruntime as ort

    from glacier_edge.export.onnx_export import export_encoder
    from glacier_edge.training.encoder import build_encoder, encode_frames

    encoder, record = build_encoder("random", "resnet18", image_size=224)
    assert record.backbone.gflop_per_frame == pytest.approx(2 * 1.814, rel=0.01)
    assert record.weights_id == "resnet18:random@224px" and record.input_size == 224
    assert encoder.normalised(torch.from_numpy(FRAMES)).shape == (3, 3, 224, 224)
    export_encoder(encoder, tmp_path / "encoder.onnx")
    got = ort.InferenceSession(str(tmp_path / "encoder.onnx")).run(None, {"frames": FRAMES})[0]
    np.testing.assert_allclose(got, encode_frames(encoder, FRAMES), rtol=1e-4, atol=1e-4)
    with pytest.raises(BadInputError, match=r"--image-size 100: expected a multiple of 32 from 32 to 512"):
        build_encoder("random", "resnet18", image_size=100)


def test_named_weights_train_export_and_verify_from_the_file(tmp_path: Path) -> None:
    """The whole path with a fabricated SeCo ResNet18 checkpoint: the run records the name, the
    file and the scaling; export rebuilds the encoder from them and verify proves parity."""
    file = tmp_path / "resnet18_sentinel2_rgb_seco-fabricated.pth"
    _fabricated_resnet18(file)
    runner = CliRunner()
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    for command in (["train", "--backbone", "resnet18", "--weights", "seco", "--weights-file", str(file),
                     "--augmentations", "0", "--epochs", "10", "--out", str(run)],
                    ["export", str(run), "--out", str(bundle)], ["verify", str(bundle)]):
        result = runner.invoke(main, command)
        assert result.exit_code == 0, result.output
    encoder = json.loads((bundle / "manifest.json").read_text())["encoder"]
    assert (encoder["weights"], encoder["weights_file"], encoder["normalisation"]) == ("seco", str(file.resolve()),
                                                                                       "seco")
    assert encoder["pretrained"] and encoder["description"].startswith("ResNet18 SeCo Sentinel-2 RGB")
    result = runner.invoke(main, ["train", "--weights", "seco", "--out", str(tmp_path / "r2")])
    assert result.exit_code == 2 and "--weights seco needs --weights-file PATH" in result.output
