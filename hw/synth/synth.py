"""Yosys resource estimates of the hw/rtl/ blocks: `python hw/synth/synth.py --help` (bcrnn.rtl.synth)."""

import sys

from bcrnn.rtl.synth import main

if __name__ == "__main__":
    sys.exit(main())
