"""The co-registered melt at a station (bundles trained with `--register`): each image is aligned to
the station's reference image on stable ground before its melt, embedding and regions are measured,
exactly as `run` aligns a sequence (:mod:`glacier_edge.motion.aligned`, the same :class:`FrameAligner`).

The reference is the first image with such a bundle whose stable ground has texture; it is kept in the database
(float32 grey at the motion size) so a restarted station aligns to the same grid. An image that
cannot be registered is used as taken and its reason stored, never moved by a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glacier_edge.ingest.frames import StationFrame, resize_frame
from glacier_edge.motion.aligned import FrameAligner, StableGround, border_band
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
        aligner = self._aligner
        if aligner is None:
            stored = store.melt_reference()
            if stored is None:  # this image becomes the reference, if it has stable texture: kept once stored
                aligner = FrameAligner(self.ground)
            else:
                aligner = self._aligner = FrameAligner(self.ground, reference=stored[2], original_size=stored[1])
        first = aligner.reference is None
        moved, registration = aligner.align(original)
        pixels = decoded.pixels if moved is original else resize_frame(moved)
        return AlignedImage(pixels, border, registration, aligner.reference if first else None, size,
                            aligner.scale_for(size))

    def record(self, store: Store, image_id: int, aligned: AlignedImage) -> None:
        """Keep the reference (the first image with stable texture) and the image's registration. The
        reference is read back from the database by the next image, so one whose transaction was rolled
        back is never used."""
        if aligned.reference is not None:
            store.set_melt_reference(image_id, aligned.original_size, aligned.reference)
        found = aligned.registration
        if found.ok:
            store.insert_melt_registration(image_id, True, found.dx / aligned.scale, found.dy / aligned.scale,
                                           found.rotation_deg, found.reason)
        else:
            store.insert_melt_registration(image_id, False, None, None, None, found.reason)
