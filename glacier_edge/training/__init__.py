"""The torch wing: encoder, graph models, datasets and their embedding cache/store, the training
loop, the default recipe (residual, held-out calibration, OOD summary) and `evaluate`. Needs the
``train`` extra.

May import: torch, torchvision, torch_geometric, pyarrow and every wing below it (station, bench,
edge, signals, ingest and the bottom modules). Never :mod:`glacier_edge.archive`,
:mod:`glacier_edge.export` or the CLI; nothing in the edge wings imports this package.
"""
