"""Signals: what is measured on frames, defined once for training, export and the edge alike.

``melt`` (the pixel-change proxy and its targets), ``mask`` (burned-in overlays left out of it),
``graph`` (temporal edges and the dense adjacency), ``history`` (what a station knows before a
target: last melt, running mean, the naive answers), ``features`` (node inputs: embeddings,
history, dates, sidecar covariates), ``ood`` (how unlike the training imagery a frame is),
``metrics`` (agreement between predicted and measured), ``online`` (a station's own trust) and
``frame_regions`` (regions of a frame and their melt: groundwork for regions as nodes).

May import: numpy, :mod:`glacier_edge.ingest` and the bottom modules. Never torch.
"""
