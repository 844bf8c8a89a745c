"""``python -m d360_async.testing``: run the emulator until interrupted."""

from ._cli import main

raise SystemExit(main())
