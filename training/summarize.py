"""`bcrnn summarize` (bcrnn.run_summary), mean +- std of runs' finished folds: `python training/summarize.py --help`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcrnn.run_summary import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
