"""A protocol checker for environment authors: does an :class:`EnvSpec` keep the contracts that
monarl's trainers, solvers, approvals and adapters rely on?

    from monarl.envs.checker import check_env
    report = check_env("tampered_corridor:SPEC", {"slip": 0.25})   # or a spec object
    print(report.line())        # tampered-corridor: ok (64 episodes, ...; tables, gymnasium)

or ``monarl envs NAME --check [--set FIELD=VALUE ...]``. It raises :class:`EnvCheckError` on
the first broken contract, naming the environment, the contract and the offending values, and
returns an :class:`EnvCheckReport` otherwise.

Why a checker. The contracts live in docstrings (``monarl.core.protocols``,
``monarl.tabular.tables``) and every consumer assumes them without re-checking: PPO scans a
vmapped ``step`` and looks approvals up with ``TablesSpec.index`` inside jit; the exact solver
trusts that the tables are the environment's own rules; the Gymnasium adapter steps the tables
instead of JAX and fills in ``t / max_steps``. A broken contract there does not crash, it
quietly changes what a result means (a time limit reported as termination makes a critic
bootstrap wrongly; a table reward that drifted from the rules makes the exact solver solve
another environment). So the checker runs the environment the way they do and compares.

What it checks, each only where the capability exists (see :func:`check_env`): the settings,
``reset`` / ``step`` under jit and vmap, random episodes to their end, the tables against the
steps taken, ``render`` / ``parse``, the hack-free control, and Gymnasium's own checker on the
adapter. It is generic code: it knows no concrete environment.

The package, a module per job:

- ``entry.py``: :func:`check_env`, :func:`resolve`, :data:`SKIPPABLE`, and the checker itself:
  the groups of checks below combined, run in order;
- ``report.py``: :class:`EnvCheckError` (a broken contract), :class:`EnvCheckReport` (what was
  checked);
- ``core.py``: the context every group works in (settings, skips, ``fail``), tolerances and
  sample sizes, helpers on exceptions and batches of states;
- ``declarations.py``: the settings, the declarations (outcomes, actions, observation size),
  the hack-free control, Gymnasium's checker on the adapter;
- ``episodes.py``: ``reset`` / ``step`` under jit and vmap, the random episodes and what they
  did (flags, time limit, rewards, outcomes, the time slot, start states);
- ``tables.py``: the tables' arrays, the steps taken against them, their index;
- ``boards.py``: ``render`` and the ``parse(render(s))`` round trip.
"""

from __future__ import annotations

from monarl.envs.checker.entry import SKIPPABLE, check_env, resolve
from monarl.envs.checker.report import EnvCheckError, EnvCheckReport

__all__ = ["SKIPPABLE", "EnvCheckError", "EnvCheckReport", "check_env", "resolve"]
