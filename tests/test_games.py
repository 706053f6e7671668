"""The shipped matrix games: equilibria in closed form and the random constructors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
import minimax as mx

from .helpers import games_table, start

KEY = jax.random.key(0)
SQUARE = {
    **games_table(),
    "bilinear-singular": games.Bilinear.random(KEY, 5, 3, sigma_min=0.0),
    "quadratic-rectangular": games.QuadraticSaddle.random(KEY, 3, 5, mu=0.0, linear=True),
}


@pytest.mark.parametrize("name", list(SQUARE))
def test_equilibrium_is_stationary(name):
    game = SQUARE[name]
    z0 = start(game)
    for eq in (game.equilibrium(), game.equilibrium(near=z0)):
        field = jnp.concatenate(game.vector_field(eq))
        np.testing.assert_allclose(field, 0.0, atol=1e-12)
    # The nearest equilibrium differs from z0 only by a step orthogonal to the set of equilibria.
    nearest, least = game.equilibrium(near=z0), game.equilibrium()
    gap = jnp.concatenate(z0) - jnp.concatenate(nearest)
    np.testing.assert_allclose(
        gap @ (jnp.concatenate(nearest) - jnp.concatenate(least)), 0, atol=1e-10
    )


def test_runs_converge_to_nearest_equilibrium_of_singular_game():
    game = SQUARE["bilinear-singular"]
    z0 = start(game)
    sol = mx.solve(game, mx.Simultaneous(mx.optimistic_gradient(0.2)), z0, steps=3000)
    report = mx.cycling(sol.trajectory, game.equilibrium(near=z0))
    assert report.distance < 1e-6
    # Against the minimum-norm equilibrium the run would seem never to converge.
    assert mx.cycling(sol.trajectory, game.equilibrium()).distance > 0.1


def test_random_spectra():
    bil = games.Bilinear.random(KEY, 7, 4, sigma_min=0.2, sigma_max=3.0)
    np.testing.assert_allclose(jnp.linalg.svd(bil.A)[1], jnp.linspace(3.0, 0.2, 4), rtol=1e-12)
    quad = games.QuadraticSaddle.random(KEY, 6, 4, mu=0.3, L=2.0, coupling=0.7)
    np.testing.assert_allclose(jnp.linalg.eigvalsh(quad.B), jnp.linspace(0.3, 2.0, 6), rtol=1e-12)
    np.testing.assert_allclose(jnp.linalg.eigvalsh(quad.C), jnp.linspace(0.3, 2.0, 4), rtol=1e-12)
    np.testing.assert_allclose(jnp.linalg.svd(quad.A)[1], 0.7, rtol=1e-12)
    np.testing.assert_allclose(quad.B, quad.B.T, atol=1e-14)
    assert games.Bilinear.random(KEY, 3, dtype=jnp.float32).A.dtype == jnp.float32


def test_random_rejects_bad_settings():
    with pytest.raises(ValueError, match="sigma_min"):
        games.Bilinear.random(KEY, 3, sigma_min=2.0, sigma_max=1.0)
    with pytest.raises(ValueError, match="mu"):
        games.QuadraticSaddle.random(KEY, 3, mu=2.0, L=1.0)
    with pytest.raises(ValueError, match="coupling"):
        games.QuadraticSaddle.random(KEY, 3, coupling=-1.0)
    with pytest.raises(ValueError, match="near"):
        SQUARE["bilinear"].equilibrium(near=(jnp.ones(2), jnp.ones(2)))
