"""Ingest, where a frame starts: an animated GIF, a folder of images or several files → uint8 RGB
frames at 128×128 with their dates (``frames``, ``naming``); the seed's frame dump
(``frame_export``); and the imagery the project draws itself (``samples``: the demo glacier;
``synthetic``: sequences whose melt is known exactly, for tests).

May import: numpy, Pillow/imageio and the bottom modules (errors, schema, contracts, fileio,
paths). Nothing of the wings above.
"""
