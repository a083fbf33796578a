"""The tables (``TablesSpec``, monarl.tabular.tables), where they can be built at these
settings: their arrays' own conventions, ``index`` of every table state, and every step the
episodes took against them (successors, rewards, termination, outcomes, initial states,
branch frequencies, ``host_index``).

A mixin over :class:`~monarl.envs.checker.core.CheckContext`: ``_tables_ready`` builds the
tables before the episodes run (episodes.py calls it, so the index runs inside their jitted
scan, the path PPO uses); ``check_tables`` compares them with the episodes afterwards.
"""

from __future__ import annotations

import numpy as np

from monarl.core.config import is_int
from monarl.core.protocols import Discrete
from monarl.envs.checker.core import (
    HOST_SAMPLES,
    INDEX_SAMPLES,
    REWARD_ATOL,
    CheckContext,
    _batch,
    _first,
    _label,
    _match_rows,
    _short,
)
from monarl.tabular.tables import MAX_TABULAR_STATES


class TableChecks(CheckContext):
    """Building the tables, their arrays, and the steps taken against them."""

    # -- tables -----------------------------------------------------------------------------

    def _tables_ready(self) -> bool:
        """Build the tables before the episodes, so their index runs inside the same jitted
        scan (the path PPO uses); record why not when they cannot be built."""
        tables_spec = self.spec.tables
        self.tables = None
        if not self.wanted("tables", tables_spec is not None):
            return False
        why = None
        if not isinstance(self.actions, Discrete):
            why = "tables need discrete actions"
        else:
            count = int(tables_spec.count_states(self.settings))
            if count > MAX_TABULAR_STATES:
                why = (f"{count:,} states at these settings, beyond the "
                       f"{MAX_TABULAR_STATES:,} the tables are built for")
            elif tables_spec.unavailable is not None:
                refusal = tables_spec.unavailable(self.settings)
                if refusal is not None:
                    fields, reason = refusal
                    shown = ", ".join(f"{k}={v!r}" for k, v in fields.items())
                    why = f"{shown}: {reason}" if shown else reason
        if why is not None:
            self.skipped["tables"] = why
            return False
        try:
            if self.reference is not None:  # the registry's cached tables, as trainers get
                from monarl.envs import EnvConfig

                self.tables = EnvConfig(self.reference, self.settings).tables()
            else:
                self.tables = tables_spec.compile(self.params)
        except Exception as exc:
            raise self.fail("tables", f"compile(params) fails: {_short(exc)}") from None
        try:
            self.index_arrays = tables_spec.index_arrays(self.tables)
        except Exception as exc:
            raise self.fail("tables-index", f"index_arrays(tables) fails: "
                            f"{_short(exc)}") from None
        self.check_table_arrays()
        return True

    def check_table_arrays(self) -> None:
        """The tables' own conventions (monarl.tabular.tables), before any step."""
        t = self.tables
        S = t.num_states if t.next_state.ndim == 3 else -1
        n = self.actions.n
        if t.next_state.ndim != 3 or t.next_state.shape[1] != n:
            raise self.fail("tables", f"next_state must be [S, A={n}, K], got shape "
                            f"{list(t.next_state.shape)}")
        for label in ("probability", "observed", "true"):
            if getattr(t, label).shape != t.next_state.shape:
                raise self.fail("tables", f"{label} must have next_state's shape "
                                f"{list(t.next_state.shape)}, got "
                                f"{list(getattr(t, label).shape)}")
        if np.shape(t.outcome) != (S,):
            raise self.fail("tables", f"outcome must be [S={S}], got {list(np.shape(t.outcome))}")
        if not (is_int(t.ended) and 0 <= t.ended < S):
            raise self.fail("tables", f"ended={t.ended!r} is not a state index (S={S})")
        bad = _first((t.next_state < 0) | (t.next_state >= S))
        if bad:
            raise self.fail("tables", f"next_state{list(bad)}={int(t.next_state[bad])} is not a "
                            f"state index (S={S})")
        if (t.probability < 0).any() or not np.isfinite(t.probability).all():
            bad = _first((t.probability < 0) | ~np.isfinite(t.probability))
            raise self.fail("tables-probability", f"probability{list(bad)}="
                            f"{t.probability[bad]} is not a probability")
        sums = t.probability.sum(axis=-1)
        bad = _first(np.abs(sums - 1.0) > 1e-6)
        if bad:
            s, a = bad
            raise self.fail("tables-probability", f"probabilities of state {s}, action {a} "
                            f"sum to {float(sums[s, a])}, not 1: {t.probability[s, a].tolist()}")
        for label in ("observed", "true"):
            values = getattr(t, label)
            if not np.isfinite(values).all():
                bad = _first(~np.isfinite(values))
                raise self.fail("tables-reward", f"{label}{list(bad)} is {values[bad]}")
        ended = t.ended
        reach = t.probability[ended] > 0
        if ((t.next_state[ended] != ended) & reach).any() or (
                ((t.observed[ended] != 0) | (t.true[ended] != 0)) & reach).any():
            raise self.fail("tables-ended", f"ENDED (state {ended}) must stay ENDED and pay "
                            f"nothing: next_state {t.next_state[ended].tolist()}, observed "
                            f"{t.observed[ended].tolist()}, true {t.true[ended].tolist()}")
        outcomes = len(self.spec.outcomes)
        bad = _first((t.outcome < -1) | (t.outcome >= outcomes))
        if bad:
            raise self.fail("tables-outcome", f"outcome[{bad[0]}]={int(t.outcome[bad])} is not "
                            f"an index into outcomes {self.spec.outcomes} (nor -1)")
        if int(t.outcome[ended]) != -1:
            raise self.fail("tables-outcome", f"outcome[ENDED={ended}] must be -1, got "
                            f"{int(t.outcome[ended])}")
        if int(t.max_steps) != self.max_steps:
            raise self.fail("tables", f"tables.max_steps={t.max_steps} but max_steps(settings)"
                            f"={self.max_steps}")
        if tuple(t.outcomes) != tuple(self.spec.outcomes):
            raise self.fail("tables", f"tables.outcomes={tuple(t.outcomes)} but the spec's are "
                            f"{self.spec.outcomes}")
        initial = np.asarray(t.initial)
        if initial.ndim != 1 or not len(initial) or ((initial < 0) | (initial >= S)).any() \
                or (initial == ended).any():
            raise self.fail("tables-initial", f"initial must be live state indices, got "
                            f"{initial.tolist()[:10]}")

    def check_tables(self) -> None:
        if self.tables is None:
            return
        import jax
        import jax.numpy as jnp

        t, index = self.tables, self.spec.tables.index
        S = t.num_states
        if t.states is not None:  # every table state indexes to its own position
            rows = (np.arange(S) if S <= INDEX_SAMPLES else
                    np.sort(np.random.default_rng(self.seed).choice(S, INDEX_SAMPLES, False)))
            states = jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)[rows]),
                                            t.states)
            try:
                found = np.asarray(jax.jit(jax.vmap(index, in_axes=(0, None)))(
                    states, self.index_arrays))
            except Exception as exc:
                raise self.fail("tables-index", f"index(state, arrays) fails on the tables' "
                                f"states: {_short(exc)}") from None
            bad = _first(found != rows)
            if bad:
                s = int(rows[bad[0]])
                raise self.fail("tables-index", f"index(tables.states[{s}]) = "
                                f"{int(found[bad[0]])}, not {s}: the index must invert the "
                                "tables' states")
        self._check_steps_against_tables()
        self._check_host_index()
        self.checked.append("tables")

    def _check_steps_against_tables(self) -> None:
        t, out, live, done = self.tables, self.steps_out, self.live, self.done
        S, ended = t.num_states, t.ended
        reset_index = self.first["index"]
        bad = ~np.isin(reset_index, t.initial)
        if bad.any():
            b = int(np.flatnonzero(bad)[0])
            raise self.fail("tables-initial", f"reset's state of episode {b} has index "
                            f"{int(reset_index[b])}, which is not among tables.initial "
                            f"{np.asarray(t.initial).tolist()[:10]}")
        if self.starts is not None:
            starts = self.starts
            rows = _match_rows(self.reset_state, starts, skip=("t",))
            expected = np.asarray(t.initial)[rows] if len(t.initial) == _batch(starts) else None
            if expected is None or (expected != reset_index).any():
                b = 0 if expected is None else int(np.flatnonzero(expected != reset_index)[0])
                raise self.fail("tables-initial", f"tables.initial must list the index of "
                                f"each of start_states(params), in order ({_batch(starts)} "
                                f"starts, {len(t.initial)} initial states; reset's start "
                                f"{int(rows[b])} has index {int(reset_index[b])}): the "
                                "Gymnasium adapter's reset(options={'start': i}) relies on it")
        prev = np.concatenate([reset_index[None], out["index"][:-1]], axis=0)
        nxt = out["index"]
        t_new = out["t"]
        hit = _first(live & ((prev < 0) | (prev >= S) | (prev == ended)))
        if hit:
            i, b = hit
            raise self.fail("tables-index", f"the live state before step {i + 1} of episode "
                            f"{b} has index {int(prev[i, b])} (ENDED={ended}, S={S}): a live "
                            "state must index a live table state")
        hit = _first(live & ((nxt < 0) | (nxt >= S)))
        if hit:
            i, b = hit
            raise self.fail("tables-index", f"the state after step {i + 1} of episode {b} "
                            f"has index {int(nxt[i, b])}, not a state index (S={S})")
        steps = np.argwhere(live)
        i, b = steps[:, 0], steps[:, 1]
        s, a, s2 = prev[i, b], self.actions_taken[i, b], nxt[i, b]
        branches = (t.next_state[s, a] == s2[:, None]) & (t.probability[s, a] > 0)
        missing = ~branches.any(axis=1)
        if missing.any():
            j = int(np.flatnonzero(missing)[0])
            raise self.fail("tables-successor", f"step {int(i[j]) + 1} of episode {int(b[j])} "
                            f"took state {int(s[j])} with action {int(a[j])} to state "
                            f"{int(s2[j])}, but next_state[{int(s[j])}, {int(a[j])}] = "
                            f"{t.next_state[s[j], a[j]].tolist()} with probabilities "
                            f"{t.probability[s[j], a[j]].tolist()}")
        reward, true = out["reward"][i, b], out["true_reward"][i, b]
        for label, table, got in (("observed", t.observed, reward), ("true", t.true, true)):
            close = np.abs(table[s, a] - got[:, None].astype(np.float64)) <= (
                REWARD_ATOL + 1e-6 * np.abs(table[s, a]))
            wrong = ~(branches & close).any(axis=1)
            if wrong.any():
                j = int(np.flatnonzero(wrong)[0])
                k = np.flatnonzero(branches[j])
                raise self.fail("tables-reward", f"step {int(i[j]) + 1} of episode {int(b[j])} "
                                f"(state {int(s[j])}, action {int(a[j])} -> {int(s2[j])}) "
                                f"paid {label} reward {float(got[j])!r}, but "
                                f"tables.{label}[{int(s[j])}, {int(a[j])}, {k.tolist()}] = "
                                f"{table[s[j], a[j], k].tolist()}")
        terminated = out["terminated"][i, b]
        enters = s2 == ended
        terminal = (np.zeros(S, bool) if t.terminal is None
                    else np.asarray(t.terminal, bool))
        ending = enters | terminal[s2]  # the steps that must terminate
        nothing = "not ENDED" if t.terminal is None else "neither terminal nor ENDED"
        wrong = terminated & ~ending
        if wrong.any():
            j = int(np.flatnonzero(wrong)[0])
            at_limit = int(t_new[i[j], b[j]]) >= self.max_steps
            why = (f"terminated at the time limit (t={int(t_new[i[j], b[j]])} = max_steps) "
                   "although the tables' successor "
                   if at_limit else "terminated although the tables' successor ")
            raise self.fail("time-limit" if at_limit else "tables-ended",
                            f"step {int(i[j]) + 1} of episode {int(b[j])} {why}is state "
                            f"{int(s2[j])}, {nothing} ({ended})"
                            + (": a time limit is truncation, never termination"
                               if at_limit else ": termination is entering ENDED or a "
                               "terminal state (tables.terminal)"))
        wrong = ending & ~terminated
        if wrong.any():
            j = int(np.flatnonzero(wrong)[0])
            what = (f"ENDED ({ended})" if enters[j]
                    else f"state {int(s2[j])}, terminal in the tables,")
            raise self.fail("tables-ended", f"step {int(i[j]) + 1} of episode {int(b[j])} "
                            f"entered {what} from state {int(s[j])} without "
                            "reporting terminated")
        ends = done[i, b]
        last = np.where(enters, s, s2)[ends]
        expected = t.outcome[last]
        got = out["outcome"][i, b][ends]
        wrong = got != expected
        if wrong.any():
            j = int(np.flatnonzero(wrong)[0])
            e = int(b[ends][j])
            how = "terminated" if bool(ending[ends][j]) else "truncated"
            labels = self.spec.outcomes
            raise self.fail("tables-outcome", f"episode {e} {how} with outcome {int(got[j])} "
                            f"({_label(labels, got[j])}), but tables.outcome[{int(last[j])}] "
                            f"(the last state before ENDED, the terminal state entered, or "
                            f"the state at the limit) is "
                            f"{int(expected[j])} ({_label(labels, expected[j])})")
        self._check_frequencies(s, a, s2)

    def _check_frequencies(self, s: np.ndarray, a: np.ndarray, s2: np.ndarray) -> None:
        """Loosely: the successors' frequencies against the probabilities, for (state, action)
        pairs visited often enough (a wrong probability, not sampling noise)."""
        t = self.tables
        if t.deterministic:
            return
        pairs, inverse, visits = np.unique(s.astype(np.int64) * t.num_actions + a,
                                           return_inverse=True, return_counts=True)
        for p, n in zip(pairs[visits >= 50], visits[visits >= 50], strict=True):
            state, action = divmod(int(p), t.num_actions)
            taken = s2[inverse == np.flatnonzero(pairs == p)[0]]
            for target in np.unique(t.next_state[state, action]):
                prob = float(t.probability[state, action][
                    t.next_state[state, action] == target].sum())
                freq = float((taken == target).mean())
                tolerance = 5 * np.sqrt(prob * (1 - prob) / n) + 2 / n
                if abs(freq - prob) > tolerance:
                    raise self.fail("tables-probability", f"state {state}, action {action} "
                                    f"went to state {int(target)} in {freq:.3f} of {int(n)} "
                                    f"steps, but the tables give it probability {prob:.3f}")

    def _check_host_index(self) -> None:
        t = self.tables
        if t.host_index is None:
            return
        for i, b, state in self._kept_states(HOST_SAMPLES):
            expected = int(self.first["index"][b] if i < 0 else self.steps_out["index"][i, b])
            try:
                found = int(t.host_index(state))
            except Exception as exc:
                raise self.fail("tables-index", f"host_index fails on a visited state: "
                                f"{_short(exc)}") from None
            if found != expected:
                where = "reset" if i < 0 else f"step {i + 1}"
                raise self.fail("tables-index", f"host_index gives {found} for the state after "
                                f"{where} of episode {b}, index (in jit) gives {expected}")
