"""Import a repository script that is not a package module (experiments/, scripts/) by path,
so its functions can be tested without running it."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from helpers.paths import ROOT


def load_script(relative: str) -> ModuleType:
    """The module of `ROOT/relative` (e.g. "experiments/vdg_levers.py"), executed once per call."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
