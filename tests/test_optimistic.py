"""The optimistic transforms against optax, closed forms, and their argument checks."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import minimax as mx

from .helpers import games_table, start, tree_allclose

GAMES = games_table()
STEPS = 300


def reference_ogda(game, players, lr, alpha, beta, first_step):
    """A hand-written OGDA loop with optax's own transform: x follows grad_x f, y follows
    -grad_y f. "legacy" starts optax's previous gradient at zeros instead of g_0."""
    opt = optax.optimistic_gradient_descent(lr, alpha, beta)
    states = [opt.init(p) for p in players]
    if first_step == "legacy":
        states = [(s[0]._replace(is_initial_step=jnp.array(False)), *s[1:]) for s in states]

    def step(carry, _):
        (x, y), (sx, sy) = carry
        gx, gy = jax.grad(game.value, argnums=(0, 1))(x, y)
        ux, sx = opt.update(gx, sx, x)
        uy, sy = opt.update(-gy, sy, y)
        new = (x + ux, y + uy)
        return (new, (sx, sy)), new

    _, (xs, ys) = jax.lax.scan(step, (players, tuple(states)), length=STEPS)
    return jnp.concatenate([players[0][None], xs]), jnp.concatenate([players[1][None], ys])


@pytest.mark.parametrize("first_step", ["fixed", "legacy"])
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.5, 2.0)])
@pytest.mark.parametrize("name", list(GAMES))
def test_matches_hand_written_optax_loop(name, alpha, beta, first_step):
    game, lr = GAMES[name], 0.05
    players = start(game)
    solver = mx.Simultaneous(mx.optimistic_gradient(lr, alpha, beta, first_step=first_step))
    sol = mx.solve(game, solver, players, steps=STEPS)
    expected = reference_ogda(game, players, lr, alpha, beta, first_step)
    assert tree_allclose(sol.trajectory, expected, atol=1e-12)
    # The two rules really differ, so the comparison above can tell them apart.
    other = {"fixed": "legacy", "legacy": "fixed"}[first_step]
    assert not tree_allclose(sol.trajectory, reference_ogda(game, players, lr, alpha, beta, other))


@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (1.0, 4.0), (1e-3, 1.0)])
def test_first_step_ratio(alpha, beta):
    game = GAMES["quadratic"]
    players = start(game)
    lengths = []
    for first_step in ("fixed", "legacy"):
        solver = mx.Simultaneous(mx.optimistic_gradient(0.1, alpha, beta, first_step=first_step))
        sol = mx.solve(game, solver, players, steps=1)
        lengths.append(mx.cycling(sol.trajectory, game.equilibrium()).first_move)
    # Exact up to the rounding of z_1 - z_0 (a tiny step taken from a unit-sized point).
    np.testing.assert_allclose(lengths[0] / lengths[1], alpha / (alpha + beta), rtol=1e-11)


def test_optimistic_adam_equals_optax_v2():
    kwargs = dict(alpha=0.3, beta=1.0, b1=0.8, b2=0.99, eps=1e-6)
    ours, theirs = mx.optimistic_adam(0.01, **kwargs), optax.optimistic_adam_v2(0.01, **kwargs)
    grads = jax.random.normal(jax.random.key(3), (20, 5))
    params = jnp.zeros(5)
    s1, s2 = ours.init(params), theirs.init(params)
    for g in grads:
        u1, s1 = ours.update(g, s1, params)
        u2, s2 = theirs.update(g, s2, params)
        np.testing.assert_allclose(u1, u2, rtol=1e-13, atol=1e-15)
    legacy = mx.optimistic_adam(0.01, **kwargs, first_step="legacy")
    u_legacy, _ = legacy.update(grads[0], legacy.init(params), params)
    u_fixed, _ = ours.update(grads[0], ours.init(params), params)
    np.testing.assert_allclose(u_legacy, u_fixed * (0.3 + 1.0) / 0.3, rtol=1e-12)


@pytest.mark.parametrize(
    "eta, gda, ogda, tol",
    # At eta = 0.5 the OGDA root is double, |z_t| ~ t r^t, so the ratio only nears r as 1/t.
    [
        (0.1, 1.004988, 0.994936, 1e-6),
        (0.2, 1.019804, 0.978906, 1e-6),
        (0.5, 1.118034, 0.707107, 1e-3),
    ],
)
def test_contraction_on_xy(eta, gda, ogda, tol):
    """On f = xy, |z_{t+1}| / |z_t| tends to sqrt(1 + eta^2) for GDA and to the largest root
    modulus of l^2 - (1 - 2i eta) l - i eta for OGDA with alpha = beta = 1."""
    roots = np.roots([1, -(1 - 2j * eta), -1j * eta])
    np.testing.assert_allclose(np.abs(roots).max(), ogda, atol=1e-6)
    game = mx.ZeroSumGame(lambda x, y, args: x * y)
    z0 = (jnp.array(1.0), jnp.array(0.5))
    for opt, rate, atol in ((optax.sgd(eta), gda, 1e-6), (mx.optimistic_gradient(eta), ogda, tol)):
        sol = mx.solve(game, mx.Simultaneous(opt), z0, steps=1000)
        d = mx.distance(sol.trajectory, (0.0, 0.0))
        np.testing.assert_allclose(d[-1] / d[-2], rate, atol=atol)


@pytest.mark.parametrize("make", [mx.optimistic_gradient, mx.optimistic_adam])
def test_schedules(make):
    """alpha and beta may be schedules, evaluated at the step count."""
    alpha = optax.linear_schedule(1.0, 0.5, 10)
    beta = optax.exponential_decay(2.0, 1, 0.9)
    scheduled = make(0.1, alpha, beta)
    params = jnp.zeros(3)
    grads = jax.random.normal(jax.random.key(0), (12, 3))
    state = scheduled.init(params)
    for t, g in enumerate(grads):
        u, state = scheduled.update(g, state, params)
        count = jnp.asarray(t, jnp.int32)  # as the transform evaluates them
        constant = make(0.1, float(alpha(count)), float(beta(count)))
        # Replaying the same history with the constants of step t gives the same update.
        cstate = constant.init(params)
        for h in grads[: t + 1]:
            uc, cstate = constant.update(h, cstate, params)
        np.testing.assert_allclose(u, uc, rtol=1e-12)
    # The count the schedules read stops at the largest int32 rather than wrapping negative.
    top = jnp.iinfo(jnp.int32).max
    last = mx.scale_by_optimistic(alpha, beta)
    _, end = last.update(grads[0], mx.OptimisticState(jnp.asarray(top, jnp.int32), grads[1]))
    assert int(end.count) == top


def test_no_recompile_and_dtypes():
    opt = mx.optimistic_gradient(0.1)
    traces = []

    @jax.jit
    def update(g, state):
        traces.append(None)
        return opt.update(g, state)

    g32 = jnp.ones(4, jnp.float32)
    state = opt.init(g32)
    u, state = update(g32, state)
    u, state = update(2 * g32, state)
    assert len(traces) == 1
    assert u.dtype == jnp.float32
    assert jax.tree.map(lambda a: a.dtype, state) == jax.tree.map(lambda a: a.dtype, opt.init(g32))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(first_step="zeros"), "first_step"),
        (dict(beta=-1.0), "beta"),
        (dict(alpha=0.0), "alpha"),
        (dict(learning_rate=-0.1), "learning_rate"),
        (dict(learning_rate="fast"), "learning_rate"),
    ],
)
@pytest.mark.parametrize(
    "make", [mx.optimistic_gradient, mx.optimistic_adam, mx.optimistic_multiplicative_weights]
)
def test_bad_arguments(make, kwargs, match):
    kwargs = {"learning_rate": 0.1, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        make(**kwargs)
