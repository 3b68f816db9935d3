#!/usr/bin/env python3
"""Held-out evaluation of the default recipe on the GlacierView Landsat corpus (35 sequences,
read where it lies in ../shared/data): `glacier-edge evaluate` with grouped 5-fold splits (or one
region held out at a time with --group-by region) for nowcast and forecast; tables saved to
benchmarks/results/evaluation_{task}.{txt,json} (evaluation_{task}_regions.* for regions).

    python benchmarks/evaluation.py [--weights auto] [--backbone resnet50] [--epochs 200] [--tasks nowcast forecast]
                                    [--group-by region] [--register]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glacier_edge.bench.system import system_info
from glacier_edge.contracts import GAIN_RULES, IMAGE_INPUTS, TrainConfig
from glacier_edge.fileio import write_json_atomic, write_text_atomic
from glacier_edge.paths import default_cache_dir
from glacier_edge.training.evaluation import evaluation_table, run_evaluation

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CORPUS = ROOT.parent / "shared" / "data" / "glacierview_landsat"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--backbone", default=TrainConfig().backbone, help="another encoder: saved with its name")
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--tasks", nargs="+", choices=["nowcast", "forecast"], default=["nowcast", "forecast"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (run tasks side by side with 1)")
    parser.add_argument("--group-by", choices=["sequence", "region"], default="sequence",
                        help="region: leave-one-region-out (regions from the GLIMS IDs in the folder names)")
    parser.add_argument("--calibration-groups", choices=["sequence", "region"],
                        default=TrainConfig().calibration_groups,
                        help="what the recipe's inner calibration folds hold out (a lever to measure)")
    parser.add_argument("--gain-rule", choices=list(GAIN_RULES), default=TrainConfig().gain_rule,
                        help="how the calibration folds set the gain toward the model (a lever to measure)")
    parser.add_argument("--residual-scale", choices=["absolute", "relative"], default=TrainConfig().residual_scale,
                        help="the correction's unit (a lever to measure)")
    parser.add_argument("--image-inputs", choices=list(IMAGE_INPUTS), default=TrainConfig().image_inputs,
                        help="whether the melt model reads the image embedding ('auto': the calibration folds "
                             "choose)")
    parser.add_argument("--extrapolate-outside-range", action="store_true",
                        help="correct the last melt where it lies outside the training range too, instead of "
                             "serving it as it is (the former default, a lever to measure)")
    parser.add_argument("--register", action="store_true",
                        help="co-register every frame to its sequence's first (whole frame as stable ground)")
    parser.add_argument("--band-only", action="store_true",
                        help="with --register, the ablation: the border band left out of melt, no frame moved")
    args = parser.parse_args()
    if args.band_only:  # an ablation, not an option of the tool: every frame registers as the identity
        from glacier_edge.motion import aligned
        from glacier_edge.motion.register import IDENTITY

        aligned.FrameAligner.register = lambda self, frame, size: IDENTITY  # type: ignore[method-assign]
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if not CORPUS.is_dir():
        sys.exit(f"skipping: the corpus {CORPUS} is absent (it is read from ../shared/data beside the clone)")
    system = system_info(None)
    for task in args.tasks:
        config = TrainConfig(epochs=args.epochs, task=task, weights=args.weights, backbone=args.backbone,
                             calibration_groups=args.calibration_groups, register=args.register,
                             gain_rule=args.gain_rule, residual_scale=args.residual_scale,
                             refuse_outside_range=not args.extrapolate_outside_range, image_inputs=args.image_inputs)
        result = run_evaluation([CORPUS], config=config, cache_dir=default_cache_dir(), out_dir=None, echo=print,
                                group_by=args.group_by)
        table = f"{system.line()}\n{evaluation_table(result)}"
        print(table, flush=True)
        RESULTS.mkdir(exist_ok=True)
        name = f"evaluation_{task}" + ("_regions" if args.group_by == "region" else "")
        if args.calibration_groups != TrainConfig().calibration_groups:  # a lever, not the default
            name += f"_calibrated_by_{args.calibration_groups}"
        if args.backbone != TrainConfig().backbone:
            name += f"_{args.backbone}"
        if args.register:
            name += "_band_only" if args.band_only else "_registered"
        if args.gain_rule != TrainConfig().gain_rule:
            name += f"_gain_{args.gain_rule}"
        if args.residual_scale != TrainConfig().residual_scale:
            name += f"_{args.residual_scale}_residual"
        if args.image_inputs != TrainConfig().image_inputs:
            name += f"_images_{args.image_inputs}"
        if args.extrapolate_outside_range:
            name += "_extrapolated"
        write_text_atomic(RESULTS / f"{name}.txt", table + "\n")
        write_json_atomic(RESULTS / f"{name}.json", result)


if __name__ == "__main__":
    main()
