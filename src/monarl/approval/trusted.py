"""Trusted-value advantage approval (reference.md section 3), optionally noisy.

The overseer knows the *true* reward's optimal value V_trusted(t, s) (value iteration over the
T steps) and judges a step by its advantage under that value, without seeing what follows:

    approval(t, s, a) = R_obs(s') + V_trusted(t+1, s') - V_trusted(t, s),   s' = P[s, a],

and 0 at the last step (with stochastic transitions, the expectation over s'). Summed over a
window of M steps it telescopes to the window's observed return plus V_trusted at the window's
end minus at its start, so M = T gives back ordinary RL (potential shaping) and M = 1 is pure
foresight.

The overseer's value counts the steps that earn approval: approval is 0 at the last step, so
V_trusted(t, s) is the optimal true return of steps t..T-2 and V_trusted(T-1, .) = 0, the public
code's convention (its value iteration pays the last step nothing). It matters with noise: a 0
entry stays exact, so at step T-2 the approval is noise-free and a noisy overseer's agent that
waited beside a box still pushes it in (reference.md section 4, sigma 0.5 at M = 1).

Noise models an imperfect overseer: Gaussian noise of std ``sigma`` is added to V_trusted once
per state (the same at every t; entries with |V| <= 1e-5, such as ENDED and the last step, stay
exact, as in the public code), or, with ``per="step"``, independently per (t, s, a) to the
approval itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from monarl.approval.base import BuildContext
from monarl.approval.table import TableApproval
from monarl.core.config import check_choice, fail, is_number, setting
from monarl.core.protocols import ApprovalSpec, Family, Need
from monarl.tabular.tables import Tables
from monarl.tabular.value_iteration import optimal_values

NOISE_PER = ("state", "step")
EXACT_BELOW = 1e-5
TABLES = {"tables": Need("kind", "is a [T, S, A] table of the environment's states")}


@dataclasses.dataclass(frozen=True)
class NoiseSettings:
    """The overseer's imperfection, shared by every approval built on a value: Gaussian
    noise on its value once per state (the paper's), or on the approval once per step."""

    noise: float = setting(0.0, "Gaussian noise sigma of the overseer's value (per state) or of "
                                "the approval (per step).")
    noise_per: str = setting("state", "Noise once per state on the value (paper) or per "
                                      "(t, s, a) step on the approval.", choices=NOISE_PER)

    def validate(self, section: str = "approval") -> None:
        if not is_number(self.noise) or self.noise < 0:
            raise fail(section, "noise", self.noise, "noise sigma must be a number >= 0")
        check_choice(section, "noise_per", self.noise_per, NOISE_PER)

    @property
    def seed_dependent(self) -> bool:
        return self.noise > 0


TrustedSettings = NoiseSettings


def overseer_values(tables: Tables, reward: np.ndarray) -> np.ndarray:
    """V[t, s], t = 0..T, of an overseer valuing ``reward`` [S, A]: the optimal return of the
    steps t..T-2 that earn approval, so V[T-1] = V[T] = 0."""
    steps = tables.max_steps
    values = np.zeros((steps + 1, tables.num_states))
    values[:steps] = optimal_values(tables, reward, steps=steps - 1)
    return values


def trusted_values(tables: Tables) -> np.ndarray:
    """V_trusted[t, s], t = 0..T: the overseer's optimal values of the true reward (computed
    once per tables; read-only)."""

    def build() -> np.ndarray:
        values = overseer_values(tables, tables.reward_table("true"))
        values.setflags(write=False)
        return values

    return tables.cached("trusted_values", build)


def noisy_values(values: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Add N(0, sigma^2) once per state to every |V| > 1e-5 entry (seeded, numpy PCG64)."""
    if sigma < 0:
        raise ValueError(f"noise sigma={sigma} is invalid: must be >= 0")
    if sigma == 0:
        return values
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=values.shape[-1])
    return np.where(np.abs(values) > EXACT_BELOW, values + noise, values)


def advantage_approval(tables: Tables, values: np.ndarray) -> np.ndarray:
    """approval[t, s, a] = R_obs(s') + V(t+1, s') - V(t, s), and 0 at the last step."""
    steps = values.shape[-2] - 1
    after = tables.expect(values[1:, :])  # [T, S, A]
    approval = tables.reward_table("observed")[None] + after - values[:-1, :, None]
    approval[steps - 1] = 0.0
    return approval


def trusted_approval(tables: Tables, sigma: float = 0.0, seed: int = 0,
                     per: str = "state", values: np.ndarray | None = None) -> np.ndarray:
    """The [T, S, A] approval table of the trusted overseer with noise ``sigma``."""
    if per not in NOISE_PER:
        raise ValueError(f"noise_per={per!r} is invalid: allowed are {NOISE_PER}")
    values = trusted_values(tables) if values is None else values
    if per == "state":
        return advantage_approval(tables, noisy_values(values, sigma, seed))
    approval = advantage_approval(tables, values)
    if sigma > 0:
        approval = approval + np.random.default_rng(seed).normal(0.0, sigma, approval.shape)
    return approval


def noisy_advantage(tables: Tables, values: np.ndarray, settings: NoiseSettings,
                    seed: int) -> np.ndarray:
    """Advantage approval of ``values`` with the settings' noise (per state on V, or per
    step)."""
    return trusted_approval(tables, settings.noise, seed, settings.noise_per, values=values)


def build(ctx: BuildContext, settings: NoiseSettings) -> TableApproval:
    tables = ctx.require_tables("trusted")
    values = trusted_values(tables)
    return TableApproval("trusted", ctx.env, tables, ctx.seeds,
                         lambda seed: noisy_advantage(tables, values, settings, seed),
                         settings.seed_dependent)


def value_family(name: str, strength: str | None, label: str, color: str) -> Any:
    """A spectrum family of a value-based approval."""
    return lambda settings: Family(name, strength, label, color)


SPEC = ApprovalSpec(
    name="trusted",
    summary="The paper's: R_obs(s') + V(t+1, s') - V(t, s) with V the true reward's optimal "
            "value (exact, or noisy with --noise).",
    settings=NoiseSettings,
    build=build,
    needs=lambda settings: TABLES,
    family=value_family("trusted", "noise", "noise sigma", "#2e7d32"),
    seed_dependent=lambda settings: settings.seed_dependent,
)
