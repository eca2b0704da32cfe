"""Run every ``benchmarks/bench_*.py`` in turn: ``python -m benchmarks [--quick]``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

for path in sorted(Path(__file__).parent.glob("bench_*.py")):
    module = importlib.import_module(f"benchmarks.{path.stem}")
    print(f"-- {path.stem}", flush=True)
    module.main()
    sys.stdout.flush()
