#!/usr/bin/env python3
"""The encoder family measured side by side: what each backbone costs a station and what it
gives held out. One row per backbone × precision (`benchmarks/results/backbones.md`).

Three steps, each saving JSON under benchmarks/results/backbones/ so they can run on different
machines (the skill step is ~5 min of CPU per backbone × task × views; a GPU machine with many
cores runs them side by side):

    python benchmarks/backbones.py skill [--jobs 2] [--device cpu]   # held-out skill, coverage, OOD
    python benchmarks/backbones.py cost                              # params, GMAC, MB, ms, cold run
    python benchmarks/backbones.py table                             # merge → backbones.md/.json

skill: `evaluate`'s grouped 5-fold over the shared corpus (the whole recipe per fold: calibration
folds, gain, intervals, OOD threshold) for nowcast and forecast, with five views per training
frame (the default) and with one (`views` column); the OOD guard alone (as benchmarks/ood_folds.py)
on held-out optical, false-colour and radar-like frames. cost: a bundle per backbone trained on
the generated sample (random init: cost does not depend on the weights), exported fp32 and int8,
parity verified, then `bench`'s own measurement (encoder ms/frame P50 at T = 24, cold `run` wall
and peak RSS). All encoders are random init (seeded): no weights can be downloaded here.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PARTS = RESULTS / "backbones"
CORPUS = ROOT.parent / "shared" / "data" / "glacierview_landsat"
FAMILY = ("resnet50", "resnet18", "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0", "none")
TASKS = ("nowcast", "forecast")
GOAL_GMAC_RATIO = 5.0
GOAL_SKILL_GAP = 0.02


def _skill_job(backbone: str, task: str, views: int, epochs: int, folds: int, cache: str, device: str | None,
               out: str, image_size: int = 128) -> str:
    """One held-out evaluation in its own process (one torch thread: jobs run side by side)."""
    import torch

    from glacier_edge.contracts import TrainConfig
    from glacier_edge.training.evaluation import run_evaluation

    torch.set_num_threads(1)
    torch.backends.cudnn.allow_tf32 = False  # fp32 convolutions on a GPU, as on the CPU and in encoder.onnx
    config = TrainConfig(task=task, weights="random", backbone=backbone, augmentations=views - 1, epochs=epochs,
                         folds=folds, image_size=image_size)
    started = time.perf_counter()
    result = run_evaluation([CORPUS], config=config, cache_dir=Path(cache), out_dir=None, echo=lambda _: None,
                            device=device if backbone != "none" else None)
    row = {"backbone": backbone, "task": task, "views": views, "epochs": epochs, "folds": folds,
           "image_size": image_size, "encoder": result["encoder"], "device": device or "cpu",
           "pooled_skill": result["pooled_skill"]["graph_model"],
           "best_baseline": result["pooled_skill"]["best_baseline"],
           "pooled_coverage": result["pooled_coverage"],
           "heldout_optical_ood_share": (sum(f["ood_flag_share"] * f["frames"] for f in result["folds"])
                                         / sum(f["frames"] for f in result["folds"])),
           "regions": [{"region": r["region"], "skill": r["skill"]["graph_model"], "coverage": r["coverage"]}
                       for r in result["regions"]],
           "seconds": time.perf_counter() - started}
    row["worst_region_skill"] = min((r["skill"] for r in row["regions"]), default=float("nan"))
    size = "" if image_size == 128 else f"_{image_size}px"
    path = Path(out) / f"skill_{backbone}{size}_{task}_v{views}.json"
    path.write_text(json.dumps(row, indent=1))
    return f"{backbone} {task} views {views}: skill {row['pooled_skill']:+.3f} (worst region " \
           f"{row['worst_region_skill']:+.3f}), coverage {row['pooled_coverage']:.2f}, {row['seconds']:.0f} s"


def _ood_job(backbone: str, folds: int, cache: str, device: str | None, out: str) -> str:
    import torch
    from ood_folds import ood_rows

    from glacier_edge.contracts import TrainConfig

    torch.set_num_threads(1)
    torch.backends.cudnn.allow_tf32 = False
    rows, fold_rows, label = ood_rows(TrainConfig(weights="random", backbone=backbone), folds, Path(cache),
                                      device=device if backbone != "none" else None, echo=lambda _: None)
    (Path(out) / f"ood_{backbone}.json").write_text(json.dumps({"backbone": backbone, "encoder": label,
                                                               "rows": rows, "folds": fold_rows}, indent=1))
    return f"{backbone} OOD: " + ", ".join(f"{r['group'].split(' (')[0]} {r['flagged_share']:.1%}" for r in rows)


def skill(args: argparse.Namespace) -> None:
    if not CORPUS.is_dir():
        sys.exit(f"skipping: the corpus {CORPUS} is absent (it is read from ../shared/data beside the clone)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # quick OOD jobs first, then the evaluations, the largest encoder first (they take longest)
    jobs = [(_ood_job, (b, args.folds, args.cache, args.device, str(out))) for b in args.backbones] \
        if args.ood else []
    jobs += [(_skill_job, (b, t, v, args.epochs, args.folds, args.cache, args.device, str(out), args.image_size))
             for b in args.backbones for v in args.views for t in args.tasks
             if args.skill and (v == max(args.views) or b in args.one_view_backbones)]
    print(f"{len(jobs)} jobs, {args.jobs} at a time, encoder on {args.device or 'cpu'}", flush=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        pending = [pool.submit(function, *job) for function, job in jobs]
        for future in as_completed(pending):
            try:
                print(future.result(), flush=True)
            except Exception as exc:  # report and go on: the other rows are still worth having
                print(f"job failed: {type(exc).__name__}: {exc}", flush=True)


def cost(args: argparse.Namespace) -> None:
    import tempfile

    from click.testing import CliRunner

    import glacier_edge.training.reference  # noqa: F401  (registers the PyTorch variant)
    from glacier_edge.bench.run import run_bench
    from glacier_edge.bench.system import system_info
    from glacier_edge.cli import main
    from glacier_edge.training.encoder import build_encoder

    PARTS.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for backbone in args.backbones:
            encoder, record = build_encoder("random", backbone)
            params = sum(p.numel() for p in encoder.parameters())
            run, bundle_dir = Path(scratch) / f"run_{backbone}", Path(scratch) / f"bundle_{backbone}"
            for command in (["train", "--backbone", backbone, "--weights", "random", "--augmentations", "0",
                             "--epochs", "30", "--out", str(run)],
                            ["export", str(run), "--out", str(bundle_dir), *([] if backbone == "none" else ["--int8"])],
                            ["verify", str(bundle_dir)]):
                result = runner.invoke(main, command)
                if result.exit_code != 0:
                    sys.exit(f"{backbone}: {' '.join(command[:1])} failed: {result.output[-2000:]}")
            report, _ = run_bench(bundle_dir, frame_counts=(24,), providers=["cpu"], threads=None, runs=args.runs,
                                  cold_runs=args.cold_runs, echo=lambda _: None)
            for variant in report.by_frames[0].variants:
                if variant.spec.kind != "ort":
                    continue
                cold = report.cold_start.get(f"glacier-edge run (ORT {variant.spec.precision})")
                files = ["encoder.int8.onnx" if variant.spec.precision == "int8" else "encoder.onnx", "gnn.onnx",
                         "ood.onnx"]
                rows.append({"backbone": backbone, "precision": variant.spec.precision, "params": params,
                             "gmac_per_frame": record.backbone.gflop_per_frame / 2,
                             "embedding_dim": record.backbone.embedding_dim,
                             "bundle_mb": sum((bundle_dir / f).stat().st_size for f in files
                                              if (bundle_dir / f).exists()) / 1e6,
                             "encoder_ms_per_frame_p50": variant.encoder.p50 * 1e3 / variant.frames,
                             "total_ms_per_frame_p50": variant.ms_per_frame("p50"),
                             "parity": variant.parity.label,
                             "cold_run_s": cold.wall_s_median if cold else None,
                             "cold_run_peak_rss_mb": cold.peak_rss_mb_max if cold else None})
                print(json.dumps(rows[-1]), flush=True)
    (PARTS / "cost.json").write_text(json.dumps({"system": system_info(None).line(), "rows": rows}, indent=1))
    print(f"wrote {PARTS / 'cost.json'}")


def _load(pattern: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(PARTS.glob(pattern))]


def table(args: argparse.Namespace) -> None:
    cost_data = json.loads((PARTS / "cost.json").read_text())
    every = _load("skill_*.json")
    skills = {(r["backbone"], r["task"], r["views"]): r for r in every if r.get("image_size", 128) == 128}
    resized = [r for r in every if r.get("image_size", 128) != 128]
    ood = {r["backbone"]: {row["group"].split(" (")[0] + (" " + row["group"].split("bands ")[1][:5]
                                                         if "bands" in row["group"] else ""): row["flagged_share"]
                           for row in r["rows"]} for r in _load("ood_*.json")}

    def fmt(value: float | None, pattern: str) -> str:
        return "—" if value is None or value != value else format(value, pattern)

    def task_cells(backbone: str, views: int) -> list[str]:
        cells = []
        for task in TASKS:
            row = skills.get((backbone, task, views))
            cells += [fmt(row and row["pooled_skill"], "+.3f"), fmt(row and row["worst_region_skill"], "+.3f"),
                      fmt(row and row["pooled_coverage"], ".2f")]
        return cells

    header = ["backbone", "precision", "params (M)", "GMAC/frame", "bundle MB", "encoder ms/frame P50 (T=24)",
              "cold run s", "peak RSS MB", "nowcast skill", "worst world region", "cover", "forecast skill",
              "worst world region", "cover", "OOD: held-out optical", "false colour B,R,G", "false colour G,B,R",
              "radar-like"]
    lines = [cost_data["system"], "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in cost_data["rows"]:
        backbone = row["backbone"]
        rates = ood.get(backbone, {})
        flags = [fmt(rates.get(k), ".1%") for k in ("held-out corpus", "false colour B,R,G", "false colour G,B,R",
                                                     "radar-like")]
        lines.append("| " + " | ".join([backbone, row["precision"], f"{row['params'] / 1e6:.2f}",
                                        f"{row['gmac_per_frame']:.3f}", f"{row['bundle_mb']:.1f}",
                                        f"{row['encoder_ms_per_frame_p50']:.2f}", fmt(row["cold_run_s"], ".2f"),
                                        fmt(row["cold_run_peak_rss_mb"], ".0f"),
                                        *(task_cells(backbone, 5) if row["precision"] == "fp32" else ["″"] * 6),
                                        *(flags if row["precision"] == "fp32" else ["″"] * 4)]) + " |")
    views = sorted({(b, v) for b, _, v in skills if v == 1})
    if views:
        lines += ["", "views: the same recipe trained on one view per frame instead of five (4 augmentations)", "",
                  "| backbone | views | nowcast skill | worst region | cover | forecast skill | worst region | cover |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for backbone, _ in views:
            for count in (5, 1):
                lines.append("| " + " | ".join([backbone, str(count), *task_cells(backbone, count)]) + " |")
    if resized:
        lines += ["", "--image-size: the frame resized inside the encoder (random init: this measures cost and the "
                      "effect on random features, not what pretrained weights gain)", "",
                  "| backbone | image size | task | skill | worst world region | cover |",
                  "|---|---:|---|---:|---:|---:|"]
        for row in sorted(resized, key=lambda r: (r["backbone"], r["task"])):
            base = skills.get((row["backbone"], row["task"], row["views"]))
            for size, r in ((128, base), (row["image_size"], row)):
                if r is not None:
                    lines.append(f"| {row['backbone']} | {size} | {row['task']} | {r['pooled_skill']:+.3f} | "
                                 f"{r['worst_region_skill']:+.3f} | {r['pooled_coverage']:.2f} |")
    devices = sorted({r["device"] for r in skills.values()})
    lines += ["", f"skill: grouped 5-fold over the 35-sequence corpus, the whole recipe per fold; every encoder "
                  f"random init (seed 0), NOT PRETRAINED; encoder run on {', '.join(devices) or '—'}, graph models "
                  "trained on the CPU. cost: this CPU, a bundle trained on the generated sample."]
    lines += ["", goal_statement(cost_data["rows"], skills, ood)]
    text = "\n".join(lines)
    print(text)
    (RESULTS / "backbones.md").write_text(text + "\n")
    (RESULTS / "backbones.json").write_text(json.dumps({"cost": cost_data, "skill": list(skills.values()),
                                                        "ood": ood}, indent=1))


def ood_goal_met(rates: dict[str, float]) -> bool:
    """Held-out optical ≤ 5 % flagged; both false-colour composites and radar-like ≥ 90 %."""
    return (rates.get("held-out corpus", 1.0) <= 0.05 and rates.get("radar-like", 0.0) >= 0.9
            and rates.get("false colour B,R,G", 0.0) >= 0.9 and rates.get("false colour G,B,R", 0.0) >= 0.9)


def goal_statement(cost_rows: list[dict], skills: dict, ood: dict[str, dict[str, float]]) -> str:
    """The issue's goal in one paragraph: an encoder ≥ 5× cheaper than ResNet50 within 0.02 of its
    held-out skill in both tasks that meets the OOD goals, or why none is."""
    gmac = {r["backbone"]: r["gmac_per_frame"] for r in cost_rows if r["precision"] == "fp32"}
    reference = {t: skills.get(("resnet50", t, 5)) for t in TASKS}
    if "resnet50" not in gmac or not all(reference.values()):
        return "goal: not judged (ResNet50's rows are missing)"
    verdicts = []
    for backbone, cost_gmac in gmac.items():
        if backbone in ("resnet50", "none") or gmac["resnet50"] / max(cost_gmac, 1e-9) < GOAL_GMAC_RATIO:
            continue
        gaps = {t: skills[(backbone, t, 5)]["pooled_skill"] - reference[t]["pooled_skill"]
                for t in TASKS if (backbone, t, 5) in skills}
        skill_ok = len(gaps) == len(TASKS) and all(gap >= -GOAL_SKILL_GAP for gap in gaps.values())
        ood_ok = ood_goal_met(ood.get(backbone, {}))
        verdict = "MEETS the goal" if skill_ok and ood_ok else \
            f"misses it ({'skill' if not skill_ok else ''}{' and ' if not (skill_ok or ood_ok) else ''}" \
            f"{'OOD' if not ood_ok else ''})"
        verdicts.append(f"{backbone} ({gmac['resnet50'] / cost_gmac:.0f}× cheaper): skill minus ResNet50's "
                        + ", ".join(f"{t} {g:+.3f}" for t, g in gaps.items()) + f" — {verdict}")
    return ("goal (≥ 5× cheaper in GMAC, held-out skill no more than 0.02 below ResNet50's in both tasks, OOD "
            "≤ 5 % on held-out optical and ≥ 90 % on false colour and radar): " + "; ".join(verdicts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_skill = commands.add_parser("skill", help="held-out skill, coverage and OOD rates per backbone")
    run_skill.add_argument("--backbones", nargs="+", default=list(FAMILY))
    run_skill.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    run_skill.add_argument("--views", nargs="+", type=int, default=[5, 1])
    run_skill.add_argument("--one-view-backbones", nargs="*", default=["resnet50", "mobilenet_v3_small"],
                           help="backbones also evaluated with one view (the views column)")
    run_skill.add_argument("--epochs", type=int, default=200)
    run_skill.add_argument("--image-size", type=int, default=128, help="pixels the backbone sees (resized inside)")
    run_skill.add_argument("--folds", type=int, default=5)
    run_skill.add_argument("--jobs", type=int, default=2)
    run_skill.add_argument("--device", default=None, help="where the encoders run (cuda on a GPU machine)")
    run_skill.add_argument("--no-ood", dest="ood", action="store_false", help="skip the OOD guard's rates")
    run_skill.add_argument("--no-skill", dest="skill", action="store_false", help="only the OOD guard's rates")
    run_skill.add_argument("--cache", default=str(Path.home() / ".cache" / "glacier-edge"))
    run_skill.add_argument("--out", default=str(PARTS))
    run_skill.set_defaults(function=skill)
    run_cost = commands.add_parser("cost", help="params, GMAC, bundle MB, encoder ms, cold run on this CPU")
    run_cost.add_argument("--backbones", nargs="+", default=list(FAMILY))
    run_cost.add_argument("--runs", type=int, default=20)
    run_cost.add_argument("--cold-runs", type=int, default=3)
    run_cost.set_defaults(function=cost)
    commands.add_parser("table", help="merge the saved parts").set_defaults(function=table)
    args = parser.parse_args()
    args.function(args)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
