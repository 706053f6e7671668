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


def solvers_table(lr: float) -> dict:
    """Every update rule with step size `lr`, and the games on which theory promises that it
    converges (beyond strongly monotone ones, where all do): `{name: (solver, promises)}`.

    Bilinear games with full-rank `A`: extra-gradient (Korpelevich 1976), optimistic and past
    extra-gradient (Daskalakis et al. 2018; Gidel et al. 2019), consensus (Mescheder et al.
    2017), SGA (Balduzzi et al. 2018), CGD (Schaefer & Anandkumar 2019), lookahead-minmax
    (Chavdarova et al. 2021) and alternating GDA with negative momentum (Gidel et al. 2019).
    Simultaneous GDA spirals out; plain alternating GDA cycles."""
    import optax

    import minimax as mx

    sgd = optax.sgd(lr)
    bilinear = {"bilinear"}
    return {
        "GDA": (mx.Simultaneous(sgd), set()),
        "alternating": (mx.Alternating(sgd), set()),
        "negative momentum": (mx.Alternating(optax.sgd(lr, momentum=-0.5)), bilinear),
        "extragradient": (mx.ExtraGradient(sgd), bilinear),
        "OGDA": (mx.Simultaneous(mx.optimistic_gradient(lr)), bilinear),
        "OGDA legacy": (mx.Simultaneous(mx.optimistic_gradient(lr, first_step="legacy")), bilinear),
        "past extragradient": (mx.PastExtraGradient(sgd), bilinear),
        "consensus": (mx.ConsensusOptimization(sgd, gamma=1.0), bilinear),
        "SGA": (mx.SGA(sgd, lam=1.0), bilinear),
        "CGD": (mx.CGD(lr), bilinear),
        "lookahead GDA": (mx.Lookahead(mx.Simultaneous(sgd), 5, 0.5), bilinear),
        "averaged EG": (mx.EMA(mx.ExtraGradient(sgd), 0.9), bilinear),
        "restarted OGDA": (mx.Restarted(mx.Simultaneous(mx.optimistic_gradient(lr))), bilinear),
    }
