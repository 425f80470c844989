"""YAML settings picked by name or path (RTL foldings in hw/rtl/folding/, FINN build targets in
finn_build/targets/): one loader, so both give the same errors for a missing file or a misspelt key."""

from __future__ import annotations

from pathlib import Path

import yaml


def load_named_yaml(name_or_path: str | Path, folder: Path, what: str, keys) -> tuple[Path, dict]:
    """(path, mapping) of a YAML file given by path, or by name as <folder>/<name>.yaml; every key must be in
    `keys`. Raises FileNotFoundError listing the known names, or ValueError naming the unknown keys or where the
    YAML does not parse."""
    path = Path(name_or_path)
    if not path.is_file():
        path = folder / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise FileNotFoundError(f"no {what} {str(name_or_path)!r}: give a YAML file or one of {known}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    unknown = set(data) - set(keys)
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)} (known: {', '.join(sorted(keys))})")
    return path, data
