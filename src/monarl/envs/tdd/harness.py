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
3. writes one record per step to a pipe: a 16-byte token drawn by the harness for this job,
   then ``L``/``E`` (the solution loaded or raised), then per test the token and ``1``/``0``
   (passed, or raised/timed out),

and the harness (which runs no model-written code itself) reads the pipe until the child ends
or the job's ``budget`` is spent, kills the child's process group, and after the last job prints
one line, :data:`MARK` + JSON ``[{"loaded": bool, "passed": [bool, ...]}, ...]``. A child only
holds its own job's text: the jobs not yet run are dropped from its copy of the queue.

**What model code could forge, and what stops it.** The model's code runs in the child, which
holds the pipe, as the harness's user id. Two ways to fake a verdict were found by review and
shown to work (the held-out tests "passed" by ``return 0``): writing ``L111...`` to the
inherited pipe, and writing a result line into the harness's own output through
``/proc/<harness>/fd/1`` and then killing the harness. Now a record must carry the job's token,
and a pipe that carries anything else fails the whole job; and the harness makes itself
non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``), so the kernel refuses its ``/proc`` files (its
descriptors, its memory) to the child, user id or not. ``tests/test_tdd.py`` keeps both
attacks. **Not closed**: code that introspects the harness's Python frames inside its own
process can read the token and forge records, and a returned object whose ``==`` is always true
passes an ``assert f(x) == y`` test. Verdicts computed in the same process as model code cannot
be made unforgeable; these need a deliberate program that reads the harness or games Python's
comparison, and the held-out pass rate of such a program would be wrong (docs/tdd.md says so).

The sandbox also does not stop a child from spoiling its own program: killing the harness
leaves no result line, and every job of that program then counts as failed. So the
environment never puts model code and the overseer's reference and mutants in one program
(:mod:`monarl.envs.tdd.execution`).
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
TOKEN = 16
PENDING = []


def private():
    """Make this process non-dumpable: the kernel then refuses its /proc files (descriptors,
    memory) to processes of the same user id, such as a child running model code."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:
        pass


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


def child(solution, tests, budget, out, token):
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
    os.write(out, token + (b"L" if loaded else b"E"))
    for done, test in enumerate(tests, 1):
        passed = loaded and attempt(test, dict(namespace), share(done), "<test>")
        os.write(out, token + (b"1" if passed else b"0"))


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


def verdicts(got, token, count):
    """The steps' bytes from the pipe's records; None when any record lacks the token (the
    pipe carried something the child's own reporting did not write)."""
    size = TOKEN + 1
    out = b""
    for start in range(0, len(got) - len(got) % size, size):
        if got[start:start + TOKEN] != token:
            return None
        out += got[start + TOKEN:start + size]
    return out[:count]


def run(solution, tests, budget):
    token = os.urandom(TOKEN)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            os.setpgid(0, 0)
            child(solution, tests, budget, write, token)
        finally:
            os._exit(0)
    os.close(write)
    raw = collect(read, (len(tests) + 1) * (TOKEN + 1), time.monotonic() + budget + 0.2)
    os.close(read)
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os.waitpid(pid, 0)
    got = verdicts(raw, token, len(tests) + 1)
    if got is None:  # forged records: the whole job fails
        return {"loaded": False, "passed": [False] * len(tests)}
    loaded = got[:1] == b"L"
    return {"loaded": loaded,
            "passed": [loaded and got[1 + i:2 + i] == b"1" for i in range(len(tests))]}


def main():
    private()
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
