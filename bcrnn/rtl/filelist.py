"""File lists (`.f`): one list of sources per top, shared by simulation, synthesis and place-and-route. One path per
line, relative to the list's folder; `#` or `//` starts a comment; a line naming another `.f` includes it."""

from __future__ import annotations

from pathlib import Path


def read_filelist(path: str | Path) -> list[Path]:
    """The sources a file list names, includes expanded, as absolute paths in order (each once)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"file list {path} does not exist")
    out: list[Path] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].split("//", 1)[0].strip()
        if not line:
            continue
        item = (path.parent / line).resolve()
        for source in read_filelist(item) if item.suffix == ".f" else [item]:
            if not source.is_file():
                raise FileNotFoundError(f"{path}: {line} names {source}, which does not exist")
            if source not in out:
                out.append(source)
    return out


def expand_sources(items, base: Path) -> list[Path]:
    """Sources given as paths (relative to `base`) or file lists (`.f`), expanded in order."""
    out: list[Path] = []
    for item in items:
        path = Path(item) if Path(item).is_absolute() else Path(base) / item
        for source in read_filelist(path) if path.suffix == ".f" else [path.resolve()]:
            if source not in out:
                out.append(source)
    return out
