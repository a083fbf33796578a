"""The three things a researcher can bring: an environment, an approval, a trainer.

Each is declared once, as a frozen spec object, and looked up by name in its registry
(``monarl.envs.ENVS``, ``monarl.approval.APPROVALS``, ``monarl.algos.TRAINERS``), or by a
``package.module:ATTR`` reference to a spec in the user's own code (docs/extending.md). The
CLI, experiment files, sweeps, reports and ``monarl reproduce`` read choices, settings, labels
and colours from the specs, so adding one never means editing them.

MONA differs from ordinary RL in two knobs only, and the protocols keep them apart: an
environment knows nothing of approvals or trainers; an approval judges steps of an environment
and knows no trainer (a trainer hands it what it needs: tables, an overseer run); a trainer
takes an environment, an approval (or None: ordinary RL's reward) and a horizon (None:
ordinary RL's full return), and knows no concrete environment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from monarl.core.registry import load_reference

# --------------------------------------------------------------------------------------------
# Environments
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Discrete:
    """``n`` actions ``0 .. n-1``; ``letters`` (one character each) are what ``monarl rollout
    --actions`` reads, ``names`` what it prints."""

    n: int
    letters: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class MultiDiscrete:
    """An action is an int array ``[length]``, each entry one of ``n`` choices (a factorized
    policy: one categorical per position)."""

    n: int
    length: int


@dataclasses.dataclass(frozen=True)
class TablesSpec:
    """The ``tables`` capability: the environment's finite states, enumerated, with transition
    probabilities, so the exact solver, the exact evaluation and the table approvals work.

    - ``compile(params) -> monarl.tabular.tables.Tables`` (successors ``[S, A, K]`` with their
      probabilities and rewards; K = 1 for deterministic rules). Build the tables by running
      the environment's own rules on every state, so there is no second copy to drift.
    - ``count_states(settings) -> int``: the number of states, computed without building them,
      so a board too large is refused before any work.
    - ``index_arrays(tables)`` -> a pytree of arrays, and ``index(state, arrays) -> int32``:
      the table index of one (unbatched) environment state, traceable by JAX, for looking
      approvals up inside a jitted trainer (``monarl.tabular.tables.key_index`` builds both
      from an integer key function).
    - ``time_slot``: the index of the observation's one entry that depends on the time step,
      which then must be ``t / max_steps`` (the Gymnasium adapter steps through the tables and
      fills it in); None when observations depend on time otherwise.
    - ``size_fields`` / ``noun``: the settings that decide the number of states and what the
      environment is called, for refusals ("rows=12, cols=12, boxes=4: that board has ...").
    - ``unavailable(settings) -> (fields, reason) | None``: why the tables cannot be built at
      these settings although the states are few (e.g. too many successors per action: every
      watered tomato may dry at once), with the settings to name in a refusal; None: they can.
    """

    compile: Callable[[Any], Any]
    count_states: Callable[[Any], int]
    index_arrays: Callable[[Any], Any]
    index: Callable[[Any, Any], Any]
    time_slot: int | None = None
    size_fields: tuple[str, ...] = ()
    noun: str = "environment"
    unavailable: Callable[[Any], tuple[dict[str, Any], str] | None] | None = None


@dataclasses.dataclass(frozen=True)
class ControlSpec:
    """The hack-free control: the same task with the hack made impossible, for the alignment
    tax (what a method costs in true return where there is nothing to hack).

    ``fields``: the settings that switch it (a hackable environment and its control differ in
    these only); ``is_control(settings)``; ``make(settings)``: the control of these settings;
    ``description``: how reports name it ("blockers > boxes - 1")."""

    fields: tuple[str, ...]
    is_control: Callable[[Any], bool]
    make: Callable[[Any], Any]
    description: str = ""


def policy_replies(generate: Callable[[list, int], Any], chats: list, turn: int) -> list[str]:
    """The replies of ``generate(chats, turn)`` (the policy a ``TextSpec.evaluate`` is given),
    checked: one string per chat, so an environment's metrics never silently pair a reply with
    the wrong case."""
    replies = list(generate(chats, turn))
    if len(replies) != len(chats) or not all(isinstance(r, str) for r in replies):
        raise ValueError(f"generate(chats, {turn}) must return one string per chat "
                         f"({len(chats)}), got {len(replies)} replies")
    return replies


@dataclasses.dataclass(frozen=True)
class TextSpec:
    """The ``text`` capability: episodes of several turns written by a language model.

    An episode is a *case* (one loan application, one coding problem) and ``turns`` replies.
    Before turn ``k`` the environment shows the model a chat (``prompt``); the model's reply is
    judged by the environment (``judge``), which gives every turn an observed reward, a true
    reward and the information its metrics need. Trainers know nothing else of the task: the
    horizon math sees a ``[turns, episodes]`` reward matrix (``monarl.core.horizon``), exactly
    as the JAX trainers see ``[T, envs]``.

    Functions (``params`` is what ``EnvSpec.make_params`` returned; all deterministic given
    their ``rng``, a ``numpy.random.Generator``, so the same seed gives the same episodes):

    - ``sample(params, rng, n) -> list[case]``: ``n`` fresh cases (training draws them; the
      evaluation draws its own held-out ones).
    - ``prompt(case, turn, replies, params, inoculation) -> list[{"role", "content"}]``: the
      chat shown before turn ``turn`` (0-based) given the earlier ``replies`` (what the model
      may see: the loan decision sees only its own summary). ``inoculation=True`` adds the
      train-time instruction that permits the undesired behaviour (absent at test time).
    - ``judge(case, replies, params) -> TurnRewards``: every turn's observed and true reward
      once all replies are written (a turn's reward never depends on later replies unless the
      environment's rules say so: the decision is paid at the decision).
    - ``overseer(case, turn, reply, params) -> float | None``: the trusted rule-based
      overseer's approval of a turn, judged without seeing any later turn (None: it does not
      judge that turn). Used by the ``overseer`` approval.
    - ``evaluate(generate, params, rng, n) -> dict[str, float]``: the environment's own
      test-time metrics of a policy on ``n`` held-out cases drawn from ``rng``, where
      ``generate(chats, turn) -> list[str]`` writes greedy replies for a batch of chats (no
      inoculation at test time).
    - ``demonstrations(params, rng, n) -> list[list[(chat, reply)]]``: well-formed episodes
      (the honest, varied transcripts a tiny model is pretrained on so it writes proper turns).

    Fields: ``turn_names`` (one per turn, "summary", "decision"), ``max_new_tokens`` per turn
    (the default reply budget), ``metrics`` (the names ``evaluate`` returns, the headline
    first), ``headline`` (those ``monarl train`` shows first), ``inoculation`` (the text of the
    train-time instruction, for the docs and the run record; "" when the environment has none),
    ``pretrain_steps`` (how long a tiny model is pretrained on ``demonstrations`` by default:
    long enough that it writes the turns and, where the task needs it, reads them),
    ``for_model`` (None, or ``for_model(settings, tiny) -> settings``: the settings to build
    parameters from for a policy, where a default depends on whether the policy is the
    built-in tiny model; tdd's ``problems = auto`` is HumanEval for a pretrained model and the
    generated family for tiny. The run's config, and so its id, keeps the unresolved value),
    ``judge_prompt`` (the LLM judge approval's prompt when the user gives none: a question
    about the turn it judges by default, turn 0, with ``{reply}`` and optionally
    ``{context}``; "" when the environment has none, and then the judge needs a prompt).
    """

    turns: int
    turn_names: tuple[str, ...]
    max_new_tokens: tuple[int, ...]
    sample: Callable[[Any, Any, int], list[Any]]
    prompt: Callable[..., list[dict[str, str]]]
    judge: Callable[[Any, list[str], Any], Any]
    overseer: Callable[[Any, int, str, Any], float | None] | None
    evaluate: Callable[[Callable, Any, Any, int], dict[str, float]]
    demonstrations: Callable[[Any, Any, int], list[list[tuple[list[dict[str, str]], str]]]]
    metrics: tuple[str, ...] = ()
    headline: tuple[str, ...] = ()
    inoculation: str = ""
    pretrain_steps: int = 600
    for_model: Callable[[Any, bool], Any] | None = None
    judge_prompt: str = ""


@dataclasses.dataclass(frozen=True)
class TurnRewards:
    """What ``TextSpec.judge`` gives for one episode: per turn, the observed reward (what the
    training signal sees), the true reward (what we care about), and a JSON-able dict of
    what the environment noticed (``flagged``, ``correct``...)."""

    observed: tuple[float, ...]
    true: tuple[float, ...]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """An environment, gymnax style: pure functions of explicit keys and parameters.

    Contracts (docs/extending.md): ``reset(key, params) -> (obs, state)`` and ``step(key,
    state, action, params) -> (obs, state, reward, terminated, truncated, info)`` are pure and
    vmappable; ``reward`` is the *observed* reward; ``info["true_reward"]`` is the true one and
    ``info["outcome"]`` the index into ``outcomes`` on the step that ends an episode (-1
    before). A time limit is ``truncated``, never ``terminated``. A state is a NamedTuple with
    an int32 field ``t`` (steps taken), and the observation contains the time step, so a
    critic's value at the limit is known to be 0 and nothing needs bootstrapping there.

    Fields:
        name, summary: how it is named and described (``monarl envs``).
        settings: frozen dataclass of its settings; defaults are the documented ones;
            ``validate(section)`` raises ``ConfigError`` naming the field.
        make_params: validated settings -> the parameters pytree the functions take.
        describe: parameters -> JSON-able settings recorded with results.
        reset, step, observe: the functional API (``observe(state, params) -> obs``).
        actions: parameters -> :class:`Discrete` or :class:`MultiDiscrete`.
        observation_size: parameters -> length of the flat float32 observation.
        max_steps: settings -> the episode's step limit (no horizon may exceed it).
        outcomes: the outcome labels; ``hack`` names the one that is the hack (None: no hack
            outcome, e.g. an environment whose hack shows in metrics instead) and
            ``intended`` the one that is the task done as meant.
        start_states: parameters -> a batch of states (leading axis) that ``reset`` draws from
            uniformly, or None; with it, trainers reset a batch with one draw.
        render / parse: ``render(state, params) -> str``, a state as the text board of what
            the agent observes, and ``parse(text, fields) -> (state, params)``, the start
            board of ``monarl rollout`` with the settings given beside it (the board decides
            what it shows; the environment validates the rest).
        tables: the :class:`TablesSpec` capability, or None.
        control: the :class:`ControlSpec` of its hack-free control, or None.
        default_approval: the approval a run of this environment gets when none is named.
        action_kind: ``discrete`` (one of n actions) or ``multi-discrete`` (an int array),
            what :attr:`actions` returns; trainers declare which they train.
        text: the :class:`TextSpec` of a language-model environment (turns of text), or None.
            A text-only environment sets ``reset``, ``step``, ``observe``, ``actions`` and
            ``observation_size`` to None: it has no JAX capability.
        docs: where its rules are documented.
        label: its name in report titles ("Camera Dropbox"; default: ``name``).
        title: ``title(settings) -> str``, the settings that tell its instances apart in a
            few words, for headings and plot titles ("4x4, 2 boxes, 1 blocker(s)"); takes the
            settings as recorded (a dict). None: ``key=value`` of every setting.
    """

    name: str
    summary: str
    settings: type
    make_params: Callable[[Any], Any]
    describe: Callable[[Any], dict[str, Any]]
    reset: Callable | None
    step: Callable | None
    observe: Callable | None
    actions: Callable[[Any], Discrete | MultiDiscrete] | None
    observation_size: Callable[[Any], int] | None
    max_steps: Callable[[Any], int]
    outcomes: tuple[str, ...]
    hack: str | None = None
    intended: str | None = None
    start_states: Callable[[Any], Any] | None = None
    render: Callable[[Any, Any], str] | None = None
    parse: Callable[[str, Any], tuple[Any, Any]] | None = None
    tables: TablesSpec | None = None
    control: ControlSpec | None = None
    default_approval: str = "none"
    action_kind: str = "discrete"
    text: TextSpec | None = None
    docs: str = ""
    label: str = ""
    title: Callable[[dict[str, Any]], str] | None = None

    def describe_settings(self, settings: dict[str, Any]) -> str:
        """Its label and the settings in a few words (see ``title``)."""
        shown = {k: v for k, v in settings.items() if k not in ("env", "name")}
        if self.title is not None:
            return f"{self.label or self.name} {self.title(shown)}"
        listed = ", ".join(f"{k}={v}" for k, v in shown.items())
        return f"{self.label or self.name} ({listed})" if listed else (self.label or self.name)

    def capabilities(self) -> tuple[str, ...]:
        """What it offers in general: ``jax`` (unless text-only), its action kind (``discrete`` or
        ``multi-discrete``), ``tables``, ``control`` and ``text`` (with ``rule-overseer``
        when its TextSpec has one, ``judge-prompt`` when it has a judge prompt) when declared
        (a tables environment may still be too large for them at some settings: see
        :func:`monarl.algos.check.env_capabilities`)."""
        caps = ["jax", self.action_kind] if self.reset is not None else []
        if self.tables is not None:
            caps.append("tables")
        if self.text is not None:
            caps.append("text")
            if self.text.overseer is not None:
                caps.append("rule-overseer")
            if self.text.judge_prompt:
                caps.append("judge-prompt")
        if self.control is not None:
            caps.append("control")
        return tuple(caps)


# --------------------------------------------------------------------------------------------
# Approvals
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Family:
    """A line of the approval spectrum (reports): a family of methods and its dial.

    ``strength``: the settings field that is the dial (None: no dial); ``label``: what the
    dial is called on a plot axis; ``color``: the family's colour in every plot;
    ``log_above``: plot the dial on a logarithmic axis when its largest value exceeds this
    (a label budget spans orders of magnitude; None: always linear)."""

    name: str
    strength: str | None
    label: str
    color: str
    log_above: float | None = None


class Need(tuple):
    """What an approval requires, and why (quoted when a combination is refused)."""

    __slots__ = ()

    def __new__(cls, field: str, reason: str) -> Need:
        return super().__new__(cls, (field, reason))

    @property
    def field(self) -> str:
        """The approval setting that brings the need (``kind`` for the approval itself)."""
        return self[0]

    @property
    def reason(self) -> str:
        return self[1]


@dataclasses.dataclass(frozen=True)
class ApprovalSpec:
    """An overseer's judgement of a step, given without seeing what follows it.

    Fields:
        name, summary: how it is named and described (``monarl approvals``).
        settings: frozen dataclass of its own settings (may have none).
        build: ``build(context, settings) -> Approval | None`` (``monarl.approval.base``):
            the step-reward object every trainer consumes the same way; None means "no
            approval": the step trains on the environment's reward (ordinary RL).
        needs: ``needs(settings) -> {need: Need(field, reason)}``: what it requires, from
            the environment (``tables``) or from the trainer (``overseer``: an overseer trained
            by RL on the true reward; ``training``: an approval that learns inside training),
            each with the setting that brings it and the reason a refusal quotes.
        envs: the environments it applies to (None: every one that meets its needs).
        family: ``family(settings) -> Family`` for the approval spectrum.
        control: True for a negative control (reports label it; never a method).
        seed_dependent: ``seed_dependent(settings) -> bool``: whether its judgement differs
            between seeds (noise, a learned model).
    """

    name: str
    summary: str
    settings: type
    build: Callable[[Any, Any], Any]
    needs: Callable[[Any], dict[str, Need]] = lambda settings: {}
    envs: tuple[str, ...] | None = None
    family: Callable[[Any], Family] | None = None
    control: bool = False
    seed_dependent: Callable[[Any], bool] = lambda settings: False

    def family_of(self, settings: Any) -> Family:
        if self.family is not None:
            return self.family(settings)
        return Family(self.name, None, self.name, "#333333")


# --------------------------------------------------------------------------------------------
# Trainers
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainerSpec:
    """A way to optimize a policy with a horizon M and an approval.

    Fields:
        name, summary: how it is named (``algo = "ppo"``) and described.
        section: the name of its settings table in run configs (``[base.ppo]``).
        settings: frozen dataclass of its settings (``from_dict``/``to_dict`` if it converts
            values itself, else built by ``monarl.core.config.from_mapping``).
        runner: ``package.module:ATTR`` of ``run(runs, ctx)``, a generator that trains a batch
            of runs that agree on everything but ``batch_fields`` and yields ``(run, final,
            info)`` per run as soon as it is done (or a list of such, committed together); it
            may log evaluation points with ``ctx.log(run, {...})`` and report progress with
            ``ctx.progress(runs, env_steps)``. Imported on first use.
        requires: environment capabilities it needs (``tables`` for the exact solver).
        provides: approval needs it can satisfy beyond the environment's (``overseer``,
            ``training``).
        envs: the environments it works on (None: every one with the capabilities).
        default_env: the environment of a run config that names none.
        batch_fields: run fields that may differ within one call (``seed``; ``horizon`` too for
            the exact solver, which solves every horizon in one scan). Empty for a trainer
            that gains nothing from a batch: each run is then its own sweep task.
        light: its runs take well under a second (the sweep then runs them in its own process).
        steps: ``steps(run) -> int | None``, environment steps per run for progress and ETA.
        check: ``check(run, prefix)`` for trainer-specific rules (raise ``ConfigError``).
        semantics: bumped when a release changes what a config computes (part of run ids
            above 1: docs/experiments.md).
        metrics_note: what its final metrics mean, for reports (when they are not the outcome
            fractions and returns).
        headline: ``headline(env_spec) -> metric names`` that ``monarl train`` summarizes first.
        default_seeds: the seeds ``monarl train`` runs when ``--seeds`` is not given: 10 where
            seeds train together (vmapped, nearly free), 1 where each seed is a model trained
            after the last (a language model: ten would be hours on a CPU).
        interval: how ``monarl train --json`` gives a mean's 95 % interval: ``t`` (Student-t
            half-width) or ``bootstrap`` (percentile bootstrap ``[low, high]``).
    """

    name: str
    summary: str
    section: str
    settings: type
    runner: str
    requires: frozenset[str] = frozenset({"jax"})
    provides: frozenset[str] = frozenset()
    envs: tuple[str, ...] | None = None
    default_env: str = "camera-dropbox"
    batch_fields: tuple[str, ...] = ("seed",)
    light: bool = False
    steps: Callable[[Any], int | None] = lambda run: None
    check: Callable[[Any, str], None] | None = None
    semantics: int = 1
    metrics_note: str = ""
    headline: Callable[[Any], tuple[str, ...]] | None = None
    interval: str = "t"
    default_seeds: int = 10

    def run(self, runs: list[Any], ctx: Any):
        """Execute a batch of runs (see ``runner``)."""
        return load_reference(self.runner)(runs, ctx)

    def batch_key(self, run: Any) -> str:
        import json

        return json.dumps(run.without(*self.batch_fields), sort_keys=True)
