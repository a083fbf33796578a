"""Experiment files: a base run config plus sweep axes, expanded into fully specified runs.

A *run* is one fully specified configuration, seed included (:class:`RunSpec`). Its identity
is a short hash of its normalized config (:func:`RunSpec.run_id`), so the same settings always
map to the same run directory, whichever file or sweep asked for them.

A run config is a few scalar fields (``algo``, ``horizon``, ``seed``) plus *sections*, each a
frozen dataclass that validates itself: the common sections ``env`` and ``approval`` and the
section of the run's algorithm (``exact``, ``ppo``, ``loan_pg``, ...). New components add a
section with :func:`register_section` (or a new algorithm in
:mod:`monarl.experiments.algorithms`), so the schema stays open: each component validates its
own part. An algorithm may also bring its own ``env`` / ``approval`` sections (``loan-pg``:
the loan environment and its overseer); every lookup of a run's section goes through
:func:`section_for` (run's algorithm first, then the common section).

The TOML format (see docs/experiments.md)::

    name = "horizon-sweep"
    [base]
    algo = "exact"
    horizon = 1            # or "none" (full horizon, ordinary RL)
    seeds = 10             # shorthand for sweep.seed = {range = [0, 9]}; or seed = 3
    [base.env]             # any EnvConfig field
    [base.approval]        # any ApprovalConfig field
    [base.exact]           # the algorithm's own settings
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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from monarl.core.config import ApprovalConfig, ConfigError, EnvConfig, from_mapping, parse_horizon

SCHEMA_VERSION = 1
RUN_SCALARS = ("algo", "horizon", "seed")
TOP_KEYS = ("name", "description", "base", "sweep", "variants")
AXIS_FORMS = "a non-empty list, {range = [LOW, HIGH]} or {range = [LOW, HIGH, STEP]} (inclusive)"


class SpecError(ValueError):
    """An invalid experiment file or run config; the message is one line."""


# Sections -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Section:
    """How to build, dump and describe one config section (``[base.NAME]``)."""

    name: str
    build: Callable[[Mapping[str, Any], str], Any]
    """(table, label) -> validated frozen object; raises ConfigError / ValueError."""
    fields: Callable[[], tuple[str, ...]]
    """Known field names (for error messages and sweep-axis checks)."""
    dump: Callable[[Any], dict[str, Any]] = lambda obj: _asdict(obj)
    """Frozen object -> JSON-able dict (every field, defaults included)."""


SECTIONS: dict[str, Section] = {}
COMMON_SECTIONS: list[str] = []


def _asdict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    return dataclasses.asdict(obj)


def _float_fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if "float" in str(f.type)}


def dataclass_section(name: str, cls: type) -> Section:
    """A section backed by a frozen dataclass with ``validate(section)`` (config.py style).

    Integers given for float fields become floats, so ``noise = 0`` and ``noise = 0.0`` are the
    same run.
    """
    floats = _float_fields(cls)

    def build(data: Mapping[str, Any], label: str) -> Any:
        if isinstance(data, Mapping):
            data = {k: float(v) if k in floats and type(v) is int else v for k, v in data.items()}
        return from_mapping(cls, data, label)

    return Section(name, build, lambda: tuple(f.name for f in dataclasses.fields(cls)))


def register_section(section: Section, common: bool = True) -> None:
    """Add a config section. Common sections belong to every run; algorithm sections only to
    runs of that algorithm (registered by :mod:`monarl.experiments.algorithms`)."""
    SECTIONS[section.name] = section
    if common and section.name not in COMMON_SECTIONS:
        COMMON_SECTIONS.append(section.name)


register_section(dataclass_section("env", EnvConfig))
register_section(dataclass_section("approval", ApprovalConfig))


def _algorithms():
    from monarl.experiments import algorithms

    return algorithms


def section_for(algo: str, name: str) -> Section:
    """The section ``name`` of runs of ``algo``: the algorithm's own replacement of a common
    section (e.g. loan-pg's ``env``) if it has one, else the registered section."""
    return _algorithms().get(algo).section(name)


def _section_names() -> set[str]:
    """Every section name a file may use: registered ones and every algorithm's own."""
    return set(SECTIONS) | set(_algorithms().section_names())


# Runs ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One fully specified run: algorithm, horizon, seed and validated sections."""

    algo: str
    horizon: int | None
    seed: int
    sections: tuple[tuple[str, Any], ...]

    def section(self, name: str) -> Any:
        for key, value in self.sections:
            if key == name:
                return value
        raise KeyError(name)

    @property
    def env(self) -> EnvConfig:
        return self.section("env")

    @property
    def approval(self) -> ApprovalConfig:
        return self.section("approval")

    @property
    def settings(self) -> Any:
        """The algorithm's own section (e.g. ExactSettings, PPOConfig, LoanPGConfig)."""
        return self.section(_algorithms().get(self.algo).section_name)

    def to_dict(self) -> dict[str, Any]:
        """The full normalized config (every field, defaults included): config.json."""
        return _copy2(self._full)

    def identity(self) -> dict[str, Any]:
        """What the run id hashes: the config with every section field that equals its
        default left out. Adding a new field with a default later keeps old ids valid."""
        return _copy2(self._identity)

    # A run is immutable, so both dicts are computed once (the store writes them for every
    # run, and a sweep asks for ids and batch keys many times).
    @functools.cached_property
    def _full(self) -> dict[str, Any]:
        out: dict[str, Any] = {"algo": self.algo, "horizon": self.horizon, "seed": self.seed}
        for name, obj in self.sections:
            out[name] = section_for(self.algo, name).dump(obj)
        return out

    @functools.cached_property
    def _identity(self) -> dict[str, Any]:
        out: dict[str, Any] = {"algo": self.algo, "horizon": self.horizon, "seed": self.seed}
        semantics = _algorithms().get(self.algo).semantics
        if semantics > 1:  # version 1 adds nothing, so ids from before versions stay as they were
            out["semantics"] = semantics
        for name, obj in self.sections:
            section = section_for(self.algo, name)
            defaults = _defaults(section, self.algo)
            values = section.dump(obj)
            changed = {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}
            if changed:
                out[name] = changed
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


_DEFAULTS: dict[str, dict[str, Any]] = {}


def _defaults(section: Section, algo: str = "") -> dict[str, Any]:
    """Every field's default of a section (keyed by its name; ``ALGO:NAME`` for an algorithm's
    own replacement of a common section)."""
    key = section.name if SECTIONS.get(section.name) is section else f"{algo}:{section.name}"
    if key not in _DEFAULTS:
        _DEFAULTS[key] = section.dump(section.build({}, section.name))
    return _DEFAULTS[key]


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
    algos = _algorithms()
    unknown = sorted(set(data) - set(RUN_SCALARS) - _section_names())
    if unknown:
        raise ConfigError(
            f"{_label(prefix, unknown[0])}: unknown field; known fields are "
            f"{', '.join(known_run_fields())}"
        )
    algo_name = data.get("algo", "exact")
    algo = algos.get(algo_name, _label(prefix, "algo"))
    horizon = parse_horizon(data.get("horizon"), _label(prefix, "horizon"))
    seed = data.get("seed", 0)
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"{_label(prefix, 'seed')}={seed!r} is invalid: must be an integer >= 0")
    sections = []
    for name in [*COMMON_SECTIONS, algo.section_name]:
        section = algo.section(name)
        sections.append((name, section.build(data.get(name, {}), _label(prefix, name))))
    run = RunSpec(algo.name, horizon, seed, tuple(sections))
    env = run.env
    limit = getattr(env, "max_steps", None)
    if horizon is not None and limit is not None and horizon > limit:
        where = (
            f"step limit env.max_steps={limit}"
            if "max_steps" in algo.section("env").fields()
            else f"episode length of {getattr(env, 'name', 'the environment')}, {limit} steps"
        )
        raise ConfigError(
            f"{_label(prefix, 'horizon')}={horizon!r} is invalid: exceeds the {where} "
            "(use 'none' for the full horizon)"
        )
    algo.check(run, prefix)
    return run


def known_run_fields() -> list[str]:
    return [*RUN_SCALARS, *SECTIONS]


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
    sections = _section_names()
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


def _check_key(key: str, where: str) -> None:
    """A dotted field path must name a known scalar or section field."""
    algos = _algorithms()
    sections = _section_names()
    head, _, field = key.partition(".")
    if not field:
        if head in RUN_SCALARS:
            return
        if head in sections:
            raise ConfigError(
                f"{where} {key!r}: a section needs a field, e.g. '{head}.{_fields_of(head)[0]}'"
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
            f"{', '.join(sorted(_section_names()))}"
        )
    known = _fields_of(head)
    if field not in known:
        own = {a.name: a.section(head).fields() for a in algos.with_own_section(head)}
        common = SECTIONS[head].fields() if head in SECTIONS else known
        listed = ", ".join(sorted(common)) + "".join(
            f" (algo {name}: {', '.join(sorted(fields))})" for name, fields in own.items()
        )
        raise ConfigError(f"{where}: unknown field {key!r}; known fields of {head} are {listed}")


def _fields_of(section: str) -> tuple[str, ...]:
    """Fields a key ``SECTION.FIELD`` may name before the run's algorithm is known: for a
    common section, the union over the common section and every algorithm's replacement of it
    (:func:`build_run` then validates exactly against the run's algorithm)."""
    algos = _algorithms()
    if section not in SECTIONS:
        algos.by_section(section).load()  # registers it or raises a clear error
    fields = list(SECTIONS[section].fields())
    for algo in algos.with_own_section(section):
        fields += [f for f in algo.section(section).fields() if f not in fields]
    return tuple(fields)


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
    for key in base:
        _check_key(key, "base")

    axes: dict[str, list[Any]] = {}
    if "sweep" in data:
        sweep_raw = data["sweep"]
        if not isinstance(sweep_raw, Mapping):
            raise ConfigError(f"sweep={sweep_raw!r} is invalid: must be a table ([sweep])")
        flat: dict[str, Any] = {}
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
        for key, spec in flat.items():
            if key == "seeds":
                raise ConfigError(
                    "sweep.seeds: use seed = {range = [0, 9]} in [sweep] or seeds = 10 in [base]"
                )
            _check_key(key, "sweep")
            axes[key] = _axis_values(key, spec)
    if seeds is not None:
        if not _is_int(seeds) or seeds < 1:
            raise ConfigError(
                f"base.seeds={seeds!r} is invalid: must be an integer >= 1 (runs seeds 0..seeds-1)"
            )
        if "seed" in axes or "seed" in base:
            raise ConfigError("base.seeds: give either base.seeds, base.seed or sweep.seed")
        axes["seed"] = list(range(seeds))

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
            flat_v = _flatten(table, f"variants.{vname}")
            for key in flat_v:
                if key == "seeds":
                    raise ConfigError(f"variants.{vname}.seeds: seeds belong in [base] or [sweep]")
                _check_key(key, f"variants.{vname}")
                if key in axes:
                    raise ConfigError(
                        f"variants.{vname}: {key!r} is also a sweep axis; set it in one place"
                    )
            variants[vname] = flat_v

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
