"""Constrained games: every solver keeps every point feasible, matrix games on the simplex
(duality gap, equilibria, last-iterate convergence and cycling), optimistic multiplicative
weights, and argument checks."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optax.projections import projection_simplex

import games
import minimax as mx

from .helpers import solvers_table, tree_allclose

OMWU = mx.optimistic_multiplicative_weights


def _on_simplex(p, tol=1e-12) -> bool:
    p = np.asarray(p)
    return bool(p.min() >= -tol and np.abs(p.sum(-1) - 1).max() <= tol)


def _simplex(key, n, batch=()):
    """Uniform on the simplex (Dirichlet(1)), as normalised exponentials: cheaper to compile
    than `jax.random.dirichlet`."""
    e = jax.random.exponential(key, (*batch, n))
    return e / e.sum(-1, keepdims=True)


def _simplex_starts(key, n, m, batch=()):
    kx, ky = jax.random.split(key)
    return _simplex(kx, n, batch), _simplex(ky, m, batch)


# Feasibility: every rule of the solver table, plus (optimistic) multiplicative weights, on a
# random rectangular matrix game, with a step large enough to hit the boundary.

RANDOM = games.MatrixGame.random(jax.random.key(0), 5, 4)
Z0 = _simplex_starts(jax.random.key(1), 5, 4)
FEASIBILITY = {
    **{name: solver for name, (solver, _) in solvers_table(0.5).items()},
    "OMWU": mx.Simultaneous(OMWU(0.5)),
    "MWU": mx.Simultaneous(OMWU(0.5, beta=0.0)),
}


@pytest.mark.parametrize("name", list(FEASIBILITY))
def test_every_iterate_is_feasible(name):
    sol = mx.solve(RANDOM, FEASIBILITY[name], Z0, steps=50, save_every=1)
    xs, ys = sol.trajectory
    assert xs.shape == (51, 5) and ys.shape == (51, 4)
    assert _on_simplex(xs) and _on_simplex(ys)


def test_intermediate_points_are_feasible():
    """The points where gradients are taken: extra-gradient's look-ahead, past extra-gradient's
    extrapolation, alternating's new x (recorded by a callback inside the game)."""
    points = []

    def record(x, y):
        points.append((np.asarray(x), np.asarray(y)))

    def fn(x, y, args):
        jax.debug.callback(record, x, y)
        return x @ (RANDOM.M @ y)

    game = mx.ZeroSumGame(fn, project=(projection_simplex, projection_simplex))
    sgd = optax.sgd(0.5)
    for solver in (mx.ExtraGradient(sgd), mx.PastExtraGradient(sgd), mx.Alternating(sgd)):
        points.clear()
        z, state = Z0, solver.init(game, Z0)
        for _ in range(8):
            z, state = solver.step(game, z, state)
        assert len(points) >= 8
        assert all(_on_simplex(x) and _on_simplex(y) for x, y in points), type(solver)
        assert any((x == 0).any() or (y == 0).any() for x, y in points)  # projections acted
    peg = mx.PastExtraGradient(sgd)
    state = peg.init(game, Z0)
    assert all(_on_simplex(p) for p in peg.extrapolate(game, Z0, state))


def _sphere(p):
    return p / jnp.linalg.norm(p)


SPHERE = mx.ZeroSumGame(lambda x, y, args: x @ (RANDOM.M @ y), project=(_sphere, _sphere))
Z_SPHERE = tuple(_sphere(p) for p in Z0)


def _eager(game, solver, players, steps):
    """Run `steps` steps without compiling a loop: the solver's answer after each."""
    state, rows = solver.init(game, players), [players]
    for _ in range(steps):
        players, state = solver.step(game, players, state)
        rows.append(solver.answer(game, players, state))
    return rows


def test_lookahead_projects_its_slow_weights():
    """On a non-convex feasible set (the unit sphere) the slow update, a convex combination,
    leaves the set unless projected."""
    rows = _eager(SPHERE, mx.Lookahead(mx.Simultaneous(optax.sgd(0.3)), 3, 0.5), Z_SPHERE, 10)
    norms = np.array([[np.linalg.norm(p) for p in row] for row in rows])
    np.testing.assert_allclose(norms, 1.0, atol=1e-12)
    assert not tree_allclose(rows[3], rows[0], atol=1e-3)  # the slow weights moved


def test_averaging_answers_the_exact_average():
    """Averaging does not project its average (documented): it is the mean of the inner
    solver's projected points, which on the sphere lies inside the ball."""
    gda = mx.Simultaneous(optax.sgd(0.3))
    inner = _eager(SPHERE, gda, Z_SPHERE, 10)
    rows = _eager(SPHERE, mx.Averaging(gda), Z_SPHERE, 10)
    mean = jax.tree.map(lambda *p: jnp.mean(jnp.stack(p), 0), *inner)
    assert tree_allclose(rows[-1], mean, atol=1e-14)
    assert np.linalg.norm(rows[-1][0]) < 1 - 1e-3


def test_projection_sees_the_whole_player():
    """A projection receives the whole player, non-trainable leaves included, and the
    unconstrained player is untouched."""
    seen = []

    def clip(player):
        seen.append(player["name"])
        return {**player, "w": jnp.clip(player["w"], -0.5, 0.5)}

    game = mx.ZeroSumGame(lambda x, y, args: x["w"] @ y, project=(clip, None))
    x0 = {"w": jnp.array([0.4, -0.4]), "name": "x"}
    rows = _eager(game, mx.Simultaneous(optax.sgd(1.0)), (x0, jnp.array([1.0, -1.0])), 3)
    assert set(seen) == {"x"} and all(row[0]["name"] == "x" for row in rows)
    np.testing.assert_array_equal(rows[1][0]["w"], [-0.5, 0.5])  # clipped
    np.testing.assert_array_equal(rows[1][1], [1.4, -1.4])  # y ascends unconstrained


# Convergence where theory promises it, cycling where it predicts it. Rock-paper-scissors and
# two random 3 x 3 games with a unique interior equilibrium share one compiled run (vmap), from
# two random interior starts each.

RPS = games.MatrixGame.rock_paper_scissors()
GAMES3 = [RPS] + [games.MatrixGame.random(jax.random.key(s), 3, interior=True) for s in (1, 4)]
STACKED = jax.tree.map(lambda *a: jnp.stack(a), *GAMES3)
STARTS = _simplex_starts(jax.random.key(7), 3, 3, (len(GAMES3), 2))


def _gaps(solver, steps, save_every):
    def run(game, z0):
        sol = mx.solve(game, solver, z0, steps=steps, save_every=save_every)
        return game.duality_gap(sol.trajectory)

    return np.asarray(jax.vmap(jax.vmap(run, in_axes=(None, 0)))(STACKED, STARTS))


@pytest.mark.parametrize(
    "solver",
    [
        mx.Simultaneous(mx.optimistic_gradient(0.2)),
        mx.ExtraGradient(optax.sgd(0.2)),
        mx.Simultaneous(OMWU(0.5)),
    ],
    ids=["projected OGDA", "projected EG", "OMWU"],
)
def test_last_iterate_converges(solver):
    """Projected OGDA and extra-gradient, and OMWU (Daskalakis & Panageas 2019): the last
    iterate's duality gap goes to 0 on games with a unique equilibrium."""
    gaps = _gaps(solver, steps=1500, save_every=1500)  # (game, start, [start, end])
    assert (gaps[..., 0] > 0.1).all()
    assert (gaps[..., -1] < 1e-6).all(), gaps[..., -1]


def test_gda_and_mwu_cycle_on_rock_paper_scissors():
    """Projected GDA and multiplicative weights (OMWU with beta = 0) do not converge on RPS:
    the gap stays large. MWU's divergence KL(x*|x_t) + KL(y*|y_t) grows at every step
    (Bailey & Piliouras 2018) and its last iterate drifts out to the boundary."""
    z0 = (jnp.array([0.4, 0.3, 0.3]), jnp.array([0.3, 0.3, 0.4]))
    lrs = jnp.array([0.1, 0.2])

    def run(make):
        return jax.vmap(lambda lr: mx.solve(RPS, make(lr), z0, steps=3000).trajectory)(lrs)

    for make in (
        lambda lr: mx.Simultaneous(optax.sgd(lr)),
        lambda lr: mx.Simultaneous(OMWU(lr, beta=0.0)),
    ):
        trajectory = run(make)
        gaps = np.asarray(jax.vmap(RPS.duality_gap)(trajectory))
        np.testing.assert_allclose(gaps[:, 0], 0.2, rtol=1e-12)  # the start
        assert gaps[:, 1500:].min() > 1e-2, gaps[:, 1500:].min()
    xs, ys = trajectory  # MWU's
    xs, ys = np.asarray(xs), np.asarray(ys)
    kl = -np.log(3) - np.log(xs).mean(-1) - np.log(3) - np.log(ys).mean(-1)  # x* = y* uniform
    assert (np.diff(kl, axis=1) > 0).all()
    assert np.minimum(xs.min(-1), ys.min(-1))[:, -1].max() < 1e-3


# The duality gap and the equilibria


def _brute_force_gap(M, x, y):
    """Each player's best pure response, found by trying every pure strategy."""
    n, m = M.shape
    best_y = max(float(x @ M @ np.eye(m)[j]) for j in range(m))
    best_x = min(float(np.eye(n)[i] @ M @ y) for i in range(n))
    return best_y - best_x


@pytest.mark.parametrize("n, m", [(1, 4), (3, 3), (5, 2)])
def test_duality_gap_against_brute_force(n, m):
    rng = np.random.default_rng(n * 10 + m)
    M = rng.normal(size=(n, m))
    game = games.MatrixGame(M)
    xs, ys = rng.dirichlet(np.ones(n), 8), rng.dirichlet(np.ones(m), 8)
    gaps = np.asarray(game.duality_gap((xs, ys)))  # batched over the leading axis
    for x, y, gap in zip(xs, ys, gaps, strict=True):
        np.testing.assert_allclose(gap, _brute_force_gap(M, x, y), rtol=1e-13, atol=1e-14)
        assert gap >= 0
    np.testing.assert_allclose(game.duality_gap((xs[1], ys[1])), gaps[1], rtol=1e-15)
    # No mixed strategy does better than the best pure response.
    mixed = rng.dirichlet(np.ones(m), 200)
    assert (xs[0] @ M @ mixed.T).max() <= (xs[0] @ M).max() + 1e-14


CLASSIC = {
    "rock_paper_scissors": (games.MatrixGame.rock_paper_scissors(), [1 / 3] * 3, [1 / 3] * 3),
    "matching_pennies": (games.MatrixGame.matching_pennies(), [0.5] * 2, [0.5] * 2),
    "biased_rock_paper_scissors": (
        games.MatrixGame.biased_rock_paper_scissors(),
        [0.25, 0.5, 0.25],
        [0.25, 0.5, 0.25],
    ),
    "biased 1, 3, 2": (
        games.MatrixGame.biased_rock_paper_scissors(1.0, 3.0, 2.0),
        [2 / 6, 1 / 6, 3 / 6],
        [2 / 6, 1 / 6, 3 / 6],
    ),
}


@pytest.mark.parametrize("name", list(CLASSIC))
def test_classic_equilibria(name):
    """The closed forms: the gap is 0 there, the Shapley-Snow solve from M alone agrees (it
    checks the biased RPS derivation), and every perturbation has a positive gap."""
    game, x_star, y_star = CLASSIC[name]
    x, y = game.equilibrium()
    np.testing.assert_allclose(x, x_star, rtol=1e-15)
    np.testing.assert_allclose(y, y_star, rtol=1e-15)
    assert abs(float(game.duality_gap((x, y)))) < 1e-15
    from_M = games.MatrixGame(game.M).equilibrium()
    assert tree_allclose(from_M, (x, y), atol=1e-14)
    n = x.shape[0]
    for i, j in itertools.permutations(range(n), 2):
        step = 0.01 * (jnp.eye(n)[i] - jnp.eye(n)[j])
        assert float(game.duality_gap((x + step, y))) > 1e-4
        assert float(game.duality_gap((x, y + step))) > 1e-4


def test_random_interior_equilibrium():
    for game in (*GAMES3[1:], games.MatrixGame.random(jax.random.key(2), 6, interior=True)):
        n = game.M.shape[0]
        x, y = game.equilibrium()
        assert _on_simplex(x) and _on_simplex(y) and x.min() > 0.5 / n and y.min() > 0.5 / n
        assert abs(float(game.duality_gap((x, y)))) < 1e-14
        assert tree_allclose(games.MatrixGame(game.M).equilibrium(), (x, y), atol=1e-10)
    # A general game's equilibrium (here a pure saddle point) has no closed form here.
    with pytest.raises(NotImplementedError, match="linear program"):
        games.MatrixGame(jnp.array([[1.0, 2.0], [0.0, 3.0]])).equilibrium()
    with pytest.raises(NotImplementedError, match="not square"):
        games.MatrixGame.random(jax.random.key(0), 3, 2).equilibrium()


def test_float32_game():
    game = games.MatrixGame.biased_rock_paper_scissors(dtype=jnp.float32)
    x, y = game.equilibrium()
    assert game.M.dtype == x.dtype == jnp.float32
    z0 = (jnp.full(3, 1 / 3, jnp.float32), jnp.array([0.5, 0.25, 0.25], jnp.float32))
    sol = mx.solve(game, mx.Simultaneous(OMWU(0.5)), z0, steps=3, save_every=None)
    assert all(p.dtype == jnp.float32 for p in sol.players)


# Optimistic multiplicative weights, as a transform


def _exponent(w_new, w):
    """log(w_new / w) up to its additive constant (centred)."""
    e = jnp.log(w_new) - jnp.log(w)
    return e - e.mean()


def test_omwu_first_step_fixed_and_legacy():
    """The first exponent is -lr alpha g_0 (fixed) or -lr (alpha + beta) g_0 (legacy)."""
    lr, alpha, beta = 0.3, 0.5, 2.0
    w = jnp.array([0.2, 0.3, 0.5])
    g = jnp.array([1.0, -2.0, 0.5])
    exponents = {}
    for first_step in ("fixed", "legacy"):
        opt = OMWU(lr, alpha, beta, first_step=first_step)
        u, _ = opt.update(g, opt.init(w), w)
        assert _on_simplex(w + u)
        exponents[first_step] = _exponent(w + u, w)
    np.testing.assert_allclose(exponents["fixed"], -lr * alpha * (g - g.mean()), rtol=1e-12)
    np.testing.assert_allclose(
        exponents["legacy"], exponents["fixed"] * (alpha + beta) / alpha, rtol=1e-12
    )


def test_omwu_closed_form_and_hedge():
    """Step t multiplies by exp(-lr ((alpha + beta) g_t - beta g_{t-1})); beta = 0 is Hedge,
    w_T proportional to w_0 exp(-lr sum_t g_t)."""
    lr, alpha, beta = 0.1, 1.0, 0.7
    grads = jax.random.normal(jax.random.key(0), (6, 4))
    w0 = jnp.array([0.1, 0.2, 0.3, 0.4])
    for b in (beta, 0.0):
        opt = OMWU(lr, alpha, b)
        w, state, previous = w0, opt.init(w0), grads[0]
        for g in grads:
            u, state = opt.update(g, state, w)
            direction = (alpha + b) * g - b * previous
            np.testing.assert_allclose(
                _exponent(w + u, w), -lr * (direction - direction.mean()), rtol=1e-10, atol=1e-14
            )
            w, previous = w + u, g
    hedge = w0 * jnp.exp(-lr * alpha * grads.sum(0))
    np.testing.assert_allclose(w, hedge / hedge.sum(), rtol=1e-12)


def test_omwu_stays_on_the_simplex():
    """Huge exponents neither overflow nor underflow to an all-zero vector; each leaf is its
    own simplex; a zero entry stays zero with a finite derivative."""
    opt = OMWU(1.0)
    params = {"a": jnp.array([0.5, 0.5, 0.0]), "b": jnp.full((2, 2), 0.25)}
    state = opt.init(params)
    step = jax.jit(lambda g, s, p: opt.update(g, s, p))
    for scale in (1.0, 1e3, 1e5):
        grads = {
            "a": scale * jnp.array([1.0, -1.0, 0.0]),
            "b": scale * jnp.array([[0.0, 3.0], [1.0, 2.0]]),
        }
        updates, state = step(grads, state, params)
        params = optax.apply_updates(params, updates)
        assert _on_simplex(params["a"]) and _on_simplex(params["b"].ravel())
        assert params["a"][2] == 0
    derivative = jax.jacobian(lambda w: opt.update(grads["a"], opt.init(w), w)[0])(
        jnp.array([0.5, 0.5, 0.0])
    )
    assert np.isfinite(derivative).all()


def test_omwu_needs_params():
    opt = OMWU(0.1)
    w = jnp.full(3, 1 / 3)
    with pytest.raises(ValueError, match="needs the current weights"):
        opt.update(jnp.ones(3), opt.init(w))


def test_omwu_hyperparameters():
    """lr may be traced (vmap over it) or a schedule, and so may alpha and beta (evaluated at
    the step count); float32 weights stay float32, without retracing."""
    w = jnp.array([0.2, 0.3, 0.5])
    grads = jax.random.normal(jax.random.key(0), (4, 3))

    def first(lr):
        opt = OMWU(lr)
        return w + opt.update(grads[0], opt.init(w), w)[0]

    batched = jax.vmap(first)(jnp.array([0.1, 0.2]))
    np.testing.assert_allclose(batched[1], first(0.2), rtol=1e-14)
    lr = optax.linear_schedule(0.2, 0.1, 5)
    alpha, beta = optax.linear_schedule(1.0, 0.5, 5), optax.exponential_decay(2.0, 1, 0.9)
    scheduled = OMWU(lr, alpha, beta)
    state, previous = scheduled.init(w), grads[0]  # fixed first step: g_{-1} = g_0
    for t, g in enumerate(grads):
        u, state = scheduled.update(g, state, w)
        lr_t, a_t, b_t = (float(f(jnp.asarray(t, jnp.int32))) for f in (lr, alpha, beta))
        direction = (a_t + b_t) * g - b_t * previous
        np.testing.assert_allclose(
            _exponent(w + u, w), -lr_t * (direction - direction.mean()), rtol=1e-10, atol=1e-14
        )
        previous = g
    traces = []
    opt = OMWU(jnp.asarray(0.1, jnp.float64))

    @jax.jit
    def update(g, state, w):
        traces.append(None)
        return opt.update(g, state, w)

    w32 = w.astype(jnp.float32)
    u, state = update(grads[0].astype(jnp.float32), opt.init(w32), w32)
    u, state = update(grads[1].astype(jnp.float32), state, w32)
    assert len(traces) == 1 and u.dtype == jnp.float32


# Bad input


def test_bad_input():
    with pytest.raises(ValueError, match="`M` must have 2 dimension"):
        games.MatrixGame(jnp.ones(3))
    with pytest.raises(ValueError, match="`M` must have at least one row"):
        games.MatrixGame(jnp.ones((0, 3)))
    solver = mx.Simultaneous(optax.sgd(0.1))
    uniform = jnp.full(3, 1 / 3)
    with pytest.raises(ValueError, match=r"`players\[0\]` must have shape \(3,\)"):
        mx.solve(RPS, solver, (jnp.full(4, 0.25), uniform), steps=1)
    with pytest.raises(ValueError, match=r"`players\[1\]` must have shape \(3,\)"):
        RPS.duality_gap((uniform, jnp.full(2, 0.5)))
    with pytest.raises(ValueError, match="same leading"):
        RPS.duality_gap((jnp.ones((2, 3)) / 3, uniform))
    with pytest.raises(ValueError, match="not an equilibrium"):
        games.MatrixGame(RPS.M, known_equilibrium=(jnp.eye(3)[0], uniform))
    with pytest.raises(ValueError, match="needs a square game"):
        games.MatrixGame.random(jax.random.key(0), 3, 4, interior=True)
    with pytest.raises(ValueError, match="`paper` must be positive"):
        games.MatrixGame.biased_rock_paper_scissors(paper=0.0)

    def fn(x, y, args):
        return x * y

    with pytest.raises(TypeError, match=r"`project\[0\]` must be callable"):
        mx.ZeroSumGame(fn, project=(1, None))
    with pytest.raises(TypeError, match=r"`project\[1\]` must be callable"):
        mx.ZeroSumGame(fn, project=(None, "simplex"))
    game = mx.ZeroSumGame(fn, project=(lambda x: (x, x), None))
    with pytest.raises(TypeError, match=r"`project\[0\]` must return a player of the same"):
        game.project_player(0, jnp.array(1.0))
    for project in ((None,), projection_simplex, (None, None, None), [None, None]):
        with pytest.raises(TypeError, match="`project` must be a pair"):
            mx.ZeroSumGame(fn, project=project)
    assert eqx.tree_equal(mx.ZeroSumGame(fn).project, (None, None))
