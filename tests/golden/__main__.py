"""`python -m tests.golden`: regenerate the golden files (see tests/golden/render.py)."""

from __future__ import annotations

import sys

from tests.golden.render import FILES, write


def main() -> int:
    changed = write()
    for path in changed:
        print(f"updated {FILES.name}/{path}")
    print(f"{len(changed)} golden file(s) changed" if changed else "golden files are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
