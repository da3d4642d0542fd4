"""``python -m plugin`` runs the full command line, ``serve`` included."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
