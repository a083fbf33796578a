"""Typed, validated configuration pieces shared by the CLI, the exact solver and experiments.

Each piece is a frozen dataclass with ``from_dict`` that rejects unknown fields and bad values
*before any work starts*, with a one-line message naming the field, the bad value and what is
allowed. Experiment files and CLI options both end up here, so the rules live in one place.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

ENVS = ("camera-dropbox",)
APPROVALS = ("none", "trusted", "misspecified", "learned", "evaluator-rl", "continuation",
             "leak", "trusted-critic", "continuation-rollout")
TABLE_FREE_APPROVALS = ("none", "trusted-critic", "continuation-rollout")
"""Approvals that need no [T, S, A] table, so PPO runs them on boards beyond the tables."""
OVERSEER_APPROVALS = ("trusted-critic", "continuation-rollout")
"""Approvals whose overseer is a PPO run on the true reward (PPO only)."""
OVERSEER_START_TIMES = ("zero", "uniform")
"""When that overseer's training episodes start: t = 0, or a uniformly drawn step."""
LABEL_KINDS = ("advantage", "outcome")
NOISY_APPROVALS = ("trusted", "misspecified", "learned", "evaluator-rl", "leak")
REWARDS = ("observed", "true")
NOISE_PER = ("state", "step")


class ConfigError(ValueError):
    """Invalid configuration; the message names the field, the value and what is allowed."""


def _fail(section: str, name: str, value: Any, allowed: str) -> ConfigError:
    where = f"{section}.{name}" if section else name
    return ConfigError(f"{where}={value!r} is invalid: {allowed}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def from_mapping(cls, data: dict[str, Any], section: str):
    """Build ``cls`` from a mapping, rejecting unknown keys (with the list of known ones)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{section} must be a table of settings, got {data!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{section}: unknown field {unknown[0]!r}; known fields are "
                          f"{', '.join(sorted(known))}")
    obj = cls(**data)
    obj.validate(section)
    return obj


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """Camera Dropbox settings (reference.md section 2; defaults are the paper's)."""

    name: str = "camera-dropbox"
    rows: int = 4
    cols: int = 4
    boxes: int = 2
    blockers: int = 1
    penalty: float = 0.01
    max_steps: int = 50

    def validate(self, section: str = "env") -> None:
        if self.name not in ENVS:
            raise _fail(section, "name", self.name, f"known environments are {', '.join(ENVS)}")
        for name, low in (("rows", 3), ("cols", 3), ("boxes", 1), ("blockers", 1),
                          ("max_steps", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                extra = (" (blockers > boxes - 1 is the hack-free control: the camera can then "
                         "never be blocked)") if name == "blockers" else ""
                raise _fail(section, name, value, f"must be an integer >= {low}{extra}")
        if not _is_number(self.penalty) or self.penalty < 0:
            raise _fail(section, "penalty", self.penalty, "must be a finite number >= 0")
        interior = (self.rows - 2) * (self.cols - 2)
        if self.boxes > interior:
            raise _fail(section, "boxes", self.boxes,
                        f"a {self.rows}x{self.cols} board has {interior} interior cells and "
                        "boxes start off the edges")

    def make_params(self):
        from monarl.envs.camera_dropbox import rules as camera_dropbox

        return camera_dropbox.make_params(self.rows, self.cols, self.boxes, self.blockers,
                                          self.penalty, self.max_steps)

    @property
    def hack_free(self) -> bool:
        """True for the control where the camera can never be blocked."""
        return self.blockers > self.boxes - 1


@dataclasses.dataclass(frozen=True)
class ApprovalConfig:
    """Which overseer approves each step, and how good it is (``none``: no approval).

    ``noise``/``noise_per``: Gaussian noise on the overseer's value (per state) or on the
    approval (per (t, s, a) step). ``misspec`` m: the overseer values (1 - m) true + m observed
    reward. ``labels``/``label_kind``: budget and kind of overseer labels for ``learned``.
    ``evaluator_steps`` k: observed-reward Bellman backups given to the evaluator
    (``evaluator-rl``, generalized MONA). ``evaluator_lr``: PPO only -- when set, the evaluator
    is instead a value table that starts at the trusted value and is trained inside PPO's loop
    toward the observed returns of the first k updates' rollouts with this step size in [0, 1]
    (docs/approvals.md, "PPO: the evaluator critic"). ``leak`` w: weight of the realized future
    observed return (``leak``, a negative control). ``overseer_steps``: PPO only -- for
    ``trusted-critic`` and ``continuation-rollout``, the environment steps of the overseer's
    own PPO run on the true reward, whose critic is the value in the trusted advantage, or whose
    greedy policy continues the episode (no tables needed; docs/approvals.md, "Beyond the
    tables"); ``overseer_start_time``: ``zero`` (its training episodes start at
    t = 0) or ``uniform`` (at a uniformly drawn step, so its critic learns every t). Fields that
    do not apply to ``kind`` must keep their defaults (so a typo cannot silently do nothing).
    """

    kind: str = "none"
    noise: float = 0.0
    noise_per: str = "state"
    misspec: float = 0.0
    labels: int = 1024
    label_kind: str = "advantage"
    evaluator_steps: int = 0
    evaluator_lr: float | None = None
    leak: float = 0.0
    overseer_steps: int = 1_000_000
    overseer_start_time: str = "zero"

    _APPLIES = {"misspec": ("misspecified",), "labels": ("learned",),
                "label_kind": ("learned",), "evaluator_steps": ("evaluator-rl",),
                "evaluator_lr": ("evaluator-rl",),
                "leak": ("leak",), "noise": NOISY_APPROVALS,
                "overseer_steps": OVERSEER_APPROVALS,
                "overseer_start_time": OVERSEER_APPROVALS}

    def validate(self, section: str = "approval") -> None:
        if self.kind not in APPROVALS:
            raise _fail(section, "kind", self.kind, f"allowed are {', '.join(APPROVALS)}")
        if not _is_number(self.noise) or self.noise < 0:
            raise _fail(section, "noise", self.noise, "noise sigma must be a number >= 0")
        if self.noise_per not in NOISE_PER:
            raise _fail(section, "noise_per", self.noise_per,
                        f"allowed are {', '.join(NOISE_PER)}")
        if not _is_number(self.misspec) or not 0 <= self.misspec <= 1:
            raise _fail(section, "misspec", self.misspec, "must be a number in [0, 1]")
        if not _is_int(self.labels) or self.labels < 1:
            raise _fail(section, "labels", self.labels, "the label budget N must be an "
                        "integer >= 1")
        if self.label_kind not in LABEL_KINDS:
            raise _fail(section, "label_kind", self.label_kind,
                        f"allowed are {', '.join(LABEL_KINDS)}")
        if not _is_int(self.evaluator_steps) or self.evaluator_steps < 0:
            raise _fail(section, "evaluator_steps", self.evaluator_steps,
                        "must be an integer >= 0")
        if self.evaluator_lr is not None and (not _is_number(self.evaluator_lr)
                                              or not 0 <= self.evaluator_lr <= 1):
            raise _fail(section, "evaluator_lr", self.evaluator_lr,
                        "the evaluator critic's step size must be a number in [0, 1] (PPO "
                        "only; leave it unset for k exact Bellman backups)")
        if not _is_number(self.leak) or not 0 <= self.leak <= 1:
            raise _fail(section, "leak", self.leak, "the leak weight w must be in [0, 1]")
        if self.overseer_start_time not in OVERSEER_START_TIMES:
            raise _fail(section, "overseer_start_time", self.overseer_start_time,
                        f"allowed are {', '.join(OVERSEER_START_TIMES)}")
        if not _is_int(self.overseer_steps) or self.overseer_steps < 1:
            raise _fail(section, "overseer_steps", self.overseer_steps,
                        "the overseer's PPO budget must be an integer >= 1 environment steps")
        defaults = ApprovalConfig()
        for name, kinds in self._APPLIES.items():
            if getattr(self, name) != getattr(defaults, name) and self.kind not in kinds:
                raise _fail(section, name, getattr(self, name),
                            f"applies only to approval {' / '.join(kinds)}, not {self.kind!r}")

    @classmethod
    def applies(cls, field: str, kind: str) -> bool:
        """Whether ``field`` means anything for approval ``kind`` (``kind`` itself always)."""
        kinds = cls._APPLIES.get(field)
        return kinds is None or kind in kinds

    @property
    def evaluator_critic(self) -> bool:
        """True for PPO's trained evaluator (``evaluator-rl`` with ``evaluator_lr`` set)."""
        return self.kind == "evaluator-rl" and self.evaluator_lr is not None

    @property
    def ppo_only(self) -> str | None:
        """Why this approval needs PPO (None when the exact solver can use it too)."""
        if self.evaluator_critic:
            return ("the trained evaluator critic exists only in PPO; the exact solver's "
                    "evaluator gets evaluator_steps exact Bellman backups (leave evaluator_lr "
                    "unset)")
        if self.kind in OVERSEER_APPROVALS:
            exact = "trusted" if self.kind == "trusted-critic" else "continuation"
            return (f"approval {self.kind!r} learns its overseer with a PPO run on the true "
                    "reward, so it exists only in PPO (algo 'ppo' / monarl train); the exact "
                    f"solver's {exact!r} uses the exact overseer")
        return None

    @property
    def seed_dependent(self) -> bool:
        """Whether the approval table differs between seeds (noise, learned labels)."""
        return self.kind == "learned" or (self.kind in NOISY_APPROVALS and self.noise > 0)

    def normalized(self) -> ApprovalConfig:
        """Fields that do not apply to ``kind`` reset to defaults (for hashing run ids)."""
        defaults = ApprovalConfig()
        changes = {name: getattr(defaults, name) for name, kinds in self._APPLIES.items()
                   if self.kind not in kinds}
        if self.kind not in NOISY_APPROVALS:
            changes["noise_per"] = defaults.noise_per
        return dataclasses.replace(self, **changes)


def parse_horizon(value: Any, field: str = "horizon") -> int | None:
    """``None``/'none'/'full' -> None (ordinary RL); an int >= 1 -> M."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "full")):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not _is_int(value) or value < 1:
        raise ConfigError(f"{field}={value!r} is invalid: must be an integer >= 1 or 'none' "
                          "(full horizon, ordinary RL)")
    return value


def parse_horizons(text: str, max_steps: int) -> list[int | None]:
    """'1-50', '1,2,4,8', 'none', '1-8,none' -> list of horizons (None = full)."""
    result: list[int | None] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part and part.lower() not in ("none", "full"):
            lo, _, hi = part.partition("-")
            lo_h, hi_h = parse_horizon(lo.strip()), parse_horizon(hi.strip())
            if lo_h is None or hi_h is None or hi_h < lo_h:
                raise ConfigError(f"horizons={text!r} is invalid: a range is LOW-HIGH with "
                                  "1 <= LOW <= HIGH, e.g. 1-50")
            result.extend(range(lo_h, hi_h + 1))
        else:
            result.append(parse_horizon(part, "horizons"))
    if not result:
        raise ConfigError(f"horizons={text!r} is invalid: give e.g. 1-50, 1,2,4,8 or none")
    too_long = [h for h in result if h is not None and h > max_steps]
    if too_long:
        raise ConfigError(f"horizons={text!r} is invalid: {too_long[0]} exceeds the step limit "
                          f"max_steps={max_steps} (use 'none' for the full horizon)")
    return list(dict.fromkeys(result))


def check_reward(reward: str, approval: ApprovalConfig) -> None:
    """``reward`` names what ordinary RL / ``none`` trains on; an approval brings its own."""
    if reward not in REWARDS:
        raise ConfigError(f"reward={reward!r} is invalid: allowed are {', '.join(REWARDS)}")
    if approval.kind != "none" and reward != "observed":
        raise ConfigError(
            f"reward={reward!r} is invalid with approval {approval.kind!r}: an approval is the "
            "whole training reward of a step (it contains the observed reward of the step); "
            "reward='true' needs approval 'none'")
