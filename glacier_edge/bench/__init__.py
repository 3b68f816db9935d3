"""Benchmarking, in one package: latency statistics (``stats``), the machine (``system``), the
variants table (``variants``), one variant per fresh process (``worker``, ``measure``), the
printed tables (``tables``) and `glacier-edge bench` itself (``run``).

May import: :mod:`glacier_edge.edge` and below. Never torch (the PyTorch reference variant is
registered by :mod:`glacier_edge.training.reference`), nor :mod:`glacier_edge.station`.
"""
