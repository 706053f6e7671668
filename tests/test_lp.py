"""Constrained games: linear programs (PDLP's saddle-point form), Lagrangians, and restarts."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import games
import minimax as mx
from games.lp import equilibrate

from .helpers import tree_allclose

# min x1 + 2 x2 s.t. x1 + x2 = 1, x >= 0: x* = (1, 0), y* = 1 (dual: max y s.t. y <= 1, y <= 2).
TINY = games.LinearProgram(c=[1.0, 2.0], A=[[1.0, 1.0]], b=[1.0])
TINY_OPTIMUM = (jnp.array([1.0, 0.0]), jnp.array([1.0]))

# Shared by the restart tests so that they share compiled runs.
RANDOM_LP = games.LinearProgram.random(jax.random.key(0), 10, 30, rescale=True)
LP_START = (jnp.zeros(30), jnp.zeros(10))
OGDA = mx.Simultaneous(mx.optimistic_gradient(0.4))
RESTARTED = mx.Restarted(OGDA)
LP_STEPS, LP_EVERY = 8192, 64


def _kkt(players, args):
    return RANDOM_LP.kkt_error(players)


# Linear programs


def test_lp_residuals_by_hand():
    x, y = jnp.array([0.5, 0.25]), jnp.array([0.5])
    # A x - b = -0.25, |b| = 1; reduced costs c - A^T y = (0.5, 1.5) >= 0; c^T x = 1, b^T y = 0.5.
    np.testing.assert_allclose(TINY.relative_primal_residual((x, y)), 0.25 / 2)
    np.testing.assert_allclose(TINY.relative_dual_residual((x, y)), 0.0)
    np.testing.assert_allclose(TINY.duality_gap((x, y)), 0.5 / (1 + 1 + 0.5))
    np.testing.assert_allclose(TINY.kkt_error((x, y)), 0.2)
    np.testing.assert_allclose(TINY.objective((x, y)), 1.0)
    # y = 3 is dual infeasible: c - A^T y = (-2, -1), |c| = sqrt(5).
    np.testing.assert_allclose(
        TINY.relative_dual_residual((x, jnp.array([3.0]))), np.sqrt(5) / (1 + np.sqrt(5))
    )
    # A negative x is infeasible even when A x = b.
    np.testing.assert_allclose(
        TINY.relative_primal_residual((jnp.array([-1.0, 2.0]), y)), 1 / (1 + 1)
    )
    assert float(TINY.kkt_error(TINY_OPTIMUM)) == 0.0
    # The game is the Lagrangian c^T x - y^T (A x - b), x projected onto x >= 0, y free.
    np.testing.assert_allclose(TINY.value(x, y), 1.0 - 0.5 * (-0.25))
    gx, gy = TINY.vector_field((x, y))
    np.testing.assert_allclose(gx, [0.5, 1.5])  # c - A^T y
    np.testing.assert_allclose(gy, [-0.25])  # A x - b: the dual ascends along b - A x
    np.testing.assert_array_equal(TINY.project_player(0, jnp.array([-1.0, 2.0])), [0.0, 2.0])
    np.testing.assert_array_equal(TINY.project_player(1, jnp.array([-1.0])), [-1.0])  # free


def test_rescaling_changes_coordinates_only():
    lp = RANDOM_LP
    plain = games.LinearProgram(lp.c, lp.A, lp.b, solution=lp.solution)
    A_scaled = lp.row_scale[:, None] * lp.A * lp.col_scale[None, :]
    assert np.linalg.norm(np.asarray(A_scaled), 2) <= 1 + 1e-12  # Pock-Chambolle's bound
    assert not np.allclose(lp.col_scale, 1)
    z = (jax.random.uniform(jax.random.key(1), (30,)), jax.random.normal(jax.random.key(2), (10,)))
    scaled = lp.scale(z)
    assert tree_allclose(lp.unscale(scaled), z, atol=1e-14)
    np.testing.assert_allclose(lp.value(*scaled), plain.value(*z), rtol=1e-12)
    np.testing.assert_allclose(lp.kkt_error(scaled), plain.kkt_error(z), rtol=1e-12)
    assert tree_allclose(lp.unscale(lp.equilibrium()), plain.equilibrium(), atol=1e-14)
    assert float(lp.kkt_error(lp.equilibrium())) < 1e-14
    # Plain and rescaled: the identity maps.
    assert tree_allclose(plain.scale(z), z, atol=0)
    row, col = equilibrate(jnp.array([[0.0, 0.0], [0.0, 4.0]]))
    np.testing.assert_allclose(row, [1.0, 0.5])  # an empty row is left alone
    np.testing.assert_allclose(col, [1.0, 0.5])


def test_random_lp_matches_highs():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    for m, n in ((3, 3), (10, 30)):
        lp = games.LinearProgram.random(jax.random.key(m), m, n)
        res = scipy_optimize.linprog(
            np.asarray(lp.c), A_eq=np.asarray(lp.A), b_eq=np.asarray(lp.b), method="highs"
        )
        assert res.status == 0
        x_star, y_star = lp.equilibrium()
        np.testing.assert_allclose(res.x, x_star, atol=1e-9)
        np.testing.assert_allclose(res.eqlin.marginals, y_star, atol=1e-9)
        assert int(jnp.sum(x_star > 0)) == m  # a basis of m columns


def test_lp_bad_input():
    with pytest.raises(ValueError, match=r"`A` must be a 2-D"):
        games.LinearProgram([1.0], [1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match=r"`A` must have one column per variable, 3"):
        games.LinearProgram([1.0, 2.0, 3.0], [[1.0, 1.0]], [1.0])
    with pytest.raises(ValueError, match=r"`b` must have shape \(1,\) \(one value per row"):
        games.LinearProgram([1.0, 2.0], [[1.0, 1.0]], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"`c` must be a vector.*got shape \(2, 1\)"):
        games.LinearProgram([[1.0], [2.0]], [[1.0, 1.0]], [1.0])
    with pytest.raises(TypeError, match="`rescale` must be True or False"):
        games.LinearProgram([1.0, 2.0], [[1.0, 1.0]], [1.0], rescale="ruiz")
    with pytest.raises(ValueError, match=r"`solution\[1\]` must have shape \(1,\)"):
        games.LinearProgram([1.0, 2.0], [[1.0, 1.0]], [1.0], solution=(jnp.ones(2), jnp.ones(2)))
    with pytest.raises(ValueError, match=r"`players\[0\]` \(x\) must have shape \(2,\)"):
        mx.solve(TINY, OGDA, (jnp.zeros(3), jnp.zeros(1)), steps=1)
    with pytest.raises(ValueError, match=r"`players\[1\]` \(y\) must have shape \(1,\)"):
        TINY.kkt_error((jnp.zeros(2), jnp.zeros(())))
    with pytest.raises(NotImplementedError, match="linprog"):
        TINY.equilibrium()
    with pytest.raises(ValueError, match="1 <= m <= n"):
        games.LinearProgram.random(jax.random.key(0), 3, 2)


# Lagrangians: KKT points found by hand

TARGET = jnp.array([1.0, 2.0])


def _distance_to_target(x, args):
    return jnp.sum((x - TARGET) ** 2)


LAGRANGIANS = {
    # 2 (x - (1, 2)) + lam (1, 1) = 0 and x1 + x2 = 1: lam = 2, x = (0, 1).
    "active inequality": (
        games.Lagrangian(_distance_to_target, inequality=lambda x, args: jnp.sum(x) - 1.0),
        (jnp.array([0.0, 1.0]), (jnp.array(2.0), None)),
    ),
    # (1, 2) is feasible: the constraint is inactive and lam* = 0.
    "inactive inequality": (
        games.Lagrangian(_distance_to_target, inequality=lambda x, args: jnp.sum(x) - 5.0),
        (TARGET, (jnp.array(0.0), None)),
    ),
    # min x1^2 + 2 x2^2 s.t. x1 + x2 = 3: (2 x1, 4 x2) + nu (1, 1) = 0, so nu = -4, x = (2, 1).
    "equality": (
        games.Lagrangian(
            lambda x, args: x[0] ** 2 + 2 * x[1] ** 2, equality=lambda x, args: x[:1] + x[1:] - 3
        ),
        (jnp.array([2.0, 1.0]), (None, jnp.array([-4.0]))),
    ),
    # Both, g of shape (2,), h a scalar: min |x - (1, 2)|^2 s.t. x <= (0.5, 3), x1 - x2 = 1.
    # On the line the minimum is (2, 1), past x1 <= 0.5: so x = (0.5, -0.5), and stationarity,
    # 2 (x1 - 1) + lam1 + nu = 0 and 2 (x2 - 2) + lam2 - nu = 0 with lam2 = 0 (x2 < 3), gives
    # nu = -5, lam1 = 6.
    "both": (
        games.Lagrangian(
            _distance_to_target,
            inequality=lambda x, args: x - jnp.array([0.5, 3.0]),
            equality=lambda x, args: x[0] - x[1] - 1.0,
        ),
        (jnp.array([0.5, -0.5]), (jnp.array([6.0, 0.0]), jnp.array(-5.0))),
    ),
}


@pytest.mark.parametrize("name", list(LAGRANGIANS))
@pytest.mark.parametrize(
    "solver",
    [mx.ExtraGradient(optax.sgd(0.1)), mx.Simultaneous(mx.optimistic_gradient(0.1))],
    ids=["projected EG", "projected OGDA"],
)
def test_lagrangian_kkt_points(name, solver):
    game, kkt = LAGRANGIANS[name]
    assert float(game.kkt_error(kkt)) < 1e-14
    x0 = jnp.zeros(2)
    multipliers = game.initial_multipliers(x0)
    assert jax.tree.structure(multipliers) == jax.tree.structure(kkt[1])
    sol = mx.solve(game, solver, (x0, multipliers), steps=2000, save_every=None)
    assert tree_allclose(sol.players, kkt, atol=1e-6)
    assert float(game.kkt_error(sol.players)) < 1e-6


def test_lagrangian_multipliers_stay_non_negative():
    """Gradient ascent on lam from 0 on a slack constraint would make it negative; the
    projection holds it at 0 from the first step."""
    game, _ = LAGRANGIANS["inactive inequality"]
    x0 = jnp.zeros(2)
    sol = mx.solve(
        game, mx.Simultaneous(optax.sgd(0.1)), (x0, game.initial_multipliers(x0)), steps=50
    )
    lam = sol.trajectory[1][0]
    assert float(lam.min()) == 0.0 and lam.shape == (51,)


def test_lagrangian_shapes_and_diagnostics():
    game = games.Lagrangian(
        lambda x, args: jnp.sum(x**2),
        inequality=lambda x, args: x - args,  # shape (2, 3)
        equality=lambda x, args: jnp.sum(x, axis=0),  # shape (3,)
    )
    x = jnp.ones((2, 3))
    lam, nu = game.initial_multipliers(x, 0.5)
    assert lam.shape == (2, 3) and nu.shape == (3,) and float(jnp.abs(lam).max()) == 0.0
    np.testing.assert_allclose(game.violation(x, 0.5), 2.0)  # |h| = 2 beats g = 0.5
    np.testing.assert_allclose(game.value(x, (lam + 1, nu + 1), 0.5), 6 + 6 * 0.5 + 3 * 2)
    g, h = game.constraints(x, 0.5)
    assert g.shape == (2, 3) and h.shape == (3,)
    # A negative multiplier breaks dual feasibility.
    assert float(game.kkt_error((jnp.zeros((2, 3)), (-jnp.ones((2, 3)), nu)), 0.5)) >= 1.0
    assert game.project_player(1, (-lam - 1, nu - 1))[0].max() == 0.0


def test_lagrangian_bad_input():
    def f(x, args):
        return jnp.sum(x**2)

    with pytest.raises(ValueError, match="needs a constraint"):
        games.Lagrangian(f)
    with pytest.raises(TypeError, match="`objective` must be callable"):
        games.Lagrangian(1.0, inequality=f)
    with pytest.raises(TypeError, match="`equality` must be callable"):
        games.Lagrangian(f, equality=jnp.zeros(2))
    x = jnp.zeros(2)
    listed = games.Lagrangian(f, inequality=lambda x, args: [x[0], x[1]])
    with pytest.raises(TypeError, match=r"`inequality\(x, args\)` must return one array"):
        listed.initial_multipliers(x)
    integer = games.Lagrangian(f, equality=lambda x, args: jnp.arange(2))
    with pytest.raises(TypeError, match="floating-point values"):
        integer.initial_multipliers(x)
    game, _ = LAGRANGIANS["active inequality"]
    with pytest.raises(TypeError, match=r"`players\[1\]` must be the multipliers"):
        game.value(x, jnp.zeros(()))
    with pytest.raises(ValueError, match=r"\(nu\) must be None"):
        game.value(x, (jnp.zeros(()), jnp.zeros(())))
    with pytest.raises(ValueError, match=r"`lam` has shape \(2,\)"):
        game.value(x, (jnp.zeros(2), None))
    with pytest.raises(NotImplementedError, match="KKT points"):
        game.equilibrium()


# Proxy Lagrangians: the multipliers see the true constraints, x a differentiable proxy


def _step_excess(x, args):  # [x > 1] - 0.5 <= 0, i.e. x <= 1; its gradient is 0 everywhere
    return jnp.where(x > 1.0, 1.0, 0.0) - 0.5


def _far_objective(x, args):
    return (x - 2.0) ** 2


def test_proxy_lagrangian_enforces_a_constraint_without_gradient():
    """min (x - 2)^2 s.t. x <= 1 written as a step: x* = 1, lam* = 2 (stationarity of the proxy
    Lagrangian with proxy x - 1). The plain Lagrangian cannot see the step: x goes to 2, and
    lam grows without bound."""
    x0 = jnp.array(0.0)
    solver = mx.Simultaneous(optax.sgd(0.01))
    proxy = games.ProxyLagrangian(
        _far_objective, inequality=_step_excess, proxy_inequality=lambda x, args: x - 1.0
    )
    sol = mx.solve(proxy, solver, (x0, proxy.initial_multipliers(x0)), steps=4000)
    x, (lam, _) = sol.trajectory
    # The iterates hover around the boundary; their average is the answer (Cotter et al. 2019).
    np.testing.assert_allclose(x[2000:].mean(), 1.0, atol=1e-2)
    np.testing.assert_allclose(lam[2000:].mean(), 2.0, atol=2e-2)
    assert float(jnp.abs(x[2000:] - 1.0).max()) < 0.1
    plain = games.Lagrangian(_far_objective, inequality=_step_excess)
    sol = mx.solve(plain, solver, (x0, plain.initial_multipliers(x0)), steps=4000)
    assert float(plain.violation(sol.players[0])) == 0.5 and float(sol.players[1][0]) > 10


def test_proxy_lagrangian_without_surrogates_is_the_lagrangian():
    """With each proxy equal to its constraint, the general-sum field and losses are the
    zero-sum Lagrangian's."""
    lagrangian, kkt = LAGRANGIANS["both"]
    proxy = games.ProxyLagrangian(
        lagrangian.objective,
        inequality=lagrangian.inequality,
        equality=lagrangian.equality,
        proxy_inequality=lagrangian.inequality,
    )
    assert not isinstance(proxy, mx.AbstractZeroSumGame)
    z = (jnp.array([0.3, -0.7]), (jnp.array([1.5, 0.5]), jnp.array(-2.0)))
    assert tree_allclose(proxy.vector_field(z), lagrangian.vector_field(z))
    assert tree_allclose(proxy.losses(z), lagrangian.losses(z))
    for player in (0, 1):
        assert tree_allclose(proxy.gradient(player, z), lagrangian.gradient(player, z))
    assert float(proxy.kkt_error(kkt)) < 1e-14


def test_proxy_lagrangian_bad_input():
    with pytest.raises(ValueError, match="needs a proxy"):
        games.ProxyLagrangian(_far_objective, inequality=_step_excess)
    with pytest.raises(ValueError, match="`proxy_equality` is given, but `equality`"):
        games.ProxyLagrangian(
            _far_objective, inequality=_step_excess, proxy_equality=lambda x, args: x
        )
    with pytest.raises(TypeError, match="`proxy_inequality` must be callable"):
        games.ProxyLagrangian(_far_objective, inequality=_step_excess, proxy_inequality=1.0)
    wide = games.ProxyLagrangian(
        _far_objective, inequality=_step_excess, proxy_inequality=lambda x, args: jnp.stack([x, x])
    )
    with pytest.raises(ValueError, match=r"`proxy_inequality\(x, args\)` has shape \(2,\)"):
        wide.vector_field((jnp.array(0.0), (jnp.array(0.0), None)))


# Restarts


def test_restarted_resumes_exactly():
    whole = mx.solve(RANDOM_LP, RESTARTED, LP_START, steps=200, save_every=None)
    first = mx.solve(RANDOM_LP, RESTARTED, LP_START, steps=100, save_every=None)
    rest = mx.solve(
        RANDOM_LP, RESTARTED, first.players, state=first.state, steps=100, save_every=None
    )
    assert int(rest.stats["restarts"]) >= 1  # a restart in the second half
    assert int(first.stats["restarts"]) + int(rest.stats["restarts"]) == whole.stats["restarts"]
    assert tree_allclose(rest.players, whole.players, atol=0)
    assert tree_allclose(rest.state, whole.state, atol=0)


def test_restarted_rule_by_hand():
    """Check every 4 steps on f = x y (GDA spirals out, the average does not): the merit is
    |F(z)| = |z|, and the candidate is the average when it is closer to the origin."""
    game = mx.ZeroSumGame(lambda x, y, args: x * y)
    inner = mx.ExtraGradient(optax.sgd(0.5))
    solver = mx.Restarted(inner, check_every=4, beta=0.7)
    z = (jnp.array(1.0), jnp.array(0.5))
    state = solver.init(game, z)
    np.testing.assert_allclose(state.reference, np.hypot(1.0, 0.5))
    iterates, inner_state = [], inner.init(game, z)
    w = z
    for _ in range(4):
        w, inner_state = inner.step(game, w, inner_state)
        iterates.append(w)
    average = tuple(np.mean([p[i] for p in iterates]) for i in (0, 1))
    candidate = min([average, iterates[-1]], key=lambda p: np.hypot(*p))
    restarts = 0
    for _ in range(4):
        out = solver.step(game, z, state)
        (z, state), restarts = out, restarts + int(out.stats["restarts"])
    # Extra-gradient contracts by |1 - eta^2 - i eta| = 0.90 a step at eta = 0.5: enough.
    assert np.hypot(*candidate) <= 0.7 * np.hypot(1.0, 0.5)
    np.testing.assert_allclose(z, candidate, rtol=1e-14)
    assert int(state.count) == 0 and restarts == 1
    np.testing.assert_allclose(state.reference, np.hypot(*candidate), rtol=1e-14)
    assert tree_allclose(state.inner, inner.init(game, z), atol=0)


class _FailsAfter(mx.AbstractSolver):
    """Extra-gradient that reports a failed linear solve from its `limit`-th step on."""

    inner: mx.AbstractSolver
    limit: int

    def init(self, game, players, args=None, key=None, *, model_state=None):
        return self.inner.init(game, players, args, key), jnp.zeros([], jnp.int32)

    def step(self, game, players, state, args=None, key=None, *, model_state=None):
        players, inner = self.inner.step(game, players, state[0], args, key)
        result = mx.RESULTS.where(
            state[1] + 1 >= self.limit, mx.RESULTS.linear_solve_failed, mx.RESULTS.successful
        )
        return mx.Step(players, (inner, state[1] + 1), result)


def test_restarted_delegates_result():
    """A failure is reported through the wrapper, even at a step that would restart (a restart
    re-initialises the inner state, which would otherwise hide it)."""
    failing = _FailsAfter(mx.ExtraGradient(optax.sgd(0.5)), 8)
    game = mx.ZeroSumGame(lambda x, y, args: x * y)
    sol = mx.solve(
        game,
        mx.Restarted(failing, check_every=8, beta=0.9),  # would restart at step 8
        (jnp.array(1.0), jnp.array(0.5)),
        steps=20,
        throw=False,
    )
    assert sol.result == mx.RESULTS.linear_solve_failed
    assert int(sol.stats["failed_step"]) == 8 and int(sol.state.step) == 7
    assert int(sol.stats["restarts"]) == 0


def test_restarted_checks_arguments_and_traces_beta():
    with pytest.raises(ValueError, match=r"`beta` must be in \(0, 1\)"):
        mx.Restarted(OGDA, beta=1.0)
    with pytest.raises(ValueError, match="`check_every` must be a positive int"):
        mx.Restarted(OGDA, check_every=0)
    with pytest.raises(TypeError, match="`merit` must be callable"):
        mx.Restarted(OGDA, merit=0.1)
    with pytest.raises(TypeError, match="`solver` must be a minimax solver"):
        mx.Restarted(optax.sgd(0.1))
    assert mx.Restarted(OGDA, check_every=np.int64(8)).check_every == 8
    bad = mx.Restarted(OGDA, merit=lambda game, players, args: players[0])
    with pytest.raises(ValueError, match="`merit` must return a scalar"):
        bad.init(TINY, (jnp.ones(2), jnp.ones(1)))

    def restarts(beta):
        solver = mx.Restarted(OGDA, check_every=16, beta=beta)
        return mx.solve(RANDOM_LP, solver, LP_START, steps=256, save_every=None).stats["restarts"]

    counts = jax.vmap(restarts)(jnp.array([0.05, 0.5, 0.9]))
    assert counts[0] <= counts[1] <= counts[2] and counts[2] > counts[0]


def test_restarted_ogda_solves_lp_faster_than_plain():
    """Restarted projected OGDA reaches HiGHS's solution to 1e-6 (relative), reaching a KKT error
    of 1e-6 many times sooner than OGDA without restarts (which does not reach it here)."""
    scipy_optimize = pytest.importorskip("scipy.optimize")
    lp = RANDOM_LP
    res = scipy_optimize.linprog(
        np.asarray(lp.c), A_eq=np.asarray(lp.A), b_eq=np.asarray(lp.b), method="highs"
    )
    steps = {}
    for name, solver in (("plain", OGDA), ("restarted", RESTARTED)):
        sol = mx.solve(lp, solver, LP_START, steps=LP_STEPS, save_every=LP_EVERY, save=_kkt)
        below = np.flatnonzero(np.asarray(sol.trajectory) < 1e-6)
        steps[name] = int(sol.ts[below[0]]) if below.size else None
        if name == "restarted":
            x, y = lp.unscale(sol.players)
            for mine, highs in ((x, res.x), (y, res.eqlin.marginals)):
                assert np.linalg.norm(mine - highs) <= 1e-6 * np.linalg.norm(highs)
            assert bool(jnp.all(sol.players[0] >= 0))  # projected: exactly feasible bounds
    assert steps["restarted"] is not None and steps["restarted"] <= LP_STEPS // 2
    assert steps["plain"] is None or steps["plain"] > 3 * steps["restarted"]


def test_natural_residual_is_zero_at_the_optimum():
    from minimax._solver.restarted import natural_residual

    assert float(natural_residual(RANDOM_LP, RANDOM_LP.equilibrium())) < 1e-13
    # For an unconstrained game it is the norm of the field.
    game = mx.ZeroSumGame(lambda x, y, args: x * y)
    np.testing.assert_allclose(natural_residual(game, (jnp.array(3.0), jnp.array(4.0))), 5.0)
    # Non-array leaves pass through.
    eqx_players = (jnp.array(3.0), (jnp.array(4.0), "label"))
    game = mx.ZeroSumGame(lambda x, y, args: x * y[0])
    np.testing.assert_allclose(natural_residual(game, eqx_players), 5.0)
