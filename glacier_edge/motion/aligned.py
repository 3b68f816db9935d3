"""The co-registered melt (`train --register`): every frame is put on the grid of the sequence's
first frame before it becomes a 128-px model frame, so a camera that swayed by a few pixels does
not read as change.

Registration is motion's (:func:`glacier_edge.motion.register.register`, a similarity transform
fitted on stable ground), measured on the grey frame at the motion size and applied to the colour
frame at its own size (bilinear, edges clamped), which is then resized as every frame is. The
reference is the first frame (a station's first image). A frame that cannot be registered (cloud,
fresh snow, no stable texture) keeps its pixels as taken and is reported as not registered: it is
never moved by a guess.

Stable ground is ``--stable-mask``, else everything outside ``--glacier-mask``, else the whole frame,
where the robust fit keeps the windows that agree. The whole frame suits satellite chips (the ice
is a minority that moves less than a pixel between acquisitions: 99 % of the corpus's pairs
register so); a camera that looks mostly at moving ice needs its mask (without one, 2 of 7 pairs of
the shaken generated camera register).

Measured (``benchmarks/register_melt.py``): the corpus, Perito Moreno and the Columbia camera lie
on one grid already (median shift 0.10–0.27 px), so registration changes their melt by < 0.5 % and
held-out skill by ±0.01–0.03 with no consistent sign; on the generated camera shaken by ±20 px and
0.5° it gives the still camera's melt (shake was 40 % of the melt as taken). Hence it is an option,
recorded in the bundle, not the default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from glacier_edge.errors import BadInputError
from glacier_edge.ingest.frames import DEFAULT_MAX_PIXELS, FRAME_SIZE, FrameSequence, read_sequence
from glacier_edge.ingest.resample import bilinear
from glacier_edge.motion.field import grid_centres, textured
from glacier_edge.motion.imagery import DEFAULT_LONG_SIDE, grey, mask_at
from glacier_edge.motion.register import IDENTITY, MIN_WINDOWS, Registration, register

SMALL_FRAME = 256
"""px: frames whose short side is below this (Landsat chips of 223 px) are registered with smaller
windows; the default 64-px templates with a ±24 px search leave a 223-px chip only 9 windows."""


def registration_geometry(shape: tuple[int, int]) -> tuple[int, int, int]:
    """(template, radius, spacing) in px for frames of ``shape`` (rows, columns) at the motion size:
    motion's defaults (64, 24, 48), or (32, 6, 24) for a frame under :data:`SMALL_FRAME` px."""
    if min(shape) < SMALL_FRAME:
        return 32, 6, 24
    return 64, 24, 48


REFINE_RADIUS = 2
"""px: the second registration pass searches this far around the first (motion's)."""


def reach_px(shape: tuple[int, int]) -> int:
    """px at the motion size: the farthest a registered frame may have moved anywhere in the frame,
    the search radius plus the refinement. A registration that moves a corner farther is refused,
    so a border band this wide holds every pixel a registered frame may not cover."""
    return registration_geometry(shape)[1] + REFINE_RADIUS


def motion_shape(original_size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(rows, columns) of a frame of ``original_size`` (width, height) at the motion size."""
    scale = min(1.0, long_side / max(original_size))
    return max(1, round(original_size[1] * scale)), max(1, round(original_size[0] * scale))


def border_band(original_size: tuple[int, int], long_side: int = DEFAULT_LONG_SIDE) -> np.ndarray:
    """bool (FRAME_SIZE, FRAME_SIZE): the model frame's border band that a registered frame may not
    cover (:func:`reach_px` of the original frame, plus one pixel for the resize's support). The
    co-registered melt leaves it out of every pair, so a clamped edge never reads as change."""
    rows, cols = motion_shape(original_size, long_side)
    reach = reach_px((rows, cols))
    band_rows = math.ceil(reach / rows * FRAME_SIZE) + 1
    band_cols = math.ceil(reach / cols * FRAME_SIZE) + 1
    band = np.ones((FRAME_SIZE, FRAME_SIZE), dtype=bool)
    band[band_rows : FRAME_SIZE - band_rows, band_cols : FRAME_SIZE - band_cols] = False
    return band


def corner_travel(registration: Registration, shape: tuple[int, int]) -> float:
    """px: the largest row or column shift of a frame corner under ``registration`` (frames of
    ``shape``); the border band is as wide in rows as in columns, so each axis counts alone."""
    rows = np.array([0.0, 0.0, shape[0] - 1.0, shape[0] - 1.0])
    cols = np.array([0.0, shape[1] - 1.0, 0.0, shape[1] - 1.0])
    source_r, source_c = registration.source_coordinates(rows, cols, shape)
    return float(max(np.abs(source_r - rows).max(), np.abs(source_c - cols).max()))


@dataclass(frozen=True)
class StableGround:
    """Where registration looks: the masks (images of the frames' size) and the motion size."""

    glacier_mask: Path | None = None
    stable_mask: Path | None = None
    long_side: int = DEFAULT_LONG_SIDE

    def describe(self) -> str:
        if self.stable_mask is not None:
            return f"stable ground from --stable-mask {self.stable_mask}"
        if self.glacier_mask is not None:
            return f"stable ground outside --glacier-mask {self.glacier_mask}"
        return "stable ground: the whole frame (the windows that agree)"


def warp(original: np.ndarray, registration: Registration, scale: float) -> np.ndarray:
    """uint8 RGB ``original`` resampled onto the reference grid by ``registration``, which was measured
    on frames reduced by ``scale`` (its shift grows by 1/scale at the original size)."""
    at_original = replace(registration, dx=registration.dx / scale, dy=registration.dy / scale)
    rows, cols = np.mgrid[0 : original.shape[0], 0 : original.shape[1]].astype(np.float32)
    source_r, source_c = at_original.source_coordinates(rows, cols, original.shape[:2])
    moved = bilinear(original.astype(np.float32), source_r, source_c)
    return np.clip(np.rint(moved), 0, 255).astype(np.uint8)


@dataclass
class FrameAligner:
    """Registers frames one at a time to the first one it sees: a sequence's frames in order, or a
    station's images as they arrive (the station keeps the reference in its database)."""

    ground: StableGround
    reference: np.ndarray | None = None
    """float32 grey (H, W) of the first frame at the motion size."""
    original_size: tuple[int, int] | None = None
    """(width, height) of the reference as decoded."""
    registrations: list[Registration] = field(default_factory=list)
    _stable: np.ndarray | None = None
    _stable_read: bool = False

    def scale_for(self, size: tuple[int, int]) -> float:
        return min(1.0, self.ground.long_side / max(size))

    def __call__(self, index: int, original: np.ndarray) -> np.ndarray:
        """:meth:`align` as :func:`read_sequence`'s hook: the frame on the reference grid, its
        registration appended to :attr:`registrations`."""
        moved, registration = self.align(original)
        self.registrations.append(registration)
        return moved

    def align(self, original: np.ndarray) -> tuple[np.ndarray, Registration]:
        """uint8 RGB ``original`` on the reference grid (as taken when it is the reference or does not
        register), and its registration. The reference is the first frame whose stable ground has
        texture enough to register against; frames before it are kept as taken."""
        size = (int(original.shape[1]), int(original.shape[0]))
        frame = grey(original, self.scale_for(size))
        if self.reference is None:
            refusal = self.reference_refusal(frame, size)
            if refusal is not None:
                return original, replace(IDENTITY, ok=False, reason=refusal)
            self.reference, self.original_size = frame, size
            return original, IDENTITY
        registration = self.register(frame, size)
        return (warp(original, registration, self.scale_for(size)) if registration.ok else original), registration

    def reference_refusal(self, frame: np.ndarray, size: tuple[int, int]) -> str | None:
        """Why this grey frame cannot be the reference (None: it can): its stable ground holds fewer
        textured windows than a registration needs (a clouded or snow-covered first image)."""
        self.original_size = size
        template, radius, spacing = registration_geometry(frame.shape)
        centres = grid_centres(frame.shape, self.stable(frame.shape), template, radius, spacing)
        count = int(textured(frame, centres, template).sum())
        if count >= MIN_WINDOWS:
            return None
        return (f"not the reference: its stable ground holds {count} textured windows of {template} px (need "
                f"{MIN_WINDOWS}); the next frame with texture will be")

    def register(self, frame: np.ndarray, size: tuple[int, int]) -> Registration:
        """The registration of a grey frame (at the motion size) of a frame decoded at ``size``."""
        assert self.reference is not None and self.original_size is not None
        if size != self.original_size:
            raise BadInputError(f"a frame is {size[0]}×{size[1]} px, the reference {self.original_size[0]}×"
                                f"{self.original_size[1]}: --register needs every frame on one camera or grid")
        template, radius, spacing = registration_geometry(frame.shape)
        found = register(self.reference, frame, self.stable(frame.shape), template=template, radius=radius,
                         spacing=spacing)
        travel = corner_travel(found, frame.shape)
        if found.ok and travel > reach_px(frame.shape):
            return replace(found, ok=False, reason=f"a corner moved {travel:.1f} px, beyond the "
                                                   f"{reach_px(frame.shape)} px the co-registered melt covers")
        return found

    def stable(self, shape: tuple[int, int]) -> np.ndarray | None:
        """bool stable ground at the motion size (None: the whole frame), read once."""
        if not self._stable_read:
            assert self.original_size is not None
            ground = self.ground
            if ground.stable_mask is not None:
                self._stable = mask_at(ground.stable_mask, self.original_size, shape, "--stable-mask")
            elif ground.glacier_mask is not None:
                self._stable = ~mask_at(ground.glacier_mask, self.original_size, shape, "--glacier-mask")
            self._stable_read = True
        return self._stable


@dataclass(frozen=True)
class RegisteredSequence:
    """A sequence whose frames lie on the first frame's grid, with each frame's registration."""

    sequence: FrameSequence
    registrations: tuple[Registration, ...]

    @property
    def unregistered(self) -> list[tuple[str, str]]:
        """(label, why) of every frame left as taken."""
        return [(label, r.reason) for label, r in zip(self.sequence.labels, self.registrations) if not r.ok]


def read_registered_sequence(paths: str | Path | Sequence[str | Path], ground: StableGround, *,
                             max_pixels: int = DEFAULT_MAX_PIXELS) -> RegisteredSequence:
    """:func:`glacier_edge.ingest.frames.read_sequence` with every frame registered to the first."""
    aligner = FrameAligner(ground)
    sequence = read_sequence(paths, max_pixels=max_pixels, align=aligner)
    sequence = replace(sequence, border=border_band(sequence.original_size, ground.long_side))
    return RegisteredSequence(sequence, tuple(aligner.registrations))
