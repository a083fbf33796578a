"""The bubblewrap command line: the security boundary around a model-written program.

Layers, outermost first (docs/sandbox.md explains each):

1. ``setpriv`` (root only): drop to the run's own unprivileged user id with no supplementary
   groups and no capabilities, inheritable or bounding. Run directly as root, bwrap maps the
   program to real root, and RLIMIT_NPROC does not hold for root.
2. ``bwrap``: new user, mount, PID, network, IPC, UTS and cgroup namespaces (no network at
   all: only a loopback device of its own); further user namespaces disabled; ``/usr``
   read-only with ``/lib``, ``/lib64``, ``/bin``, ``/sbin`` as on the host (symlinks into /usr
   on merged-/usr systems); fresh ``/proc`` and minimal ``/dev``; a size-limited private tmpfs
   on ``/tmp`` as the only writable place and the working folder (bwrap's own root and
   ``/dev`` are remounted read-only, so ``/``, ``/sandbox`` and ``/dev/shm`` are not
   writable); no other host path (no
   /etc, /root, /home, the repository); capabilities dropped, environment cleared, a new
   terminal session (no TIOCSTI into ours), killed with its parent.
3. ``prlimit``: address space, processes, CPU seconds, file size, open files.
4. ``python3 -I -S`` (isolated mode, no site-packages) from the system, reading the program
   from a read-only file ``/sandbox/main.py`` that bwrap copies from an in-memory file
   (``--ro-bind-data``), so nothing is written to the host's disk.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

from monarl.sandbox.limits import MIB, SandboxLimits
from monarl.sandbox.notices import Once

SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
"""System interpreters, first found wins. They must live under /usr, the only host folder the
sandbox sees (a pyenv or virtualenv Python under /root or /home is invisible inside)."""
PROGRAM = "/sandbox/main.py"
ROOT_LINKS = ("/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")


def tool(name: str) -> str | None:
    """A system tool by name, looked up only in the system folders."""
    return shutil.which(name, path=SYSTEM_PATH)


def system_python() -> str | None:
    for path in PYTHONS:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.realpath(path) if path.startswith("/usr/") else path
    return None


@functools.cache
def _bwrap_options() -> frozenset[str]:
    """Options this bwrap understands (Debian 12 ships 0.8; --disable-userns and --size are
    newer than some distributions' bwrap)."""
    path = tool("bwrap")
    if path is None:
        return frozenset()
    try:
        text = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10,
                              check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(word for word in text.split() if word.startswith("--"))


def missing() -> str | None:
    """Why bubblewrap cannot even be tried here (None: the tools are present)."""
    needed = ["bwrap", "prlimit"] + (["setpriv"] if os.geteuid() == 0 else [])
    absent = [name for name in needed if tool(name) is None]
    if absent:
        return f"{', '.join(absent)} not found in {SYSTEM_PATH} (Debian: apt-get install " \
               f"{'bubblewrap' if 'bwrap' in absent else 'util-linux'})"
    if system_python() is None:
        return f"no system Python under /usr ({', '.join(PYTHONS)})"
    return None


_unbounded_warned = Once()


def _warn_unbounded_tmpfs() -> None:
    """Say once per process that this bwrap cannot bound the private /tmp (its --size is
    newer: bubblewrap 0.5): a program can then fill memory through it until the wall clock."""
    _unbounded_warned.say("monarl.sandbox: WARNING: this bwrap has no --size option "
                          "(bubblewrap >= 0.5 has it), so the private /tmp is not "
                          "size-limited (tmpfs_mb does not apply)")


def setpriv_prefix(uid: int) -> list[str]:
    """``setpriv`` switching to ``uid``: no supplementary groups, no capabilities left to
    inherit or regain (empty inheritable and bounding sets); [] without setpriv."""
    setpriv = tool("setpriv")
    if setpriv is None:
        return []
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--"]


def _root_links() -> list[str]:
    """/lib, /bin, ... as the host has them: a symlink where the host has one (merged /usr),
    a read-only bind of the real folder otherwise."""
    args = []
    for path in ROOT_LINKS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def command(limits: SandboxLimits, *, uid: int | None, program_fd: int,
            nproc: int | None = None) -> list[str]:
    """The argv that runs the program held in ``program_fd`` as ``uid`` (None: the caller's
    own id, when not root). ``nproc`` overrides the process limit (the caller's own id shares
    it with everything else the caller runs)."""
    bwrap, prlimit, python = tool("bwrap"), tool("prlimit"), system_python()
    if bwrap is None or prlimit is None or python is None:
        raise RuntimeError(missing() or "bubblewrap tools missing")
    argv: list[str] = []
    if uid is not None:
        argv = setpriv_prefix(uid)
        if not argv:
            raise RuntimeError(missing() or "setpriv missing")
    options = _bwrap_options()
    argv += [bwrap, "--unshare-all", "--unshare-user"]
    if "--disable-userns" in options:
        argv.append("--disable-userns")
    argv += ["--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr", *_root_links(),
             "--proc", "/proc", "--dev", "/dev"]
    if "--size" in options:
        argv += ["--size", str(limits.tmpfs_mb * MIB)]
    else:
        _warn_unbounded_tmpfs()
    argv += ["--tmpfs", "/tmp", "--chdir", "/tmp", "--hostname", "sandbox",
             "--cap-drop", "ALL", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
             "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8",
             "--ro-bind-data", str(program_fd), PROGRAM,
             # Last, once every mount point exists: bwrap's own root and /dev are tmpfs
             # mounts without a size limit, writable until remounted; read-only, the program
             # cannot fill the host's memory through "/", "/sandbox" or "/dev/shm".
             "--remount-ro", "/dev", "--remount-ro", "/", "--"]
    rl = limits.rlimits()
    processes = rl["nproc"] if nproc is None else nproc
    argv += [prlimit, f"--as={rl['as']}", f"--nproc={processes}",
             f"--cpu={rl['cpu']}:{rl['cpu'] + 1}", f"--fsize={rl['fsize']}",
             f"--nofile={rl['nofile']}", "--", python, "-I", "-S", PROGRAM]
    return argv
