"""``python -m reconcile`` is not the command line: it names the command, and exits 2."""

from __future__ import annotations

import sys

# 2 is the command's bad-input code (plugin.cli.ExitCode.BAD_INPUT): the core
# library cannot import the plugin, so the number is written here.
BAD_INPUT = 2

print(
    "the reconcile package is a library; its command is git-reconcile (or python -m plugin)",
    file=sys.stderr,
)
sys.exit(BAD_INPUT)
