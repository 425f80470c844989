"""`bcrnn train` (bcrnn.train_command), train and score a CRNN / BCRNN: `python training/train.py --help`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcrnn.train_command import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
