"""Station mode: one image at a time, for years, on a box that loses power (torch-free).

``inbox`` finds and dates new images, ``store`` keeps every image, prediction and alert in
SQLite, ``active_model`` verifies and keeps the bundle in use, ``engine`` turns one image into
stored results in one transaction, ``alerts`` delivers them, ``watch`` loops, ``history``
reports what the station has seen and said.
"""
