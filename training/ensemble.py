"""`bcrnn ensemble` (bcrnn.ensemble), an ensemble of BCRNN runs scored with the integer reference: `python training/ensemble.py --help`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcrnn.ensemble import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
