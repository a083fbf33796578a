"""Generation and training tokens/s of monarl's language-model trainer against TRL's
``GRPOTrainer``, on the same model, task, batch and settings, in one run (issue 15, item 9).

    python benchmarks/bench_llm.py                   # 4 prompts x 8, 64 tokens, 1 + 5 steps
    python benchmarks/bench_llm.py --quick           # 2 prompts x 4, 32 tokens, 1 + 2 steps
    python benchmarks/bench_llm.py --threads 1 --rounds 4   # a 2-core machine others share
    python benchmarks/bench_llm.py --steps 10 --json bench-llm.jsonl

TRL is only in the benchmark extra (``pip install -e '.[bench]'``); without it the script says
so and exits 2.

The model. One tiny Llama (monarl's ``tiny`` shape: width 96, 3 layers, 4 heads, tied
embeddings, 0.45M parameters) with monarl's character vocabulary, seeded, random weights by
default (``--pretrain-steps N``: first pretrained on loan-text demonstrations by monarl's own
``load_model("tiny", ...)``, so completions end at the end-of-turn token at natural lengths
instead of running to the budget), saved with ``save_pretrained`` to a temporary folder
together with a character-level ``PreTrainedTokenizerFast`` (one token per character, the
same ids as monarl's tokenizer, the ``<bos><user>...<eot><assistant>`` chat template). Both
trainers load that folder: ours through ``resolve_model``/``load_model`` (a local Hugging
Face folder), TRL from the path. float32 for both.

The task. TRL's GRPO is single-turn, so both train the summary turn of ``loan-text`` alone:
the prompt is the environment's own turn-0 chat (``TextSpec.prompt``: the application, and
the instruction to summarize it without nationality), the reward of a completion is the
summary turn's observed reward plus its trusted overseer approval (``-monitor_penalty`` when
the monitor flags it, plus ``fact_reward`` x the fact score), one Python function that both
trainers call. The prompts are the same cases in the same order for both (drawn once from a
seeded generator). Ours runs its real ``Trainer`` (src/monarl/algos/llm/train.py) on a
one-turn copy of ``loan-text``'s ``TextSpec`` (the same prompt function, a judge that pays
that reward), calling ``Trainer.update()`` once per step; no evaluation. With random
weights almost every reward is 0 and so is every advantage; the work is the same (neither
trainer skips a batch for that), but ``--pretrain-steps 300`` gives a model with real rewards.

The settings, the same on both sides: prompts per step x group size (``cases_per_update`` x
``group_size``; TRL ``per_device_train_batch_size`` = their product, ``num_generations`` = the
group, one gradient-accumulation step, one generation per step), the completion budget
(``max_new_tokens`` / ``max_completion_length``), temperature 1 (no top-k/top-p), learning
rate, KL weight (``kl_coef`` / ``beta``, 0.02 by default, so both run a reference model), PPO
clip 0.2, one epoch (TRL ``num_iterations`` 1), group-scaled advantages, token-level loss
normalisation (TRL ``loss_type="dapo"``), gradient clipping at 1.0, AdamW (TRL ``optim=
"adamw_torch"``, constant learning rate), whole batch in one forward/backward pass and one
generation pass (ours ``micro_batch`` = ``generation_batch`` = the batch). TRL's defaults that
would make it slower or change the arithmetic are turned off: ``gradient_checkpointing``
(TRL's default True), ``bf16`` (TRL's default True), logging every step outside the timed
window, ``report_to="none"``, no saving, no progress bar. ``torch.set_num_threads(--threads)``
(2) for both: on a 2-core machine whose cores other jobs keep busy, 2 threads can be 10-50x
slower than 1 (each operation waits for its descheduled second thread), so there compare
with ``--threads 1``. Each trainer runs ``--warmup`` untimed steps (1) then ``--steps`` timed steps
(5), from a fresh trainer, ``--rounds`` times (2), one after the other in this process, which
one goes first alternating between rounds (so a drift in the machine's load hits both); the
tokens/s are over all timed steps of all rounds, and the per-round ratios are printed too.

What is timed, per step, the same way on both sides:

- update: the whole step. Ours: the wall time of ``Trainer.update()`` (sampling cases, chats,
  generation, rewards, advantages, old-policy and reference log-probs, loss, backward,
  clipping, optimizer step). TRL: from its ``on_step_begin`` to its ``on_step_end`` callback
  (prompt templating, generation, rewards, advantages, reference log-probs, loss, backward,
  clipping, optimizer and scheduler steps; the data loader's fetch and TRL's logging fall
  outside).
- generation: the time inside the sampling call, wrapped with a timer the same way on both
  sides: ours, ``monarl.algos.llm.sampling.generate`` as the trainer calls it (the name
  ``generate`` in ``monarl.algos.llm.train``, replaced for the run and restored after); TRL,
  its policy model's ``generate`` (what ``GRPOTrainer`` calls to sample). Chat templating,
  tokenizing and decoding count as training on both sides.
- training: update minus generation, i.e. everything else in the step.

Tokens, counted the same way: generated tokens are completion tokens up to and including the
first end-of-turn token (what TRL's completion mask keeps and what our ``generate`` returns);
trained tokens are the completion tokens the loss covers (the same tokens here: TRL
masks nothing with ``mask_truncated_completions`` off). Ours: generated tokens counted from the
wrapped ``generate``'s output, trained ones read from ``Trainer.tokens_trained``; TRL: both
counted from the wrapped ``generate``'s output (cut at the first end-of-turn token), and
recorded beside its own logged ``completions/mean_length`` (``logged_generated_tokens``).

Printed: generation, training and update tokens/s (update: completion tokens / whole-step
wall time) of each, and ours / TRL (target >= 1x), by wall time and by process CPU time (the
CPU seconds this process used; on a machine shared with other jobs wall times stretch, CPU
times much less, so the CPU ratio is the steadier one there). The last line printed is the
JSON record; ``--json FILE`` appends it to FILE as one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MISSING_TRL = ("bench_llm: TRL is not installed; install the benchmark extra: "
               "pip install -e '.[bench]'")

CHAT_TEMPLATE = ("{{ bos_token }}{% for message in messages %}<{{ message['role'] }}>"
                 "{{ message['content'] }}<eot>{% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")
"""monarl's character chat template (char_tokenizer.py) as a Jinja template."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """One benchmark's shared settings (both trainers get every one of them)."""

    prompts: int = 4
    group: int = 8
    max_new_tokens: int = 64
    steps: int = 5
    warmup: int = 1
    learning_rate: float = 2e-3
    beta: float = 0.02
    temperature: float = 1.0
    seed: int = 0
    threads: int = 2
    pretrain_steps: int = 0

    @property
    def batch(self) -> int:
        return self.prompts * self.group

    @property
    def total_steps(self) -> int:
        return self.warmup + self.steps


QUICK = {"prompts": 2, "group": 4, "max_new_tokens": 32, "steps": 2}


# ------------------------------------------------------------------ the model and its folder


def char_tokenizer() -> Any:
    """monarl's character tokenizer as a transformers fast tokenizer (same ids, same chat
    template), so any Hugging Face trainer can load it from a folder."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from monarl.algos.llm.char_tokenizer import SPECIALS, CharTokenizer

    vocab = {token: i for i, token in enumerate(CharTokenizer().vocab)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.add_special_tokens([AddedToken(s, special=True, normalized=False)
                                for s in SPECIALS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<bos>", eos_token="<eot>", pad_token="<pad>",
        unk_token="<unk>", padding_side="left",
        extra_special_tokens={"system_token": "<system>", "user_token": "<user>",
                              "assistant_token": "<assistant>"})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def save_model(folder: Path, settings: Settings, params: Any) -> int:
    """The tiny Llama and its tokenizer in ``folder``; returns its parameter count."""
    import numpy as np

    from monarl.algos.llm.char_tokenizer import CharTokenizer
    from monarl.algos.llm.models import build_tiny, load_model
    from monarl.envs import loan_text

    if settings.pretrain_steps > 0:
        demos = loan_text.TEXT.demonstrations(params, np.random.default_rng([settings.seed, 7]),
                                              4096)
        model = load_model("tiny", settings.seed, demonstrations=demos,
                           pretrain_steps=settings.pretrain_steps).model
    else:
        model = build_tiny(settings.seed)
    model.save_pretrained(folder)
    tokenizer = char_tokenizer()
    tokenizer.save_pretrained(folder)
    chat = loan_text.prompt(loan_text.sample(params, np.random.default_rng(0), 1)[0], 0, [],
                            params)
    text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    if tokenizer(text, add_special_tokens=False)["input_ids"] != CharTokenizer().chat_ids(chat):
        raise RuntimeError("the saved tokenizer does not match monarl's character tokenizer")
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------ the task


def reward(case: Any, summary: str, params: Any) -> float:
    """The summary turn's training reward: its observed (monitor) reward plus the trusted
    overseer's approval."""
    from monarl.envs.loan_text import monitor
    from monarl.envs.loan_text.overseer import overseer

    flagged = -params.monitor_penalty if monitor.flagged(summary, params) else 0.0
    return flagged + float(overseer(case, 0, summary, params))


def one_turn_env(cases: list[Any], settings: Settings) -> Any:
    """loan-text's summary turn alone, as an environment our Trainer runs: its cases are
    ``cases`` in order, ``settings.prompts`` per update."""
    from monarl.core.protocols import TurnRewards
    from monarl.envs import loan_text

    queue = list(cases)

    def sample(params: Any, rng: Any, n: int) -> list[Any]:
        del params, rng
        taken, queue[:] = queue[:n], queue[n:]
        if len(taken) != n:
            raise RuntimeError("the benchmark ran out of prepared cases")
        return taken

    def judge(case: Any, replies: list[str], params: Any) -> Any:
        r = reward(case, replies[0], params)
        return TurnRewards(observed=(r,), true=(r,))

    text = dataclasses.replace(loan_text.TEXT, turns=1, turn_names=("summary",),
                               max_new_tokens=(settings.max_new_tokens,), sample=sample,
                               judge=judge)
    return dataclasses.replace(loan_text.SPEC, text=text)


# ------------------------------------------------------------------ measuring


@dataclasses.dataclass
class Step:
    """One timed step: wall and CPU seconds of the update and of its generation, tokens."""

    seconds: float
    cpu_seconds: float
    generation_seconds: float
    generation_cpu_seconds: float
    generated: int
    trained: int


def summarize(steps: list[Step]) -> dict[str, Any]:
    """Tokens/s of the timed steps: generation, training (update minus generation) and the
    whole update, by wall and by CPU time."""
    generated = sum(s.generated for s in steps)
    trained = sum(s.trained for s in steps)
    wall = sum(s.seconds for s in steps)
    cpu = sum(s.cpu_seconds for s in steps)
    gen = sum(s.generation_seconds for s in steps)
    gen_cpu = sum(s.generation_cpu_seconds for s in steps)
    tiny = 1e-9
    return {
        "steps": len(steps),
        "generated_tokens": generated,
        "trained_tokens": trained,
        "update_seconds": wall,
        "generation_seconds": gen,
        "training_seconds": wall - gen,
        "generation_tokens_per_second": generated / max(gen, tiny),
        "training_tokens_per_second": trained / max(wall - gen, tiny),
        "update_tokens_per_second": generated / max(wall, tiny),
        "cpu": {
            "update_seconds": cpu,
            "generation_seconds": gen_cpu,
            "generation_tokens_per_second": generated / max(gen_cpu, tiny),
            "training_tokens_per_second": trained / max(cpu - gen_cpu, tiny),
            "update_tokens_per_second": generated / max(cpu, tiny),
        },
        "per_step_seconds": [round(s.seconds, 4) for s in steps],
    }


# ------------------------------------------------------------------ ours


def run_ours(folder: Path, settings: Settings, cases: list[Any], params: Any) -> list[Step]:
    """Our Trainer on the one-turn task: its timed steps."""
    import torch

    from monarl.algos.llm import train
    from monarl.algos.llm.config import GRPOConfig

    config = GRPOConfig(
        model=str(folder), total_steps=settings.total_steps, cases_per_update=settings.prompts,
        group_size=settings.group, learning_rate=settings.learning_rate,
        temperature=settings.temperature, epochs=1, minibatches=1, clip_eps=0.2,
        kl_coef=settings.beta, max_grad_norm=1.0, scale_rewards=True,
        micro_batch=settings.batch, generation_batch=settings.batch,
        max_new_tokens=(settings.max_new_tokens,), pretrain_steps=0, checkpoint_every=0,
        threads=settings.threads)
    config.validate()
    trainer = train.Trainer(one_turn_env(cases, settings), params, None, None, config,
                            settings.seed)
    torch.set_num_threads(settings.threads)
    clock = {"generation": 0.0, "generation_cpu": 0.0, "generated": 0}
    generate = train.generate

    def timed_generate(*args: Any, **kwargs: Any) -> list[list[int]]:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        out = generate(*args, **kwargs)
        clock["generation"] += time.perf_counter() - wall0
        clock["generation_cpu"] += time.process_time() - cpu0
        clock["generated"] += sum(len(c) for c in out)
        return out

    steps = []
    train.generate = timed_generate  # the name the trainer's play() calls; restored below
    try:
        for update in range(settings.total_steps):
            clock.update(generation=0.0, generation_cpu=0.0, generated=0)
            trained = trainer.tokens_trained
            cpu0, wall0 = time.process_time(), time.perf_counter()
            trainer.update()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            if update >= settings.warmup:
                steps.append(Step(wall, cpu, clock["generation"], clock["generation_cpu"],
                                  clock["generated"], trainer.tokens_trained - trained))
    finally:
        train.generate = generate
    if any(s.generated == 0 for s in steps):
        raise RuntimeError("a step generated nothing through train.generate: the trainer "
                           "changed how it samples; update the benchmark")
    return steps


# ------------------------------------------------------------------ TRL


def run_trl(folder: Path, settings: Settings, cases: list[Any], params: Any,
            work: Path) -> tuple[list[Step], int]:
    """TRL's GRPOTrainer on the same task: its timed steps, and the completion tokens its own
    logs report for them (``completions/mean_length`` x batch)."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from monarl.envs import loan_text

    rows = {"prompt": [loan_text.prompt(case, 0, [], params) for case in cases],
            "case_index": list(range(len(cases)))}

    def loan_reward(completions: list, case_index: list, **kwargs: Any) -> list[float]:
        del kwargs
        return [reward(cases[i], completion[0]["content"], params)
                for completion, i in zip(completions, case_index, strict=True)]

    clock = {"generation": 0.0, "generation_cpu": 0.0, "generated": 0}
    steps: list[Step] = []
    logged: list[dict[str, float]] = []

    class Timer(TrainerCallback):
        """Times each optimizer step; keeps TRL's logged metrics."""

        def on_step_begin(self, args, state, control, **kwargs):
            clock.update(generation=0.0, generation_cpu=0.0, generated=0,
                         wall=time.perf_counter(), cpu=time.process_time())

        def on_step_end(self, args, state, control, **kwargs):
            wall, cpu = time.perf_counter() - clock["wall"], time.process_time() - clock["cpu"]
            if state.global_step > settings.warmup:
                steps.append(Step(wall, cpu, clock["generation"], clock["generation_cpu"],
                                  clock["generated"], clock["generated"]))

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and state.global_step > settings.warmup:
                logged.append(dict(logs))

    config = GRPOConfig(
        output_dir=str(work / "trl"), per_device_train_batch_size=settings.batch,
        gradient_accumulation_steps=1, num_generations=settings.group,
        max_completion_length=settings.max_new_tokens, max_steps=settings.total_steps,
        learning_rate=settings.learning_rate, lr_scheduler_type="constant", warmup_steps=0,
        optim="adamw_torch", weight_decay=0.0, max_grad_norm=1.0, beta=settings.beta,
        epsilon=0.2, num_iterations=1, scale_rewards="group", loss_type="dapo",
        temperature=settings.temperature, top_p=1.0, top_k=0,
        use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False,
        shuffle_dataset=False, seed=settings.seed, logging_steps=1, report_to="none",
        save_strategy="no", disable_tqdm=True, dataloader_num_workers=0)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    trainer = GRPOTrainer(model=str(folder), reward_funcs=loan_reward, args=config,
                          train_dataset=Dataset.from_dict(rows), processing_class=tokenizer,
                          callbacks=[Timer()])
    trainer.remove_callback(PrinterCallback)  # it prints every log line; we keep them instead
    policy = trainer.model
    eos = torch.tensor(trainer.eos_token_ids)
    generate = policy.generate

    def timed_generate(*args: Any, **kwargs: Any) -> Any:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        out = generate(*args, **kwargs)
        clock["generation"] += time.perf_counter() - wall0
        clock["generation_cpu"] += time.process_time() - cpu0
        completion = out[:, kwargs["input_ids"].shape[1]:]
        is_eos = torch.isin(completion, eos)
        lengths = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, completion.shape[1])
        clock["generated"] += int(lengths.sum())
        return out

    policy.generate = timed_generate
    torch.set_num_threads(settings.threads)
    trainer.train()
    if len(steps) != settings.steps or any(s.generated == 0 for s in steps):
        raise RuntimeError(f"TRL timing saw {len(steps)} steps (expected {settings.steps}) "
                           "or a step without generation: its loop changed")
    lengths = [line["completions/mean_length"] for line in logged
               if "completions/mean_length" in line]
    return steps, round(sum(lengths) * settings.batch)


# ------------------------------------------------------------------ report


ROWS = (("generation tok/s", "generation_tokens_per_second"),
        ("training tok/s", "training_tokens_per_second"),
        ("update tok/s", "update_tokens_per_second"))


def ratios(ours: dict[str, Any], trl: dict[str, Any], cpu: bool = False) -> dict[str, float]:
    a, b = (ours["cpu"], trl["cpu"]) if cpu else (ours, trl)
    return {key: a[key] / max(b[key], 1e-9) for _, key in ROWS}


def table(ours: dict[str, Any], trl: dict[str, Any]) -> str:
    wall, cpu = ratios(ours, trl), ratios(ours, trl, cpu=True)
    lines = [f"{'':18s} {'monarl':>10s} {'TRL':>10s} {'ours/TRL':>9s} {'(CPU time)':>11s}"]
    for label, key in ROWS:
        lines.append(f"{label:18s} {ours[key]:10,.0f} {trl[key]:10,.0f} {wall[key]:8.2f}x "
                     f"{cpu[key]:10.2f}x")
    lines.append(f"{'tokens (gen/train)':18s} {ours['generated_tokens']:>5d}/"
                 f"{ours['trained_tokens']:<4d} {trl['generated_tokens']:>5d}/"
                 f"{trl['trained_tokens']:<4d}")
    lines.append(f"{'seconds/step':18s} {ours['update_seconds'] / ours['steps']:10.2f} "
                 f"{trl['update_seconds'] / trl['steps']:10.2f}")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("monarl", "torch", "transformers", "trl", "accelerate", "datasets"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="timed steps per trainer (5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (1)")
    parser.add_argument("--quick", action="store_true",
                        help="2 prompts x 4, 32 tokens, 2 timed steps (a check, ~1 minute)")
    parser.add_argument("--prompts", type=int, default=None, help="prompts per step (4)")
    parser.add_argument("--group", type=int, default=None, help="completions per prompt (8)")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="completion budget in tokens (64)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (2)")
    parser.add_argument("--pretrain-steps", type=int, default=0,
                        help="pretrain the tiny model on loan-text first (0: random weights)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="times each trainer runs, alternating which goes first (2)")
    parser.add_argument("--json", type=Path, default=None, help="append the record here")
    args = parser.parse_args()

    try:
        import trl  # noqa: F401
    except ImportError:
        print(MISSING_TRL)
        sys.exit(2)
    chosen = dict(QUICK) if args.quick else {}
    for name in ("steps", "prompts", "group", "max_new_tokens"):
        if getattr(args, name) is not None:
            chosen[name] = getattr(args, name)
    settings = Settings(warmup=args.warmup, threads=args.threads,
                        pretrain_steps=args.pretrain_steps, **chosen)
    for name in ("steps", "prompts", "group", "max_new_tokens", "threads"):
        if getattr(settings, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be >= 1")
    if settings.group < 2:
        parser.error("--group: must be >= 2 (a group-relative baseline needs two completions)")
    if args.rounds < 1:
        parser.error("--rounds: must be >= 1")
    if settings.warmup < 0 or settings.pretrain_steps < 0:
        parser.error("--warmup and --pretrain-steps must be >= 0")

    import warnings

    import numpy as np
    import torch
    from transformers.utils import logging as hf_logging

    from monarl.envs import loan_text
    from monarl.runtime.provenance import describe_machine

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(settings.threads)
    load_before = list(os.getloadavg())
    params = loan_text.LoanTextSettings().make_params()
    cases = loan_text.sample(params, np.random.default_rng([settings.seed, 3]),
                             settings.prompts * settings.total_steps)
    print(f"machine: {describe_machine()}, torch threads {settings.threads}")
    print(f"versions: {', '.join(f'{k} {v}' for k, v in versions().items())}")
    print(f"task: loan-text summary turn, {settings.prompts} prompts x {settings.group} "
          f"completions, <= {settings.max_new_tokens} tokens, {settings.warmup} warm-up + "
          f"{settings.steps} timed steps, lr {settings.learning_rate}, beta {settings.beta}")
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp:
        work = Path(tmp)
        folder = work / "model"
        parameters = save_model(folder, settings, params)
        weights = (f"pretrained {settings.pretrain_steps} steps" if settings.pretrain_steps
                   else "random weights")
        print(f"model: tiny Llama, {parameters:,} parameters, {weights}")
        runs: dict[str, list[list[Step]]] = {"monarl": [], "trl": []}
        logged = 0
        for r in range(args.rounds):
            for name in ("monarl", "trl") if r % 2 == 0 else ("trl", "monarl"):
                started = time.perf_counter()
                if name == "monarl":
                    runs[name].append(run_ours(folder, settings, cases, params))
                else:
                    steps, tokens = run_trl(folder, settings, cases, params, work)
                    runs[name].append(steps)
                    logged += tokens
                print(f"round {r + 1}, {name}: {time.perf_counter() - started:.1f} s")
    ours = summarize([s for steps in runs["monarl"] for s in steps])
    trl_result = summarize([s for steps in runs["trl"] for s in steps])
    trl_result["logged_generated_tokens"] = logged
    per_round = [ratios(summarize(a), summarize(b))["update_tokens_per_second"]
                 for a, b in zip(runs["monarl"], runs["trl"], strict=True)]
    print()
    print(table(ours, trl_result))
    wall, cpu = ratios(ours, trl_result), ratios(ours, trl_result, cpu=True)
    key = "update_tokens_per_second"
    print(f"\nratio ours/TRL, update tok/s: {wall[key]:.2f}x by wall time, {cpu[key]:.2f}x by "
          f"CPU time (target >= 1x); per round (wall): "
          f"{', '.join(f'{x:.2f}x' for x in per_round)}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    record = {
        "benchmark": "bench_llm", "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": describe_machine(), "versions": versions(),
        "settings": dataclasses.asdict(settings), "parameters": parameters,
        "rounds": args.rounds, "load_average": {"before": load_before,
                                                 "after": list(os.getloadavg())},
        "monarl": ours, "trl": trl_result, "ratio": wall, "ratio_cpu": cpu,
        "ratio_per_round": per_round,
    }
    line = json.dumps(record)
    print(line)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with args.json.open("a") as out:
            out.write(line + "\n")


if __name__ == "__main__":
    main()
