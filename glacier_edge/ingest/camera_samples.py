"""The project's own fixed-camera imagery: an oblique time-lapse of a flowing glacier, drawn.

A camera station sees what no satellite chip shows: sky, a horizon, mountains, and perspective
(far ice foreshortened and fine, near ice large). The scene-kind guard must flag such frames for a
bundle trained on chips, and surface motion needs a camera sequence whose truth is known. This
module renders one with a pinhole camera above a flat glacier plane:

- the glacier fills a band of the ground across the view and flows from left to right with a
  parabolic speed profile (``speed_m_per_day`` on its centre line); its surface is a blocky serac
  texture in ground coordinates, advected exactly with the flow; optionally one serac
  (:class:`Serac`) accelerates toward a known failure day (Voight's law);
- rock in front of and behind the glacier, a fjord, mountains above the horizon and sky;
- per frame: illumination and haze, and optionally camera shake (a shift of the whole image by a
  known sub-pixel offset, as wind and thermal motion do to a mast).

Truth comes with it: :meth:`CameraTimelapse.ice_flow_px` is the image displacement of every ice
pixel between two frames, projected through the same camera. Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from glacier_edge.ingest.resample import bilinear

CAMERA_WIDTH, CAMERA_HEIGHT = 720, 480
"""3:2, like the DSLRs of glacier camera stations (at a size that draws in ~0.2 s)."""
SKY_TOP = np.array([120, 150, 190], np.float32)
SKY_HORIZON = np.array([205, 212, 222], np.float32)
ROCK = np.array([70, 66, 64], np.float32)
ICE = np.array([188, 200, 212], np.float32)
WATER = np.array([60, 74, 88], np.float32)
SNOW = np.array([236, 240, 246], np.float32)
GROUND_METRES_PER_TEXEL = 2.0


@dataclass(frozen=True)
class Camera:
    """A pinhole camera ``height_m`` above a flat ground plane, looking ``pitch_deg`` below the horizon."""

    height_m: float = 300.0
    pitch_deg: float = 9.0
    vertical_fov_deg: float = 34.0
    width: int = CAMERA_WIDTH
    height: int = CAMERA_HEIGHT

    @property
    def focal_px(self) -> float:
        return (self.height / 2) / np.tan(np.radians(self.vertical_fov_deg / 2))

    def ground_point(self, column: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground (X across, Z ahead) in metres where each pixel's ray meets the plane, and whether it does."""
        f, pitch = self.focal_px, np.radians(self.pitch_deg)
        rx, ry = (column - self.width / 2) / f, (row - self.height / 2) / f  # ry > 0: below the axis
        down = ry * np.cos(pitch) + np.sin(pitch)  # downward component of the ray, camera axis = 1
        ahead = np.cos(pitch) - ry * np.sin(pitch)
        hits = down > 1e-6
        distance = np.where(hits, self.height_m / np.maximum(down, 1e-6), 0.0)
        return rx * distance, np.where(hits, ahead * distance, np.inf), hits

    def project(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image (column, row) of ground points (X, Z) in metres: the inverse of :meth:`ground_point`."""
        f, pitch = self.focal_px, np.radians(self.pitch_deg)
        depth = z * np.cos(pitch) + self.height_m * np.sin(pitch)
        below = self.height_m * np.cos(pitch) - z * np.sin(pitch)
        return self.width / 2 + f * x / depth, self.height / 2 + f * below / depth


@dataclass(frozen=True)
class Serac:
    """A block of ice that breaks away: it slides along the flow (+X) with Voight's acceleration
    (α = 2), v(t) = v₀·t_f / (t_f − t), so 1/v falls on a straight line to zero on ``failure_day``
    (days after the first frame): the truth the inverse-velocity forecast must find."""

    x_m: float = -150.0
    z_m: float = 1250.0
    radius_m: float = 200.0
    """A disc on the ground (metres), centred at (x, z) on day 0."""
    initial_speed: float = 3.0
    """m/day on day 0 (the glacier around it flows at its own speed)."""
    failure_day: float = 14.0

    def speed(self, days: np.ndarray | float) -> np.ndarray:
        return self.initial_speed * self.failure_day / (self.failure_day - np.asarray(days, np.float64))

    def displacement(self, days: np.ndarray | float) -> np.ndarray:
        """Metres along +X since day 0: ∫ v dt = v₀·t_f·ln(t_f / (t_f − t))."""
        return self.initial_speed * self.failure_day * np.log(
            self.failure_day / (self.failure_day - np.asarray(days, np.float64)))

    def holds(self, x: np.ndarray, z: np.ndarray, days: float) -> np.ndarray:
        """Ground points (now, on ``days``) that are serac ice."""
        return (x - self.displacement(days) - self.x_m) ** 2 + (z - self.z_m) ** 2 <= self.radius_m**2


@dataclass(frozen=True)
class Glacier:
    """Where the ice lies on the ground and how fast it flows (metres)."""

    near_m: float = 650.0
    far_m: float = 4200.0
    speed_m_per_day: float = 12.0
    """On the centre line; zero at both margins (parabolic profile across the flow)."""
    serac: Serac | None = None

    def speed(self, z: np.ndarray) -> np.ndarray:
        centre, half = (self.near_m + self.far_m) / 2, (self.far_m - self.near_m) / 2
        return self.speed_m_per_day * np.clip(1 - ((z - centre) / half) ** 2, 0, None)

    def holds(self, z: np.ndarray) -> np.ndarray:
        return (z >= self.near_m) & (z <= self.far_m)

    def displacement(self, x: np.ndarray, z: np.ndarray, days: float) -> np.ndarray:
        """Metres along +X that the ice now at (x, z) has moved since day 0 (serac or glacier)."""
        moved = self.speed(z) * days
        if self.serac is not None:
            moved = np.where(self.serac.holds(x, z, days), self.serac.displacement(days), moved)
        return moved

    def moved_between(self, x: np.ndarray, z: np.ndarray, first: float, second: float) -> np.ndarray:
        """Metres along +X that the ice at (x, z) on day ``first`` moves by day ``second``."""
        moved = self.speed(z) * (second - first)
        if self.serac is not None:
            serac = self.serac
            moved = np.where(serac.holds(x, z, first), serac.displacement(second) - serac.displacement(first), moved)
        return moved


@dataclass(frozen=True)
class CameraTimelapse:
    frames: np.ndarray
    """uint8 (T, height, width, 3) RGB."""
    dates: list[date]
    days: np.ndarray
    """float (T,): days since the first frame."""
    shake_px: np.ndarray
    """float (T, 2): (column, row) shift of the whole image in each frame (camera shake)."""
    camera: Camera
    glacier: Glacier

    def ice_flow_px(self, first: int, second: int) -> tuple[np.ndarray, np.ndarray]:
        """Image displacement (column, row) of each pixel's ice from frame ``first`` to ``second``,
        float (H, W, 2), and the bool (H, W) mask of pixels showing ice; shake excluded (the motion
        of the ice itself, as co-registration on stable ground should recover it)."""
        camera = self.camera
        row, column = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
        x, z, hits = camera.ground_point(column, row)
        ice = hits & self.glacier.holds(z)
        moved = np.where(ice, self.glacier.moved_between(x, np.where(hits, z, 0.0), self.days[first],
                                                         self.days[second]), 0.0)
        new_column, new_row = camera.project(x + moved, np.where(hits, z, camera.height_m))
        flow = np.stack([np.where(ice, new_column - column, 0.0), np.where(ice, new_row - row, 0.0)], axis=-1)
        return flow, ice

    def serac_pixels(self, index: int) -> np.ndarray:
        """bool (H, W): pixels showing the serac in frame ``index`` (shake excluded); none without one."""
        camera, serac = self.camera, self.glacier.serac
        row, column = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
        x, z, hits = camera.ground_point(column, row)
        if serac is None:
            return np.zeros((camera.height, camera.width), bool)
        return hits & self.glacier.holds(np.where(hits, z, 0.0)) & serac.holds(x, np.where(hits, z, 0.0),
                                                                                 self.days[index])


def _noise(shape: tuple[int, int], rng: np.random.Generator, cell: float) -> np.ndarray:
    """Smooth noise in [−1, 1] with features ``cell`` texels across (bicubic upsampling)."""
    coarse = rng.uniform(0, 255, (max(2, int(shape[0] / cell)), max(2, int(shape[1] / cell)))).astype(np.uint8)
    image = Image.fromarray(coarse).resize((shape[1], shape[0]), Image.Resampling.BICUBIC)
    return np.asarray(image, np.float32) / 127.5 - 1.0


def _sample(texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a 2-D texture at float texel coordinates (u across, v down)."""
    return bilinear(texture, v, u)


def camera_timelapse(frames: int = 10, *, seed: int = 0, camera: Camera = Camera(), glacier: Glacier = Glacier(),
                     shake_px: float = 0.0, first_day: date = date(2021, 8, 1)) -> CameraTimelapse:
    """Draw ``frames`` daily images. ``shake_px``: standard deviation of the per-frame image shift
    (0: a rigid mast; the first frame is never shifted, it is the reference)."""
    if frames < 2:
        raise ValueError("a time-lapse needs at least 2 frames")
    rng = np.random.default_rng(seed)
    days = np.arange(frames, dtype=np.float64)
    span_x = 2 * 8000.0 + glacier.speed_m_per_day * frames
    texels = (int((glacier.far_m - glacier.near_m) / GROUND_METRES_PER_TEXEL) + 2,
              int(span_x / GROUND_METRES_PER_TEXEL))
    # structure at every scale from 2 to 64 m, as crevassed ice has: a texture with one dominant scale
    # would vanish below a far pixel's footprint instead of being foreshortened
    seracs = sum(0.3 * _noise(texels, rng, cell) for cell in (1, 2, 4, 8, 16, 32))
    rock = 0.5 * _noise((512, 2048), rng, 3) + 0.5 * _noise((512, 2048), rng, 12)
    ridge = 0.55 + 0.3 * _noise((2, camera.width), rng, 180)[0] + 0.08 * _noise((2, camera.width), rng, 25)[0]
    # supersample 2×2 so the far ice is averaged, not aliased (as a lens would)
    sub = (np.arange(2 * camera.height) + 0.5) / 2 - 0.5, (np.arange(2 * camera.width) + 0.5) / 2 - 0.5
    row, column = np.meshgrid(*sub, indexing="ij")
    shakes = np.zeros((frames, 2))
    if shake_px > 0:
        shakes[1:] = rng.normal(0.0, shake_px, (frames - 1, 2))
    horizon_row = camera.height / 2 - camera.focal_px * np.tan(np.radians(camera.pitch_deg))
    out = np.empty((frames, camera.height, camera.width, 3), np.uint8)
    for t in range(frames):
        shifted_column, shifted_row = column - shakes[t, 0], row - shakes[t, 1]
        x, z, hits = camera.ground_point(shifted_column, shifted_row)
        z = np.where(hits, z, 1e9)
        ice = glacier.holds(z)
        upstream = x - glacier.displacement(x, z, days[t])  # where the ice now here was on day 0
        ice_value = _sample(seracs, (upstream + span_x / 2) / GROUND_METRES_PER_TEXEL,
                            (z - glacier.near_m) / GROUND_METRES_PER_TEXEL)
        rock_value = _sample(rock, (x / 1.5) % 2047, (np.minimum(z, 8000) / 1.5) % 511)
        ground = np.where(ice[..., None], ICE * (1 + 0.22 * ice_value[..., None]),
                          ROCK * (1 + 0.35 * rock_value[..., None]))
        ground = np.where(((z > glacier.far_m + 400) & (z < 9000))[..., None], WATER, ground)
        haze = np.clip((z - 1500) / 12000, 0, 0.6)[..., None] * float(rng.uniform(0.7, 1.3))
        sky_mix = np.clip((shifted_row / max(horizon_row, 1))[..., None], 0, 1)
        sky = SKY_TOP * (1 - sky_mix) + SKY_HORIZON * sky_mix
        ground = ground * (1 - haze) + SKY_HORIZON * haze
        mountain_top = horizon_row * (1 - np.interp(shifted_column, np.arange(camera.width), ridge))  # sub-pixel
        mountain = (~hits | (z > 9000)) & (shifted_row >= mountain_top)
        # far slopes recede too: their ledges, snow bands and strata read as horizontal streaks
        rock_far = ROCK * 1.2 * (1 + 0.3 * _sample(rock, (shifted_column / 4) % 2047, shifted_row % 511)[..., None])
        snowy = (shifted_row < mountain_top + 0.25 * (horizon_row - mountain_top))[..., None]
        mountains = np.where(snowy, SNOW * 0.9, rock_far) * 0.75 + SKY_HORIZON * 0.25
        image = np.where(mountain[..., None], mountains, np.where(hits[..., None] & (z < 9000)[..., None], ground, sky))
        image = image * float(rng.uniform(0.8, 1.1))
        image = image.reshape(camera.height, 2, camera.width, 2, 3).mean(axis=(1, 3))
        out[t] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    dates = [first_day + timedelta(days=int(d)) for d in days]
    return CameraTimelapse(out, dates, days, shakes, camera, glacier)


CAMERA_SAMPLE_FRAMES = 12
CAMERA_SAMPLE_SEED = 1
CORE_MARGIN_PX = 8
"""The serac's region keeps this far inside the serac in every frame, so windows centred in it
(the sample's 32-px templates) see the serac, not the slower ice at its rim."""


def _eroded(mask: np.ndarray, margin: int) -> np.ndarray:
    """Pixels of ``mask`` at least ``margin`` px (chessboard distance) inside it: rows, then columns."""
    height, width = mask.shape
    padded = np.pad(mask, ((margin, margin), (0, 0)), constant_values=False)
    rows = np.logical_and.reduce([padded[margin + d : margin + d + height] for d in range(-margin, margin + 1)])
    padded = np.pad(rows, ((0, 0), (margin, margin)), constant_values=False)
    return np.logical_and.reduce([padded[:, margin + d : margin + d + width] for d in range(-margin, margin + 1)])


@dataclass(frozen=True)
class CameraSampleTruth:
    """What is true of a written camera sample, pair by pair (consecutive daily frames)."""

    glacier_median_px_per_day: list[float]
    """Median over ice pixels of the true image displacement (shake excluded)."""
    serac_median_px_per_day: list[float]
    """The same over the serac's core region (regions.png)."""
    failure_date: date
    timelapse: CameraTimelapse
    """The drawn sequence itself: its flow at any pixel (:meth:`CameraTimelapse.ice_flow_px`)."""


def write_camera_sample(folder: Path, frames: int = CAMERA_SAMPLE_FRAMES, seed: int = CAMERA_SAMPLE_SEED,
                        shake_px: float = 1.0) -> CameraSampleTruth:
    """A camera station's sample, written for `glacier-edge motion`: ``frames/cam_DATE.png``
    (daily, shaken), ``glacier.png`` (white on ice), ``stable.png`` (white on rock),
    ``regions.png`` + ``regions.names.txt`` (the serac's core, named "serac"), ``truth.csv``."""
    from glacier_edge.fileio import write_file_atomic, write_text_atomic

    lapse = camera_timelapse(frames, seed=seed, glacier=Glacier(serac=Serac()), shake_px=shake_px)
    folder = Path(folder)
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    for frame, day in zip(lapse.frames, lapse.dates):
        write_file_atomic(folder / "frames" / f"cam_{day.isoformat()}.png",
                          lambda tmp, frame=frame: Image.fromarray(frame).save(tmp, format="PNG"))
    _, ice = lapse.ice_flow_px(0, 1)
    core = _eroded(lapse.serac_pixels(0) & lapse.serac_pixels(frames - 1), CORE_MARGIN_PX)
    for name, mask in (("glacier.png", ice), ("stable.png", ~ice), ("regions.png", core)):
        write_file_atomic(folder / name, lambda tmp, mask=mask: Image.fromarray(
            np.where(mask, 255, 0).astype(np.uint8)).save(tmp, format="PNG"))
    write_text_atomic(folder / "regions.names.txt", "255 serac\n")
    glacier_speed, serac_speed = [], []
    for t in range(frames - 1):
        flow, ice_now = lapse.ice_flow_px(t, t + 1)
        magnitude = np.hypot(flow[..., 0], flow[..., 1])
        glacier_speed.append(float(np.median(magnitude[ice_now])))
        serac_speed.append(float(np.median(magnitude[core & ice_now])))
    serac = lapse.glacier.serac
    assert serac is not None
    failure = lapse.dates[0] + timedelta(days=serac.failure_day)
    rows = "".join(f"{lapse.dates[t].isoformat()},{lapse.dates[t + 1].isoformat()},{glacier_speed[t]:.4f},"
                   f"{serac_speed[t]:.4f}\n" for t in range(frames - 1))
    write_text_atomic(folder / "truth.csv", "first,second,glacier_median_px_per_day,serac_median_px_per_day\n"
                      + rows + f"# serac failure: {failure.isoformat()}\n")
    return CameraSampleTruth(glacier_speed, serac_speed, failure, lapse)
