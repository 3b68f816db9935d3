"""glacier-edge: a CNN + GraphSAGE glacier-melt model, trained in PyTorch, run on ONNX Runtime.

This package's top level is the *edge wing*: it imports numpy, imageio, click and onnxruntime
only. The torch wing lives in :mod:`glacier_edge.training` and :mod:`glacier_edge.export` and is
imported lazily, so that a station box without torch can still run ``glacier-edge run``.
"""

__version__ = "0.1.0"
