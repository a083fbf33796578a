"""Progress reporting for long training calls: the host callback compiled programs call, and
the terminal bar that shows it.

A jitted trainer reports progress through ``jax.debug.callback``; the callback is part of the
compiled program, so a fresh callback per call would mean a fresh compilation per call.
:class:`ProgressRelay` is the one fixed callback a trainer compiles in; each call points it at
its own target for the duration of the call (:meth:`ProgressRelay.forwarding`), so calls with
and without a progress display share one program.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator


class ProgressRelay:
    """A callback (env steps done per seed) forwarding to a replaceable target."""

    def __init__(self) -> None:
        self.target: Callable[[int], None] | None = None

    def __call__(self, env_steps: int) -> None:
        if self.target is not None:
            self.target(env_steps)

    @contextlib.contextmanager
    def forwarding(self, target: Callable[[int], None] | None) -> Iterator[None]:
        """Forward to ``target`` (None: report nothing) until the block ends."""
        self.target = target
        try:
            yield
        finally:
            self.target = None


def _bars():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[unit]}"), TextColumn("{task.fields[rate]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), transient=False)


UNIT = "env steps/seed"


def _updater(bar, task, total: int) -> Callable[..., None]:
    """The bar's update callback: ``update(done)`` shows the rate of ``done`` per second; a
    trainer whose steps are not environment steps passes its own ``unit`` and ``rate`` text
    (the language-model trainer: updates, and tokens per second)."""
    started = time.perf_counter()

    def update(env_steps: int, rate: str | None = None, unit: str | None = None) -> None:
        elapsed = max(time.perf_counter() - started, 1e-9)
        bar.update(task, completed=min(env_steps, total),
                   rate=rate if rate is not None else f"{env_steps / elapsed:,.0f}/s per seed",
                   unit=unit if unit is not None else UNIT)

    return update


@contextlib.contextmanager
def progress_bar(total: int, quiet: bool, label: str
                 ) -> Iterator[Callable[..., None] | None]:
    """A rich progress bar over ``total`` env steps per seed, shown while the block runs;
    yields its update callback (None when ``quiet``)."""
    if quiet:
        yield None
        return
    bar = _bars()
    task = bar.add_task(label, total=total, rate="", unit=UNIT)
    bar.start()
    try:
        yield _updater(bar, task, total)
    finally:
        bar.stop()


class ProgressBoard:
    """One live display with a bar per training call, for calls that run side by side in
    threads (rich allows one live display at a time; its bars may be updated from any
    thread). ``add(label, total)`` gives a call its update callback (None when quiet); a bar
    appears when it is added, so arms waiting for a free core show no bar yet."""

    def __init__(self, quiet: bool):
        self._bar = None if quiet else _bars()

    def __enter__(self) -> ProgressBoard:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def add(self, label: str, total: int) -> Callable[..., None] | None:
        if self._bar is None:
            return None
        task = self._bar.add_task(label, total=total, rate="", unit=UNIT)
        return _updater(self._bar, task, total)
