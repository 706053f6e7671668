"""Alternating and extra-gradient solvers: closed forms on f = xy, and generic behaviour."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import games
import minimax as mx

from .helpers import solvers_table, start

XY = mx.ZeroSumGame(lambda x, y, args: x * y)
Z0 = (jnp.array(1.0), jnp.array(0.5))


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


# The table of rules crossed with the table of games, as optax tests its optimizers. Solver
# objects are built once, so that tests share compiled functions.
GAMES = games.matrix_games(jax.random.key(0), 5)  # square: full-rank bilinear
TABLE = {game: solvers_table(lr) for game, lr in (("bilinear", 0.3), ("quadratic", 0.1))}
NAMES = list(TABLE["bilinear"])


@pytest.mark.parametrize("game_name", list(GAMES))
@pytest.mark.parametrize("name", NAMES)
def test_converges_where_theory_promises(name, game_name):
    solver, promises = TABLE[game_name][name]
    game = GAMES[game_name]
    eq = game.equilibrium()
    z0 = start(game)
    sol = mx.solve(game, solver, z0, steps=6000, save_every=None, throw=False)
    d = float(
        mx.distance(sol.trajectory, eq)[-1]
        / mx.distance(jax.tree.map(lambda a: a[None], z0), eq)[0]
    )
    if game_name == "quadratic" or game_name in promises:  # strongly monotone: all converge
        assert d < 1e-6, d
    elif name == "GDA":
        assert d > 10 or sol.result != mx.RESULTS.successful  # spirals out
    else:
        assert d > 1e-3  # no promise, and indeed no convergence


@pytest.mark.parametrize("name", NAMES)
def test_no_recompile_dtypes_and_state(name):
    """A second call with other values does not recompile; float32 stays float32; the state
    keeps its structure, shapes and dtypes from step to step."""
    solver, _ = TABLE["quadratic"][name]
    traces = []

    def value(x, y, args):
        traces.append(None)
        return x @ y + 0.1 * (x @ x - y @ y)

    game = mx.ZeroSumGame(value)
    z32 = (jnp.ones(3, jnp.float32), jnp.full(3, 0.5, jnp.float32))
    sol = mx.solve(game, solver, z32, steps=4, save_every=None)
    n = len(traces)
    again = mx.solve(game, solver, (2 * z32[0], z32[1]), steps=4, save_every=None)
    assert len(traces) == n
    floats = {
        a.dtype for a in jax.tree.leaves((again.players, again.state)) if eqx.is_inexact_array(a)
    }
    assert floats == {jnp.dtype(jnp.float32)}
    initial = solver.init(game, z32)
    shapes = lambda tree: [(jnp.shape(a), jnp.result_type(a)) for a in jax.tree.leaves(tree)]  # noqa: E731
    assert jax.tree.structure(sol.state.solver) == jax.tree.structure(initial)
    assert shapes(sol.state.solver) == shapes(initial)


def test_alternating_uses_the_new_x():
    game = mx.GeneralSumGame(
        lambda x, y, args: jnp.sum((x - y) ** 2), lambda x, y, args: jnp.sum((y - 2 * x) ** 2)
    )
    x, y = jnp.array([1.0]), jnp.array([0.0])
    solver = mx.Alternating(optax.sgd(0.25))
    (x1, y1), _ = solver.step(game, (x, y), solver.init(game, (x, y)))
    np.testing.assert_allclose(x1, x - 0.25 * 2 * (x - y))
    np.testing.assert_allclose(y1, y - 0.25 * 2 * (y - 2 * x1))


def test_extra_adam_solves_coopers_toy_problem():
    """cooper's `test_extrapolation`: min x^2 + 2 y^2 s.t. x + y >= 1, x^2 + y <= 1 from
    (0, -1), Extra-Adam (1e-2) for the primal and extra-gradient SGD (1e-2) for the multipliers,
    2000 steps: (2/3, 1/3) within 1e-2 relative. Adam's moments must see both half-steps."""
    import games

    game = games.Lagrangian(
        lambda z, args: z[0] ** 2 + 2 * z[1] ** 2,
        inequality=lambda z, args: jnp.stack([1 - z[0] - z[1], z[0] ** 2 + z[1] - 1]),
    )
    z0 = jnp.array([0.0, -1.0])
    players, optimum = (z0, game.initial_multipliers(z0)), jnp.array([2 / 3, 1 / 3])
    errors = {}
    for share in (True, False):
        solver = mx.ExtraGradient(optax.adam(1e-2), optax.sgd(1e-2), share_state=share)
        x = mx.solve(game, solver, players, steps=2000, save_every=None).players[0]
        errors[share] = float(jnp.max(jnp.abs(x - optimum) / optimum))
    assert errors[True] < 1e-3 < 1e-2 < errors[False]


def test_alternating_dual_first():
    """`first=1`: y moves first and x answers the new y (cooper's dual-primal order)."""
    game = mx.GeneralSumGame(
        lambda x, y, args: jnp.sum((x - y) ** 2), lambda x, y, args: jnp.sum((y - 2 * x) ** 2)
    )
    x, y = jnp.array([1.0]), jnp.array([0.0])
    solver = mx.Alternating(optax.sgd(0.25), first=1)
    (x1, y1), _ = solver.step(game, (x, y), solver.init(game, (x, y)))
    np.testing.assert_allclose(y1, y - 0.25 * 2 * (y - 2 * x))
    np.testing.assert_allclose(x1, x - 0.25 * 2 * (x - y1))
    for bad in (2, True, "y"):
        with pytest.raises(ValueError, match="`first` must be 0 or 1"):
            mx.Alternating(optax.sgd(0.1), first=bad)
