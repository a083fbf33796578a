"""MBPP from the Hugging Face hub (``problems = "mbpp"``), where a network allows it.

The data set ``google-research-datasets/mbpp``, configuration ``full``: 974 problems in four
splits (train 374, test 500, validation 90, prompt 10) with the fields of MBPP's JSONL format
(``task_id``, ``text``, ``code``, ``test_list``, ``test_setup_code``). All four splits are read
and split as an MBPP file is (:func:`monarl.envs.tdd.mbpp.split`: the test split, task ids
11-510, evaluates; the rest trains), so the hub and a local copy of the same data give the same
problems. Fetching needs the ``datasets`` package (``pip install 'monarl[mbpp]'``) and a
network the first time; later loads come from its cache (``HF_DATASETS_OFFLINE=1`` reads the
cache without asking the hub). Without either, the setting is refused in one line that names
the local-file alternative, before any model loads: when the hub's host does not even resolve,
at once, rather than after the hub client's retries (half a minute).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from monarl.core.config import fail
from monarl.envs.tdd import mbpp
from monarl.envs.tdd.problem import Problem

NAME = "mbpp"
HUB_ID = "google-research-datasets/mbpp"
CONFIG = "full"
INSTALL = "pip install 'monarl[mbpp]' (the datasets package)"
LOCAL = "or give the path of a local MBPP JSONL file instead"


def _network_problem() -> str | None:
    """Why the hub cannot be asked (its host does not resolve), or None; None too when the
    user asked for the offline cache."""
    if any(os.environ.get(v, "") not in ("", "0") for v in ("HF_DATASETS_OFFLINE",
                                                            "HF_HUB_OFFLINE")):
        return None
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.getaddrinfo(host or "huggingface.co", 443)
    except OSError as exc:
        return f"{host} does not resolve ({exc.strerror or exc}: no network?)"
    return None


@contextlib.contextmanager
def _quiet_hub_client() -> Iterator[None]:
    """The hub client logs each retry as a warning; the one-line refusal says it all."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _fetch() -> list[dict[str, Any]]:
    """Every row of every split, in split order (train, test, validation, prompt as the hub
    lists them)."""
    import datasets

    with _quiet_hub_client():
        loaded = datasets.load_dataset(HUB_ID, CONFIG)
    return [dict(row) for split in loaded for row in loaded[split]]


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[dict[str, Any], ...]:
    return tuple(_fetch())


def load(section: str = "env", name: str = "problems") -> tuple[Problem, ...]:
    """The hub data set's problems; ``ConfigError`` naming ``section.name`` when the
    ``datasets`` package is missing or the data cannot be fetched."""
    try:
        import datasets  # noqa: F401
    except ImportError:
        raise fail(section, name, NAME, f"needs the datasets package, which is not installed "
                                        f"({INSTALL}), {LOCAL}") from None
    problem = _network_problem()
    if problem is not None:
        raise fail(section, name, NAME, f"cannot reach the Hugging Face hub: {problem}; with "
                                        f"a cached copy set HF_DATASETS_OFFLINE=1, {LOCAL}")
    try:
        rows = _rows()
    except Exception as exc:  # noqa: BLE001 - network, hub and cache errors all mean: not here
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise fail(section, name, NAME, f"could not fetch {HUB_ID} ({CONFIG}) from the "
                                        f"Hugging Face hub: {reason}; {LOCAL}") from None
    return mbpp.from_rows(list(rows), NAME, section, name)
