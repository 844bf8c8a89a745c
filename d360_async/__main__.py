"""``python -m d360_async``: the same as the ``d360`` command (needs the ``cli`` extra)."""

import sys

from .cli import main

sys.exit(main())
