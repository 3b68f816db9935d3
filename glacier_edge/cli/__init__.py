"""The `glacier-edge` command line, the top wing: thin commands that parse, call one function of
a wing below and print. Every wing may be imported from here; nothing imports the CLI.

The group is assembled here from four modules of commands, none of which imports another:
``model`` (frames → train/evaluate → export/verify → run/bench, sample, demo), ``station``
(watch, history, sign), ``archive`` (embed) and ``motion``. Commands that need torch import the torch wing
inside their body, so `run`, `watch` and `--help` work on an edge install without torch.
"""

from __future__ import annotations

import click

from glacier_edge import __version__
from glacier_edge.cli import archive, model, motion, station
from glacier_edge.cli.shared import GlacierEdgeGroup

__all__ = ["main"]


@click.group(cls=GlacierEdgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="glacier-edge")
def main() -> None:
    """Glacier melt from satellite time-lapses: train a ResNet50 + GraphSAGE model, export it
    to ONNX with proven parity, and run it on a small CPU box.

    \b
    Typical use:
      glacier-edge demo                      # the whole pipeline on generated glaciers
      glacier-edge train corpus/             # train on your sequences (a folder of them)
      glacier-edge evaluate corpus/          # held-out skill against the naive answers
      glacier-edge export                    # → ONNX bundle (default location)
      glacier-edge run sequence.gif          # edge runner: ONNX Runtime only, no torch
      glacier-edge watch inbox/              # station: each new image once, state in SQLite
      glacier-edge embed archive/ --store s/ # archive → embedding store (local workers or Ray)
      glacier-edge motion scenes/ --out m/   # surface motion: co-registration, speeds, failure forecast
      glacier-edge speed-model m1/ m2/ m3/ --out speed.json  # learn the next speed across glaciers

    A sequence is an animated GIF, a folder of images (natural name order), or several image
    files. Melt is the mean absolute RGB change between consecutive frames (/255): a pixel
    proxy that snow, cloud and light also move, not glacier mass loss.
    """


for command in (model.frames, model.train, model.run_command, model.evaluate, model.export_command, model.verify,
                model.demo, model.sample, model.bench, station.watch_command, station.history_command,
                station.sign_command, archive.embed_command, motion.motion_command,
                motion.speed_model_command):
    main.add_command(command)

