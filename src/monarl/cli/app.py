"""The ``monarl`` command line (typer).

Every command validates all of its input before any work starts; a bad value exits with
status 2 and one line on stderr naming the option, the value and what is allowed, and writes
nothing.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from monarl.core.config import ApprovalConfig, ConfigError, EnvConfig, check_reward, parse_horizons

app = typer.Typer(
    help="MONA vs ordinary RL: solve exactly, train, sweep and report on multi-step reward "
    "hacking (Camera Dropbox and friends).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class Env(StrEnum):
    camera_dropbox = "camera-dropbox"


class Reward(StrEnum):
    observed = "observed"
    true = "true"


class Approval(StrEnum):
    none = "none"
    trusted = "trusted"
    misspecified = "misspecified"
    learned = "learned"
    evaluator_rl = "evaluator-rl"
    continuation = "continuation"
    leak = "leak"
    trusted_critic = "trusted-critic"
    continuation_rollout = "continuation-rollout"


class OverseerStart(StrEnum):
    zero = "zero"
    uniform = "uniform"


class LabelKind(StrEnum):
    advantage = "advantage"
    outcome = "outcome"


class NoisePer(StrEnum):
    state = "state"
    step = "step"


class TieBreak(StrEnum):
    random = "random"
    random_near = "random-near"
    first = "first"


class Window(StrEnum):
    optimal = "optimal"
    policy = "policy"


def fail(message: str) -> None:
    """One line on stderr, exit status 2 (the convention for usage errors)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def write_json(path: Path, data: object) -> None:
    """Write JSON atomically (temp file + rename), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def check_writable_target(path: Path | None, option: str) -> None:
    if path is not None and path.exists() and path.is_dir():
        fail(f"{option} {str(path)!r} is a directory: give a file path")


EnvArg = Annotated[Env, typer.Argument(metavar="ENV", help="Environment.")]

# Shared environment options --------------------------------------------------------------
RowsOpt = Annotated[int, typer.Option(help="Board rows (>= 3; boxes start off the edges).")]
ColsOpt = Annotated[int, typer.Option(help="Board columns (>= 3).")]
BoxesOpt = Annotated[int, typer.Option(help="Number of boxes (paper: 2).")]
BlockersOpt = Annotated[int, typer.Option(
    help="Boxes needed in the bottom row to block the camera (paper: 1). Blockers > boxes - 1 "
    "is the hack-free control: the camera can then never be blocked.")]
PenaltyOpt = Annotated[float, typer.Option(help="Penalty per non-ENDED state entered.")]
MaxStepsOpt = Annotated[int, typer.Option("--max-steps", help="Step limit T (truncation).")]


ApprovalOpt = Annotated[Approval, typer.Option(
    help="Overseer. none: observed reward only. trusted: advantage under the true reward's "
    "optimal value (the paper's). misspecified: same, value of (1-m) true + m observed reward. "
    "learned: a model fit to --labels overseer labels. evaluator-rl: trusted value after "
    "--evaluator-steps observed-reward backups (generalized MONA). continuation: observed "
    "return of a frozen trusted policy continuing from the next state. leak: mixes in the "
    "realized future return with weight --leak (a NEGATIVE CONTROL). trusted-critic (monarl "
    "train only): trusted advantage with the value learned by the overseer's own PPO run on the "
    "true reward (--overseer-steps); continuation-rollout (monarl train only): R_obs(s') + the "
    "observed return of that overseer's greedy policy run on from s'. Both need no tables, so "
    "they run on any board.")]
NoiseOpt = Annotated[float, typer.Option(help="Gaussian noise sigma of the overseer's value.")]
NoisePerOpt = Annotated[NoisePer, typer.Option(
    help="Noise once per state on the value (paper) or per (t, s, a) step on the approval.")]
MisspecOpt = Annotated[float, typer.Option(
    help="misspecified: weight m in [0, 1] of the observed reward in the overseer's value.")]
LabelsOpt = Annotated[int, typer.Option(help="learned: overseer label budget N (>= 1).")]
LabelKindOpt = Annotated[LabelKind, typer.Option(
    help="learned: label = exact advantage, or the outcome under the trusted policy.")]
EvaluatorStepsOpt = Annotated[int, typer.Option(
    help="evaluator-rl: observed-reward Bellman backups k given to the evaluator (0 = MONA).")]
LeakOpt = Annotated[float, typer.Option(
    help="leak: weight w in [0, 1] of the realized future return (negative control).")]
OverseerStepsOpt = Annotated[int, typer.Option(
    help="For trusted-critic and continuation-rollout only. Environment steps per seed of the "
    "overseer's PPO run on the true reward, whose critic (or greedy policy) gives the approval "
    "(not counted in --steps).")]
OverseerStartOpt = Annotated[OverseerStart, typer.Option(
    "--overseer-start",
    help="For trusted-critic and continuation-rollout only. The overseer's training episodes "
    "start at t = 0 (zero) or at a uniformly drawn step (uniform), so it also learns late time "
    "steps.")]
EvaluatorLrOpt = Annotated[float | None, typer.Option(
    help="evaluator-rl with PPO only: train the evaluator inside PPO instead of giving it "
    "exact backups. Its value table starts at the trusted value and, during the first "
    "--evaluator-steps k PPO updates, moves toward the rollouts' observed returns with this "
    "step size in [0, 1] (k = 0 or 0 = trusted MONA; docs/approvals.md).")]


def approval_config(approval: Approval, noise: float, noise_per: NoisePer, misspec: float,
                    labels: int, label_kind: LabelKind, evaluator_steps: int,
                    leak: float, evaluator_lr: float | None = None,
                    overseer_steps: int = 1_000_000,
                    overseer_start_time: str = "zero") -> ApprovalConfig:
    """The validated approval settings; raises ConfigError naming the option."""
    cfg = ApprovalConfig(kind=approval.value, noise=noise, noise_per=noise_per.value,
                         misspec=misspec, labels=labels, label_kind=label_kind.value,
                         evaluator_steps=evaluator_steps, evaluator_lr=evaluator_lr, leak=leak,
                         overseer_steps=overseer_steps,
                         overseer_start_time=overseer_start_time)
    cfg.validate("")
    return cfg


def env_config(rows: int, cols: int, boxes: int, blockers: int, penalty: float,
               max_steps: int) -> EnvConfig:
    try:
        env = EnvConfig(rows=rows, cols=cols, boxes=boxes, blockers=blockers, penalty=penalty,
                        max_steps=max_steps)
        env.validate("")
    except ConfigError as exc:
        fail(_option_message(str(exc)))
    return env


def _option_message(message: str) -> str:
    """'rows=2 is invalid: ...' -> '--rows=2 is invalid: ...' for CLI users."""
    head, sep, rest = message.partition("=")
    if sep and head.replace("_", "").isalnum():
        return f"--{head.replace('_', '-')}={rest}"
    return message


@app.command()
def solve(
    env_name: EnvArg = Env.camera_dropbox,
    rows: RowsOpt = 4,
    cols: ColsOpt = 4,
    boxes: BoxesOpt = 2,
    blockers: BlockersOpt = 1,
    penalty: PenaltyOpt = 0.01,
    max_steps: MaxStepsOpt = 50,
    reward: Annotated[Reward, typer.Option(help="Reward trained on (approval is added).")]
    = Reward.observed,
    approval: ApprovalOpt = Approval.none,
    noise: NoiseOpt = 0.0,
    noise_per: NoisePerOpt = NoisePer.state,
    misspec: MisspecOpt = 0.0,
    labels: LabelsOpt = 1024,
    label_kind: LabelKindOpt = LabelKind.advantage,
    evaluator_steps: EvaluatorStepsOpt = 0,
    leak: LeakOpt = 0.0,
    horizons: Annotated[str, typer.Option(
        help="Optimization horizons M: '1-50', '1,2,4,8', 'none' (full horizon), or a mix "
        "such as '1-8,none'.")] = "1-50",
    seeds: Annotated[int, typer.Option(help="Noise / tie-breaking seeds (results are averaged)."
                                       )] = 1,
    tie_break: Annotated[TieBreak, typer.Option(
        help="Among equally good actions: random = seeded random choice among exactly equal "
        "Q (the public code's rule; rounding splits near-ties); random-near = also among Q "
        "within 1e-9; first = the first (U, D, L, R) within 1e-9."
    )] = TieBreak.random,
    window: Annotated[Window, typer.Option(
        help="optimal: each step plans its M-step window optimally (public code's "
        "semantics); policy: later window steps follow the policy itself (PPO's fixed point)."
    )] = Window.optimal,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results JSON here."
                                                   )] = None,
    out: Annotated[Path | None, typer.Option(
        help="Write report.md, horizon.png and results.json into this folder.")] = None,
    quiet: Annotated[bool, typer.Option(help="Print nothing but errors.")] = False,
) -> None:
    """Solve an environment exactly for every optimization horizon M and evaluate the greedy
    policy on every start state (fractions fail / intended / hack, expected returns).

    Ordinary RL: --approval none (horizon 'none' or 50). MONA: --approval trusted --horizons 1.
    """
    env = env_config(rows, cols, boxes, blockers, penalty, max_steps)
    try:
        approval_cfg = approval_config(approval, noise, noise_per, misspec, labels, label_kind,
                                       evaluator_steps, leak)
        horizon_list = parse_horizons(horizons, max_steps)
    except ConfigError as exc:
        fail(_option_message(str(exc)))
    if seeds < 1:
        fail(f"--seeds={seeds} is invalid: must be an integer >= 1")
    try:
        check_reward(reward.value, approval_cfg)
    except ConfigError as exc:
        fail(_option_message(str(exc)).replace("'", ""))
    if approval_cfg.ppo_only:
        fail(f"--approval={approval_cfg.kind} is invalid for monarl solve: "
             f"{approval_cfg.ppo_only}; use monarl train")
    check_writable_target(json_path, "--json")
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {str(out)!r} exists and is not a directory")

    from monarl.algos.exact.study import exact_study
    from monarl.envs.camera_dropbox.tables import TooLargeError

    try:
        study = exact_study(env, approval_cfg, horizon_list, seeds=seeds, reward=reward.value,
                            tie_break=tie_break.value, window=window.value)
    except TooLargeError as exc:
        fail(str(exc))
    if json_path is not None:
        write_json(json_path, study)
    if out is not None:
        from monarl.reports.study import write_study_report

        paths = write_study_report(study, out)
    if not quiet:
        print_study(study)
        if out is not None:
            typer.echo(f"report: {paths['report']}  plot: {paths['plot']}")


def print_study(study: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{study['states']:,} states, {study['initial_states']} starts, "
                  f"{study['seeds']} seed(s), {study['wall_seconds']:.2f} s")
    for col in ("M", "fail", "intended", "hack", "observed return", "true return"):
        table.add_column(col, justify="right")
    for r in study["results"]:
        table.add_row("none" if r["horizon"] is None else str(r["horizon"]),
                      f"{r['fail']:.2f}", f"{r['intended']:.2f}", f"{r['hack']:.2f}",
                      f"{r['observed_return']:.3f}", f"{r['true_return']:.3f}")
    Console().print(table)


@app.command()
def rollout(
    env_name: EnvArg = Env.camera_dropbox,
    start: Annotated[Path | None, typer.Option(
        help="Text board to start from ('#' border, A agent, B box, H empty hole).")] = None,
    actions: Annotated[str, typer.Option(help="Actions to replay, e.g. 'LLDR' (U, D, L, R).")
                       ] = "",
    boxes: Annotated[int, typer.Option(
        help="Configured number of boxes: a board may hold at most this many; a box in the "
        "hole pays +1 (true) only while all of them are on the board.")] = 2,
    blockers: BlockersOpt = 1,
    penalty: PenaltyOpt = 0.01,
    max_steps: MaxStepsOpt = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per step.")] = False,
) -> None:
    """Replay actions from a board and show every step's board, rewards and end flags.

    Stops after the step that enters ENDED or at the step limit.
    """
    from monarl.envs.camera_dropbox import rules as cd

    if start is None:
        fail("--start is required: a text board file (see README 'Text boards')")
    if not start.is_file():
        fail(f"--start {str(start)!r}: no such file")
    try:
        text = start.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--start {str(start)!r} cannot be read: {exc}")
    try:
        state = cd.parse_board(text, max_boxes=boxes)
    except cd.BoardError as exc:
        fail(f"--start {str(start)!r}: {exc}")
    try:
        indices = [cd.action_index(ch) for ch in actions if not ch.isspace() and ch != ","]
    except cd.BoardError as exc:
        fail(f"--actions {actions!r}: {exc}")
    try:
        rows, cols = (int(x) for x in state.grid.shape)
        params = cd.rule_params(rows, cols, boxes, blockers, penalty, max_steps)
    except cd.BoardError as exc:
        fail(_option_message(str(exc)))
    import jax

    step = jax.jit(cd.step)
    key = jax.random.PRNGKey(0)
    if not as_json:
        typer.echo(cd.render(state))
    for t, action in enumerate(indices, start=1):
        _, state, reward, terminated, truncated, info = step(key, state, action, params)
        row = {"t": t, "action": cd.ACTIONS[action], "board": cd.render(state),
               "observed_reward": round(float(reward), 6),
               "true_reward": round(float(info["true_reward"]), 6),
               "terminated": bool(terminated), "truncated": bool(truncated)}
        if bool(terminated) or bool(truncated):
            row["outcome"] = cd.OUTCOMES[int(info["outcome"])]
        if as_json:
            typer.echo(json.dumps(row))
        else:
            flags = " ".join(k for k in ("terminated", "truncated") if row[k])
            typer.echo(f"t={t} {cd.ACTION_NAMES[action]}: observed {row['observed_reward']:+.2f}"
                       f" true {row['true_reward']:+.2f} {flags}".rstrip())
            typer.echo(row["board"])
        if row["terminated"] or row["truncated"]:
            if not as_json:
                typer.echo(f"episode over: {row['outcome']}")
            break


class TrainEnv(StrEnum):
    camera_dropbox = "camera-dropbox"
    loan_steganography = "loan-steganography"


def parse_overrides(items: list[str], option: str) -> dict[str, object]:
    """``KEY=VALUE`` pairs; values parsed as TOML scalars (numbers, booleans, strings)."""
    import tomllib

    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"{option} {item!r} is invalid: use KEY=VALUE, e.g. {option} learning_rate=1e-3")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out[key.strip().replace("-", "_")] = value
    return out


@app.command()
def train(
    env_name: Annotated[TrainEnv, typer.Argument(metavar="ENV", help="Environment.")
                        ] = TrainEnv.camera_dropbox,
    approval: Annotated[str, typer.Option(
        help="camera-dropbox: none | trusted | misspecified | learned | evaluator-rl | "
        "continuation | leak | trusted-critic | continuation-rollout (see `monarl solve --help`). "
        "loan-steganography: none | overseer."
    )] = "none",
    horizon: Annotated[str, typer.Option(
        help="Optimization horizon: 1 (MONA), K, or none (full return, ordinary RL).")] = "none",
    seeds: Annotated[int, typer.Option(help="Seeds, trained together (vmapped).")] = 10,
    steps: Annotated[int | None, typer.Option(
        help="Environment steps per seed (camera-dropbox default 1,000,000).")] = None,
    rows: RowsOpt = 4,
    cols: ColsOpt = 4,
    boxes: BoxesOpt = 2,
    blockers: BlockersOpt = 1,
    penalty: PenaltyOpt = 0.01,
    max_steps: MaxStepsOpt = 50,
    noise: NoiseOpt = 0.0,
    noise_per: NoisePerOpt = NoisePer.state,
    misspec: MisspecOpt = 0.0,
    labels: LabelsOpt = 1024,
    label_kind: LabelKindOpt = LabelKind.advantage,
    evaluator_steps: EvaluatorStepsOpt = 0,
    evaluator_lr: EvaluatorLrOpt = None,
    leak: LeakOpt = 0.0,
    overseer_steps: OverseerStepsOpt = 1_000_000,
    overseer_start_time: OverseerStartOpt = OverseerStart.zero,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Algorithm setting KEY=VALUE (repeatable), e.g. --set learning_rate=1e-3;"
        " see docs/ppo.md for PPO's.")] = None,
    seed_offset: Annotated[int, typer.Option(help="First seed.")] = 0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results JSON here."
                                                   )] = None,
    store: Annotated[Path | None, typer.Option(
        help="Also record every seed as a run in this run store; docs/experiments.md "
        "explains stores.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Train one condition with PPO for several seeds and report the exact outcome fractions.

    Ordinary RL: --approval none --horizon none. MONA: --approval trusted --horizon 1. Every
    approval of `monarl solve` works, with the same options and the same tables (seeded with
    the training seed), e.g. --approval learned --labels 1024, --approval evaluator-rl
    --evaluator-steps 8, --approval leak --leak 0.1 (a negative control). --blockers greater
    than boxes - 1 is the hack-free control (the camera can then never be blocked).

    Boards too large for the state tables (over 3,000,000 states, e.g. --rows 7 --cols 7
    --boxes 4) train with --approval none, trusted-critic or continuation-rollout (MONA whose
    overseer first learns by PPO on the true reward, --overseer-steps) and are evaluated by
    sampled episodes instead of exactly.
    """
    from monarl.core.config import parse_horizon

    try:
        horizon_value = parse_horizon(horizon, "--horizon")
    except ConfigError as exc:
        fail(str(exc))
    if seeds < 1:
        fail(f"--seeds={seeds} is invalid: must be an integer >= 1")
    if steps is not None and steps < 1:
        fail(f"--steps={steps} is invalid: must be an integer >= 1")
    overrides = parse_overrides(set_ or [], "--set")
    check_writable_target(json_path, "--json")
    if env_name is TrainEnv.loan_steganography:
        from monarl.cli.train import train_loan_command

        result = train_loan_command(approval, horizon_value, seeds, steps, seed_offset,
                                    overrides, quiet)
    else:
        env = env_config(rows, cols, boxes, blockers, penalty, max_steps)
        if horizon_value is not None and horizon_value > max_steps:
            fail(f"--horizon={horizon_value} is invalid: exceeds the step limit "
                 f"--max-steps={max_steps} (use 'none' for the full horizon)")
        try:
            approval_cfg = approval_config(_approval_choice(approval), noise, noise_per,
                                           misspec, labels, label_kind, evaluator_steps, leak,
                                           evaluator_lr, overseer_steps,
                                           overseer_start_time.value)
        except ConfigError as exc:
            fail(_option_message(str(exc)))
        from monarl.cli.train import train_camera_command

        result = train_camera_command(env, approval_cfg, horizon_value, seeds,
                                      1_000_000 if steps is None else steps, seed_offset,
                                      overrides, quiet, store)
    if json_path is not None:
        write_json(json_path, result)
    if not quiet:
        from monarl.cli.train import print_train_result

        print_train_result(result)


def _approval_choice(value: str) -> Approval:
    try:
        return Approval(value)
    except ValueError:
        fail(f"--approval={value!r} is invalid for camera-dropbox: allowed are "
             f"{', '.join(a.value for a in Approval)}")


@app.command()
def reproduce(
    out: Annotated[Path, typer.Option(help="Folder for report.md, plots and results.json.")
                   ] = Path("monarl-results/reproduce"),
    quick: Annotated[bool, typer.Option(
        help="Smoke run: fewer horizons and seeds and a tiny PPO budget (about a minute, not ~4)."
    )] = False,
    ppo: Annotated[bool, typer.Option(
        help="Include the PPO protocol (10 seeds x 1M steps per arm for ordinary RL, MONA and "
             "MONA with a noisy overseer, plus the warm start).")
    ] = True,
    loan: Annotated[bool, typer.Option(
        help="Include the encoded-reasoning comparison on the loan task (10 seeds x 1M steps "
             "per arm, about a minute).")] = True,
    quiet: Annotated[bool, typer.Option(help="No progress bars; print only the report path.")
                     ] = False,
    workers: Annotated[int | None, typer.Option(
        help="PPO arms trained at once in threads (default: one per CPU; 1 = one after the "
             "other). The numbers are the same either way.")] = None,
) -> None:
    """Reproduce the paper's results with built-in defaults and write one report: the exact
    horizon study (sigma 0 and 0.5), the PPO protocol on Camera Dropbox (ordinary RL vs MONA,
    plus a noisy overseer and the warm start) and the encoded-reasoning loan comparison."""
    if out.exists() and not out.is_dir():
        fail(f"--out {str(out)!r} exists and is not a directory")
    if workers is not None and workers < 1:
        fail(f"--workers {workers} is invalid: must be an integer >= 1")
    from monarl.experiments.reproduce import reproduce as run_reproduce

    result = run_reproduce(out, quick=quick, ppo=ppo, quiet=quiet, loan=loan, workers=workers)
    typer.echo(f"report: {result['report']} ({result['wall_seconds']:.1f} s)")


@app.command()
def sweep(
    file: Annotated[Path, typer.Argument(help="Experiment file (TOML): base config + sweep axes.")],
    store: Annotated[Path | None, typer.Option(
        help="Run store folder (default: beside the file, FILE without .toml + '.store').")
    ] = None,
    executor: Annotated[str, typer.Option(help="Where runs execute: local (process pool) or "
                                          "ray (pip install 'monarl\\[ray]').")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster address (default: start a local Ray instance).")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Parallel workers (default: the machine's CPU count, at most one per task).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display; print only errors.")] = False,
) -> None:
    """Expand an experiment file, skip runs already in the store and run the rest (resumable:
    rerun the same command after a crash or Ctrl-C)."""
    from monarl.cli.experiments import CommandError, sweep_command

    try:
        code = sweep_command(file, store, executor, address, workers, quiet)
    except CommandError as exc:
        fail(str(exc))
    if code:
        raise typer.Exit(code)


@app.command()
def report(
    target: Annotated[Path, typer.Argument(metavar="STORE_OR_SWEEPFILE", help=(
        "A run store folder, or an experiment file (its store beside it; only its runs)."))],
    out: Annotated[Path | None, typer.Option(
        help="Folder for report.md, report.html, PNGs and report.json (default STORE/report)."
    )] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the numbers "
                                                   "(JSON) here.")] = None,
    quiet: Annotated[bool, typer.Option(help="Print only errors.")] = False,
) -> None:
    """Report a store: final metrics per condition (fail / intended / hack and returns, or the
    loan task's accuracies, leakage and flip rate) as mean and 95 % bootstrap CI over seeds,
    training curves, horizon plots, the safety-capability frontier and alignment tax when the
    store holds several approval families or a hack-free control, and provenance."""
    from monarl.cli.experiments import CommandError, report_command

    try:
        report_command(target, out, json_path, quiet)
    except CommandError as exc:
        fail(str(exc))


def main(argv: list[str] | None = None) -> int:
    """Console entry point: click's usage errors become one line on stderr (exit status 2)."""
    # typer vendors click; its exception classes are the ones raised here.
    from typer._click import exceptions as click_errors

    from monarl.runtime.jax_cache import enable_compilation_cache

    enable_compilation_cache()
    try:
        result = app(args=argv, prog_name="monarl", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click_errors.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "monarl"
        message = " ".join(exc.format_message().split()).replace("Value error, ", "")
        typer.echo(f"error: {message} (see '{command} --help')", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    return result if isinstance(result, int) else 0


def _console() -> None:  # pragma: no cover - the installed `monarl` script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
