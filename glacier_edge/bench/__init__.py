"""Benchmarking, in one package: latency statistics (``stats``), the machine (``system``), the
variants table (``variants``), one variant per fresh process (``worker``, ``measure``), the
printed tables (``tables``) and `glacier-edge bench` itself (``run``)."""
