"""Torch → ONNX export, parity verification and int8 quantisation (the ``train`` extra)."""
