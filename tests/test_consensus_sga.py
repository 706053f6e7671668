"""ConsensusOptimization and SGA: closed-form rates on f = xy, convergence on bilinear and
general-sum games, the matrix-free update against the explicit Jacobian, traced
hyperparameters, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import games
import minimax as mx

from .helpers import tree_allclose

XY = mx.ZeroSumGame(lambda x, y, args: x * y)
SGD = optax.sgd(0.1)  # one optimizer object: solvers built on it share compiled runs
# (class, name of its hyperparameter, extra keywords)
RULES = [
    (mx.ConsensusOptimization, "gamma", {}),
    (mx.SGA, "lam", {}),
    (mx.SGA, "lam", {"align": False}),
]
IDS = ["consensus", "sga", "sga-unaligned"]


def _make(rule, opt, h):
    cls, name, extra = rule
    return cls(opt, **{name: h}, **extra)


@pytest.mark.parametrize("rule", RULES[:2], ids=IDS[:2])
def test_rate_on_xy_and_vmap(rule):
    """On f = xy with `sgd(eta)` both rules give `z <- ((1 - eta g) I - eta R) z`, R a quarter
    turn: a scaled rotation, so |z| contracts by exactly sqrt((1 - eta g)^2 + eta^2) every step
    (SGA's alignment sign is + here: <F, grad H> = 0). One vmapped run over (eta, g); each
    member equals the run made alone."""
    etas = jnp.array([0.1, 0.2, 0.5, 0.1, 0.2, 0.5])
    hs = jnp.array([1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    z0 = (jnp.array(1.0), jnp.array(0.3))

    def run(eta, h, opt=None):
        solver = _make(rule, optax.sgd(eta) if opt is None else opt, h)
        return mx.solve(XY, solver, z0, steps=40).trajectory

    xs, ys = jax.vmap(run)(etas, hs)
    norms = np.hypot(xs, ys)
    measured = norms[:, -1] / norms[:, -2]
    expected = np.sqrt((1 - etas * hs) ** 2 + etas**2)
    np.testing.assert_allclose(measured, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        expected, [0.905539, 0.824621, 0.707107, 0.955249, 0.921954, 0.901388], atol=1e-6
    )
    # The eta = 0.1 members, run alone (an array hyperparameter: one compiled run for both).
    for i in (0, 3):
        alone = run(None, jnp.asarray(hs[i]), opt=SGD)
        assert tree_allclose((xs[i], ys[i]), alone, atol=1e-12)


def test_sga_unaligned_rate():
    """align=False uses +lam always; on f = xy it is the same rule."""
    for lam in (1.0, 0.5):
        solver = _make(RULES[2], SGD, jnp.asarray(lam))
        xs, ys = mx.solve(XY, solver, (1.0, 0.3), steps=40).trajectory
        norms = np.hypot(xs, ys)
        np.testing.assert_allclose(norms[-1] / norms[-2], np.hypot(1 - 0.1 * lam, 0.1), atol=1e-6)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_converges_on_random_bilinear(rule):
    """A random full-rank bilinear game (singular values 0.5 to 2) with its equilibrium away
    from the origin, where simultaneous GDA diverges."""
    game = games.Bilinear.random(jax.random.key(3), 4, sigma_min=0.5, sigma_max=2.0, linear=True)
    kx, ky = jax.random.split(jax.random.key(4))
    z0 = (jax.random.normal(kx, (4,)), jax.random.normal(ky, (4,)))
    solver = _make(rule, optax.sgd(0.2), 1.0)
    sol = mx.solve(game, solver, z0, steps=400, save_every=None)
    assert float(mx.distance(sol.trajectory, game.equilibrium())[-1]) < 1e-6


# A general-sum game: loss0 = |x - a|^2 / 2 + x.B y, loss1 = |y - b|^2 / 2 + x.C y, with
# F = (x - a + B y, y - b + C^T x): the fixed point solves [[I, B], [C^T, I]] z = (a, b).
_k = jax.random.split(jax.random.key(5), 4)
_A_VEC, _B_VEC = jax.random.normal(_k[0], (3,)), jax.random.normal(_k[1], (3,))
_B_MAT, _C_MAT = 1.5 * jax.random.normal(_k[2], (3, 3)), 1.5 * jax.random.normal(_k[3], (3, 3))
GENERAL = mx.GeneralSumGame(
    lambda x, y, args: jnp.sum((x - _A_VEC) ** 2) / 2 + x @ _B_MAT @ y,
    lambda x, y, args: jnp.sum((y - _B_VEC) ** 2) / 2 + x @ _C_MAT @ y,
)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_converges_on_general_sum(rule):
    eye = jnp.eye(3)
    z_star = jnp.linalg.solve(
        jnp.block([[eye, _B_MAT], [_C_MAT.T, eye]]), jnp.concatenate([_A_VEC, _B_VEC])
    )
    solver = _make(rule, optax.sgd(0.05), 0.5)
    sol = mx.solve(GENERAL, solver, (jnp.zeros(3), jnp.zeros(3)), steps=1000, save_every=None)
    np.testing.assert_allclose(jnp.concatenate(sol.players), z_star, atol=1e-8)


def _noisy_losses(x, y, args, *, key):
    """A small nonlinear, stochastic general-sum game with PyTree player x."""
    k0, k1 = jax.random.split(key)
    n0, n1 = jax.random.normal(k0, (3,)), jax.random.normal(k1, (2,))
    l0 = (
        jnp.sum(jnp.tanh(x["a"]) * y * n0)
        + 0.3 * jnp.sum(x["a"] ** 2)
        + jnp.sum(x["b"]) * jnp.sum(y)
    )
    l1 = -jnp.sum(jnp.sin(x["a"]) * y**2) + jnp.sum(x["b"] * y[:2] * n1) ** 2
    return l0, l1


NOISY = mx.GeneralSumGame(
    lambda x, y, args, *, key: _noisy_losses(x, y, args, key=key)[0],
    lambda x, y, args, *, key: _noisy_losses(x, y, args, key=key)[1],
)


def test_matrix_free_update_equals_explicit_jacobian():
    """One step with `sgd(1)` moves by -v; v matches the formulas written with the full
    Jacobian `jacfwd` of the field, at the step's key. SGA's alignment sign takes both values
    over these points."""
    consensus = mx.ConsensusOptimization(optax.sgd(1.0), gamma=jnp.asarray(0.7))
    sga = mx.SGA(optax.sgd(1.0), lam=jnp.asarray(0.7))
    sga_unaligned = mx.SGA(optax.sgd(1.0), lam=jnp.asarray(0.7), align=False)

    @jax.jit
    def moves(z, key):
        flat, unravel = ravel_pytree(z)

        def field(f):
            return ravel_pytree(NOISY.vector_field(unravel(f), key=key))[0]

        out = []
        for solver in (consensus, sga, sga_unaligned):
            z1, _ = solver.step(NOISY, z, solver.init(NOISY, z), key=key)
            out.append(flat - ravel_pytree(z1)[0])
        return field(flat), jax.jacfwd(field)(flat), out

    signs = set()
    for seed in range(8):
        k1, k2, k3, key = jax.random.split(jax.random.key(seed), 4)
        z = (
            {"a": jax.random.normal(k1, (3,)), "b": jax.random.normal(k2, (2,))},
            jax.random.normal(k3, (3,)),
        )
        F, J, (v_consensus, v_sga, v_unaligned) = moves(z, key)
        np.testing.assert_allclose(v_consensus, F + 0.7 * J.T @ F, atol=1e-12)
        adjustment = (J - J.T).T @ F / 2
        grad_h = J.T @ F
        sign = np.sign((F @ grad_h) * (adjustment @ grad_h) / F.size + 0.1)
        signs.add(float(sign))
        np.testing.assert_allclose(v_sga, F + 0.7 * sign * adjustment, atol=1e-12)
        np.testing.assert_allclose(v_unaligned, F + 0.7 * adjustment, atol=1e-12)
    assert signs == {-1.0, 1.0}


def test_bad_input():
    opt = optax.sgd(0.1)
    for bad, error in ((-1.0, ValueError), (float("inf"), ValueError), ("1", TypeError)):
        with pytest.raises(error, match="`gamma`"):
            mx.ConsensusOptimization(opt, gamma=bad)
        with pytest.raises(error, match="`lam`"):
            mx.SGA(opt, lam=bad)
    with pytest.raises(TypeError, match="`align` must be a bool"):
        mx.SGA(opt, align="yes")
    for cls in (mx.ConsensusOptimization, mx.SGA):
        with pytest.raises(TypeError, match="got the solver Simultaneous"):
            cls(mx.Simultaneous(opt))
        with pytest.raises(TypeError, match="`optimizer_y`"):
            cls(opt, optax.sgd)
        # The second positional argument is `optimizer_y`; the hyperparameters are keywords.
        assert cls(opt, opt).optimizer_y is opt
    assert mx.ConsensusOptimization(opt, gamma=0).gamma == 0
    assert mx.SGA(opt, lam=0.5, align=False).lam == 0.5
