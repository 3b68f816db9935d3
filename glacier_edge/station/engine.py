"""One new image → stored image, prediction, scored forecast and alerts, in one transaction.

Per image: decode → mask → encoder once → stored (the embedding is kept, so no image is ever
encoded twice, across restarts too); then the graph model over the last W stored images of the
same encoder, the bundle's OOD guard and interval as `run` applies them. For the window it ends,
the prediction equals `glacier-edge run` over the same W files (tested).

Rules a keeper can rely on:
- an image already stored (same sha256, any name) is recorded once;
- an image dated before the last processed one is quarantined (reason stated): melts already
  reported would otherwise change under the keeper's feet;
- a file that cannot be decoded is quarantined with its reason and left where it is; it is not
  read again unless it changes (new size or mtime).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np

from glacier_edge.contracts import ROLE_GNN
from glacier_edge.errors import BadInputError, ModelBundleError
from glacier_edge.ingest.frames import DEFAULT_MAX_PIXELS, FRAME_SIZE, StationFrame, decode_frame
from glacier_edge.ingest.layout import kind_note
from glacier_edge.ingest.regions import bundle_prior_note
from glacier_edge.motion.aligned import StableGround
from glacier_edge.signals.mask import with_border
from glacier_edge.signals.melt import measured_melt
from glacier_edge.signals.online import OnlineTrust, station_trust
from glacier_edge.station.active_model import ActiveModel
from glacier_edge.station.alerts import utc_now
from glacier_edge.station.inbox import DatedImage
from glacier_edge.station.motion import StationMotion, StationMotionOptions
from glacier_edge.station.records import Alert, ImageRow, MotionRow, PredictionRow, WindowImage
from glacier_edge.station.regions import StationRegions
from glacier_edge.station.registered import StationRegistration
from glacier_edge.station.store import Store

MAX_WINDOW = 64
"""Default window cap: the longest training sequence, at most this many images."""

Outcome = Literal["processed", "duplicate", "quarantined"]


@dataclass(frozen=True)
class StationOptions:
    window: int | None = None
    """Images the graph model sees (None: the longest training sequence, capped at MAX_WINDOW)."""
    alert_threshold: float | None = None
    precision: str = "fp32"
    provider: str = "cpu"
    threads: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    motion: StationMotionOptions | None = None
    """Measure each image's surface motion too (`watch --glacier-mask/--stable-mask`)."""
    regions_mask: Path | None = None
    """The regions of the per-region melt (bundles trained with --frame-regions; default: its grid)."""


@dataclass(frozen=True)
class Taken:
    """What happened to one image, for the log line and the exit summary."""

    outcome: Outcome
    image: DatedImage
    reason: str = ""
    measured: float | None = None
    prediction: PredictionRow | None = None
    scored: PredictionRow | None = None
    alerts: tuple[Alert, ...] = ()
    kind_note: str | None = None
    """Set when images of the window show another kind of scene than the model knows."""
    motion: MotionRow | None = None


@dataclass(frozen=True)
class WindowSequence:
    """The stored images of a window, shaped as the metadata features read a sequence."""

    dates: list[date | None]
    covariates: dict[str, list[float]]
    source: str

    @property
    def num_frames(self) -> int:
        return len(self.dates)

    @classmethod
    def of(cls, window: list[WindowImage]) -> WindowSequence:
        names = set.intersection(*(set(image.covariates) for image in window)) if window else set()
        return cls([date.fromisoformat(image.date) if image.date else None for image in window],
                   {name: [image.covariates[name] for image in window] for name in sorted(names)},
                   f"station window ending at {window[-1].name}")


def window_scores(model, window: list[WindowImage]) -> np.ndarray:
    """OOD scores of the window by the model running now, from the stored embeddings and colour
    features, so a model update that changes only the OOD summary is not judged with the old
    one's scores; images stored by a version with other colour features keep their stored score."""
    from glacier_edge.signals.ood import COLOUR_FEATURES

    stored = np.array([np.nan if w.ood_score is None else w.ood_score for w in window], dtype=np.float64)
    fresh = [i for i, w in enumerate(window) if w.colour is not None and w.colour.size == len(COLOUR_FEATURES)]
    if fresh:
        feeds = {"embeddings": np.stack([window[i].embedding for i in fresh]),
                 "colour": np.stack([window[i].colour for i in fresh])}
        stored[fresh] = model.ood.run(None, feeds)[0]
    return stored


class Engine:
    """Holds the ONNX sessions (created on the first image that needs them, never when idle)."""

    def __init__(self, store: Store, active: ActiveModel, options: StationOptions,
                 log: Callable[[str], None]) -> None:
        self.store, self.active, self.options, self.log = store, active, options, log
        self._model = None
        self._model_sha: str | None = None
        self._prior_note: str | None = None
        self.motion = StationMotion(options.motion) if options.motion is not None else None
        self.regions = StationRegions(options.regions_mask)
        self._told_regions = False
        self._registered: StationRegistration | None = None

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    # --- model -----------------------------------------------------------------------------
    def model(self):
        """The EdgeModel of the active bundle, rebuilt when the bundle was replaced."""
        from glacier_edge.edge.runtime import EdgeModel, encoder_role_for  # onnxruntime only when there is work

        if self._model is None or self.active.source_changed():
            bundle = self.active.bundle((encoder_role_for(self.options.precision), ROLE_GNN))
            if bundle.manifest.normalization != "absolute":
                raise ModelBundleError(f"{bundle.directory}: this model rescales melt per sequence "
                                       f"({bundle.manifest.normalization}); a station needs one trained with "
                                       "--normalization absolute")
            sha = self.active.sha256()
            if sha != self._model_sha:
                self._model = EdgeModel(bundle, provider=self.options.provider, threads=self.options.threads,
                                        precision=self.options.precision)
                self._model_sha = sha
        return self._model

    def prior_note(self, sources: list[str], region: str | None) -> str | None:
        """One line when the model never trained on this station's region (``region`` label, else a
        GLIMS ID in ``sources``): :func:`glacier_edge.ingest.regions.bundle_prior_note`."""
        self._prior_note = bundle_prior_note(sources, self.model().bundle.manifest.training, region)
        return self._prior_note

    def window_size(self, model) -> int:
        """--window, else the longest training sequence of this model (at most MAX_WINDOW)."""
        if self.options.window is not None:
            return self.options.window
        lengths = [s.frames for s in model.bundle.manifest.training.train_sequences]
        return max(2, min(MAX_WINDOW, max(lengths, default=MAX_WINDOW)))

    def _registration(self) -> StationRegistration:
        """The co-registered melt's state; stable ground from --stable-mask / --glacier-mask when
        given (the masks motion uses), else the whole frame. Registered at the default motion size
        whatever motion's --long-side says: the melt must be measured as training measured it."""
        if self._registered is None:
            config = self.options.motion
            ground = StableGround(config.glacier_mask, config.stable_mask) if config is not None else StableGround()
            self._registered = StationRegistration(ground)
        return self._registered

    # --- one image -------------------------------------------------------------------------
    def take(self, image: DatedImage) -> Taken:
        """Record one image and everything it leads to, all or nothing."""
        file = image.file
        with self.store.transaction():
            self.store.remember_file(file.key, file.size, file.mtime_ns, image.sha256)
            known = self.store.image_by_sha(image.sha256)
            if known is not None:
                return Taken("duplicate", image, f"same content as {known.name}")
            last = self.store.last_ok_image()
            reason = image.problem or ""
            if not reason and last is not None and last.date is not None and image.date < date.fromisoformat(last.date):
                reason = (f"dated {image.date} ({image.date_source}), before the last processed image "
                          f"{last.name} ({last.date}); a station takes images in date order")
            frame = None
            if not reason:
                try:
                    frame = decode_frame(file.path, max_pixels=self.options.max_pixels)
                except BadInputError as exc:
                    reason = str(exc)
            if frame is None:
                self.store.insert_image(self._row(image, "quarantined", reason))
                return Taken("quarantined", image, reason)
            return self._process(image, frame, last)

    def _row(self, image: DatedImage, status: str, reason: str | None, **values) -> ImageRow:
        return ImageRow(None, image.sha256, image.file.path.name, str(image.file.path), image.date.isoformat(),
                        image.date_source, image.sensor, image.covariates, status, reason,
                        values.get("measured_melt"), values.get("encoder_sha256"), values.get("ood_score"),
                        utc_now(), values.get("embedding"), values.get("colour"), values.get("perspective"))

    def _process(self, image: DatedImage, decoded: StationFrame, last: ImageRow | None) -> Taken:
        from glacier_edge.edge.runtime import StageTimes
        from glacier_edge.signals.ood import colour_features

        model = self.model()
        frame, border, aligned = decoded.pixels, None, None
        if model.register and decoded.original is not None:
            try:
                aligned = self._registration().align(self.store, decoded)
            except BadInputError as exc:
                self.store.insert_image(self._row(image, "quarantined", str(exc)))
                return Taken("quarantined", image, str(exc))
            frame, border = aligned.pixels, aligned.border
        melt_mask = with_border(model.mask, border)
        encoder_sha = model.bundle.model_sha256(model.encoder_role)
        embedding = model.embed(frame[None])[0]
        cells = model.last_cells[0] if model.last_cells is not None else None
        colour = colour_features(frame[None])[0]
        score = None
        if model.ood is not None:
            score = float(model.ood.run(None, {"embeddings": embedding[None], "colour": colour[None]})[0][0])
        previous = self.store.last_frame((FRAME_SIZE, FRAME_SIZE, 3))
        melt = None
        if previous is not None:
            melt = float(measured_melt(np.stack([previous[1], frame]), melt_mask)[1])
        image_id = self.store.insert_image(self._row(image, "ok", None, measured_melt=melt,
                                                     encoder_sha256=encoder_sha, ood_score=score,
                                                     embedding=embedding, colour=colour,
                                                     perspective=decoded.perspective))
        if aligned is not None:
            self._registration().record(self.store, image_id, aligned)
            if not aligned.registration.ok:
                self.log(f"{image.file.path.name}: not registered, its melt is measured as taken "
                         f"({aligned.registration.reason})")
        self.store.set_last_frame(image_id, frame)
        window = self.store.window(encoder_sha, self.window_size(model))
        now = utc_now()
        model_sha = self.active.sha256() or ""
        self.store.remember_model(model_sha, model.scene_kind, self._prior_note, now)
        alerts: list[Alert] = []
        scored = None
        trust = self._trust(model, model_sha)
        if model.task == "forecast" and last is not None and melt is not None:
            scored = self._score(self.store.open_forecast(int(last.id)), image_id, melt, last.measured_melt, trust)
        prediction, note, guarded = None, None, None
        if model.task == "forecast" or len(window) >= 2:
            measured = np.array([0.0, *[w.measured_melt for w in window[1:]]], dtype=np.float32)
            embeddings = np.stack([w.embedding for w in window])
            dated = WindowSequence.of(window)
            outputs = model.melt(embeddings, dated, measured).astype(np.float64)
            scores = None if model.ood is None else window_scores(model, window)
            perspective = None
            if all(w.perspective is not None for w in window):
                perspective = np.array([w.perspective for w in window], dtype=np.float64)
            guarded = model.guard(dated, measured, outputs, scores, StageTimes(), perspective)
            if perspective is not None:
                fallback = model.calibration.fallback if model.calibration is not None else None
                note = kind_note(perspective, model.scene_kind, fallback)
            if model.task == "forecast":
                value, halfwidth = guarded.forecast_next, guarded.forecast_next_halfwidth
                fallback = guarded.forecast_next_fallback
            else:
                value = float(guarded.predicted[-1])
                halfwidth = None if guarded.halfwidth is None else float(guarded.halfwidth[-1])
                fallback = bool(guarded.fallback[-1])
            ood = bool(guarded.ood[-1]) if guarded.ood is not None else False
            low, high = (None, None) if halfwidth is None else (value - halfwidth, value + halfwidth)
            prediction = PredictionRow(None, image_id, model_sha, model.task, float(value), low, high, ood, fallback,
                                       None, None, None, None, now)
            if trust is not None:
                prediction = self._online(prediction, trust, model, image_id)
            prediction_id = self.store.insert_prediction(prediction)
            prediction = replace(prediction, id=prediction_id)
            if model.task == "nowcast" and melt is not None:
                scored = self._score(prediction, image_id, melt, last.measured_melt if last else None, trust)
            threshold = self.options.alert_threshold
            if threshold is not None and value > threshold:
                alerts.append(Alert(None, image_id, "threshold", float(value),
                                    {"threshold": threshold, "task": model.task, "image": image.file.path.name,
                                     "date": image.date.isoformat(), "fallback": fallback}, now))
        if trust is not None:
            self.store.save_online_state(model_sha, trust.to_state(), now)
        if self.options.regions_mask is not None and model.regions is None and self.motion is None \
                and not self._told_regions:
            self._told_regions = True
            self.log(f"--regions-mask {self.options.regions_mask}: not used (this bundle has no per-region model "
                     "and motion is off: add --glacier-mask or --stable-mask, or train with --frame-regions)")
        if model.regions is not None and cells is not None:
            original = decoded.original.shape[1::-1] if decoded.original is not None else (FRAME_SIZE, FRAME_SIZE)
            alerts.extend(self.regions.step(
                self.store, model.regions, melt_mask, image_id, cells, frame,
                previous[1] if previous is not None else None, window,
                guarded.ood if guarded is not None else None, (int(original[0]), int(original[1])),
                self.window_size(model), {"image": image.file.path.name, "date": image.date.isoformat()}, now))
        motion = None
        if self.motion is not None and decoded.original is not None:
            step = self.motion.step(self.store, image_id, image.date, decoded.original, now, image.file.path.name)
            motion = step.row
            alerts.extend(step.alerts)
        if scored is not None and scored.inside is False:
            alerts.append(Alert(None, image_id, "unexpected_change", float(melt),
                                {"interval_low": scored.interval_low, "interval_high": scored.interval_high,
                                 "predicted": scored.value, "image": image.file.path.name,
                                 "date": image.date.isoformat()}, now))
        stored = tuple(replace(alert, id=self.store.insert_alert(alert)) for alert in alerts)
        return Taken("processed", image, "", melt, prediction, scored, stored, note, motion)

    def _trust(self, model, model_sha: str) -> OnlineTrust | None:
        """This model's online state at this station: stored, or fresh (the station prior, the bundle's
        interval) for a model it has not run before; None when the bundle has no melt range."""
        calibration = model.calibration
        if calibration is None or calibration.melt_range is None:
            return None
        stored = self.store.online_state(model_sha)
        if stored is not None:
            return OnlineTrust.from_state(stored)
        low, high = calibration.melt_range
        return station_trust(low, high, calibration.halfwidth)

    def _online(self, prediction: PredictionRow, trust: OnlineTrust, model, image_id: int) -> PredictionRow:
        """The station's own answer for this prediction: the served value and the naive answers
        known now (as :func:`glacier_edge.signals.history.naive` defines them for the task),
        combined with the weights learnt so far."""
        before = None if model.task == "forecast" else image_id  # nowcast: the target's own melt is not known
        newest, total, count = self.store.measured_history(before)
        fallback = model.calibration.train_mean
        answers = (prediction.value, fallback if newest is None else newest, total / count if count else fallback)
        value, halfwidth = trust.combine(np.asarray(answers)), trust.halfwidth()
        low, high = (value - halfwidth, value + halfwidth) if np.isfinite(halfwidth) else (None, None)
        return replace(prediction, online_value=value, online_low=low, online_high=high, online_answers=answers)

    def _score(self, prediction: PredictionRow | None, target_id: int, melt: float,
               previous_melt: float | None, trust: OnlineTrust | None = None) -> PredictionRow | None:
        """Score the prediction made for this image: error, persistence's error, inside the interval;
        and teach the online state what its answers would have missed by."""
        if prediction is None or prediction.id is None:
            return None
        if trust is not None and prediction.online_answers is not None:
            _, _, online_inside = trust.update(np.asarray(prediction.online_answers), melt)
            self.store.score_online(prediction.id, online_inside)
            prediction = replace(prediction, online_inside=online_inside)
        error = abs(prediction.value - melt)
        persistence = None if previous_melt is None else abs(previous_melt - melt)
        inside = None
        if prediction.interval_low is not None and prediction.interval_high is not None:
            inside = bool(prediction.interval_low <= melt <= prediction.interval_high)
        self.store.score(prediction.id, target_id, error, persistence, inside)
        return replace(prediction, target_image_id=target_id, error=error, persistence_error=persistence,
                       inside=inside)

