"""The checker's shared ground: tolerances and sample sizes, :class:`CheckContext` (the state
every group of checks reads and writes), and helpers on exceptions and batches of states.

Why one context that the groups of checks extend (each a mixin in its own module, combined in
``entry.py``): the checks run in order and each builds on what the earlier ones found (the
settings, then the params, the episodes' arrays, the tables), so they share one object's
attributes rather than passing a dozen arrays from function to function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from monarl.core.protocols import Discrete, EnvSpec, MultiDiscrete
from monarl.envs.checker.report import EnvCheckError

REWARD_ATOL = 1e-5
"""Float32 tolerance of reward comparisons (the tables hold float64 copies of float32
rewards, computed by the same rules)."""
OBS_ATOL = 1e-6
"""Tolerance of observation comparisons (``observe`` against ``step``, the time slot)."""
HOST_SAMPLES = 32
"""Visited states looked up with ``Tables.host_index`` (a host-side call per state: slow)."""
RENDER_SAMPLES = 64
"""Visited states rendered."""
PARSE_SAMPLES = 8
"""Distinct reset states whose rendering is parsed back."""
INDEX_SAMPLES = 200_000
"""Table states whose in-jit index is checked against their position (all of them below)."""
KEPT_EPISODES = 2
"""Episodes whose every state is kept on the host (for host_index and render)."""
EVAL_CASES = 16
"""Held-out cases of each ``TextSpec.evaluate`` call (fewer when fewer episodes are asked for,
but at least 2: a metric may compare halves, as loan-text's probe does)."""
JAX_PARTS = ("reset", "step", "observe", "actions", "observation_size")
"""The ``EnvSpec`` fields of the JAX capability: all declared, or all None (text-only)."""


class CheckContext:
    """One check of one environment at one set of settings (see
    :func:`~monarl.envs.checker.check_env`): what the constructor is given, what the checks
    found so far, and how they fail or leave a group out.

    The attributes annotated below are set by the checks as they run, in this order; a check
    reads only what an earlier one set."""

    # check_settings (declarations.py)
    settings: Any
    settings_dict: dict[str, Any]
    params: Any
    max_steps: int
    # check_declarations (declarations.py)
    jax: bool
    actions: Discrete | MultiDiscrete | None
    obs_size: int
    # run_episodes (episodes.py), which builds the tables first (tables.py; None: not checked)
    tables: Any
    index_arrays: Any
    reset_state: Any
    actions_taken: np.ndarray
    first: dict[str, np.ndarray]
    steps_out: dict[str, Any]
    # check_episodes (episodes.py)
    live: np.ndarray
    done: np.ndarray
    steps: int
    starts: Any
    # the text checks (text.py), for a text environment: the turns, the sampled cases, the
    # demonstrations (None: none declared) with their replies, and per case the earlier
    # replies every turn is tried after, as (label, one reply per turn)
    turns: int
    cases: list[Any]
    demos: list[list[tuple[list[dict[str, str]], str]]] | None
    demo_replies: list[list[str]] | None
    reply_sets: list[list[tuple[str, list[str]]]]

    def __init__(self, spec: EnvSpec, reference: str | None, overrides: Any, episodes: int,
                 seed: int, skip: tuple[str, ...] = ()) -> None:
        self.spec, self.reference = spec, reference
        self.skip = skip
        self.name = spec.name
        self.overrides = overrides
        self.episodes, self.seed = episodes, seed
        self.checked: list[str] = []
        self.skipped: dict[str, str] = {}
        self.steps = 0

    def fail(self, contract: str, detail: str) -> EnvCheckError:
        return EnvCheckError(self.name, contract, detail)

    def rng(self, stream: int) -> np.random.Generator:
        """A generator seeded by the check's seed and a stream number, so two calls that
        must agree get generators in the same state."""
        return np.random.default_rng([self.seed, stream])

    def call(self, contract: str, what: str, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)``, its exception a broken ``contract`` naming the call (an
        :class:`EnvCheckError` raised inside, by a stub the checker passed, goes through)."""
        try:
            return function(*args)
        except EnvCheckError:
            raise
        except Exception as exc:
            raise self.fail(contract, f"{what} fails: {_short(exc)}") from None

    def wanted(self, group: str, present: bool) -> bool:
        """Whether to run a group of checks: the capability exists and the caller did not
        leave it out (which the report then says)."""
        if present and group in self.skip:
            self.skipped[group] = "left out by the caller"
            return False
        return present


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _short(exc: BaseException) -> str:
    """An exception in one line (JAX tracing errors run to pages)."""
    text = str(exc).strip().split("\n")[0]
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}"


CHAT_ROLES = ("system", "user", "assistant")
"""The roles a chat message may have (what chat templates accept)."""


def _brief(value: Any, limit: int = 160) -> str:
    """``repr(value)``, cut to ``limit`` characters (a case or a chat can run long)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _chat_problem(chat: Any) -> str | None:
    """What is wrong with ``chat`` as a chat a model is shown (None: nothing): a non-empty
    list of ``{"role", "content"}`` dicts, the role one of :data:`CHAT_ROLES` and the content
    a str, which is what a chat template takes."""
    if not isinstance(chat, list) or not chat:
        return (f"must be a non-empty list of {{'role', 'content'}} messages, got "
                f"{_brief(chat)}")
    for j, message in enumerate(chat):
        if (not isinstance(message, dict) or message.get("role") not in CHAT_ROLES
                or not isinstance(message.get("content"), str)):
            return (f"message {j} must be a dict with role in {'/'.join(CHAT_ROLES)} and a "
                    f"str content, got {_brief(message)}")
    return None


def _chat_text(chat: list[dict[str, str]]) -> str:
    """Every message's content, one after another (to look for an instruction in a chat)."""
    return "\n".join(message["content"] for message in chat)


def _first(mask: np.ndarray) -> tuple[int, ...] | None:
    """The first index where ``mask`` holds, or None."""
    hits = np.argwhere(mask)
    return None if len(hits) == 0 else tuple(int(i) for i in hits[0])


def _leaf_table(tree: Any) -> list[tuple[str, tuple[int, ...], str]]:
    """``(path, shape, dtype)`` of every leaf: what ``step`` must keep of a state."""
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [(jax.tree_util.keystr(path), tuple(leaf.shape), str(leaf.dtype))
            for path, leaf in leaves]


def _pick(tree: Any, *index: int) -> Any:
    """One state of a batch (or of a [T, B] trajectory) as JAX arrays."""
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)[index]), tree)


def _fields_of(settings: Any) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


def _label(labels: tuple[str, ...], index: Any) -> str:
    i = int(index)
    return labels[i] if 0 <= i < len(labels) else "?"


def _batch(tree: Any) -> int:
    import jax

    return int(np.shape(jax.tree_util.tree_leaves(tree)[0])[0])


def _row_keys(tree: Any, skip: tuple[str, ...] = ()) -> list[bytes]:
    """One bytes key per state of a batch (every field but ``skip``), to compare states."""
    fields = [np.asarray(getattr(tree, f)) for f in tree._fields if f not in skip]
    n = fields[0].shape[0]
    return [b"|".join(x[i].tobytes() for x in fields) for i in range(n)]


def _match_rows(batch: Any, candidates: Any, skip: tuple[str, ...] = ()) -> np.ndarray:
    """For each state of ``batch``, the position of an equal state in ``candidates`` (-1:
    none)."""
    where = {}
    for j, key in enumerate(_row_keys(candidates, skip)):
        where.setdefault(key, j)
    return np.asarray([where.get(key, -1) for key in _row_keys(batch, skip)])


def _distinct_rows(batch: Any, limit: int) -> list[int]:
    seen: dict[bytes, int] = {}
    for i, key in enumerate(_row_keys(batch)):
        if key not in seen:
            seen[key] = i
        if len(seen) >= limit:
            break
    return list(seen.values())
