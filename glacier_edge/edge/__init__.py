"""The edge runtime, torch-free: a verified bundle (``bundle``, ``signing``) → ONNX Runtime
sessions on this machine (``machine``: per-machine optimised graphs; ``runtime``: providers,
prediction, OOD fallback, intervals; ``regional``: melt per region of the frame) → ``runner``
(`glacier-edge run` as a function) → what a person reads (``report``: table/JSON/CSV; ``plot``: the
melt plot, matplotlib when installed).

May import: numpy, onnxruntime, :mod:`glacier_edge.motion`, :mod:`glacier_edge.signals`,
:mod:`glacier_edge.ingest` and the bottom modules. Never torch, torchvision, torch_geometric, onnx, ray or pyarrow.
"""
