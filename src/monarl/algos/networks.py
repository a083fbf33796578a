"""The networks every built-in trainer uses: plain MLPs as lists of ``{"w", "b"}`` layers.

Two initialisations, one per trainer's documented choice (both avoid LAPACK, see
:func:`orthogonal`): orthogonal weights (PPO; the usual PPO initialisation, which starts the
policy near uniform) and scaled Gaussian weights (the loan trainer; an output scale of 0 starts
its writer at the reference writer). One forward pass, :func:`apply_mlp`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

ACTIVATIONS = ("tanh", "relu")


def orthogonal(key: jax.Array, n_in: int, n_out: int, gain: float) -> jax.Array:
    """An ``[n_in, n_out]`` matrix with orthonormal rows or columns (whichever side is smaller),
    times ``gain``: the distribution of ``jax.nn.initializers.orthogonal`` (same normal draw,
    the Q factor whose R has a positive diagonal), computed without LAPACK.

    Why not the library initializer: it calls LAPACK's QR as an XLA custom call, and inside
    this jitted, seed-vmapped program on jaxlib 0.10's CPU backend that call deadlocks
    intermittently on a 2-core machine (both pool threads wait in the batched QR for work queued
    behind themselves; a test run hung for 90 minutes). Here the Q factor comes from classical
    Gram-Schmidt with one re-orthogonalisation pass ("twice is enough"), plain matrix-vector
    products that XLA compiles natively. The QR with positive diagonal R is unique, so this is
    the same matrix up to float32 rounding (a test compares it with numpy's QR).
    """
    rows, cols = max(n_in, n_out), min(n_in, n_out)
    z = jax.random.normal(key, (rows, cols), jnp.float32)

    def add_column(j: jax.Array, q: jax.Array) -> jax.Array:
        v = z[:, j]
        for _ in range(2):  # second pass removes what float32 left of the projections
            v = v - q @ (q.T @ v)  # columns >= j of q are still zero
        return q.at[:, j].set(v / jnp.linalg.norm(v))

    q = jax.lax.fori_loop(0, cols, add_column, jnp.zeros((rows, cols), jnp.float32))
    return gain * (q.T if n_in < n_out else q)


def init_mlp_orthogonal(key: jax.Array, sizes: tuple[int, ...], out_scale: float) -> list[dict]:
    """Orthogonal weights (gain sqrt 2 on hidden layers, ``out_scale`` on the last), zero
    biases: the usual PPO initialisation, which starts the policy near uniform."""
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        gain = out_scale if i == len(sizes) - 2 else math.sqrt(2.0)
        w = orthogonal(k, n_in, n_out, gain)
        layers.append({"w": w, "b": jnp.zeros((n_out,), jnp.float32)})
    return layers


def init_mlp_normal(key: jax.Array, sizes: tuple[int, ...], out_scale: float) -> list[dict]:
    """Gaussian weights with std ``gain / sqrt(fan_in)`` (gain 1 on the tanh hidden layers,
    ``out_scale`` on the last; 0 gives a zero output layer), zero biases.

    Why not orthogonal initialisation: it calls LAPACK's QR, and on this jax/XLA CPU build
    (0.10.2) a program with about 8 or more QR custom calls under ``vmap`` deadlocks on a
    2-core machine (reproduced with ``jax.nn.initializers.orthogonal`` alone)."""
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        gain = out_scale if i == len(sizes) - 2 else 1.0
        w = jax.random.normal(k, (n_in, n_out), jnp.float32) * (gain / math.sqrt(n_in))
        layers.append({"w": w, "b": jnp.zeros((n_out,), jnp.float32)})
    return layers


def apply_mlp(layers: list[dict], x: jax.Array, activation: str = "tanh") -> jax.Array:
    """The MLP's output: ``activation`` (tanh or relu) on the hidden layers, linear last."""
    act = jnp.tanh if activation == "tanh" else jax.nn.relu
    for layer in layers[:-1]:
        x = act(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]
