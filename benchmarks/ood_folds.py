#!/usr/bin/env python3
"""The out-of-distribution guard alone, over all 35 corpus sequences: grouped 5-fold by sequence
(each sequence held out once), the OOD summary fitted on the other 28 and calibrated on their own
3 grouped folds exactly as `train` does, then held-out, false-colour, radar-like and other real
imagery scored with the window rule. No graph model is trained (the guard does not depend on
it), so this complements the single split of `benchmarks/trust.py`. Saved to
benchmarks/results/ood_folds.{txt,json}.

    python benchmarks/ood_folds.py [--weights auto] [--backbone resnet50] [--folds 5]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from trust import CORPUS, OTHER_OPTICAL, RESULTS, SHARED, false_colour, radar_like

from glacier_edge.bench.system import system_info
from glacier_edge.contracts import TrainConfig
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.ingest.frames import FrameSequence, expand_sequences, read_sequence
from glacier_edge.paths import default_cache_dir
from glacier_edge.signals.ood import (
    calibrate_ood,
    colour_features,
    fit_summary,
    ood_terms,
    scores_from_terms,
    window_is_ood,
)

GROUPS = ("held-out corpus (optical, Landsat)", "false colour (bands B,R,G)", "false colour (bands G,B,R)",
          "radar-like (grey speckle)", "other optical (Sentinel-2 Rutor, Aletsch, 2019 scenes)")


def ood_rows(config: TrainConfig, folds: int, cache: Path, device: str | None = None,
             echo: Callable[[str], None] = print) -> tuple[list[dict], list[dict], str]:
    """(rows per imagery group, per-fold thresholds, the encoder's label) for the encoder that
    ``config`` names: what `benchmarks/backbones.py` reports per backbone."""
    from glacier_edge.training.dataset import embed_views
    from glacier_edge.training.encoder import encoder_for
    from glacier_edge.training.recipe import grouped_folds

    encoder, weights = encoder_for(config)
    if device is not None:
        encoder = encoder.to(device)

    def features(sequence: FrameSequence) -> tuple[np.ndarray, np.ndarray]:
        views, _ = embed_views(sequence, encoder, weights, 0, config.seed, cache)
        return views[0], colour_features(sequence.frames)

    corpus = [read_sequence(path) for path in expand_sequences([CORPUS])]
    echo(f"embedding {len(corpus)} sequences × 4 variants (cached after the first run)")
    variants = [{GROUPS[0]: features(s), GROUPS[1]: features(false_colour(s, (2, 0, 1))),
                 GROUPS[2]: features(false_colour(s, (1, 2, 0))), GROUPS[3]: features(radar_like(s, i))}
                for i, s in enumerate(corpus)]
    other = [features(read_sequence(SHARED / name)) for name in OTHER_OPTICAL if (SHARED / name).exists()]

    def summary_of(indices) -> object:
        return fit_summary(np.concatenate([variants[i][GROUPS[0]][0] for i in indices]),
                           np.concatenate([variants[i][GROUPS[0]][1] for i in indices]))

    own: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
    used: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
    fold_rows = []
    for number, test in enumerate(grouped_folds(len(corpus), folds, config.seed), start=1):
        train = [i for i in range(len(corpus)) if i not in set(test.tolist())]
        terms = []
        for held in grouped_folds(len(train), config.calibration_folds, config.seed):
            summary = summary_of([train[j] for j in range(len(train)) if j not in set(held.tolist())])
            terms += [ood_terms(summary, *variants[train[j]][GROUPS[0]]) for j in held]
        calibration = calibrate_ood(terms)
        summary = summary_of(train)
        fold_rows.append({"fold": number, "threshold": calibration.threshold,
                          "calibration_max_window_share": calibration.heldout_max_window_share})
        cases = {g: [variants[i][g] for i in test] for g in GROUPS[:4]}
        cases[GROUPS[4]] = other  # scored by every fold's guard
        for group, pairs in cases.items():
            for pair in pairs:
                flags = scores_from_terms(ood_terms(summary, *pair), calibration.term_scale) > calibration.threshold
                own[group].append(flags)
                used[group].append(flags | window_is_ood(flags))
        echo(f"fold {number}: threshold {calibration.threshold:.2f}, held-out calibration sequences at most "
             f"{calibration.heldout_max_window_share:.0%} flagged")
    rows = [{"group": g, "sequences": len(own[g]), "frames": int(sum(f.size for f in own[g])),
             "own_score_share": float(np.concatenate(own[g]).mean()),
             "sequences_ood_as_a_whole": int(sum(bool(u.all()) and u.size > 0 and o.mean() >= 0.5
                                                 for o, u in zip(own[g], used[g]))),
             "flagged_share": float(np.concatenate(used[g]).mean()),
             "lowest_sequence_share": float(min(u.mean() for u in used[g]))} for g in GROUPS]
    return rows, fold_rows, weights.label()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--backbone", default=TrainConfig().backbone)
    parser.add_argument("--folds", type=int, default=TrainConfig().folds)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"skipping: the corpus {CORPUS} is absent (it is read from ../shared/data beside the clone)")
    config = TrainConfig(weights=args.weights, backbone=args.backbone)
    rows, folds, label = ood_rows(config, args.folds, default_cache_dir())
    lines = [system_info(None).line(), f"encoder: {label}; {args.folds} grouped folds over "
             f"35 corpus sequences; the other optical imagery is scored by every fold's guard", "",
             "| imagery | sequence-folds | frames | own score above threshold | sequences OOD as a whole | "
             "flagged OOD (what run reports) | lowest sequence |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['group']} | {r['sequences']} | {r['frames']} | {r['own_score_share']:.1%} | "
              f"{r['sequences_ood_as_a_whole']} | {r['flagged_share']:.1%} | {r['lowest_sequence_share']:.0%} |"
              for r in rows]
    table = "\n".join(lines)
    print(table)
    name = "ood_folds" if args.backbone == TrainConfig().backbone else f"ood_folds_{args.backbone}"
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / f"{name}.txt", table + "\n")
    write_json_atomic(RESULTS / f"{name}.json", {"folds": folds, "rows": rows})


if __name__ == "__main__":
    main()
