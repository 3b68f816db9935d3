"""The error hierarchy the CLI turns into one line on stderr and an exit code.

A user mistake (bad file, missing model, provider not available) must never show a traceback;
every such failure is raised as a :class:`GlacierEdgeError` subclass carrying its exit code.
"""

from __future__ import annotations


class GlacierEdgeError(Exception):
    """Base of every error that is the user's input or environment, not a bug."""

    exit_code = 2


class BadInputError(GlacierEdgeError):
    """An input sequence, sidecar or option value cannot be used."""


class OutputError(GlacierEdgeError):
    """An output path cannot be written (permissions, missing parent, disk full)."""


class ModelBundleError(GlacierEdgeError):
    """A model bundle or training run is missing, corrupt, tampered or of another schema."""


class ProviderError(GlacierEdgeError):
    """The ONNX Runtime execution provider asked for cannot be had."""


class WeightsUnavailableError(GlacierEdgeError):
    """Pretrained encoder weights are neither cached nor downloadable."""


class MissingDependencyError(GlacierEdgeError):
    """An optional package (torch, matplotlib, ...) needed by this command is not installed."""


class ParityError(GlacierEdgeError):
    """PyTorch and ONNX Runtime disagree beyond the stated tolerance."""

    exit_code = 1
