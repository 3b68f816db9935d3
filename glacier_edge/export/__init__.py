"""Torch → ONNX: the bundle (``bundle_export``: encoder, graph model, OOD score, manifest), the
ONNX graphs (``onnx_export``, ``ood_export``), the parity proof (``parity``: `glacier-edge
verify`) and int8 chosen per machine (``quantize``). Needs the ``train`` extra.

May import: :mod:`glacier_edge.training` and below, onnx. Never the CLI.
"""
