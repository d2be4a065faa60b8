"""`python -m admf ...` is the `admf` command."""

from admf.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
