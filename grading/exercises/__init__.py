"""Exercise definitions, one module per course module (e.g. ``m01_training_data.py``).

Each module calls :func:`grading.harness.register` at import time. :func:`load_all`
imports every module in this package once, so adding a file is enough to register it.
"""

from __future__ import annotations

import importlib
import pkgutil

_loaded = False


def load_all() -> None:
    """Import every exercise module in this package (once)."""
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True
