"""Shared test tables. Reusing these objects lets tests share compiled functions."""

import jax
import jax.numpy as jnp
import numpy as np


def tree_allclose(a, b, *, rtol=0.0, atol=1e-12) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    return all(
        jnp.shape(x) == jnp.shape(y) and np.allclose(x, y, rtol=rtol, atol=atol)
        for x, y in zip(la, lb, strict=True)
    )


def games_table():
    """The problems every generic test runs on, with fixed seeds (float64: tests enable x64)."""
    import games

    return games.matrix_games(jax.random.key(0), 6, 4)


def start(game, seed=1):
    n, m = game.A.shape
    kx, ky = jax.random.split(jax.random.key(seed))
    return jax.random.normal(kx, (n,)), jax.random.normal(ky, (m,))
