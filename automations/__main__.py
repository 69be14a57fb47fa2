"""`python -m automations`: see automations/cli/main.py."""

import sys

from automations.cli.main import main

sys.exit(main())
