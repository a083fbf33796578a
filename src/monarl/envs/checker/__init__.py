"""A protocol checker for environment authors: does an :class:`EnvSpec` keep the contracts that
monarl's trainers, solvers, approvals and adapters rely on?

    from monarl.envs.checker import check_env
    report = check_env("tampered_corridor:SPEC", {"slip": 0.25})   # or a spec object
    print(report.line())        # tampered-corridor: ok (64 episodes, ...; tables, gymnasium)
    print(check_env("loan-text").line())  # loan-text: ok (64 cases, 128 turns; text, ...)

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

The language-model trainer is no different: it calls ``prompt`` with whatever its model wrote,
stacks ``judge``'s rewards into a ``[turns, episodes]`` matrix, pretrains a tiny model on the
demonstrations as if the environment had shown them, and reports ``evaluate``'s metrics.

What it checks, each only where the capability exists (see :func:`check_env`): the settings;
for the JAX capability ``reset`` / ``step`` under jit and vmap, random episodes to their end,
the tables against the steps taken, ``render`` / ``parse`` and Gymnasium's own checker on the
adapter; for the text capability (``TextSpec``) the turns and metrics declared, ``sample``'s
cases, ``prompt``'s chats after demonstration, empty and random replies (with and without the
inoculation prompt), the demonstrations against ``prompt``, ``judge``'s and ``overseer``'s
rewards, and ``evaluate`` with stub policies; then the hack-free control. An environment with
both capabilities gets both checked. It is generic code: it knows no concrete environment.

The package, a module per job:

- ``entry.py``: :func:`check_env`, :func:`resolve`, :data:`SKIPPABLE`, and the checker itself:
  the groups of checks below combined, run in order;
- ``report.py``: :class:`EnvCheckError` (a broken contract), :class:`EnvCheckReport` (what was
  checked);
- ``core.py``: the context every group works in (settings, skips, ``fail``), tolerances and
  sample sizes, helpers on exceptions, batches of states and chats;
- ``declarations.py``: the settings, the declarations (which capabilities, outcomes,
  actions, observation size), the hack-free control, Gymnasium's checker on the adapter;
- ``episodes.py``: ``reset`` / ``step`` under jit and vmap, the random episodes and what they
  did (flags, time limit, rewards, outcomes, the time slot, start states);
- ``tables.py``: the tables' arrays, the steps taken against them, their index;
- ``boards.py``: ``render`` and the ``parse(render(s))`` round trip;
- ``text.py``: the text capability's declarations, ``sample``, ``demonstrations`` and
  ``prompt`` (the chats, the inoculation prompt);
- ``text_judging.py``: ``judge``, ``overseer`` and ``evaluate`` (with stub policies).
"""

from __future__ import annotations

from monarl.envs.checker.entry import SKIPPABLE, check_env, resolve
from monarl.envs.checker.report import EnvCheckError, EnvCheckReport

__all__ = ["SKIPPABLE", "EnvCheckError", "EnvCheckReport", "check_env", "resolve"]
