"""monarl.sandbox: hostile programs stay inside, each ends with the status it should, and the
test process stays alive and responsive.

Every hostile program runs under each isolation this machine offers: bubblewrap (skipped with
the probe's reason where it cannot run) and the subprocess fallback. The fallback is not a
security boundary; its escape tests run only as root, where it still drops each program to an
unprivileged user id of its own (as an ordinary user the program would have the test's own
permissions, so those tests skip and say why). The isolation in force is printed at the start
of the module (``monarl.sandbox isolation: ...``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest

from monarl.cli.app import main
from monarl.core.config import ConfigError
from monarl.sandbox import (
    SandboxLimits,
    SandboxResult,
    SandboxUnavailable,
    bubblewrap,
    bubblewrap_problem,
    fallback,
    isolation_available,
    run_many,
    run_python,
    runner,
    uids,
)
from monarl.sandbox.result import classify, clip

REPO = Path(__file__).resolve().parents[1]
ROOT = os.geteuid() == 0
PROBLEM = bubblewrap_problem()
MODES = [
    pytest.param("bubblewrap", marks=pytest.mark.skipif(
        PROBLEM is not None, reason=f"bubblewrap unavailable here: {PROBLEM}")),
    "subprocess",
]
FAST = SandboxLimits(timeout_seconds=2.0)


pytestmark = pytest.mark.usefixtures("say_sandbox_isolation")


def needs_boundary(mode: str) -> None:
    """Escape tests of the fallback hold only when it can switch to an unprivileged id."""
    if mode == "subprocess" and not (ROOT and bubblewrap.system_python()):
        pytest.skip("the subprocess fallback is not a security boundary: without root (to "
                    "switch to a sandbox user id) the program has the test's own permissions")


def sandbox_pids() -> list[int]:
    """Live processes of any sandbox user id: none may outlive its run."""
    found = []
    for uid in range(uids.FIRST_UID, uids.FIRST_UID + 8):
        found += list(uids.pids_of(uid))
    return found


def run(source: str, mode: str, limits: SandboxLimits = FAST, stdin: str = "") -> SandboxResult:
    result = run_python(source, stdin=stdin, limits=limits, isolation=mode)
    assert result.isolation == mode
    return result


# --------------------------------------------------------------------------------------------
# Limits, statuses, output
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field,value", [
    ("timeout_seconds", 0), ("timeout_seconds", -1.0), ("timeout_seconds", float("nan")),
    ("timeout_seconds", True), ("memory_mb", 0), ("processes", 0), ("open_files", 3),
    ("file_size_mb", 1.5), ("cpu_seconds", 0), ("output_bytes", 0),
])
def test_limits_refuse_bad_values_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=f"^{field}=") as info:
        SandboxLimits(**{field: value})
    assert isinstance(info.value, ValueError) and "must be" in str(info.value)


def test_cpu_limit_defaults_to_the_timeout_rounded_up():
    assert SandboxLimits(timeout_seconds=2.5).cpu_limit == 3
    assert SandboxLimits(timeout_seconds=0.2).cpu_limit == 1
    assert SandboxLimits(timeout_seconds=9, cpu_seconds=2).cpu_limit == 2


@pytest.mark.parametrize("code,timed_out,wall,stderr,isolation,expected", [
    (0, False, 0.1, "", "bubblewrap", ("ok", 0)),
    (0, False, 0.1, "MemoryError\n", "bubblewrap", ("ok", 0)),
    (1, False, 0.1, "Traceback ...\nValueError: x\n", "bubblewrap", ("failed", 1)),
    (1, False, 0.1, "Traceback ...\nMemoryError\n", "subprocess", ("memory", 1)),
    (None, True, 2.0, "", "bubblewrap", ("timeout", None)),
    (128 + 24, False, 1.1, "", "bubblewrap", ("timeout", -24)),   # SIGXCPU via bwrap
    (-24, False, 1.1, "", "subprocess", ("timeout", -24)),
    (137, False, 2.1, "", "bubblewrap", ("timeout", -9)),         # the hard CPU limit
    (137, False, 0.1, "", "bubblewrap", ("killed", -9)),
    (-11, False, 0.1, "", "subprocess", ("killed", -11)),
    (139, False, 0.1, "", "subprocess", ("failed", 139)),         # no 128+N rule here
    (1, False, 0.0, "bwrap: Unknown option --bogus\n", "bubblewrap", ("error", None)),
    (None, False, 0.0, "could not start\n", "bubblewrap", ("error", None)),
])
def test_status_rule(code, timed_out, wall, stderr, isolation, expected):
    assert classify(code, timed_out=timed_out, wall_seconds=wall, cpu_limit=1,
                    stderr_head=stderr, stderr_tail=stderr, isolation=isolation) == expected


def test_clip_marks_truncated_output():
    assert clip(b"abc", 3, 10) == ("abc", False)
    text, cut = clip(b"abcdef", 100, 4)
    assert cut and text.startswith("abcd\n") and "100 bytes written" in text


@pytest.mark.parametrize("mode", MODES)
def test_ok_program_with_stdin_and_unicode(mode):
    result = run("import sys\nname = sys.stdin.readline().strip()\nprint(f'héllo {name}')\n"
                 "print('warn', file=sys.stderr)", mode, stdin="wörld\n")
    assert (result.status, result.exit_code) == ("ok", 0)
    assert result.stdout == "héllo wörld\n" and result.stderr == "warn\n"
    assert 0 < result.wall_seconds < FAST.timeout_seconds
    assert set(result.to_json()) == {"status", "exit_code", "stdout", "stderr", "wall_seconds",
                                     "isolation", "security_boundary"}
    assert result.to_json()["security_boundary"] is (mode == "bubblewrap")


@pytest.mark.parametrize("mode", MODES)
def test_exceptions_and_exit_codes_fail(mode):
    result = run("raise ValueError('nope')", mode)
    assert (result.status, result.exit_code) == ("failed", 1)
    assert "ValueError: nope" in result.stderr
    assert run("import sys; sys.exit(3)", mode).exit_code == 3


@pytest.mark.parametrize("mode", MODES)
def test_signal_is_killed(mode):
    result = run("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", mode)
    assert (result.status, result.exit_code) == ("killed", -signal.SIGSEGV)


def test_isolation_choices():
    with pytest.raises(ValueError, match="isolation='vm' is invalid: must be one of auto"):
        run_python("pass", isolation="vm")
    assert isolation_available() in ("bubblewrap", "subprocess")
    assert run_python("pass", limits=FAST).isolation == isolation_available()


def test_asking_for_bubblewrap_where_it_cannot_run_is_an_error(monkeypatch):
    monkeypatch.setattr(runner, "bubblewrap_problem", lambda: "bwrap not found (test)")
    with pytest.raises(SandboxUnavailable, match="bwrap not found"):
        run_python("pass", isolation="bubblewrap")
    fallback._warned.clear()
    result = run_python("print(1)", isolation="auto", limits=FAST)
    assert (result.status, result.isolation) == ("ok", "subprocess")


def test_fallback_warns_once_on_stderr(capsys):
    fallback._warned.clear()
    for _ in range(3):
        assert run("pass", "subprocess").status == "ok"
    err = capsys.readouterr().err
    assert err.count("NOT a security boundary") == 1


@pytest.mark.skipif(PROBLEM is not None, reason=f"bubblewrap unavailable here: {PROBLEM}")
def test_sandbox_that_cannot_start_is_an_error(monkeypatch):
    real = bubblewrap.command
    monkeypatch.setattr(bubblewrap, "command", lambda *a, **k: ["/nonexistent/bwrap"])
    result = run("print(1)", "bubblewrap")
    assert (result.status, result.exit_code) == ("error", None)
    assert "could not start /nonexistent/bwrap" in result.stderr

    def broken(*args, **kwargs):
        argv = real(*args, **kwargs)
        at = argv.index(bubblewrap.tool("bwrap"))
        return argv[:at + 1] + ["--no-such-option"] + argv[at + 1:]

    monkeypatch.setattr(bubblewrap, "command", broken)
    result = run("print(1)", "bubblewrap")
    assert result.status == "error" and result.stderr.startswith("bwrap: ")


# --------------------------------------------------------------------------------------------
# The hostile corpus
# --------------------------------------------------------------------------------------------

FORK_BOMB = "import os\nwhile True:\n    os.fork()\n"
STUBBORN_FORK_BOMB = """\
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


@pytest.mark.parametrize("mode", MODES)
def test_fork_bomb_is_stopped_at_the_process_limit(mode):
    needs_boundary(mode)
    result = run(FORK_BOMB, mode, SandboxLimits(timeout_seconds=5.0, processes=16))
    assert result.status == "failed"
    assert "Resource temporarily unavailable" in result.stderr
    started = time.perf_counter()
    result = run(STUBBORN_FORK_BOMB, mode, SandboxLimits(timeout_seconds=0.5, processes=16))
    assert result.status == "timeout" and result.exit_code is None
    assert time.perf_counter() - started < 4
    time.sleep(0.05)
    assert sandbox_pids() == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hog", [
    "x = bytearray(4 * 1024 ** 3)",
    "chunks = []\nwhile True:\n    chunks.append(bytearray(32 * 1024 ** 2))",
    "import numpy",  # not importable (-S): a failure, not a crash
])
def test_memory_hog_reads_as_memory(mode, hog):
    result = run(hog, mode, SandboxLimits(timeout_seconds=5.0, memory_mb=256))
    if hog.startswith("import"):
        assert result.status == "failed" and "ModuleNotFoundError" in result.stderr
        return
    assert result.status == "memory" and "MemoryError" in result.stderr
    assert result.wall_seconds < 5.0


@pytest.mark.parametrize("mode", MODES)
def test_busy_loop_and_sleep_time_out(mode):
    started = time.perf_counter()
    busy = run("while True:\n    pass", mode, SandboxLimits(timeout_seconds=0.5))
    assert (busy.status, busy.exit_code) == ("timeout", None)
    asleep = run("import time\ntime.sleep(10 ** 6)", mode, SandboxLimits(timeout_seconds=0.5))
    assert (asleep.status, asleep.exit_code) == ("timeout", None)
    assert 0.5 <= asleep.wall_seconds < 2.0
    assert time.perf_counter() - started < 4.0


@pytest.mark.parametrize("mode", MODES)
def test_cpu_limit_holds(mode):
    """The CPU-time limit, not the wall clock, ends a busy program (SIGXCPU)."""
    busy = run("while True:\n    pass", mode, SandboxLimits(timeout_seconds=8.0, cpu_seconds=1))
    assert (busy.status, busy.exit_code) == ("timeout", -signal.SIGXCPU)


def test_cpu_limit_holds_even_when_sigxcpu_is_ignored():
    """The hard CPU limit (a second later) kills with SIGKILL; that still reads as a timeout."""
    stubborn = run_python("import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
                          "while True:\n    pass",
                          limits=SandboxLimits(timeout_seconds=8.0, cpu_seconds=1))
    assert (stubborn.status, stubborn.exit_code) == ("timeout", -signal.SIGKILL)


WRITER = """\
import errno, sys
for path in sys.stdin.read().split():
    try:
        with open(path, "w") as handle:
            handle.write("escaped")
        print("WROTE", path)
    except OSError as exc:
        print("refused", path, errno.errorcode.get(exc.errno, exc.errno))
with open("inside.txt", "w") as handle:   # the private working folder is writable
    handle.write("fine")
with open("/dev/null", "w") as sink:   # devices stay usable
    sink.write("x")
print("cwd ok", open("inside.txt").read())
"""


@pytest.mark.parametrize("mode", MODES)
def test_writes_outside_the_private_folder_are_refused(mode, tmp_path):
    needs_boundary(mode)
    name = f"monarl-sandbox-escape-{uuid.uuid4().hex}"
    targets = [Path("/usr") / name, Path("/usr/lib") / name, Path("/etc") / name,
               Path("/root") / name, REPO / name, REPO / "src" / name, tmp_path / name]
    try:
        result = run(WRITER, mode, stdin="\n".join(map(str, targets)))
        assert result.status == "ok", result.stderr
        assert "WROTE" not in result.stdout and result.stdout.count("refused") == len(targets)
        assert "cwd ok fine" in result.stdout
        assert [t for t in targets if t.exists()] == []
    finally:
        for target in targets:
            if target.exists():
                target.unlink()


def test_under_bubblewrap_the_private_tmpfs_is_the_only_writable_place():
    """bwrap's own root (where /sandbox lives) and /dev (with /dev/shm) are tmpfs mounts with
    no size limit: writable, a program could fill the host's memory through them. They exist
    inside, so a refusal here is the read-only remount (EROFS), not a missing folder."""
    if PROBLEM is not None:
        pytest.skip(f"bubblewrap unavailable here: {PROBLEM}")
    targets = ["/escape", "/sandbox/escape", "/dev/escape", "/dev/shm/escape", "/tmp/fine"]
    result = run(WRITER, "bubblewrap", stdin="\n".join(targets))
    assert result.status == "ok", result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [f"refused {t} EROFS" for t in targets[:4]]
    assert lines[4:] == ["WROTE /tmp/fine", "cwd ok fine"]


@pytest.mark.parametrize("mode", MODES)
def test_concurrent_runs_get_their_own_private_folder(mode):
    """Two programs at once, each writing a file of the same name in its working folder:
    neither sees the other's (the fallback keeps the program, main.py, there too)."""
    program = ("import os, sys, time\nopen('mine', 'w').write(sys.stdin.read())\n"
               "time.sleep(0.4)\nprint(sorted(set(os.listdir('.')) - {'main.py'}), "
               "open('mine').read())")
    results = run_many([program, program], stdin=["a", "b"], limits=FAST, isolation=mode,
                       workers=2)
    assert [r.status for r in results] == ["ok", "ok"], [r.stderr for r in results]
    assert [r.stdout for r in results] == ["['mine'] a\n", "['mine'] b\n"]


@pytest.mark.parametrize("mode", MODES)
def test_secrets_cannot_be_read(mode, tmp_path):
    needs_boundary(mode)
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-token")
    secret.chmod(0o600)
    program = """\
import os, sys
for path in sys.stdin.read().split():
    try:
        if os.path.isdir(path):
            print("LISTED", path, os.listdir(path))
        else:
            print("READ", path, open(path).read())
    except OSError as exc:
        print("refused", path, type(exc).__name__)
"""
    paths = ["/etc/shadow", "/root", "/root/.bashrc", str(secret), str(REPO / "pyproject.toml")]
    result = run(program, mode, stdin="\n".join(paths))
    assert result.status == "ok", result.stderr
    assert "the-secret-token" not in result.stdout
    for path in ("/etc/shadow", "/root", "/root/.bashrc", str(secret)):
        assert f"refused {path}" in result.stdout
    if mode == "bubblewrap":  # nothing of the host but /usr is there at all
        assert "READ" not in result.stdout and "LISTED" not in result.stdout


@pytest.mark.parametrize("mode", MODES)
def test_deleting_host_files_is_refused(mode, tmp_path):
    needs_boundary(mode)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    program = f"""\
import os, shutil
for attempt in (lambda: os.remove({str(victim)!r}), lambda: shutil.rmtree({str(tmp_path)!r}),
                lambda: os.rename({str(victim)!r}, "/tmp/stolen")):
    try:
        attempt()
        print("DELETED")
    except OSError as exc:
        print("refused", type(exc).__name__)
"""
    result = run(program, mode)
    assert result.status == "ok" and "DELETED" not in result.stdout
    assert victim.read_text() == "keep me"


@pytest.mark.skipif(PROBLEM is not None, reason=f"bubblewrap unavailable here: {PROBLEM}")
def test_no_network_under_bubblewrap():
    """Outside connections and the host's own loopback (a server listening right here) are
    both unreachable: the program has a network namespace of its own."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        program = f"""\
import socket
for address in (("1.1.1.1", 53), ("127.0.0.1", {port}), ("localhost", {port})):
    try:
        socket.create_connection(address, timeout=1).close()
        print("CONNECTED", address)
    except OSError as exc:
        print("refused", address, type(exc).__name__)
"""
        result = run(program, "bubblewrap")
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()
    assert result.status == "ok", result.stderr
    assert "CONNECTED" not in result.stdout and result.stdout.count("refused") == 3


@pytest.mark.parametrize("mode", MODES)
def test_signals_to_the_parent_and_everyone_do_not_reach_us(mode):
    needs_boundary(mode)
    program = """\
import os, signal, sys
targets = [("parent", os.getppid()), ("test", int(sys.stdin.read())), ("everyone", -1)]
for name, pid in targets:
    try:
        os.kill(pid, signal.SIGKILL)
        print("sent", name)
    except OSError as exc:
        print("refused", name, type(exc).__name__)
print("still here")
"""
    result = run(program, mode, stdin=str(os.getpid()))
    # under bubblewrap the parent is the namespace's init, which ignores SIGKILL from inside,
    # and our pid does not exist there; in the fallback the sandbox user may signal no one else
    assert result.status == "ok" and "refused test" in result.stdout
    assert "still here" in result.stdout
    assert run("print('alive')", mode).stdout == "alive\n"


@pytest.mark.parametrize("mode", MODES)
def test_output_flood_is_capped(mode):
    """Output is a file under the file-size limit: a flood ends with ``File too large`` and
    only the first ``output_bytes`` come back, marked."""
    limits = SandboxLimits(timeout_seconds=5.0, output_bytes=1000, file_size_mb=1)
    result = run("while True:\n    print('x' * 1000)", mode, limits)
    assert result.status == "failed" and "File too large" in result.stderr
    assert result.stdout_truncated and not result.stderr_truncated
    assert len(result.stdout) < 1200 and "output truncated: 1048576 bytes" in result.stdout
    both = run("import sys\nwhile True:\n    print('x' * 1000)\n"
               "    print('y' * 1000, file=sys.stderr)", mode, limits)
    assert both.status == "failed" and both.stdout_truncated and both.stderr_truncated
    assert max(result.wall_seconds, both.wall_seconds) < 5.0


@pytest.mark.parametrize("mode", MODES)
def test_a_shell_runs_inside_but_does_not_escape(mode, tmp_path):
    needs_boundary(mode)
    marker = tmp_path / "pwned"
    program = f"""\
import subprocess
done = subprocess.run(["/bin/sh", "-c", "echo shell-ran; id -u; echo pwned > {marker}; "
                       "(sleep 60 >/dev/null 2>&1 &); setsid sleep 60 >/dev/null 2>&1 &"],
                      capture_output=True, text=True)
print(done.stdout, done.stderr)
"""
    result = run(program, mode)
    assert result.status == "ok", result.stderr
    assert "shell-ran" in result.stdout and str(result.uid) in result.stdout
    assert not marker.exists()
    time.sleep(0.05)
    assert sandbox_pids() == []  # the background sleeps died with the run


# --------------------------------------------------------------------------------------------
# Concurrency, responsiveness
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_concurrent_runs_get_their_own_user_ids(mode):
    if not ROOT:
        pytest.skip("only root can give each run a user id of its own")
    program = "import os, sys, time\ntime.sleep(0.4)\nprint(os.getuid(), sys.stdin.read())"
    results = run_many([program, program], stdin=["a", "b"], limits=FAST, isolation=mode,
                       workers=2)
    assert [r.status for r in results] == ["ok", "ok"]
    seen = [int(r.stdout.split()[0]) for r in results]
    assert [r.stdout.split()[1] for r in results] == ["a", "b"]
    assert seen[0] != seen[1] and seen == [r.uid for r in results]
    assert all(uids.FIRST_UID <= uid < uids.FIRST_UID + uids.POOL_SIZE for uid in seen)


def test_uid_leases_are_exclusive():
    if not ROOT:
        pytest.skip("only root leases user ids")
    with uids.lease_uid() as first, uids.lease_uid() as second:
        assert first != second
    with uids.lease_uid() as again:
        assert again == first


def test_run_many_refuses_bad_arguments():
    with pytest.raises(ValueError, match="workers=0"):
        run_many(["pass"], workers=0)
    with pytest.raises(ValueError, match="stdin="):
        run_many(["pass", "pass"], stdin=["only one"])


def test_machine_stays_responsive_after_hostile_programs():
    """A fork bomb, a flood and a sleeper at once, beside a trivial program that must still
    finish quickly; nothing of theirs is left afterwards."""
    mode = isolation_available()
    if mode == "subprocess" and not ROOT:
        pytest.skip("the fallback as an ordinary user cannot contain a fork bomb")
    hostile = [STUBBORN_FORK_BOMB, "import time\ntime.sleep(10 ** 6)",
               "while True:\n    print('z' * 4096)"]
    started = time.perf_counter()
    results = run_many(hostile, limits=SandboxLimits(timeout_seconds=1.0, processes=16),
                       isolation=mode, workers=3)
    assert [r.status for r in results] == ["timeout", "timeout", "failed"]
    quick = run("print('pong')", mode)
    assert quick.stdout == "pong\n" and quick.wall_seconds < 1.0
    assert time.perf_counter() - started < 5.0
    time.sleep(0.05)
    assert sandbox_pids() == []


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def test_cli_json(tmp_path, capsys):
    program = tmp_path / "hello.py"
    program.write_text("import sys\nprint('hi', sys.stdin.read())\n")
    given = tmp_path / "in.txt"
    given.write_text("there")
    assert main(["sandbox", "run", str(program), "--timeout", "3", "--stdin", str(given),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"status", "exit_code", "stdout", "stderr", "wall_seconds",
                         "isolation", "security_boundary"}
    assert data["status"] == "ok" and data["stdout"] == "hi there\n"
    assert data["isolation"] == isolation_available()
    assert data["security_boundary"] is (data["isolation"] == "bubblewrap")
    program.write_text("raise SystemExit(4)")
    assert main(["sandbox", "run", str(program), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["exit_code"] == 4
    assert main(["sandbox", "run", str(program)]) == 1
    assert "status: failed (exit code 4" in capsys.readouterr().out
    assert main(["sandbox", "run", str(program), "--isolation", "subprocess"]) == 1
    assert "isolation subprocess, NOT a security boundary)" in capsys.readouterr().out


@pytest.mark.parametrize("args,fragment", [
    (["missing.py"], "FILE 'missing.py' is invalid: no such file"),
    (["{p}", "--timeout", "0"], "--timeout=0.0 is invalid: must be a number of seconds > 0"),
    (["{p}", "--timeout", "-2"], "--timeout=-2.0 is invalid"),
    (["{p}", "--memory", "0"], "--memory=0 is invalid: must be an integer >= 1"),
    (["{p}", "--isolation", "vm"], "'vm' is not one of"),
])
def test_cli_bad_input_exits_2_in_one_line(tmp_path, capsys, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    program = tmp_path / "p.py"
    program.write_text("open('ran', 'w')")
    code = main(["sandbox", "run", *[a.format(p=program) for a in args]])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and len(err.splitlines()) == 1
    assert not (tmp_path / "ran").exists()


def test_cli_refuses_bubblewrap_where_it_cannot_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "bubblewrap_problem", lambda: "no user namespaces (test)")
    program = tmp_path / "p.py"
    program.write_text("print(1)")
    assert main(["sandbox", "run", str(program), "--isolation", "bubblewrap"]) == 2
    assert "no user namespaces (test)" in capsys.readouterr().err


def test_a_bwrap_without_size_says_once_that_tmp_is_unbounded(monkeypatch, capsys):
    """An older bwrap (before 0.5) has no --size: the private /tmp then has no size limit,
    and the sandbox says so on stderr, once, instead of silently dropping tmpfs_mb."""
    if PROBLEM is not None:
        pytest.skip(f"bubblewrap unavailable here: {PROBLEM}")
    options = bubblewrap._bwrap_options() - {"--size"}
    monkeypatch.setattr(bubblewrap, "_bwrap_options", lambda: options)
    bubblewrap._unbounded_warned.clear()
    for _ in range(2):
        argv = bubblewrap.command(SandboxLimits(), uid=None, program_fd=0, nproc=8)
        assert "--size" not in argv
    err = capsys.readouterr().err
    assert err.count("private /tmp is not size-limited") == 1
