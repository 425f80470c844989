"""The project's command-line scripts (training/*.py, hw/synth/synth.py) are files, not package modules: tests
import them by path through this one helper."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str, name: str | None = None) -> ModuleType:
    """Import ROOT/relative_path as module `name` (default: the file's stem), registered in sys.modules so that
    dataclasses and pickling inside it can look their module up."""
    name = name or Path(relative_path).stem
    spec = importlib.util.spec_from_file_location(name, ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
