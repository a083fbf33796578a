"""Warnings the sandbox says once per process, on stderr.

Why one place: a sweep runs thousands of programs, and a warning about how they run (the
fallback is no security boundary; this bwrap cannot bound /tmp) is worth one line, not one per
program, and must still be said even when several threads start programs at once.
"""

from __future__ import annotations

import sys
import threading


class Once:
    """A message printed on stderr by the first :meth:`say` only (until :meth:`clear`)."""

    def __init__(self) -> None:
        self._said = threading.Event()
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        with self._lock:
            if self._said.is_set():
                return
            self._said.set()
        print(message, file=sys.stderr, flush=True)

    def clear(self) -> None:
        """Forget that it was said (tests)."""
        self._said.clear()
