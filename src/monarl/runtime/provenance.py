"""Where a result came from: command, package versions, git commit and machine.

Every report and run record carries this, so a figure can always be traced to a command anyone
can rerun and to the machine it was measured on.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("monarl", "jax", "jaxlib", "optax", "numpy", "matplotlib")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(start: Path | None = None) -> str | None:
    """The checkout's commit (with '+dirty' for local changes), or None outside git."""
    cwd = Path(start or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    """CPU count and model, accelerator (jax's default backend), OS."""
    try:
        import jax

        device = f"{jax.default_backend()}: {jax.devices()[0].device_kind}"
    except Exception:  # noqa: BLE001 - provenance must never break a run
        device = "unknown"
    return {"cpus": os.cpu_count(), "cpu": cpu_model(), "device": device,
            "platform": platform.platform()}


def command_line() -> str:
    """The command as typed (``monarl ...``), for reports."""
    args = sys.argv[1:]
    prog = Path(sys.argv[0]).name if sys.argv else "monarl"
    if prog in ("__main__.py", "-c", ""):
        prog = "monarl"
    return " ".join([prog, *args])


def provenance() -> dict[str, object]:
    return {"command": command_line(), "versions": package_versions(), "git": git_commit(),
            "machine": machine()}


def describe_machine(info: dict[str, object] | None = None) -> str:
    info = info or machine()
    return f"{info['cpus']} CPUs ({info['cpu']}), {info['device']}"
