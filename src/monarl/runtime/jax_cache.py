"""Persistent JAX compilation cache for the command line.

Why: compiling the jitted solver and training loops takes longer than running them on small
problems (about 1-2 s of a 2-3 s exact sweep). Caching compiled programs on disk makes every
later ``monarl`` command start warm. Only the CLI turns it on (a library import has no side
effects); ``MONARL_JAX_CACHE=0`` turns it off, ``MONARL_JAX_CACHE=/some/dir`` moves it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path | None:
    setting = os.environ.get("MONARL_JAX_CACHE", "")
    if setting.lower() in ("0", "off", "false", "no"):
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "monarl" / "jax"


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent cache at :func:`cache_dir` (ignored if JAX refuses)."""
    path = cache_dir()
    if path is None:
        return None
    try:
        import jax

        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except Exception:  # noqa: BLE001 - a cache must never break a command
        return None
    return path
