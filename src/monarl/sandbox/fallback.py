"""The subprocess fallback: resource limits without isolation, for machines where bubblewrap
cannot run (no user namespaces, bwrap not installed).

It is NOT a security boundary: the program sees the host's file system with the permissions of
the user it runs as, and it has the network. What it does give: the same resource limits as
bubblewrap (set by a few lines of Python before the program's first line runs, since
``preexec_fn`` is unsafe in a threaded parent), a fresh private working folder removed
afterwards, a session of its own, a cleared environment, Python in isolated mode without
site-packages, and, as root, the run's own unprivileged user id (so the process limit holds,
root's files stay unreadable, and every process of that id is killed when the run ends, even
one that left the session). Every result says ``isolation="subprocess"`` and the first use in a
process prints a warning on stderr.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

from monarl.sandbox.bubblewrap import setpriv_prefix, system_python
from monarl.sandbox.limits import SandboxLimits
from monarl.sandbox.notices import Once
from monarl.sandbox.process import Launch
from monarl.sandbox.uids import kill_all

BOOTSTRAP = """\
import resource as _r, sys as _s, types as _t
def _limit(k, soft, hard):
    top = _r.getrlimit(k)[1]
    if top != _r.RLIM_INFINITY:
        soft, hard = min(soft, top), min(hard, top)
    _r.setrlimit(k, (soft, hard))
_v = [int(x) for x in _s.argv[1].split(",")]
for _k, _a, _b in ((_r.RLIMIT_AS, _v[0], _v[0]), (_r.RLIMIT_NPROC, _v[1], _v[1]),
                   (_r.RLIMIT_CPU, _v[2], _v[2] + 1), (_r.RLIMIT_FSIZE, _v[3], _v[3]),
                   (_r.RLIMIT_NOFILE, _v[4], _v[4])):
    _limit(_k, _a, _b)
_p = _s.argv[2]
_s.argv = _s.argv[2:]
with open(_p, encoding="utf-8") as _f:
    _c = compile(_f.read(), _p, "exec")
_m = _t.ModuleType("__main__")
_m.__file__ = _p
_s.modules["__main__"] = _m
del _r, _t, _limit, _v, _k, _a, _b, _f
exec(_c, _m.__dict__)
"""
"""Sets the limits, then runs ``main.py`` as ``__main__`` in the same interpreter."""

WARNING = ("monarl.sandbox: WARNING: running model-written code in a resource-limited "
           "subprocess, which is NOT a security boundary (it can read what its user can read, "
           "and reach the network): {reason}")

_warned = Once()


def warn_once(reason: str) -> None:
    """Say once per process, on stderr, that programs run without isolation, and why."""
    _warned.say(WARNING.format(reason=reason))


def interpreter(uid: int | None) -> str:
    """The system Python when there is one (readable by any user id); else our own."""
    python = system_python()
    if python is None and uid is not None:
        raise RuntimeError("no system Python a sandbox user id can run (/usr/bin/python3)")
    return python or sys.executable


@contextlib.contextmanager
def prepare(source: str, limits: SandboxLimits, *, uid: int | None,
            nproc: int | None = None) -> Iterator[Launch]:
    """A launch of ``source`` in a fresh working folder (removed afterwards), as ``uid``."""
    python = interpreter(uid)
    workdir = tempfile.mkdtemp(prefix="monarl-sandbox-")
    try:
        program = os.path.join(workdir, "main.py")
        with open(program, "w", encoding="utf-8", errors="surrogatepass") as handle:
            handle.write(source)
        if uid is not None:
            os.chown(workdir, uid, uid)
            os.chmod(program, 0o444)
        rl = limits.rlimits()
        values = [rl["as"], rl["nproc"] if nproc is None else nproc, rl["cpu"], rl["fsize"],
                  rl["nofile"]]
        argv = [python, "-I", "-S", "-c", BOOTSTRAP, ",".join(map(str, values)), program]
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8"}
        after = (lambda _timed_out: kill_all(uid)) if uid is not None else None
        # setpriv switches the user id after exec, so Popen can vfork: switching in Popen
        # itself (user=) forks the whole parent, ~90 ms for a parent holding 3 GB
        prefix = setpriv_prefix(uid) if uid is not None else []
        user = uid if uid is not None and not prefix else None
        yield Launch(prefix + argv, cwd=workdir, env=env, user=user, after=after)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
