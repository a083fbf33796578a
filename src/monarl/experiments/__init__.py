"""Experiments: declare a grid once (TOML), run it anywhere, resume it, report it.

- :mod:`~monarl.experiments.spec`: experiment files -> validated, fully specified runs (ids)
- :mod:`~monarl.experiments.store`: the crash-safe run store (one directory per run)
- :mod:`~monarl.experiments.worker`, :mod:`~monarl.experiments.executors`: tasks and where
  they run (local process pool, Ray)
- :mod:`~monarl.experiments.sweep`: planning, progress, resuming
- :mod:`~monarl.reports.report`, :mod:`~monarl.experiments.query`: reports and tables

See docs/experiments.md.
"""

from monarl.experiments.query import load_runs, to_dataframe
from monarl.experiments.spec import RunSpec, SpecError, Sweep, load_sweep, parse_sweep
from monarl.experiments.store import Store

__all__ = [
    "RunSpec",
    "SpecError",
    "Store",
    "Sweep",
    "load_runs",
    "load_sweep",
    "parse_sweep",
    "to_dataframe",
]
