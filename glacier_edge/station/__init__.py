"""Station mode: the edge runtime as a service, one image at a time, for years, on a box that
loses power (torch-free).

``inbox`` finds and dates new images, ``store`` keeps every image, prediction and alert in
SQLite, ``active_model`` verifies and keeps the bundle in use, ``engine`` turns one image into
stored results in one transaction (``motion`` and ``regions`` its surface motion and melt per
region), ``alerts`` delivers them, ``watch`` loops, ``report``
(`history`) shows what the station has seen and said; ``page`` (an HTML page) and ``metrics`` (a
Prometheus textfile) show it from elsewhere.

May import: :mod:`glacier_edge.edge` and everything below it; watchdog and cryptography when
installed. Never torch, onnx, ray or pyarrow, nor :mod:`glacier_edge.bench`.
"""
