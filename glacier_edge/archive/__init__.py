"""Archives: `glacier-edge embed` over many sequences on local worker processes (``embed_jobs``)
or a Ray cluster (``ray_jobs``, which also runs `evaluate --ray`'s outer folds).

May import: :mod:`glacier_edge.training` and below, ray (``ray_jobs`` only, lazily). Never the
export wing or the CLI.
"""
