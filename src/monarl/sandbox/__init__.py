"""``monarl.sandbox``: run model-written Python programs isolated and resource-limited.

Model-written code runs only through here (docs/sandbox.md). Under bubblewrap each program
gets its own unprivileged user id, namespaces (no network), a read-only system, a private
tmpfs and kernel resource limits, and the parent kills it at a wall-clock deadline; where
bubblewrap cannot run, a resource-limited subprocess that says it is not a security boundary.

    from monarl.sandbox import run_python, SandboxLimits
    result = run_python("print(1 + 1)", limits=SandboxLimits(timeout_seconds=2))
    result.status, result.stdout  # ("ok", "2\\n")
"""

from monarl.sandbox.limits import SandboxLimits
from monarl.sandbox.result import STATUSES, SandboxResult
from monarl.sandbox.runner import (
    SandboxUnavailable,
    bubblewrap_problem,
    isolation_available,
    run_many,
    run_python,
)

__all__ = ["STATUSES", "SandboxLimits", "SandboxResult", "SandboxUnavailable",
           "bubblewrap_problem", "isolation_available", "run_many", "run_python"]
