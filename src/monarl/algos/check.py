"""One check of a combination, before any work: can this trainer train this environment with
this approval, and if not, why not.

An environment offers capabilities (``jax`` always; ``tables`` when it declares them *and* its
settings give at most ``MAX_TABULAR_STATES`` states); an approval needs some (``tables``) and
may need things only a trainer provides (``overseer``: an overseer trained by RL on the true
reward; ``training``: an approval that learns inside training); a trainer requires some
capabilities and may be limited to some environments. The refusal names the settings to
change and what would work instead.
"""

from __future__ import annotations

from typing import Any

from monarl.approval import APPROVALS
from monarl.core.config import ConfigError
from monarl.tabular.tables import MAX_TABULAR_STATES


class CheckError(ConfigError):
    """A combination refused before any work; names the section, its offending fields and
    the problem (the CLI re-labels the fields as its options)."""

    def __init__(self, section: str, fields: dict[str, Any], problem: str, prefix: str = ""):
        self.section = f"{prefix}.{section}" if prefix else section
        self.fields = dict(fields)
        self.problem = problem
        super().__init__(self._format())

    def _format(self) -> str:
        if len(self.fields) == 1:
            (name, value), = self.fields.items()
            return f"{self.section}.{name}={value!r} {self.problem}"
        listed = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{self.section}: {listed} {self.problem}"


def env_capabilities(env: Any) -> set[str]:
    """What ``env`` (an ``EnvConfig``) offers at its settings."""
    caps = set(env.spec.capabilities())
    if "tables" in caps and not env.tabulable():
        caps.discard("tables")
    return caps


def _size(env: Any) -> tuple[dict[str, Any], str]:
    """The settings that decide the number of states, and what the environment is called."""
    tables = env.spec.tables
    fields = {name: getattr(env.settings, name) for name in tables.size_fields}
    return fields or {"name": env.name}, tables.noun


def usable_approvals(env: Any, trainer: Any, tables: bool | None = None) -> list[str]:
    """Registered approvals (at their default settings) this trainer can use on ``env``;
    ``tables``: as if the environment had (True) or lacked (False) its tables."""
    caps = env_capabilities(env)
    if tables is True:
        caps.add("tables")
    elif tables is False:
        caps.discard("tables")
    out = []
    for name in APPROVALS.names():
        spec = APPROVALS.get(name)
        if spec.envs is not None and env.name not in spec.envs:
            continue
        needs = spec.needs(spec.settings())
        if all(n in caps or n in trainer.provides for n in needs):
            out.append(name)
    return out


def check(env: Any, approval: Any, trainer: Any, prefix: str = "") -> None:
    """Raise :class:`CheckError` unless ``trainer`` can train ``env`` (an ``EnvConfig``) with
    ``approval`` (an ``ApprovalConfig``)."""
    if trainer.envs is not None and env.name not in trainer.envs:
        raise CheckError("env", {"name": env.name},
                         f"is invalid with algo {trainer.name!r}: it trains "
                         f"{', '.join(trainer.envs)}", prefix)
    caps = env_capabilities(env)
    if "tables" in trainer.requires and "tables" not in caps:
        if env.spec.tables is None:
            raise CheckError("env", {"name": env.name},
                             f"is invalid with algo {trainer.name!r}: it needs the state tables "
                             "of a finite environment, and this one declares none", prefix)
        if env.tables_unavailable() is not None:
            fields, why = env.tables_unavailable()
            raise CheckError("env", fields, f"is invalid with algo {trainer.name!r}: {why}; use "
                             "algo 'ppo' (monarl train), which needs no tables, or other "
                             "settings", prefix)
        fields, noun = _size(env)
        raise CheckError("env", fields,
                         f"is invalid with algo {trainer.name!r}: that {noun} has "
                         f"{env.num_states():,} states, more than the {MAX_TABULAR_STATES:,} the "
                         "exact solver tabulates; use algo 'ppo' (monarl train), which needs no "
                         "tables, or smaller settings", prefix)
    missing = [c for c in trainer.requires if c not in caps and c != "tables"]
    if missing:
        raise CheckError("env", {"name": env.name},
                         f"is invalid with algo {trainer.name!r}: it needs capability "
                         f"{missing[0]!r}", prefix)
    spec = approval.spec

    def allowed() -> str:  # only for a refusal: it imports every registered approval
        return (f"allowed with env {env.name!r} and algo {trainer.name!r} are "
                + ", ".join(usable_approvals(env, trainer)))

    if spec.envs is not None and env.name not in spec.envs:
        raise CheckError("approval", {"kind": approval.kind},
                         f"is invalid for env {env.name!r}: it judges "
                         f"{', '.join(spec.envs)} only; {allowed()}", prefix)
    for need, (field, reason) in approval.needs().items():
        if need == "tables" and "tables" not in caps:
            if env.spec.tables is None:
                raise CheckError("approval", {"kind": approval.kind},
                                 f"is invalid for env {env.name!r}: it {reason}, and this "
                                 f"environment has no tables; {allowed()}", prefix)
            free = usable_approvals(env, trainer, tables=False)
            alternatives = (f"use an approval that needs no tables ({', '.join(free)})"
                            if free else "use")
            if env.tables_unavailable() is not None:
                fields, why = env.tables_unavailable()
                raise CheckError("env", fields,
                                 f"is invalid with approval {approval.kind!r}, which needs a "
                                 f"[T, S, A] table: {why}; {alternatives} or other settings",
                                 prefix)
            fields, noun = _size(env)
            raise CheckError("env", fields,
                             f"is invalid: that {noun} has {env.num_states():,} states, more "
                             f"than the {MAX_TABULAR_STATES:,} that can be tabulated, and "
                             f"approval {approval.kind!r} needs a [T, S, A] table; "
                             f"{alternatives} or smaller settings", prefix)
        if need != "tables" and need not in trainer.provides and need not in caps:
            value = approval.kind if field == "kind" else approval.setting(field)
            raise CheckError("approval", {field: value},
                             f"is invalid with algo {trainer.name!r}: {reason}", prefix)
