"""Past extra-gradient, lookahead, averaging and negative momentum: closed forms on f = xy, the
OGDA identity, what the wrappers record, and resuming."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import games
import minimax as mx

from .helpers import games_table, start, tree_allclose

XY = mx.ZeroSumGame(lambda x, y, args: x * y)
Z0 = (jnp.array(1.0), jnp.array(0.5))
GAMES = games_table()
QUADRATIC = GAMES["quadratic"]
STEPS = 40  # every run on the matrix games, so that runs of one solver share a compile
SGD = optax.sgd(0.1)
OGDA = mx.Simultaneous(mx.optimistic_gradient(0.1))
PEG = mx.PastExtraGradient(SGD)


def _norms(trajectories):
    """Distances to the origin along a batch of trajectories."""
    return np.asarray(jax.vmap(lambda t: mx.distance(t, (0.0, 0.0)))(trajectories))


# Past extra-gradient


@pytest.mark.parametrize("name", list(GAMES))
def test_past_extragradient_extrapolates_along_ogda(name):
    """With z_{-1/2} = z_0 and SGD, z_{t+1/2} is exactly OGDA's iterate w_{t+1} (fixed first
    step, alpha = beta = 1), up to float64 rounding."""
    game = GAMES[name]
    z0 = start(game)

    @jax.jit
    def run(z):
        def body(carry, _):
            z, state = carry
            return tuple(PEG.step(game, z, state)), (z, PEG.extrapolate(game, z, state))

        return jax.lax.scan(body, (z, PEG.init(game, z)), None, STEPS)[1]

    players, ahead = run(z0)
    ogda = mx.solve(game, OGDA, z0, steps=STEPS).trajectory
    assert tree_allclose(ahead, jax.tree.map(lambda a: a[1:], ogda), atol=1e-13)
    # ... while the players themselves are extra-gradient-like points, not OGDA's.
    assert not tree_allclose(players, jax.tree.map(lambda a: a[:-1], ogda), atol=1e-3)


def test_past_extragradient_rate_on_xy():
    """The players z_t contract at OGDA's rate: the largest root of
    lambda^2 - (1 + 2 i eta) lambda + i eta (in complex form w = x + iy)."""
    etas = jnp.array([0.1, 0.2])

    def run(eta):
        return mx.solve(XY, mx.PastExtraGradient(optax.sgd(eta)), Z0, steps=600).trajectory

    d = _norms(jax.vmap(run)(etas))
    late = (d[:, 1:] / d[:, :-1])[:, -10:]
    np.testing.assert_allclose(late[0], 0.994936, atol=1e-6)
    np.testing.assert_allclose(late[1], 0.978906, atol=1e-6)
    for eta, rate in zip(etas.tolist(), late[:, -1], strict=True):
        root = max(abs(np.roots([1, -(1 + 2j * eta), 1j * eta])))
        np.testing.assert_allclose(rate, root, rtol=1e-10)


# Lookahead


def test_lookahead_rate_on_xy():
    """Around GDA, whose step on w = x + iy is w -> (1 + i eta) w, a period of k steps maps the
    slow weights by 1 - alpha + alpha (1 + i eta)^k; alpha is traced (vmap)."""
    k = 5
    etas = jnp.array([0.1, 0.2, 0.5, 0.5])
    alphas = jnp.array([0.5, 0.5, 0.5, 1.0])

    def run(eta, alpha):
        solver = mx.Lookahead(mx.Simultaneous(optax.sgd(eta)), k, alpha)
        return mx.solve(XY, solver, Z0, steps=10 * k).trajectory

    d = _norms(jax.vmap(run)(etas, alphas))
    per_period = d[:, k::k] / d[:, :-k:k]
    rate = per_period ** (1 / k)
    np.testing.assert_allclose(
        rate[:3], [[0.996237], [0.984820], [0.916729]] * np.ones(10), atol=1e-6
    )
    for i, (eta, alpha) in enumerate(zip(etas.tolist(), alphas.tolist(), strict=True)):
        exact = abs(1 - alpha + alpha * (1 + 1j * eta) ** k)
        np.testing.assert_allclose(per_period[i], exact, rtol=1e-12)
    # alpha = 1 is GDA itself, spiralling out.
    np.testing.assert_allclose(rate[3], np.hypot(1, 0.5), rtol=1e-12)


def test_lookahead_records_the_slow_weights():
    k = 5
    z0 = start(QUADRATIC)

    def run(alpha):
        return mx.solve(QUADRATIC, mx.Lookahead(OGDA, k, alpha), z0, steps=STEPS).trajectory

    half, one = (
        jax.tree.map(lambda a, i=i: a[i], jax.vmap(run)(jnp.array([0.5, 1.0]))) for i in (0, 1)
    )
    inner = mx.solve(QUADRATIC, OGDA, z0, steps=STEPS).trajectory
    for slow, fast, x0 in zip(half, inner, z0, strict=True):
        # Constant between synchronisations, ...
        periods = np.asarray(slow)[:STEPS].reshape(STEPS // k, k, -1)
        np.testing.assert_array_equal(periods, np.broadcast_to(periods[:, :1], periods.shape))
        # ... and the first synchronisation goes halfway to the fast weights.
        np.testing.assert_allclose(slow[k], x0 + 0.5 * (fast[k] - x0), rtol=0, atol=1e-15)
    # With alpha = 1 the slow weights follow the inner solver at every synchronisation.
    assert tree_allclose(
        jax.tree.map(lambda a: a[::k], one), jax.tree.map(lambda a: a[::k], inner), atol=1e-13
    )


# Averaging


def test_uniform_average_records_the_running_mean():
    z0 = start(QUADRATIC)
    averaged = mx.solve(QUADRATIC, mx.Averaging(OGDA), z0, steps=STEPS).trajectory
    inner = mx.solve(QUADRATIC, OGDA, z0, steps=STEPS).trajectory
    counts = np.arange(1, STEPS + 2)[:, None]
    expected = tuple(np.cumsum(np.asarray(a), axis=0) / counts for a in inner)
    assert tree_allclose(averaged, expected, atol=1e-13)


def test_ema_records_the_moving_average_with_traced_decay():
    z0 = start(QUADRATIC)
    decays = jnp.array([0.0, 0.5, 0.9])

    def run(decay):
        solver = mx.EMA(OGDA, decay)
        return mx.solve(QUADRATIC, solver, z0, steps=STEPS).trajectory

    averaged = jax.vmap(run)(decays)
    inner = mx.solve(QUADRATIC, OGDA, z0, steps=STEPS).trajectory
    for avg, z in zip(averaged, inner, strict=True):
        z = np.asarray(z)
        for i, decay in enumerate(decays.tolist()):
            mean = z[0]
            for t in range(1, len(z)):
                mean = decay * mean + (1 - decay) * z[t]
                np.testing.assert_allclose(avg[i, t], mean, rtol=0, atol=1e-13)


def test_average_of_alternating_gda_converges_on_xy():
    """Alternating GDA cycles on f = xy; the mean of the cycle is the equilibrium, reached at
    rate O(1/t)."""
    steps = 2000
    sol = mx.solve(XY, mx.Averaging(mx.Alternating(optax.sgd(0.3))), Z0, steps=steps)
    d = np.asarray(mx.distance(sol.trajectory, (0.0, 0.0)))
    assert (d * np.arange(1, steps + 2)).max() < 10  # d_t <= C / (t + 1), C ~ 6.9
    assert float(jnp.hypot(*sol.players)) > 0.5  # while the live iterate is still going round
    assert tree_allclose(sol.answer, jax.tree.map(lambda a: a[-1], sol.trajectory), atol=0)


# Negative momentum (Gidel et al. 2019, AISTATS)


def _alternating_momentum_jacobian(eta, beta):
    solver = mx.Alternating(optax.sgd(eta, momentum=beta))
    flat, unravel = ravel_pytree((Z0, solver.init(XY, Z0)))

    def one_step(v):
        players, state = unravel(v)
        return ravel_pytree(tuple(solver.step(XY, players, state)))[0]

    return np.asarray(jax.jacfwd(one_step)(flat))


@pytest.mark.parametrize(
    "beta, radii", [(-0.5, (0.998518, 0.994063, 0.962544)), (0.5, (1.032297, 1.091828, 1.269219))]
)
def test_alternating_momentum_rate_on_xy(beta, radii):
    """On (x, y, m_x, m_y), with m <- g + beta m, p <- p - eta m and y answering the new x, the
    step's characteristic polynomial is (l - 1)^2 (l - beta)^2 + eta^2 l^3."""
    for eta, radius in zip((0.1, 0.2, 0.5), radii, strict=True):
        jacobian = _alternating_momentum_jacobian(eta, beta)
        assert jacobian.shape == (4, 4)
        eigenvalues = np.linalg.eigvals(jacobian)
        poly = np.polyadd(np.polymul([1, -2, 1], [1, -2 * beta, beta**2]), [eta**2, 0, 0, 0])
        roots = np.roots(poly)
        for root in roots:
            assert np.abs(eigenvalues - root).min() < 1e-9
        for eigenvalue in eigenvalues:
            assert np.abs(roots - eigenvalue).min() < 1e-9
        np.testing.assert_allclose(np.abs(eigenvalues).max(), radius, atol=1e-6)


@pytest.mark.parametrize("name", ["xy", "bilinear"])
def test_negative_momentum_converges_where_positive_does_not(name):
    if name == "xy":
        game, z0, eta, equilibrium = XY, Z0, 0.5, (0.0, 0.0)
    else:
        game = games.Bilinear.random(jax.random.key(3), 4, sigma_min=0.5)
        z0, eta = start(game), 0.8
        equilibrium = game.equilibrium()

    def run(beta):
        solver = mx.Alternating(optax.sgd(eta, momentum=beta))
        return mx.solve(game, solver, z0, steps=1000, save_every=None, throw=False).players

    final = jax.vmap(run)(jnp.array([-0.5, 0.5]))

    d = np.asarray(mx.distance(final, equilibrium))  # a row for each momentum
    d0 = np.asarray(mx.distance(jax.tree.map(lambda a: a[None], z0), equilibrium))[0]
    assert d[0] < 1e-8 * d0  # negative momentum converges ...
    assert d[1] > 1e8 * d0  # ... positive momentum spirals out


# Every wrapper


def test_nested_wrappers_with_mlp_players_resume_exactly():
    """Averaging inside lookahead around past extra-gradient with Adam: every wrapper's state
    (counts mid-period, fast weights, the previous gradient, optax states) carries over."""
    kg, kd, kz = jax.random.split(jax.random.key(0), 3)
    gen = eqx.nn.MLP(1, 2, 8, 1, key=kg)
    disc = eqx.nn.MLP(2, "scalar", 8, 1, key=kd)
    z = jax.random.normal(kz, (16, 1))
    data = jnp.array([1.0, -1.0])

    def value(g, d, args):
        return jnp.mean(jax.vmap(d)(jax.vmap(g)(z))) - d(data)

    game = mx.ZeroSumGame(value)
    inner = mx.PastExtraGradient(mx.optimistic_adam(1e-2), optax.sgd(1e-2))
    solver = mx.Lookahead(mx.Averaging(inner), sync_period=2, slow_step_size=0.3)
    whole = mx.solve(game, solver, (gen, disc), steps=6, save_every=None)
    first = mx.solve(game, solver, (gen, disc), steps=3, save_every=None)
    rest = mx.solve(game, solver, first.players, state=first.state, steps=3, save_every=None)
    assert tree_allclose(*(eqx.filter(s.players, eqx.is_array) for s in (rest, whole)), atol=0)
    assert tree_allclose(rest.state, whole.state, atol=0)
    g, _ = whole.players
    assert isinstance(g, eqx.nn.MLP) and g.activation is gen.activation
    assert whole.trajectory[0].layers[0].weight.shape == (1, 8, 1)
    assert not tree_allclose(eqx.filter(g, eqx.is_array), eqx.filter(gen, eqx.is_array))


class _FailsAtStep(mx.AbstractSolver):
    """Simultaneous GDA that reports a failed linear solve from step `at` on."""

    at: int

    def init(self, game, players, args=None, key=None, *, model_state=None):
        return jnp.zeros([], jnp.int32)

    def step(self, game, players, state, args=None, key=None, *, model_state=None):
        gx, gy = game.vector_field(players, args)
        result = mx.RESULTS.where(
            state + 1 >= self.at, mx.RESULTS.linear_solve_failed, mx.RESULTS.successful
        )
        players = (players[0] - 0.1 * gx, players[1] - 0.1 * gy)
        return mx.Step(players, state + 1, result, {"calls": jnp.array(1)})


def test_wrappers_pass_on_the_inner_result_and_stats():
    inner, z0 = _FailsAtStep(4), start(QUADRATIC)
    failed = mx.RESULTS.linear_solve_failed
    for wrap in (mx.Lookahead, mx.Averaging, mx.EMA, mx.Restarted):
        solver = wrap(inner)
        state = solver.init(QUADRATIC, z0)
        out = solver.step(
            QUADRATIC, z0, eqx.tree_at(lambda s: s.inner, state, jnp.array(3, jnp.int32))
        )
        assert out.result == failed and int(out.stats["calls"]) == 1
    solver = mx.Lookahead(mx.Averaging(inner))
    sol = mx.solve(QUADRATIC, solver, z0, steps=10, throw=False)
    assert sol.result == failed
    assert int(sol.stats["failed_step"]) == 4 and int(sol.state.step) == 3
    assert int(sol.stats["calls"]) == 3  # the steps kept, not the failed one
    with pytest.raises(RuntimeError, match="step 4 failed"):
        mx.solve(QUADRATIC, solver, z0, steps=10)


def test_argument_checks():
    for wrap in (mx.Lookahead, mx.Averaging):
        with pytest.raises(TypeError, match="`solver` must be a minimax solver, got an optax"):
            wrap(SGD)
        with pytest.raises(TypeError, match="`solver`"):
            wrap(0.1)
    with pytest.raises(TypeError, match="`optimizer` must be an optax.*got the solver"):
        mx.PastExtraGradient(OGDA)
    with pytest.raises(TypeError, match="`optimizer_y`"):
        mx.PastExtraGradient(SGD, OGDA)
    for bad, error in [(0, ValueError), (2.5, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="`sync_period`"):
            mx.Lookahead(OGDA, sync_period=bad)
    for bad in (0.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="`slow_step_size`"):
            mx.Lookahead(OGDA, slow_step_size=bad)
    with pytest.raises(TypeError, match="`slow_step_size`"):
        mx.Lookahead(OGDA, slow_step_size="0.5")
    for bad in (1.0, -0.1, float("inf")):
        with pytest.raises(ValueError, match="`decay`"):
            mx.EMA(OGDA, bad)
    for bad in ((True,), (False, False), (1, 0), "x"):
        with pytest.raises(TypeError, match="`players` must be a pair of bools"):
            mx.EMA(OGDA, players=bad)
        with pytest.raises(TypeError, match="`players` must be a pair of bools"):
            mx.Averaging(OGDA, players=bad)
    with pytest.raises(TypeError, match="`debias`"):
        mx.EMA(OGDA, debias=1)
    with pytest.raises(TypeError):
        mx.Averaging(OGDA, (True, False))  # players is keyword-only
    lookahead = mx.Lookahead(OGDA, sync_period=np.int64(3), slow_step_size=1.0)
    assert type(lookahead.sync_period) is int and lookahead.sync_period == 3
    assert mx.Lookahead(OGDA, jnp.array(4)).sync_period == 4


# Iterate and answer


def test_ema_of_one_player_and_debiasing():
    """`players=(True, False)` averages x only; y answers with its iterate. Debiased, the
    weights decay^(t-s) (1 - decay) / (1 - decay^(t+1)) sum to one."""
    z0, decay = start(QUADRATIC), 0.8
    inner = mx.solve(QUADRATIC, OGDA, z0, steps=STEPS).trajectory
    x = np.asarray(inner[0])
    for debias in (False, True):
        solver = mx.EMA(OGDA, decay, players=(True, False), debias=debias)
        sol = mx.solve(QUADRATIC, solver, z0, steps=STEPS)
        assert tree_allclose(sol.players, jax.tree.map(lambda a: a[-1], inner), atol=0)
        np.testing.assert_array_equal(sol.answer[1], sol.players[1])
        np.testing.assert_array_equal(sol.trajectory[1], inner[1])
        t = STEPS
        weights = decay ** np.arange(t, -1, -1) * (1 - decay)
        if debias:
            expected = weights @ x / (1 - decay ** (t + 1))
        else:
            weights[0] = decay**t  # the start's weight: z_0 stands for all that came before
            expected = weights @ x
        np.testing.assert_allclose(sol.answer[0], expected, rtol=1e-12)


def test_lookahead_around_an_average_keeps_the_average():
    """Synchronising resets lookahead's fast weights (the inner iterate) to the slow ones,
    never the inner average, which keeps counting."""
    z0 = start(QUADRATIC)
    solver = mx.Lookahead(mx.Averaging(OGDA), sync_period=3, slow_step_size=0.5)
    state = solver.init(QUADRATIC, z0)
    players = z0
    for _ in range(6):  # two synchronisations
        players, state = solver.step(QUADRATIC, players, state)
    assert int(state.count) == 0 and int(state.inner.count) == 7
    slow = solver.answer(QUADRATIC, players, state)
    assert tree_allclose(players, slow, atol=0)  # the fast weights restart from the slow
    average = solver.solver.answer(QUADRATIC, players, state.inner)
    assert not tree_allclose(average, slow, atol=1e-3)
