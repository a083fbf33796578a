"""Approvals: an overseer's judgement of each step, the MONA knob beside the horizon.

Each kind is one module with its settings, what it needs and a ``build`` returning one
step-reward object every trainer consumes the same way (``base.Approval``):

- ``none``: no approval (ordinary RL's observed reward);
- ``trusted``: advantage under the true reward's optimal value (reference.md section 3), noisy;
- ``misspecified``: the same with the value of a reward mixing in the observed one;
- ``learned``: a small model fit to N overseer labels (an oversight budget);
- ``evaluator-rl``: the trusted value after k observed-reward backups (generalized MONA), or an
  evaluator critic trained inside PPO;
- ``continuation``: the observed return of a frozen trusted policy continuing the episode;
- ``leak``: mixes in the realized future return -- a negative control, never a method;
- ``trusted-critic`` / ``continuation-rollout``: the same two ideas with an overseer *learned*
  by RL on the true reward, so no tables are needed (any environment size);
- ``overseer``: the loan tasks' fact-checking overseer of a summary (a text environment's own
  rule-based overseer);
- ``judge`` / ``reward-model``: a frozen language model or reward model scores a turn of text;
- ``text-leak``: the text negative control (later turns' rewards leak into a turn's approval);
- ``execution``: tdd's execution overseer (the model's tests run in the sandbox against the
  reference solution and mutants).

An approval is MONA's whole training reward for a step: every family already contains the
step's observed reward (the trusted one is ``R_obs(s') + V(t+1, s') - V(t, s)``), exactly as the
public code trains on it; the observed reward is never added on top.

``APPROVALS.get(kind)`` returns an :class:`~monarl.core.protocols.ApprovalSpec`; a kind may also
be a ``package.module:ATTR`` reference to your own (docs/extending.md), and installed packages
may register through the entry-point group ``monarl.approvals``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from monarl.core.components import Chosen, settings_from, split_name
from monarl.core.config import ConfigError, field_names
from monarl.core.protocols import ApprovalSpec, Family, Need
from monarl.core.registry import Registry
from monarl.envs import ENVS

APPROVALS: Registry[ApprovalSpec] = Registry("approval", "monarl.approvals", ApprovalSpec,
                                             "approval")
for _kind, _module in (("none", "none"), ("trusted", "trusted"),
                       ("misspecified", "misspecified"), ("learned", "learned"),
                       ("evaluator-rl", "evaluator_rl"), ("continuation", "continuation"),
                       ("leak", "leak"), ("trusted-critic", "trusted_critic"),
                       ("continuation-rollout", "continuation_rollout"),
                       ("overseer", "fact_overseer"), ("true-advantage", "true_advantage"),
                       ("judge", "judge"), ("reward-model", "reward_model"),
                       ("text-leak", "text_leak"), ("execution", "execution")):
    APPROVALS.register_builtin(_kind, f"monarl.approval.{_module}:SPEC")


@dataclasses.dataclass(frozen=True)
class ApprovalConfig(Chosen):
    """An approval kind and its validated settings: the ``approval`` section of a run.

    ``ApprovalConfig.of("trusted", noise=0.5)`` builds one from keyword settings;
    ``approval.noise`` reads a setting."""

    kind: str = "none"
    settings: Any = None
    key = "kind"

    def __post_init__(self) -> None:
        if self.settings is None:
            object.__setattr__(self, "settings", self.spec.settings())

    @property
    def spec(self) -> ApprovalSpec:
        return APPROVALS.get(self.kind)

    @property
    def seed_dependent(self) -> bool:
        """Whether the approval differs between seeds (noise, learned labels)."""
        return self.spec.seed_dependent(self.settings)

    @property
    def family(self) -> Family:
        return self.spec.family_of(self.settings)

    def needs(self) -> dict[str, Need]:
        return self.spec.needs(self.settings)

    def setting(self, name: str, default: Any = None) -> Any:
        """A setting's value, or ``default`` when this kind has no such setting."""
        return getattr(self.settings, name, default)

    @classmethod
    def of(cls, kind: str = "none", section: str = "", **fields: Any) -> ApprovalConfig:
        """Validated config from keyword settings (messages name ``section.field``)."""
        return cls.from_mapping({"kind": kind, **fields}, section)

    @classmethod
    def from_mapping(cls, data: Any, section: str = "approval", default: str = "none",
                     env: str | None = None) -> ApprovalConfig:
        """Validate a config table: the kind (``kind``, default ``default``) and its settings.
        A setting of another kind is refused by name ("applies only to approval ...", naming
        the kinds that judge ``env``, when given)."""
        kind, fields = split_name(data, "kind", default, section)
        label = f"{section}.kind" if section else "kind"
        spec = APPROVALS.get(kind, label)
        known = set(field_names(spec.settings))
        for name in list(fields):
            if name in known:
                continue
            every = [k for k in APPROVALS.names()
                     if name in field_names(APPROVALS.get(k).settings)]
            if every and all(_default(k, name) == fields[name] for k in every):
                del fields[name]  # another kind's setting at its default: means nothing here
                continue
            owners = [k for k in every if env is None or _usable_on(APPROVALS.get(k), env)]
            if owners:
                where = f"{section}.{name}" if section else name
                raise ConfigError(f"{where}={fields[name]!r} is invalid: applies only to "
                                  f"approval {' / '.join(owners)}, not {kind!r}")
            listed = ", ".join(["kind", *sorted(known)])
            raise ConfigError(f"{section or 'approval'}: unknown field {name!r}; known fields "
                              f"of approval {kind!r} are {listed}")
        return cls(kind, settings_from(spec.settings, fields, section))


def _default(kind: str, field: str) -> Any:
    return getattr(APPROVALS.get(kind).settings(), field)


def _usable_on(spec: ApprovalSpec, env: str) -> bool:
    """Whether approvals of ``spec`` can judge environment ``env`` at all (its envs, and the
    tables it may need)."""
    if spec.envs is not None and env not in spec.envs:
        return False
    try:
        env_spec = ENVS.get(env)
    except ConfigError:
        return True
    return env_spec.tables is not None or "tables" not in spec.needs(spec.settings())


def build(approval: ApprovalConfig, ctx: Any) -> Any:
    """The built approval of ``approval`` for a run (``base.Approval``; None for ``none``)."""
    return approval.spec.build(ctx, approval.settings)


__all__ = ["APPROVALS", "ApprovalConfig", "build"]
