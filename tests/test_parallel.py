"""Arms side by side (monarl/parallel.py): order, concurrency, errors, and the point of it all:
an arm trained next to another gives the same bits as the same arm trained alone."""

from __future__ import annotations

import threading

import jax
import numpy as np
import pytest

from monarl.runtime.parallel import run_concurrently

# tests/test_ppo.py's tiny settings, so its compiled programs are reused in one pytest process
TINY = {"num_envs": 8, "num_steps": 16, "num_epochs": 1, "num_minibatches": 2, "eval_every": 128}


def test_results_come_back_in_order_and_jobs_really_overlap():
    barrier = threading.Barrier(2, timeout=10)  # one after the other, the first would time out

    def job(value):
        def run():
            barrier.wait()
            return value

        return run

    assert run_concurrently([job("a"), job("b")], workers=2) == ["a", "b"]
    assert run_concurrently([lambda: 1, lambda: 2, lambda: 3], workers=1) == [1, 2, 3]
    assert run_concurrently([]) == []


def test_the_first_error_is_raised_and_no_later_job_starts():
    started = []

    def boom():
        started.append("boom")
        raise RuntimeError("arm failed")

    def later():
        started.append("later")
        return 1

    with pytest.raises(RuntimeError, match="arm failed"):
        run_concurrently([boom, later], workers=1)
    assert started == ["boom"]
    with pytest.raises(ValueError, match="workers=0 is invalid"):
        run_concurrently([later], workers=0)


def test_an_arm_trained_beside_another_is_bit_identical_to_the_arm_alone():
    """...and each arm's progress reaches its own callback (every program has its own relay)."""
    from monarl.algos import ppo

    seen: dict[str, list[int]] = {"none": [], "trusted": []}

    def arm(approval, horizon):
        return lambda: ppo.train_seeds(approval=approval, horizon=horizon, seeds=2,
                                       steps=2 * 128, progress=seen[approval].append, **TINY)[0]

    jobs = [arm("none", None), arm("trusted", 1)]
    alone = [job() for job in jobs]
    expected = {k: list(v) for k, v in seen.items()}
    assert expected["none"] and expected["none"] == expected["trusted"]
    for v in seen.values():
        v.clear()
    together = run_concurrently(jobs, workers=2)
    assert seen == expected
    for a, b in zip(alone, together, strict=True):
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
            x, y = np.asarray(x), np.asarray(y)
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
