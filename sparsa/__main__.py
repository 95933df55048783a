"""``python -m sparsa``: the same command line as ``sparsa``."""

import sys

from sparsa.cli import main

if __name__ == "__main__":
    sys.exit(main())
