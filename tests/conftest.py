"""Shared fixtures: the paper's board compiled once per test session; the line that tells the
reader of a test log which sandbox isolation the sandboxed tests ran under."""

from __future__ import annotations

import os

import numpy as np
import pytest

from monarl.envs import camera_dropbox as cd
from monarl.envs.camera_dropbox.tables import compile_camera_dropbox


@pytest.fixture(scope="session")
def paper_params() -> cd.CameraDropboxParams:
    return cd.make_params()


@pytest.fixture(scope="session")
def paper_tables(paper_params):
    return compile_camera_dropbox(paper_params)


@pytest.fixture(scope="session")
def observed_per_step(paper_tables) -> np.ndarray:
    return np.broadcast_to(paper_tables.reward_table("observed"),
                           (paper_tables.max_steps,) + paper_tables.successor.shape)


XDIST_UID_BLOCK = 100


def pytest_configure(config) -> None:
    """Give each pytest-xdist worker its own block of sandbox user ids. Ids are leased across
    processes already, but the sandbox tests check that no process of *their* ids outlives a
    run, and a neighbouring worker's run may have just leased the same id: disjoint blocks
    keep those checks about this worker's programs only."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        from monarl.sandbox import uids

        uids.FIRST_UID += XDIST_UID_BLOCK * (1 + int(worker[2:]))
        uids.POOL_SIZE = XDIST_UID_BLOCK


def sandbox_isolation_line() -> str:
    """Which isolation ``monarl.sandbox`` runs programs under here and why."""
    from monarl.sandbox import bubblewrap_problem, isolation_available

    problem = bubblewrap_problem()
    return (f"monarl.sandbox isolation: {isolation_available()} "
            f"(bubblewrap: {'available' if problem is None else problem}; "
            f"running as {'root' if os.geteuid() == 0 else 'uid ' + str(os.getuid())})")


def pytest_report_header(config) -> str:
    """The isolation line heads every test log, also when the tests run in pytest-xdist
    workers, whose own terminal output is not shown."""
    return sandbox_isolation_line()


@pytest.fixture(scope="module")
def say_sandbox_isolation(request):
    """Write, once per module that asks, which isolation ``monarl.sandbox`` runs programs
    under here (bubblewrap, or the fallback that is no security boundary) and why."""
    line = sandbox_isolation_line()
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n{line}")
    print(line)
