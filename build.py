"""Build Caretaker into dist/, or deploy it: `python build.py --help`."""

from __future__ import annotations

import sys

from builder.cli import main

if __name__ == "__main__":
    sys.exit(main())
