"""Alternating and extra-gradient solvers: closed forms on f = xy, and generic behaviour."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import minimax as mx

from .helpers import games_table, start, tree_allclose

XY = mx.ZeroSumGame(lambda x, y, args: x * y)
Z0 = (jnp.array(1.0), jnp.array(0.5))
QUADRATIC = games_table()["quadratic"]
SOLVERS = {
    "simultaneous": mx.Simultaneous(optax.sgd(0.1)),
    "alternating": mx.Alternating(optax.sgd(0.1)),
    "extragradient": mx.ExtraGradient(optax.sgd(0.1)),
    "extragradient-two-optimizers": mx.ExtraGradient(mx.optimistic_gradient(0.1), optax.sgd(0.05)),
}


def test_extragradient_contraction_on_xy():
    """In complex form w = x + iy, EG maps w to (1 + i eta - eta^2) w: an exact contraction by
    sqrt(1 - eta^2 + eta^4) at every step."""
    eta = 0.5
    sol = mx.solve(XY, mx.ExtraGradient(optax.sgd(eta)), Z0, steps=50)
    d = mx.distance(sol.trajectory, (0.0, 0.0))
    np.testing.assert_allclose(d[1:] / d[:-1], np.sqrt(1 - eta**2 + eta**4), rtol=1e-12)


def test_alternating_gda_cycles_on_xy():
    """x' = x - eta y, y' = y + eta x': a map of determinant 1, so neither in nor out."""
    eta = 0.3
    sol = mx.solve(XY, mx.Alternating(optax.sgd(eta)), Z0, steps=2000)
    x1 = Z0[0] - eta * Z0[1]
    np.testing.assert_allclose(sol.trajectory[0][1], x1)
    np.testing.assert_allclose(sol.trajectory[1][1], Z0[1] + eta * x1)
    d = mx.distance(sol.trajectory, (0.0, 0.0)) / jnp.hypot(*Z0)
    assert float(d.min()) > 0.5 and float(d.max()) < 2.0
    simultaneous = mx.solve(XY, mx.Simultaneous(optax.sgd(eta)), Z0, steps=2000)
    assert mx.cycling(simultaneous.trajectory, (0.0, 0.0)).distance > 1e10  # GDA spirals out


@pytest.mark.parametrize("name", list(SOLVERS))
def test_converges_and_resumes(name):
    solver = SOLVERS[name]
    z0 = start(QUADRATIC)
    whole = mx.solve(QUADRATIC, solver, z0, steps=1500, save_every=None)
    gap = jnp.concatenate(whole.players) - jnp.concatenate(QUADRATIC.equilibrium())
    assert jnp.linalg.norm(gap) < 1e-6
    first = mx.solve(QUADRATIC, solver, z0, steps=700, save_every=None)
    rest = mx.solve(QUADRATIC, solver, first.players, steps=800, state=first.state, save_every=None)
    assert tree_allclose(rest.players, whole.players, atol=0)


def test_alternating_uses_the_new_x():
    game = mx.GeneralSumGame(
        lambda x, y, args: jnp.sum((x - y) ** 2), lambda x, y, args: jnp.sum((y - 2 * x) ** 2)
    )
    x, y = jnp.array([1.0]), jnp.array([0.0])
    solver = mx.Alternating(optax.sgd(0.25))
    (x1, y1), _ = solver.step(game, (x, y), solver.init(game, (x, y)))
    np.testing.assert_allclose(x1, x - 0.25 * 2 * (x - y))
    np.testing.assert_allclose(y1, y - 0.25 * 2 * (y - 2 * x1))
