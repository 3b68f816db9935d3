"""glacier-edge: glacier change from satellite and camera time-lapses, on the small computers of
remote early-warning stations.

The package is laid out in wings, in the order one frame travels from file to alert. Each wing's
``__init__`` says what it holds and what it may import; ``pyproject.toml``'s import-linter
contracts enforce it (``lint-imports``), bottom to top:

    errors, schema, contracts   the one typed spec of everything that crosses a file boundary
    fileio, paths, provenance   atomic writes, default locations, what built an artefact
    ingest/     file → frames:  GIF / folder / files, dates, the project's own sample imagery
    signals/    frames → numbers: melt, overlay masks, the temporal graph, station history, OOD
    motion/     frames → motion: co-registration, displacement fields, speed and failure forecasts
    edge/       the torch-free runtime: verified bundle → ONNX Runtime → prediction → report
    station/    edge/ as a service: inbox → SQLite → alerts, one image at a time   (beside bench/)
    bench/      latency of every variant of a bundle                                (beside station/)
    training/   the torch wing: encoder, graph models, datasets, recipe, evaluation
    archive/    an archive's embeddings on local workers or Ray (above training/)
    export/     torch → ONNX, parity proof, int8
    demo        the whole path once, on generated glaciers
    cli/        the `glacier-edge` commands: thin, on top of everything

The edge wings (ingest, signals, motion, edge, station, bench) never import torch, torchvision,
torch_geometric or onnx, so a station box without them runs ``glacier-edge run`` and ``watch``.
"""

__version__ = "0.1.0"
