"""Surface motion: how the ice moves between co-registered frames, and when it may break off.

``imagery`` (grey frames at their own resolution, glacier and stable-ground masks),
``correlate`` (batched window matching: ZNCC and orientation correlation, sub-pixel peak,
quality), ``field`` (grid, quality thresholds, normalised median test), ``register``
(co-registration on stable ground: a similarity transform per frame, or "unregistered") and
``failure`` (the inverse-velocity failure-time forecast).

Above :mod:`glacier_edge.signals` (whose online trust forecasts the next speed, as it does the
melt) in the flow of a frame: it reads frames from :mod:`glacier_edge.ingest`; the runner and the
station use it. May import: numpy, Pillow, OpenCV (optional), :mod:`glacier_edge.signals`,
:mod:`glacier_edge.ingest` and the bottom modules. Never torch, nor scipy, scikit-image or OpenCV
(measured against them in ``benchmarks/motion.py``).
"""
