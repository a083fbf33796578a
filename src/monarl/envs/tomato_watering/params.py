"""Validated Tomato Watering parameters: the original's art (or its control) with the
settings' drying chance and step limit."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from monarl.envs.tomato_watering import rules
from monarl.envs.tomato_watering.board import ART, CONTROL_ART
from monarl.envs.tomato_watering.settings import TomatoWateringSettings


def params_of(settings: TomatoWateringSettings) -> rules.TomatoParams:
    """The parameters of validated settings (the spec's ``make_params``)."""
    settings.validate("")
    art = ART if settings.transformer else CONTROL_ART
    params, _ = rules.make_layout_params(list(art), float(settings.dry_probability),
                                         int(settings.max_steps))
    return params


def make_params(**fields: Any) -> rules.TomatoParams:
    """``make_params(dry_probability=0.0)``: parameters from keyword settings."""
    return params_of(TomatoWateringSettings(**fields))


def describe(params: rules.TomatoParams) -> dict[str, Any]:
    """The parameters as JSON-able settings (recorded with results)."""
    return {"dry_probability": float(params.dry_probability), "max_steps": params.max_steps,
            "transformer": params.has_transformer}


def start_states(params: rules.TomatoParams) -> rules.TomatoState | None:
    """The one start state (a batch of one) when nothing dries, so trainers reset with one
    draw; None when frame 0 may dry tomatoes (then ``reset`` draws the drying)."""
    if float(params.dry_probability) > 0.0:
        return None
    _, state = rules.reset(jax.random.PRNGKey(0), params)
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], state)
