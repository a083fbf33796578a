"""The test harness: the one program the environment runs in the sandbox.

It is constant text; what varies (solutions and tests) arrives as JSON on standard input,
``{"budget": seconds, "jobs": [{"solution": code, "tests": [snippet, ...]}, ...]}``, so
nothing the model wrote is ever pasted into a program's source. For each job in turn the
harness forks a child that

1. points its standard input, output and error at /dev/null (it cannot write the result),
2. runs the solution in a fresh namespace, then each test in a copy of that namespace (a
   test that rebinds a name does not change what the next test sees), each under an interval
   timer of an equal share of what is left of the job's ``budget`` (a quick step leaves more
   to the steps after it),
3. writes one byte per step to a pipe: ``L``/``E`` (the solution loaded or raised), then
   ``1``/``0`` per test (passed, or raised/timed out),

and the harness (which runs no model-written code itself) reads the pipe until the child ends
or the job's ``budget`` is spent, kills the child's process group, and after the last job prints
one line, :data:`MARK` + JSON ``[{"loaded": bool, "passed": [bool, ...]}, ...]``. A child only
holds its own job's text: the jobs not yet run are dropped from its copy of the queue.

What the sandbox does not stop a child from doing is spoiling its own program: killing the
harness (same user id) leaves no result line, and every job of that program then counts as
failed. So the environment never puts model code and the overseer's reference and mutants in
one program (:mod:`monarl.envs.tdd.execution`).
"""

from __future__ import annotations

MARK = "MONARL-TDD-RESULT "

SOURCE = r'''
import json
import os
import select
import signal
import sys
import time

MARK = "MONARL-TDD-RESULT "
PENDING = []


class Late(BaseException):
    pass


def on_alarm(signum, frame):
    raise Late()


def attempt(source, namespace, seconds, name):
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            exec(compile(source, name, "exec"), namespace)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return True
    except BaseException:
        return False


def child(solution, tests, budget, out):
    PENDING.clear()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    signal.signal(signal.SIGALRM, on_alarm)
    deadline = time.monotonic() + budget
    steps = len(tests) + 1

    def share(done):
        return max((deadline - time.monotonic()) / (steps - done), 0.001)

    namespace = {"__name__": "__main__"}
    loaded = attempt(solution, namespace, share(0), "<solution>")
    os.write(out, b"L" if loaded else b"E")
    for done, test in enumerate(tests, 1):
        passed = loaded and attempt(test, dict(namespace), share(done), "<test>")
        os.write(out, b"1" if passed else b"0")


def collect(fd, want, deadline):
    got = b""
    while len(got) < want:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        got += chunk
    return got


def run(solution, tests, budget):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            os.setpgid(0, 0)
            child(solution, tests, budget, write)
        finally:
            os._exit(0)
    os.close(write)
    got = collect(read, len(tests) + 1, time.monotonic() + budget + 0.2)
    os.close(read)
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os.waitpid(pid, 0)
    loaded = got[:1] == b"L"
    return {"loaded": loaded,
            "passed": [loaded and got[1 + i:2 + i] == b"1" for i in range(len(tests))]}


def main():
    request = json.loads(sys.stdin.read())
    budget = float(request["budget"])
    PENDING.extend(request["jobs"])
    del request
    results = []
    while PENDING:
        job = PENDING.pop(0)
        solution, tests = str(job["solution"]), [str(t) for t in job["tests"]]
        del job
        results.append(run(solution, tests, budget))
    sys.stdout.write(MARK + json.dumps(results) + "\n")
    sys.stdout.flush()


main()
'''
"""The harness program (Python 3, standard library only, run by the sandbox's system
Python)."""
