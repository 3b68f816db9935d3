"""Encoder weights by name, with the input scaling each was trained with.

A pretrained backbone is only right with the normalisation its authors used; a station that
feeds ImageNet-normalised pixels to weights trained on /10000 reflectance gets features from a
part of the input space the weights never saw. So every named weights declares its scaling here,
the encoder applies it in ``forward`` and ``encoder.onnx`` therefore carries it: training and the
edge cannot drift apart.

Scalings are written for this project's frames — uint8 RGB, 0–255 — as ``(x/255 − mean) / std``
per channel, whatever the authors' chain of transforms was (each is affine, so it folds into one
mean and std; the fold is tested against the chain as published).

The remote-sensing weights cannot be downloaded by the tool (stations are offline, and the
hosting changes): the user downloads the file and passes ``--weights NAME --weights-file PATH``.
The files are torchgeo's releases (timm ResNet key names, which are torchvision's).
"""

from __future__ import annotations

from dataclasses import dataclass

from glacier_edge.contracts import WEIGHT_NAMES

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputScaling:
    """Per-channel ``(x/255 − mean) / std`` for uint8 RGB frames (x in 0–255)."""

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str
    """Where the authors' transform is stated."""


IMAGENET_SCALING = InputScaling("imagenet", IMAGENET_MEAN, IMAGENET_STD,
                                "torchvision IMAGENET1K_V1 transforms (ImageNet mean and std on 0–1 pixels)")


def _seco_scaling() -> InputScaling:
    """SeCo (Mañas et al. 2021): per-channel min–max to [0, 1] with the dataset's RGB bounds
    (min 3, 2, 0; max 88, 103, 129), then ImageNet mean/std — seasonal-contrast's
    datasets/seco_dataset.py, the bounds as torchgeo's ``_seco_transforms`` states them.
    Folded: mean = (min + m·(max − min)) / 255, std = s·(max − min) / 255."""
    low, high = (3.0, 2.0, 0.0), (88.0, 103.0, 129.0)
    mean = tuple((lo + m * (hi - lo)) / 255 for lo, hi, m in zip(low, high, IMAGENET_MEAN))
    std = tuple(s * (hi - lo) / 255 for lo, hi, s in zip(low, high, IMAGENET_STD))
    return InputScaling("seco", mean, std, "seasonal-contrast seco_dataset.py min–max bounds, then ImageNet "
                                           "mean/std (torchgeo _seco_transforms)")  # type: ignore[arg-type]


@dataclass(frozen=True)
class NamedWeights:
    name: str
    title: str
    backbones: tuple[str, ...]
    """Architectures with a published checkpoint of these weights."""
    scaling: InputScaling
    input_size: int
    """Pixels the weights were trained at (the frame is 128 px unless the encoder says otherwise)."""
    publication: str
    files: str
    """Where the user downloads the file (stations and this tool never download)."""


NAMED_WEIGHTS: dict[str, NamedWeights] = {
    "ssl4eo-s12-rgb-moco": NamedWeights(
        "ssl4eo-s12-rgb-moco", "SSL4EO-S12 Sentinel-2 RGB MoCo", ("resnet18", "resnet50"),
        # torchgeo's _ssl4eo_s12_transforms_s2_10k: Normalize(mean=0, std=10000) on the input
        InputScaling("ssl4eo-s12 /10000", (0.0, 0.0, 0.0), (10000 / 255,) * 3,  # type: ignore[arg-type]
                     "torchgeo ResNet*_Weights.SENTINEL2_RGB_MOCO transforms: x / 10000"),
        224, "https://arxiv.org/abs/2211.07044",
        "https://hf.co/torchgeo/resnet18_sentinel2_rgb_moco (resnet50_sentinel2_rgb_moco for ResNet50)"),
    "seco": NamedWeights(
        "seco", "SeCo Sentinel-2 RGB (seasonal contrast)", ("resnet18", "resnet50"), _seco_scaling(),
        224, "https://arxiv.org/abs/2103.16607",
        "https://hf.co/torchgeo/resnet18_sentinel2_rgb_seco (resnet50_sentinel2_rgb_seco for ResNet50)"),
}
assert tuple(NAMED_WEIGHTS) == WEIGHT_NAMES, "contracts.WEIGHT_NAMES lists them for the CLI"
