"""Checkpoints of a language-model run: what a killed run needs to go on exactly where it was.

A checkpoint holds the trainable weights (all of them, or the LoRA adapter's), the optimizer's
state, both random generators (numpy's for cases, torch's for sampling), the number of updates
done and the metrics lines logged so far (a store empties a crashed run's metrics.jsonl when it
is claimed again, so the resumed run logs them anew). Resuming from it on CPU gives the same
numbers as never stopping. It is written to a temporary folder and renamed into place, so a
kill while writing leaves the previous checkpoint intact; only the latest one is kept.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch

STATE = "state.pt"
META = "meta.json"


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights the optimizer changes (every weight, or the adapter's)."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


def save(folder: Path, update: int, model: torch.nn.Module, optimizer: Any,
         rng_state: dict[str, Any], generator: torch.Generator,
         lines: list[dict[str, Any]]) -> None:
    """Write the checkpoint of ``update`` updates done into ``folder`` (replacing the last)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    torch.save({"model": trainable_state(model), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state()}, tmp / STATE)
    (tmp / META).write_text(json.dumps({"update": update, "rng": rng_state, "lines": lines}))
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def load(folder: Path) -> dict[str, Any] | None:
    """The checkpoint in ``folder`` (None if there is none): ``update``, ``rng``, ``lines``,
    ``model``, ``optimizer``, ``generator``. A checkpoint interrupted while being replaced is
    found under its ``.old`` name."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / META).exists() and (candidate / STATE).exists():
            meta = json.loads((candidate / META).read_text())
            state = torch.load(candidate / STATE, weights_only=False)
            return {**meta, **state}
    return None


def restore(checkpoint: dict[str, Any], model: torch.nn.Module, optimizer: Any,
            generator: torch.Generator) -> None:
    """Put a loaded checkpoint's weights, optimizer state and torch generator back."""
    missing = set(checkpoint["model"])
    with torch.no_grad():
        for name, param in model.state_dict().items():
            if name in checkpoint["model"]:
                param.copy_(checkpoint["model"][name])
                missing.discard(name)
    if missing:
        raise ValueError(f"checkpoint has weights this model lacks: {sorted(missing)[:3]}")
    optimizer.load_state_dict(checkpoint["optimizer"])
    generator.set_state(checkpoint["generator"])


def remove(folder: Path) -> None:
    """Delete a finished run's checkpoint (its results are in the run record)."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".old"),
                      folder.with_name(folder.name + ".tmp")):
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(candidate)
