"""Drawing training cases: a case is one :class:`~monarl.envs.tdd.problem.Problem` of the
training split, drawn uniformly with replacement."""

from __future__ import annotations

import numpy as np

from monarl.envs.tdd.problem import Problem
from monarl.envs.tdd.settings import TddParams


def sample(params: TddParams, rng: np.random.Generator, n: int) -> list[Problem]:
    """``n`` training problems, every draw from ``rng``."""
    return [params.train[int(i)] for i in rng.integers(len(params.train), size=n)]
