"""Run admf from a checkout: `python main.py --config config/bollinger/test.yaml` (see `admf --help`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from admf.cli.main import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
