"""`bcrnn repetitions` (bcrnn.repetitions), a recipe over repeated cross-validations: `python training/repetitions.py --help`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcrnn.repetitions import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
