"""Shared fixtures: the paper's board compiled once per test session."""

from __future__ import annotations

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
