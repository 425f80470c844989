#!/usr/bin/env python
"""`bcrnn finn` (bcrnn.dataflow.build), the FINN build of a trained BCRNN run: `python finn_build/build.py --help`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcrnn.dataflow.build import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
