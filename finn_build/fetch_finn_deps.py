#!/usr/bin/env python
"""Fetch FINN's non-Python dependencies (finn-hlslib, attention-hlslib, board files, ...) at the commits
finn-plus pins (its finn/interface/external_dependencies.yaml), with finn-plus's own DependencyUpdater.

`finn deps update` does the same but first requires Vivado, which a Docker build does not have; the image runs
this instead and sets FINN_DEPS to the folder.

    python finn_build/fetch_finn_deps.py /opt/finn-deps [--list]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def definitions() -> Path:
    import finn.interface

    return Path(finn.interface.__file__).parent / "external_dependencies.yaml"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", type=Path, help="folder for the dependencies (then export FINN_DEPS=<it>)")
    p.add_argument("--list", action="store_true", help="only list the dependencies and their pinned commits")
    p.add_argument("--git-timeout", type=float, default=600.0)
    args = p.parse_args(argv)
    from finn.interface.manage_deps import DependencyUpdater

    updater = DependencyUpdater(args.target.resolve(), definitions(), args.git_timeout, non_interactive=True)
    for name in updater.deps.get_all_dependencies():
        dep = updater.deps.get_dependency_data(name)
        print(f"{name:20s} {updater.deps.dependency_type_str(name):16s} {getattr(dep, 'url', '')} "
              f"{getattr(dep, 'commit', '')}")
    if not args.list:
        updater.update()
        missing = [n for n in ("finn-hlslib",) if not (args.target / n).is_dir()]
        if missing:
            print(f"error: {', '.join(missing)} not fetched into {args.target}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
