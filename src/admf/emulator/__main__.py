"""python -m admf.emulator: the same as `admf emulator`."""

import sys

from admf.emulator.cli import main

sys.exit(main())
