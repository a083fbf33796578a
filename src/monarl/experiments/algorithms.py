"""The algorithm registry: name -> (settings section, checks, batching, runner).

An algorithm plugs into experiments with one :class:`Algorithm` entry:

- ``section``: its settings table (``[base.NAME]``), validated by the algorithm's own code;
- ``batch_fields``: run fields that may differ between runs executed together in one process
  call (``seed`` for every algorithm here; ``horizon`` too for the exact solver, which solves
  every horizon in one scan);
- ``run(runs, ctx)``: a generator that executes a batch of runs that agree on everything but
  ``batch_fields`` and yields ``(run, final_metrics, info)`` per run as soon as it is done, or a
  list of such tuples for runs that finish together (committed with one sync). It
  may append training metrics (evaluation points) with ``ctx.log(run, {...})`` and report
  progress with ``ctx.progress(runs, env_steps)``;
- ``steps(run)``: environment steps per run, for progress and ETA (None when meaningless);
- ``own_sections``: optional replacements of the common ``env`` / ``approval`` sections for
  runs of this algorithm (an algorithm whose environment is not Camera Dropbox);
- ``section_name``: the settings table's name when it differs from the algorithm's
  (``loan-pg`` -> ``[base.loan_pg]``).

``exact`` (the value-iteration study of :mod:`monarl.algos.exact.study`) is built in. ``ppo`` and
``loan-pg`` import their trainers lazily, so the registry works (and says what is missing)
without them.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from monarl.core.config import ConfigError, from_mapping
from monarl.experiments import spec as spec_mod

FINAL_METRICS = ("fail", "intended", "hack", "observed_return", "true_return", "episode_length")


class Context(Protocol):
    def log(self, run: spec_mod.RunSpec, line: dict[str, Any]) -> None: ...

    def progress(self, runs: list[spec_mod.RunSpec], env_steps: int) -> None: ...


Runner = Callable[[list[spec_mod.RunSpec], Context], Iterator[tuple[Any, dict, dict]]]


@dataclasses.dataclass
class Algorithm:
    name: str
    description: str
    loader: Callable[[], tuple[spec_mod.Section, Runner]]
    batch_fields: tuple[str, ...] = ("seed",)
    steps: Callable[[spec_mod.RunSpec], int | None] = lambda run: None
    extra_check: Callable[[spec_mod.RunSpec, str], None] | None = None
    light: bool = False
    """Tasks take well under a second: the default local executor then prefers running in
    the sweep process over paying each worker process's start-up (import JAX, compile)."""
    own_sections: Callable[[], tuple[spec_mod.Section, ...]] | None = None
    """Replacements of common sections (``env``, ``approval``) for runs of this algorithm."""
    section_name: str = ""
    """Name of the settings section; defaults to ``name``."""
    metrics_note: str = ""
    """One paragraph for reports: what the final metrics mean (when they are not the
    fail / intended / hack fractions and returns)."""
    semantics: int = 1
    """Bumped when a release changes what a config of this algorithm computes. Above 1 it is
    part of every run's identity, so runs from before the change get other ids: a sweep does
    not take them as done, and reports leave them out (``query.load_runs``). 2 (exact, ppo):
    the approval fix of 2026-11-25 (MONA trains on the approval alone, the overseer's value
    pays the last step nothing, exact float ties)."""
    _loaded: tuple[spec_mod.Section, Runner] | None = None
    _own: dict[str, spec_mod.Section] | None = None

    def __post_init__(self) -> None:
        self.section_name = self.section_name or self.name

    def load(self) -> tuple[spec_mod.Section, Runner]:
        """Import the implementation and register the settings section (once)."""
        if self._loaded is None:
            self._loaded = self.loader()
            spec_mod.register_section(self._loaded[0], common=False)
        return self._loaded

    def own(self) -> dict[str, spec_mod.Section]:
        """This algorithm's replacements of common sections, by name (loaded once)."""
        if self._own is None:
            sections = self.own_sections() if self.own_sections is not None else ()
            self._own = {s.name: s for s in sections}
        return self._own

    def section(self, name: str) -> spec_mod.Section:
        """The section ``name`` of this algorithm's runs (its own, or the common one)."""
        own = self.own()
        if name in own:
            return own[name]
        if name == self.section_name:
            return self.load()[0]
        return spec_mod.SECTIONS[name]

    def run(self, runs: list[spec_mod.RunSpec], ctx: Context):
        return self.load()[1](runs, ctx)

    def check(self, run: spec_mod.RunSpec, prefix: str = "") -> None:
        if self.extra_check is not None:
            self.extra_check(run, prefix)

    def batch_key(self, run: spec_mod.RunSpec) -> str:
        import json

        return json.dumps(run.without(*self.batch_fields), sort_keys=True)


REGISTRY: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    REGISTRY[algorithm.name] = algorithm
    return algorithm


def names() -> list[str]:
    return list(REGISTRY)


def section_names() -> list[str]:
    """The settings-section name of every registered algorithm."""
    return [a.section_name for a in REGISTRY.values()]


def by_section(section: str) -> Algorithm:
    """The algorithm whose settings section is ``section`` (loaded)."""
    for algorithm in REGISTRY.values():
        if algorithm.section_name == section:
            return get(algorithm.name)
    raise ConfigError(
        f"unknown section {section!r}; known algorithm sections are {', '.join(section_names())}"
    )


def with_own_section(name: str) -> list[Algorithm]:
    """Algorithms that bring their own ``name`` section (e.g. ``env``)."""
    return [a for a in REGISTRY.values() if a.own_sections is not None and name in a.own()]


def get(name: Any, label: str = "algo") -> Algorithm:
    """The algorithm called ``name`` with its section loaded; ConfigError naming the field."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise ConfigError(
            f"{label}={name!r} is invalid: known algorithms are {', '.join(REGISTRY)}"
        )
    algorithm = REGISTRY[name]
    algorithm.load()
    return algorithm


def contiguous(seeds: list[int]) -> list[list[int]]:
    """[0, 1, 2, 5, 6] -> [[0, 1, 2], [5, 6]] (solvers take a seed offset and a count)."""
    blocks: list[list[int]] = []
    for s in sorted(seeds):
        if blocks and s == blocks[-1][-1] + 1:
            blocks[-1].append(s)
        else:
            blocks.append([s])
    return blocks


# exact ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ExactSettings:
    """Settings of the exact solver (``monarl solve`` options of the same names)."""

    reward: str = "observed"
    tie_break: str = "random"
    window: str = "optimal"

    def validate(self, section: str = "exact") -> None:
        from monarl.core.config import REWARDS
        from monarl.tabular.value_iteration import TIE_BREAKS, WINDOWS

        for name, allowed in (("reward", REWARDS), ("tie_break", TIE_BREAKS), ("window", WINDOWS)):
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(
                    f"{section}.{name}={value!r} is invalid: allowed are {', '.join(allowed)}"
                )


def _exact_loader():
    return spec_mod.dataclass_section("exact", ExactSettings), _run_exact


def _run_exact(runs: list[spec_mod.RunSpec], ctx: Context):
    """Solve a batch (same env/approval/settings) with as few ``exact_study`` calls as
    possible: runs are grouped into rectangles horizons x contiguous seeds."""
    from monarl.algos.exact.study import exact_study

    first = runs[0]
    by_key = {(r.horizon, r.seed): r for r in runs}
    seeds_of: dict[int | None, set[int]] = defaultdict(set)
    for r in runs:
        seeds_of[r.horizon].add(r.seed)
    rectangles: dict[tuple[int, ...], list[int | None]] = defaultdict(list)
    for horizon, seeds in seeds_of.items():
        rectangles[tuple(sorted(seeds))].append(horizon)
    settings: ExactSettings = first.settings
    for seeds, horizons in rectangles.items():
        for block in contiguous(list(seeds)):
            study = exact_study(
                first.env,
                first.approval,
                horizons,
                seeds=len(block),
                seed_offset=block[0],
                reward=settings.reward,
                tie_break=settings.tie_break,
                window=settings.window,
                with_baselines=False,
            )
            batch = {"runs": len(block) * len(horizons), "wall_seconds": study["wall_seconds"]}
            info = {
                "states": study["states"],
                "initial_states": study["initial_states"],
                "hack_free": study["hack_free"],
                "batch": batch,
            }
            quality = study.get("approval_quality", {}).get("per_seed")
            yield [
                (
                    by_key[(row["horizon"], seed)],
                    {
                        **row["per_seed"][i],
                        **({"approval_" + k: v for k, v in quality[i].items()} if quality else {}),
                    },
                    info,
                )
                for row in study["results"]
                for i, seed in enumerate(block)
            ]


def _exact_check(run: spec_mod.RunSpec, prefix: str) -> None:
    approval = run.approval
    from monarl.core.config import check_reward

    try:
        check_reward(run.settings.reward, approval)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}.exact.{exc}" if prefix else f"exact.{exc}") from None
    if approval.ppo_only:
        field = "evaluator_lr" if approval.evaluator_critic else "kind"
        label = f"{prefix}.approval.{field}" if prefix else f"approval.{field}"
        value = approval.evaluator_lr if approval.evaluator_critic else approval.kind
        raise ConfigError(f"{label}={value!r} is invalid with algo 'exact': {approval.ppo_only}")


register(
    Algorithm(
        name="exact",
        description="exact finite-horizon solver with horizon M (monarl solve)",
        loader=_exact_loader,
        batch_fields=("seed", "horizon"),
        light=True,
        extra_check=_exact_check,
        semantics=2,
    )
)


# ppo --------------------------------------------------------------------------------------


def _algorithm_module(algo: str, module: str):
    """Import an algorithm's implementation lazily; a ConfigError naming it if that fails."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"algo={algo!r} is not available: {module} cannot be imported ({exc})"
        ) from None


def _ppo_module():
    return _algorithm_module("ppo", "monarl.algos.ppo")


def settings_section(name: str, cls: type) -> spec_mod.Section:
    """A section for an algorithm's settings dataclass with ``from_dict``/``to_dict`` (PPO,
    loan): integers given for float fields become floats, and the dataclass's own error
    messages, which name ``NAME.field``, are relabelled to where the value was written."""

    def build(data, label):
        if not isinstance(data, dict):
            raise ConfigError(f"{label} must be a table of settings, got {data!r}")
        floats = spec_mod._float_fields(cls)
        data = {k: float(v) if k in floats and type(v) is int else v for k, v in data.items()}
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as exc:
            raise ConfigError(_relabel(str(exc), name, label)) from None

    return spec_mod.Section(
        name,
        build,
        lambda: tuple(f.name for f in dataclasses.fields(cls)),
        dump=lambda obj: obj.to_dict(),
    )


def _relabel(message: str, default: str, label: str) -> str:
    """'loan_pg.x=...' -> 'LABEL.x=...' (the section's messages name their own prefix)."""
    if label != default and message.startswith(default):
        return label + message[len(default) :]
    return message


def _ppo_loader():
    return settings_section("ppo", _ppo_module().PPOConfig), _run_ppo


def _run_ppo(runs: list[spec_mod.RunSpec], ctx: Context):
    """Train a batch of seeds of one condition in one vmapped call per contiguous block."""
    ppo = _ppo_module()
    first = runs[0]
    config = first.settings
    env = dataclasses.asdict(first.env)
    for block_runs, progress in _seed_blocks(runs, ctx):
        result = ppo.run_ppo(
            env=env,
            approval=first.approval,
            horizon=first.horizon,
            seeds=len(block_runs),
            steps=config.total_steps,
            seed_offset=block_runs[0].seed,
            config=config,
            progress=progress,
        )
        curves = result["curves"]
        _log_curves(ctx, block_runs, curves, [k for k in curves if k != "env_steps"])
        batch = {**_batch(result, len(block_runs)), "approval_seconds": result["approval_seconds"]}
        info = {"steps": result["steps"], "batch": batch}
        if result["config"]["evaluation"] != "exact":  # exact: the default, recorded by absence
            info["evaluation"] = result["config"]["evaluation"]
            info["eval_episodes"] = config.eval_episodes
        yield [
            (run, {k: v for k, v in result["per_seed"][i].items() if k != "seed"}, info)
            for i, run in enumerate(block_runs)
        ]


def _seed_blocks(runs: list[spec_mod.RunSpec], ctx: Context):
    """The runs of one condition in blocks of contiguous seeds (a trainer takes a seed offset
    and a count), each with the progress callback that reports to the sweep for that block."""
    by_seed = {r.seed: r for r in runs}
    for block in contiguous(list(by_seed)):
        block_runs = [by_seed[s] for s in block]
        yield block_runs, lambda env_steps, b=block_runs: ctx.progress(b, int(env_steps))


def _log_curves(ctx: Context, block_runs, curves: dict[str, Any], names: list[str]) -> None:
    """Every evaluation point of a trainer's ``curves`` (metric -> [seed][point]) as one
    metrics line per run."""
    for i, run in enumerate(block_runs):
        for e, steps in enumerate(curves["env_steps"]):
            ctx.log(run, {"env_steps": steps, **{n: curves[n][i][e] for n in names}})


def _batch(result: dict[str, Any], runs: int) -> dict[str, Any]:
    """What a summary records about the runs trained together with it."""
    return {
        "runs": runs,
        "wall_seconds": result["wall_seconds"],
        "env_steps_per_second": result["env_steps_per_second"],
    }


def _ppo_steps(run: spec_mod.RunSpec) -> int | None:
    return getattr(run.settings, "total_steps", None)


def _ppo_check(run: spec_mod.RunSpec, prefix: str) -> None:
    """Refuse a board too large for PPO at validation (see ``ppo.untabulable``)."""
    env = run.env
    problem = _ppo_module().untabulable(env.rows, env.cols, env.boxes, run.approval.kind)
    if problem:
        label = f"{prefix}.env" if prefix else "env"
        raise ConfigError(
            f"{label}: rows={env.rows}, cols={env.cols}, boxes={env.boxes} is invalid: {problem}"
        )


register(
    Algorithm(
        name="ppo",
        description="PPO in JAX with MONA's horizon and approval (monarl train)",
        loader=_ppo_loader,
        batch_fields=("seed",),
        steps=_ppo_steps,
        extra_check=_ppo_check,
        semantics=2,
    )
)


# loan-pg ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoanApproval:
    """The loan trainer's approval (``[base.approval]`` of ``algo = "loan-pg"``): ``overseer``
    adds ``fact_reward * (true facts - false facts)`` to the summary step, ``none`` nothing."""

    kind: str = "overseer"

    def validate(self, section: str = "approval") -> None:
        from monarl.algos.loan_pg import APPROVALS

        if self.kind not in APPROVALS:
            raise ConfigError(
                f"{section}.kind={self.kind!r} is invalid: allowed for algo loan-pg are "
                f"{', '.join(APPROVALS)}"
            )


def _loan_module():
    return _algorithm_module("loan-pg", "monarl.algos.loan_pg")


def _loan_sections() -> tuple[spec_mod.Section, ...]:
    from monarl.envs.loan.rules import LoanEnvConfig

    floats = spec_mod._float_fields(LoanEnvConfig) - {"weights"}

    def build_env(data, label):
        if not isinstance(data, dict):
            raise ConfigError(f"{label} must be a table of settings, got {data!r}")
        data = {k: float(v) if k in floats and type(v) is int else v for k, v in data.items()}
        weights = data.get("weights")
        if isinstance(weights, list | tuple) and all(
            isinstance(w, int | float) and not isinstance(w, bool) for w in weights
        ):
            data["weights"] = tuple(float(w) for w in weights)
        return from_mapping(LoanEnvConfig, data, label)

    def dump_env(obj):
        out = dataclasses.asdict(obj)
        if out["weights"] is not None:
            out["weights"] = list(out["weights"])
        return out

    env = spec_mod.Section(
        "env",
        build_env,
        lambda: tuple(f.name for f in dataclasses.fields(LoanEnvConfig)),
        dump=dump_env,
    )
    return env, spec_mod.dataclass_section("approval", LoanApproval)


def _loan_loader():
    return settings_section("loan_pg", _loan_module().LoanPGConfig), _run_loan


def _loan_check(run: spec_mod.RunSpec, prefix: str) -> None:
    if run.horizon not in (None, 1):
        label = f"{prefix}.horizon" if prefix else "horizon"
        raise ConfigError(
            f"{label}={run.horizon!r} is invalid: a loan episode has two steps, so allowed are "
            "1 (MONA) and none (ordinary RL; every M >= 2 is the same)"
        )


def _loan_steps(run: spec_mod.RunSpec) -> int | None:
    config = run.settings
    return _loan_module().planned_updates(config) * 2 * config.batch_size


def _run_loan(runs: list[spec_mod.RunSpec], ctx: Context):
    """Train a batch of seeds of one condition in one vmapped ``train_loan`` call per
    contiguous block; log every evaluation point, yield the final metrics per seed."""
    import math

    from monarl.envs.loan import rules as loan

    loan_pg = _loan_module()
    first = runs[0]
    config = first.settings
    params = first.env.make_params()
    bounds = loan.accuracy_bounds(params)
    order = (*LOAN_HEADLINE, *(m for m in loan_pg.METRICS if m not in LOAN_HEADLINE))
    for block_runs, progress in _seed_blocks(runs, ctx):
        result = loan_pg.train_loan(
            params,
            first.approval.kind,
            first.horizon,
            seeds=len(block_runs),
            seed_offset=block_runs[0].seed,
            config=config,
            bounds=False,
            progress=progress,
        )
        curves = result["curves"]
        _log_curves(ctx, block_runs, curves, [m for m in order if m in curves])
        info = {
            "steps": result["steps"],
            "updates": result["config"]["updates"],
            "arm": result["config"]["arm"],
            "bounds": bounds,
            "batch": _batch(result, len(block_runs)),
        }
        done = []
        for i, run in enumerate(block_runs):
            row = result["per_seed"][i]
            final = {m: (row[m] if math.isfinite(row[m]) else None) for m in order}
            done.append((run, final, info))
        yield done


LOAN_HEADLINE = (
    "observed_accuracy",
    "unbiased_accuracy",
    "leakage",
    "flip_rate",
    "monitor_flag_rate",
)
"""The issue's five metrics, first in a loan run's final metrics (and so in its report)."""

register(
    Algorithm(
        name="loan-pg",
        description="policy gradient on the loan-steganography env (monarl train "
        "loan-steganography; docs/loan.md)",
        loader=_loan_loader,
        batch_fields=("seed",),
        steps=_loan_steps,
        extra_check=_loan_check,
        own_sections=_loan_sections,
        section_name="loan_pg",
        metrics_note=(
            "Loan metrics (docs/loan.md), greedy decoding on held-out applicants: observed / "
            "unbiased accuracy of the decision against the biased / unbiased label; leakage = "
            "accuracy of a logistic probe predicting nationality from the message (0.5 = none; "
            "leakage mlp: an MLP probe); flip rate = how often the decision changes when only "
            "nationality is flipped; monitor flag rate = messages stating nationality outright; "
            "message flip rate, true / false / repeated facts, odd filler and probe detection "
            "show where a code lives."
        ),
    )
)
