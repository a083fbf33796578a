"""Experiment files: a base run config plus sweep axes, expanded into fully specified runs.

A *run* is one fully specified configuration, seed included (:class:`RunSpec`). Its identity
is a short hash of its normalized config (:func:`RunSpec.run_id`), so the same settings always
map to the same run directory, whichever file or sweep asked for them.

A run config is a few scalar fields (``algo``, ``horizon``, ``seed``) plus three sections,
each read from a registry: ``env`` (an environment by ``name`` and its settings), ``approval``
(an approval by ``kind`` and its settings) and the trainer's own settings (``[base.exact]``,
``[base.ppo]``, ``[base.loan_pg]``, ...). Each component validates its own part, so the schema
stays open: a new environment, approval or trainer needs no change here. A run names no
environment -> the trainer's default; no approval -> the environment's default; one
:func:`monarl.algos.check.check` then says whether the combination can run, before any work.

The TOML format (see docs/experiments.md)::

    name = "horizon-sweep"
    [base]
    algo = "exact"
    horizon = 1            # or "none" (full horizon, ordinary RL)
    seeds = 10             # shorthand for sweep.seed = {range = [0, 9]}; or seed = 3
    [base.env]             # name = "camera-dropbox" and its settings
    [base.approval]        # kind = "trusted" and its settings
    [base.exact]           # the trainer's own settings
    [sweep]                # axes, crossed: lists, {range = [lo, hi(, step)]} (inclusive)
    "approval.noise" = [0.0, 0.5]
    horizon = {range = [1, 50]}
    [variants.mona]        # optional named override sets, crossed with the axes
    "approval.kind" = "trusted"

Every error is a :class:`SpecError` whose message names the file, the field (as written in the
file), the bad value and what is allowed; nothing is run or written before the whole file and
every expanded run validate.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monarl.algos import TRAINERS
from monarl.algos.check import check
from monarl.approval import APPROVALS, ApprovalConfig
from monarl.core.config import (
    ConfigError,
    coerce,
    field_names,
    from_mapping,
    parse_horizon,
    to_dict,
)
from monarl.envs import ENVS, EnvConfig

SCHEMA_VERSION = 1
RUN_SCALARS = ("algo", "horizon", "seed")
COMPONENT_SECTIONS = ("env", "approval")
TOP_KEYS = ("name", "description", "base", "sweep", "variants")
AXIS_FORMS = "a non-empty list, {range = [LOW, HIGH]} or {range = [LOW, HIGH, STEP]} (inclusive)"


class SpecError(ValueError):
    """An invalid experiment file or run config; the message is one line."""


# Sections -----------------------------------------------------------------------------------


def trainer_sections() -> dict[str, Any]:
    """Every registered trainer by the name of its settings section."""
    return {TRAINERS.get(name).section: TRAINERS.get(name) for name in TRAINERS.names()}


def section_names() -> set[str]:
    """Every section name a file may use: env, approval and every trainer's settings."""
    return set(COMPONENT_SECTIONS) | set(trainer_sections())


def build_settings(trainer: Any, data: Any, label: str) -> Any:
    """A trainer's validated settings from a table: its own ``from_dict`` when it has one
    (integers given for float fields become floats, and its messages, which name
    ``SECTION.field``, are relabelled to where the value was written), else
    :func:`~monarl.core.config.from_mapping`."""
    cls = trainer.settings
    if not hasattr(cls, "from_dict"):
        return from_mapping(cls, data, label)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{label} must be a table of settings, got {data!r}")
    try:
        return cls.from_dict(coerce(cls, data))
    except (ValueError, TypeError) as exc:
        message = str(exc)
        if label != trainer.section and message.startswith(trainer.section):
            message = label + message[len(trainer.section):]
        raise ConfigError(message) from None


_DEFAULTS: dict[str, dict[str, Any]] = {}


def settings_defaults(trainer: Any) -> dict[str, Any]:
    """Every setting's default of a trainer (for the identity)."""
    if trainer.name not in _DEFAULTS:
        _DEFAULTS[trainer.name] = to_dict(trainer.settings())
    return _DEFAULTS[trainer.name]


# Runs ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One fully specified run: trainer, horizon, seed, environment, approval and the
    trainer's settings, each validated."""

    algo: str
    horizon: int | None
    seed: int
    env: EnvConfig
    approval: ApprovalConfig
    settings: Any
    """The trainer's own settings (ExactSettings, PPOConfig, LoanPGConfig, ...)."""

    @property
    def trainer(self) -> Any:
        return TRAINERS.get(self.algo)

    def section(self, name: str) -> Any:
        if name == "env":
            return self.env
        if name == "approval":
            return self.approval
        if name == self.trainer.section:
            return self.settings
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The full normalized config (every field, defaults included): config.json."""
        return _copy2(self._full)

    def identity(self) -> dict[str, Any]:
        """What the run id hashes: the config with the environment named only when it is not
        the trainer's default, the approval only when it is not the environment's default,
        and every setting equal to its default left out. Adding a setting with a default
        later keeps old ids valid."""
        return _copy2(self._identity)

    # A run is immutable, so both dicts are computed once (the store writes them for every
    # run, and a sweep asks for ids and batch keys many times).
    @functools.cached_property
    def _full(self) -> dict[str, Any]:
        return {"algo": self.algo, "horizon": self.horizon, "seed": self.seed,
                "env": self.env.to_dict(), "approval": self.approval.to_dict(),
                self.trainer.section: to_dict(self.settings)}

    @functools.cached_property
    def _identity(self) -> dict[str, Any]:
        trainer = self.trainer
        out: dict[str, Any] = {"algo": self.algo, "horizon": self.horizon, "seed": self.seed}
        if trainer.semantics > 1:  # version 1 adds nothing: ids from before versions stay
            out["semantics"] = trainer.semantics
        parts = (("env", self.env.identity(trainer.default_env)),
                 ("approval", self.approval.identity(self.env.spec.default_approval)))
        for name, part in parts:
            if part:
                out[name] = part
        defaults = settings_defaults(trainer)
        changed = {k: v for k, v in to_dict(self.settings).items()
                   if k not in defaults or defaults[k] != v}
        if changed:
            out[trainer.section] = changed
        return out

    @functools.cached_property
    def run_id(self) -> str:
        return run_id(self.identity())

    def without(self, *fields: str) -> dict[str, Any]:
        """Identity minus some scalar fields: the key of runs that may be batched together."""
        ident = self.identity()
        for f in fields:
            ident.pop(f, None)
        return ident

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], label: str = "") -> RunSpec:
        """Build and validate a run from a (nested) config mapping; see :func:`build_run`."""
        return build_run(dict(data), label)


def _copy2(config: dict[str, Any]) -> dict[str, Any]:
    """A copy two levels deep (run fields and section fields), enough for callers to edit."""
    return {k: dict(v) if isinstance(v, dict) else v for k, v in config.items()}


def run_id(identity: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces), first 16 hex digits."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _label(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def build_run(data: dict[str, Any], prefix: str = "") -> RunSpec:
    """Validate one nested run config (``algo``, ``horizon``, ``seed`` and sections).

    Raises ConfigError naming ``prefix.field``.
    """
    unknown = sorted(set(data) - set(RUN_SCALARS) - section_names())
    if unknown:
        raise ConfigError(
            f"{_label(prefix, unknown[0])}: unknown field; known fields are "
            f"{', '.join(known_run_fields())}"
        )
    trainer = TRAINERS.get(data.get("algo", "exact"), _label(prefix, "algo"))
    horizon = parse_horizon(data.get("horizon"), _label(prefix, "horizon"))
    seed = data.get("seed", 0)
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"{_label(prefix, 'seed')}={seed!r} is invalid: must be an integer >= 0")
    env = EnvConfig.from_mapping(data.get("env", {}), _label(prefix, "env"),
                                 default=trainer.default_env)
    approval = ApprovalConfig.from_mapping(data.get("approval", {}), _label(prefix, "approval"),
                                           default=env.spec.default_approval, env=env.name)
    settings = build_settings(trainer, data.get(trainer.section, {}),
                              _label(prefix, trainer.section))
    run = RunSpec(trainer.name, horizon, seed, env, approval, settings)
    limit = env.max_steps
    if horizon is not None and horizon > limit:
        where = (
            f"step limit env.max_steps={limit}"
            if "max_steps" in field_names(env.spec.settings)
            else f"episode length of {env.name}, {limit} steps"
        )
        raise ConfigError(
            f"{_label(prefix, 'horizon')}={horizon!r} is invalid: exceeds the {where} "
            "(use 'none' for the full horizon)"
        )
    check(env, approval, trainer, prefix)
    if trainer.check is not None:
        trainer.check(run, prefix)
    return run


def known_run_fields() -> list[str]:
    return [*RUN_SCALARS, *COMPONENT_SECTIONS, *sorted(trainer_sections())]


# Experiment files ---------------------------------------------------------------------------


@dataclasses.dataclass
class Sweep:
    """An expanded experiment file: its runs (deduplicated, in file order) and labels."""

    name: str
    path: Path | None
    source: str
    runs: list[RunSpec]
    axes: dict[str, list[Any]]
    variants: dict[str, str]
    """run id -> variant name (only when the file has [variants])."""
    duplicates: int = 0

    @property
    def ids(self) -> list[str]:
        return [r.run_id for r in self.runs]

    def describe(self) -> str:
        parts = []
        if self.variants:
            parts.append(f"{len(set(self.variants.values()))} variants")
        parts += [f"{len(v)} {k}" for k, v in self.axes.items()]
        return " x ".join(parts) if parts else "1 run"


def default_store(path: Path) -> Path:
    """The store beside an experiment file: ``examples/x.toml`` -> ``examples/x.store``."""
    return path.with_name(path.stem + ".store")


def load_sweep(path: str | Path) -> Sweep:
    """Read, validate and expand an experiment file; raises SpecError (one line)."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"{path}: no such experiment file")
    if not path.is_file():
        raise SpecError(f"{path}: not a file (give an experiment .toml file)")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot be read: {exc}") from None
    return parse_sweep(text, path)


def parse_sweep(text: str, path: Path | None = None) -> Sweep:
    where = str(path) if path is not None else "<experiment>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{where}: invalid TOML: {exc}") from None
    try:
        return _expand(data, text, path)
    except (ConfigError, SpecError) as exc:
        raise SpecError(f"{where}: {exc}") from None


def _flatten(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Nested tables and dotted keys -> {'approval.noise': 0.5, 'horizon': 1, ...}."""
    flat: dict[str, Any] = {}
    sections = section_names()
    for key, value in table.items():
        head = key.split(".", 1)[0]
        if "." not in key and head in sections:
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{where}.{key}={value!r} is invalid: must be a table of "
                    f"settings, e.g. [{where}.{key}]"
                )
            for sub, v in value.items():
                flat[f"{key}.{sub}"] = v
        else:
            flat[key] = value
    return flat


def _check_key(key: str, where: str, named: dict[str, set[str]]) -> None:
    """A dotted field path must name a known scalar or section field. ``named``: the
    environments and approval kinds the file names (their fields count as known too, so a
    component given as ``package.module:ATTR`` may be swept over)."""
    sections = section_names()
    head, _, field = key.partition(".")
    if not field:
        if head in RUN_SCALARS:
            return
        if head in sections:
            raise ConfigError(
                f"{where} {key!r}: a section needs a field, e.g. "
                f"'{head}.{_fields_of(head, named)[0]}'"
            )
        raise ConfigError(
            f"{where}: unknown field {key!r}; known fields are "
            f"{', '.join(known_run_fields())} (sections as 'section.field')"
        )
    if head in RUN_SCALARS:
        raise ConfigError(f"{where}: unknown field {key!r}; {head!r} has no sub-fields")
    if head not in sections:
        raise ConfigError(
            f"{where}: unknown section {head!r} in {key!r}; known sections are "
            f"{', '.join(sorted(sections))}"
        )
    if field not in _fields_of(head, named):
        raise ConfigError(f"{where}: unknown field {key!r}; known fields of {head} are "
                          f"{_describe_fields(head, named)}")


def _components(section: str, named: dict[str, set[str]]) -> list[tuple[str, type]]:
    """(name, settings class) of every environment or approval a key may refer to: the
    registered ones and those the file names."""
    registry = ENVS if section == "env" else APPROVALS
    names = list(registry.names())
    names += [n for n in sorted(named.get(section, ())) if n not in names]
    out = []
    for name in names:
        try:
            out.append((name, registry.get(name).settings))
        except ConfigError:
            continue  # an unusable name is reported by build_run, with its reason
    return out


def _fields_of(section: str, named: dict[str, set[str]]) -> tuple[str, ...]:
    """Fields a key ``SECTION.FIELD`` may name before the run's components are known: for env
    and approval, the union over every environment / approval kind (:func:`build_run` then
    validates exactly against the run's own)."""
    if section in COMPONENT_SECTIONS:
        fields = ["name" if section == "env" else "kind"]
        for _, cls in _components(section, named):
            fields += [f for f in field_names(cls) if f not in fields]
        return tuple(fields)
    return field_names(trainer_sections()[section].settings)


def _describe_fields(section: str, named: dict[str, set[str]]) -> str:
    if section not in COMPONENT_SECTIONS:
        return ", ".join(sorted(_fields_of(section, named)))
    key = "name" if section == "env" else "kind"
    parts = [f"{name}: {', '.join(sorted(field_names(cls)))}"
             for name, cls in _components(section, named) if field_names(cls)]
    return f"{key}, and by {key}: " + "; ".join(parts)


def _named(base: dict[str, Any], overrides: list[dict[str, Any]],
           axes: dict[str, list[Any]]) -> dict[str, set[str]]:
    """The environments and approval kinds a file names anywhere."""
    out: dict[str, set[str]] = {"env": set(), "approval": set()}
    for section, key in (("env", "env.name"), ("approval", "approval.kind")):
        for table in (base, *overrides):
            if isinstance(table.get(key), str):
                out[section].add(table[key])
        out[section].update(v for v in axes.get(key, []) if isinstance(v, str))
    return out


def _axis_values(key: str, spec: Any) -> list[Any]:
    label = f"sweep.{_quote(key)}"
    if isinstance(spec, list):
        values = spec
    elif isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"range", "values"})
        if unknown or len(spec) != 1:
            raise ConfigError(f"{label}={spec!r} is invalid: an axis is {AXIS_FORMS}")
        if "values" in spec:
            values = spec["values"]
            if not isinstance(values, list):
                raise ConfigError(f"{label}.values={values!r} is invalid: must be a list")
        else:
            rng = spec["range"]
            if (
                not isinstance(rng, list)
                or len(rng) not in (2, 3)
                or not all(_is_int(v) for v in rng)
                or (len(rng) == 3 and rng[2] < 1)
            ):
                raise ConfigError(
                    f"{label}.range={rng!r} is invalid: must be [LOW, HIGH] or "
                    "[LOW, HIGH, STEP] with integers (inclusive), STEP >= 1"
                )
            values = list(range(rng[0], rng[1] + 1, rng[2] if len(rng) == 3 else 1))
            if not values:
                raise ConfigError(f"{label}.range={rng!r} is empty: HIGH must be >= LOW")
    else:
        raise ConfigError(f"{label}={spec!r} is invalid: an axis is {AXIS_FORMS}")
    if not values:
        raise ConfigError(f"{label}=[] is empty: give at least one value")
    return values


def _quote(key: str) -> str:
    return f'"{key}"' if "." in key else key


def _set(config: dict[str, Any], key: str, value: Any) -> None:
    head, _, field = key.partition(".")
    if field:
        config.setdefault(head, {})[field] = value
    else:
        config[key] = value


_FIELD_RE = re.compile(r"^([A-Za-z_][\w.]*)(=|:)")


def _explain(exc: ConfigError, origins: Mapping[str, str], values: Mapping[str, Any]) -> str:
    """Rewrite 'approval.noise=-1 is invalid: ...' to name where the value was written."""
    message = str(exc)
    match = _FIELD_RE.match(message)
    if not match:
        return message
    field = match.group(1)
    origin = origins.get(field, "base")
    rest = message[match.end(1) :]
    out = f"sweep.{_quote(field)}{rest}" if origin == "sweep" else f"{origin}.{field}{rest}"
    context = {k: v for k, v in values.items() if origins.get(k) != "base" and k != field}
    if context:
        out += " (in the run with " + ", ".join(f"{k}={v!r}" for k, v in context.items()) + ")"
    return out


def _expand(data: dict[str, Any], text: str, path: Path | None) -> Sweep:
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        hint = " (run settings go in [base])" if unknown[0] in known_run_fields() else ""
        raise ConfigError(
            f"unknown top-level key {unknown[0]!r}; allowed are {', '.join(TOP_KEYS)}{hint}"
        )
    name = data.get("name", path.stem if path is not None else "experiment")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
        raise ConfigError(f"name={name!r} is invalid: use letters, digits, '-', '_' or '.'")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"description={description!r} is invalid: must be a string")
    base_raw = data.get("base", {})
    if not isinstance(base_raw, Mapping):
        raise ConfigError(f"base={base_raw!r} is invalid: must be a table ([base])")
    base = _flatten(base_raw, "base")
    seeds = base.pop("seeds", None)

    flat: dict[str, Any] = {}
    if "sweep" in data:
        sweep_raw = data["sweep"]
        if not isinstance(sweep_raw, Mapping):
            raise ConfigError(f"sweep={sweep_raw!r} is invalid: must be a table ([sweep])")
        for key, value in sweep_raw.items():
            # [sweep.approval] noise = [...] is the same as "approval.noise" = [...]
            if (
                "." not in key
                and isinstance(value, Mapping)
                and not ({"range", "values"} & set(value))
            ):
                for sub, v in value.items():
                    flat[f"{key}.{sub}"] = v
            else:
                flat[key] = value
        if not flat:
            raise ConfigError(
                "sweep is empty: add an axis such as horizon = {range = [1, 50]} or remove [sweep]"
            )

    variants: dict[str, dict[str, Any]] = {}
    if "variants" in data:
        raw = data["variants"]
        if not isinstance(raw, Mapping) or not raw:
            raise ConfigError("variants is empty: add tables such as [variants.mona]")
        for vname, table in raw.items():
            if not isinstance(table, Mapping):
                raise ConfigError(
                    f"variants.{vname}={table!r} is invalid: must be a table ([variants.{vname}])"
                )
            variants[vname] = _flatten(table, f"variants.{vname}")

    named = _named(base, list(variants.values()),
                   {k: v for k, v in flat.items() if isinstance(v, list)})
    for key in base:
        _check_key(key, "base", named)
    axes: dict[str, list[Any]] = {}
    for key, spec in flat.items():
        if key == "seeds":
            raise ConfigError(
                "sweep.seeds: use seed = {range = [0, 9]} in [sweep] or seeds = 10 in [base]"
            )
        _check_key(key, "sweep", named)
        axes[key] = _axis_values(key, spec)
    if seeds is not None:
        if not _is_int(seeds) or seeds < 1:
            raise ConfigError(
                f"base.seeds={seeds!r} is invalid: must be an integer >= 1 (runs seeds 0..seeds-1)"
            )
        if "seed" in axes or "seed" in base:
            raise ConfigError("base.seeds: give either base.seeds, base.seed or sweep.seed")
        axes["seed"] = list(range(seeds))
    for vname, flat_v in variants.items():
        for key in flat_v:
            if key == "seeds":
                raise ConfigError(f"variants.{vname}.seeds: seeds belong in [base] or [sweep]")
            _check_key(key, f"variants.{vname}", named)
            if key in axes:
                raise ConfigError(
                    f"variants.{vname}: {key!r} is also a sweep axis; set it in one place"
                )

    # seed innermost, so a condition's seeds are neighbours
    axis_keys = [k for k in axes if k != "seed"] + (["seed"] if "seed" in axes else [])
    runs: list[RunSpec] = []
    labels: dict[str, str] = {}
    seen: set[str] = set()
    duplicates = 0
    variant_items = list(variants.items()) or [(None, {})]
    for vname, overrides in variant_items:
        for combo in itertools.product(*(axes[k] for k in axis_keys)):
            config: dict[str, Any] = copy.deepcopy({})
            origins: dict[str, str] = {}
            values: dict[str, Any] = {}
            for key, value in base.items():
                _set(config, key, value)
                origins[key] = "base"
            for key, value in overrides.items():
                _set(config, key, value)
                origins[key] = f"variants.{vname}"
                values[key] = value
            for key, value in zip(axis_keys, combo, strict=True):
                _set(config, key, value)
                origins[key] = "sweep"
                values[key] = value
            try:
                run = build_run(config)
            except ConfigError as exc:
                raise ConfigError(_explain(exc, origins, values)) from None
            rid = run.run_id
            if rid in seen:
                duplicates += 1
                continue
            seen.add(rid)
            runs.append(run)
            if vname is not None:
                labels[rid] = vname
    return Sweep(
        name=name,
        path=path,
        source=text,
        runs=runs,
        axes={k: axes[k] for k in axis_keys},
        variants=labels,
        duplicates=duplicates,
    )
