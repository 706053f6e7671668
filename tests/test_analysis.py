"""linearised_rate: the Jacobian of one full step, memory included, predicts measured rates."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import games
import minimax as mx

XY = mx.ZeroSumGame(lambda x, y, args: x * y)
ORIGIN = (jnp.array(0.0), jnp.array(0.0))
ETAS = (0.1, 0.2, 0.5)
# Closed forms on f = xy (docs/comparing.md derives them).
CLOSED_FORMS = {
    "GDA": (lambda eta: mx.Simultaneous(optax.sgd(eta)), lambda e: np.sqrt(1 + e**2)),
    "EG": (lambda eta: mx.ExtraGradient(optax.sgd(eta)), lambda e: np.sqrt(1 - e**2 + e**4)),
    "OGDA": (
        lambda eta: mx.Simultaneous(mx.optimistic_gradient(eta)),
        lambda e: np.sqrt((1 + np.sqrt(max(1 - 4 * e**2, 0))) / 2) if e < 0.5 else np.sqrt(0.5),
    ),
    "alternating, momentum -0.5": (
        lambda eta: mx.Alternating(optax.sgd(eta, momentum=-0.5)),
        # The largest root of (l - 1)^2 (l + 1/2)^2 + eta^2 l^3.
        lambda e: max(
            abs(
                np.roots(
                    np.polymul(np.polymul([1, -1], [1, -1]), np.polymul([1, 0.5], [1, 0.5]))
                    + np.array([0, e**2, 0, 0, 0])
                )
            )
        ),  # fmt: skip
    ),
}


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_closed_forms_on_xy(name):
    make, closed = CLOSED_FORMS[name]
    radii = jax.vmap(lambda eta: mx.linearised_rate(make(eta), XY, ORIGIN).radius)(jnp.array(ETAS))
    # A double root (OGDA at eta = 1/2) is only found to about 1e-8.
    np.testing.assert_allclose(radii, [closed(eta) for eta in ETAS], rtol=1e-7)


@pytest.mark.parametrize("game_name", ["bilinear", "quadratic"])
def test_predicts_measured_decay(game_name):
    """-log(radius) matches the measured asymptotic decay exponent to within 1%."""
    # Square: a rectangular bilinear game has a subspace of equilibria (eigenvalue 1).
    game = games.matrix_games(jax.random.key(0), 5)[game_name]
    eq = game.equilibrium()
    z0 = (eq[0] + 1.0, eq[1] - 1.0)
    for solver in (
        mx.Simultaneous(mx.optimistic_gradient(0.3)),
        mx.ExtraGradient(optax.sgd(0.3)),
        mx.Simultaneous(mx.optimistic_gradient(0.2, alpha=0.5, beta=1.0)),
    ):
        rate = mx.linearised_rate(solver, game, eq)
        assert rate.radius < 1
        # Long enough to shrink by about e^-20, measured over the second half.
        steps = int(np.ceil(20 / -np.log(rate.radius)))
        sol = mx.solve(game, solver, z0, steps=2 * (steps // 2), save_every=steps // 2)
        d = mx.distance(sol.trajectory, eq)
        measured = -np.log(d[2] / d[1]) / (steps // 2)
        np.testing.assert_allclose(-np.log(rate.radius), measured, rtol=0.01)


def test_stability_map_is_one_vmapped_call():
    def radius(lr, beta):
        solver = mx.Simultaneous(mx.optimistic_gradient(lr, beta=beta))
        return mx.linearised_rate(solver, XY, ORIGIN).radius

    lrs, betas = jnp.meshgrid(jnp.array([0.1, 0.5, 1.0]), jnp.array([0.0, 1.0]))
    grid = jax.jit(jax.vmap(jax.vmap(radius)))(lrs, betas)
    alone = [
        [float(radius(lr, b)) for lr, b in zip(*row, strict=True)]
        for row in zip(lrs, betas, strict=True)
    ]
    np.testing.assert_allclose(grid, alone, rtol=1e-12)
    assert (grid[0] > 1).all()  # beta = 0 is GDA: never stable on a bilinear game


def test_memory_is_part_of_the_map():
    """OGDA's state doubles the dimension; the eigenvalues are the roots of its polynomial."""
    rate = mx.linearised_rate(mx.Simultaneous(mx.optimistic_gradient(0.2)), XY, ORIGIN)
    assert rate.jacobian.shape == (4, 4)
    # l^2 - (1 + 2i eta) l + i eta = 0 and its conjugate.
    roots = np.roots([1, -(1 + 0.4j), 0.2j])
    expected = np.sort_complex(np.concatenate([roots, roots.conj()]))
    np.testing.assert_allclose(np.sort_complex(np.asarray(rate.eigenvalues)), expected, atol=1e-12)


def test_bad_arguments():
    solver = mx.Simultaneous(optax.sgd(0.1))
    with pytest.raises(ValueError, match="`steps` must be a positive int"):
        mx.linearised_rate(solver, XY, ORIGIN, steps=0)
    with pytest.raises(ValueError, match="`warmup` must be an int >= 0"):
        mx.linearised_rate(solver, XY, ORIGIN, warmup=-1)
