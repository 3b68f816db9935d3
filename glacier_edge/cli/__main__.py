"""`python -m glacier_edge.cli`: the same commands as the `glacier-edge` script (cold-start benchmarks
time exactly this)."""

import os
import sys

from glacier_edge.cli import main

main(prog_name=os.path.basename(sys.argv[0]))
