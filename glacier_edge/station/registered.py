"""The co-registered melt at a station (bundles trained with `--register`): each image is aligned to
the station's reference image on stable ground before its melt, embedding and regions are measured,
exactly as `run` aligns a sequence to its first frame (:mod:`glacier_edge.motion.aligned`).

The reference is the first image the station takes with such a bundle; it is kept in the database
(float32 grey at the motion size) so a restarted station aligns to the same grid. An image that
cannot be registered is used as taken and its reason stored, never moved by a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glacier_edge.ingest.frames import StationFrame, resize_frame
from glacier_edge.motion.aligned import FrameAligner, StableGround, border_band, warp
from glacier_edge.motion.imagery import grey
from glacier_edge.motion.register import Registration
from glacier_edge.station.store import Store


@dataclass(frozen=True)
class AlignedImage:
    pixels: np.ndarray
    """uint8 (FRAME_SIZE, FRAME_SIZE, 3): the model frame on the reference grid (as taken if not registered)."""
    border: np.ndarray
    """bool (FRAME_SIZE, FRAME_SIZE): left out of melt (:func:`glacier_edge.motion.aligned.border_band`)."""
    registration: Registration
    reference: np.ndarray | None
    """The grey frame to keep as the reference (the station's first such image), else None."""
    original_size: tuple[int, int]
    scale: float
    """Motion-size pixels per original pixel (the registration is measured at the motion size)."""


class StationRegistration:
    def __init__(self, ground: StableGround) -> None:
        self.ground = ground
        self._aligner: FrameAligner | None = None

    def align(self, store: Store, decoded: StationFrame) -> AlignedImage:
        """The image on the reference grid (a :class:`BadInputError` for an image of another size)."""
        original = decoded.original
        assert original is not None
        size = (int(original.shape[1]), int(original.shape[0]))
        border = border_band(size, self.ground.long_side)
        if self._aligner is None:
            stored = store.melt_reference()
            if stored is not None:
                self._aligner = FrameAligner(self.ground, reference=stored[2], original_size=stored[1])
        if self._aligner is None:  # no reference yet: this image becomes it, if it has stable texture
            aligner = FrameAligner(self.ground)
            aligner(0, original)
            return AlignedImage(decoded.pixels, border, aligner.registrations[0], aligner.reference, size,
                                aligner.scale_for(size))
        scale = self._aligner.scale_for(size)
        registration = self._aligner.register(grey(original, scale), size)
        pixels = decoded.pixels
        if registration.ok:
            pixels = resize_frame(warp(original, registration, scale))
        return AlignedImage(pixels, border, registration, None, size, scale)

    def record(self, store: Store, image_id: int, aligned: AlignedImage) -> None:
        """Keep the reference (first image) and the image's registration; forget a reference set
        in memory if the transaction that stores it is rolled back (the next image sets it again)."""
        if aligned.reference is not None:
            store.set_melt_reference(image_id, aligned.original_size, aligned.reference)
            self._aligner = None
        found = aligned.registration
        if found.ok:
            store.insert_melt_registration(image_id, True, found.dx / aligned.scale, found.dy / aligned.scale,
                                           found.rotation_deg, found.reason)
        else:
            store.insert_melt_registration(image_id, False, None, None, None, found.reason)
