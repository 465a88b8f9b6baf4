"""`python -m dialer ...` is the `dialer` command (works before the console script is on PATH)."""

import sys

from .cli import main

sys.exit(main())
